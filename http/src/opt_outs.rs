//! JSON API for an account's opt-outs (numbers that sent STOP, or were added by the account):
//!
//! - `GET /v1/opt-outs`: 200 `{"opt_outs": [{"number", "sender", "source", "at"}]}`.
//! - `PUT /v1/opt-outs/{number}[?sender=S]`: records one (`source` "api"): 200 with it.
//! - `DELETE /v1/opt-outs/{number}[?sender=S]`: lifts one: 204, or 404 (code 104) if none.
//!
//! `sender` names the sender an opt-out applies to for accounts whose opt-outs are kept per
//! sender (empty or absent: every sender). Authentication and errors as the messages API
//! ([`crate::api`]): HTTP Basic with the account's login, `{"error": {"code", "message"}}`.

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::api::{self, ApiError};
use crate::client_addr::ClientAddr;
use crate::credentials::Credentials;

/// Path of the collection.
pub const OPT_OUTS_PATH: &str = "/v1/opt-outs";

/// One opt-out as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOutEntry {
    pub number: String,
    /// The sender it applies to; empty for every sender of the account.
    pub sender: String,
    /// The keyword the handset sent, or `api`.
    pub source: String,
    #[serde(with = "crate::rfc3339")]
    pub at: SystemTime,
}

/// The body of `GET /v1/opt-outs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOutList {
    pub opt_outs: Vec<OptOutEntry>,
}

/// Which opt-out a `PUT` or `DELETE` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutKey {
    pub number: String,
    pub sender: String,
}

/// What the gateway does for the opt-out API.
pub trait OptOutApi: Send + Sync + 'static {
    fn list_opt_outs(
        &self,
        client: ClientAddr,
        credentials: Credentials,
    ) -> impl Future<Output = Result<OptOutList, ApiError>> + Send;

    fn add_opt_out(
        &self,
        client: ClientAddr,
        credentials: Credentials,
        key: OptOutKey,
    ) -> impl Future<Output = Result<OptOutEntry, ApiError>> + Send;

    /// [`ApiError::no_opt_out`] when there was none.
    fn remove_opt_out(
        &self,
        client: ClientAddr,
        credentials: Credentials,
        key: OptOutKey,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

/// The `/v1/opt-outs` routes.
pub fn router<A: OptOutApi>(api: Arc<A>) -> Router {
    let not_allowed = || async { ApiError::method_not_allowed().into_response() };
    Router::new()
        .route(OPT_OUTS_PATH, get(list::<A>).fallback(not_allowed))
        .route(
            "/v1/opt-outs/{number}",
            put(add::<A>).delete(remove::<A>).fallback(not_allowed),
        )
        .with_state(api)
}

#[derive(Debug, Deserialize)]
struct SenderQuery {
    #[serde(default)]
    sender: String,
}

fn key(
    number: Result<Path<String>, PathRejection>,
    query: Result<Query<SenderQuery>, QueryRejection>,
) -> Result<OptOutKey, ApiError> {
    let Path(number) = number.map_err(|_| ApiError::invalid("number", "not valid UTF-8"))?;
    let Query(query) = query.map_err(|_| ApiError::invalid("sender", "not a valid query"))?;
    let digits = number.strip_prefix('+').unwrap_or(&number);
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid("number", "digits only, at most 15"));
    }
    if query.sender.len() > 20 || query.sender.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "sender",
            "at most 20 printable characters",
        ));
    }
    Ok(OptOutKey {
        number: digits.to_owned(),
        sender: query.sender,
    })
}

async fn list<A: OptOutApi>(
    State(api): State<Arc<A>>,
    client: ClientAddr,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let credentials = api::credentials(&headers)?;
        api.list_opt_outs(client, credentials).await
    }
    .await;
    answer(
        "opt_outs_list",
        outcome.map(|list| (StatusCode::OK, Json(list))),
    )
}

async fn add<A: OptOutApi>(
    State(api): State<Arc<A>>,
    client: ClientAddr,
    headers: HeaderMap,
    number: Result<Path<String>, PathRejection>,
    query: Result<Query<SenderQuery>, QueryRejection>,
) -> Response {
    let outcome = async {
        let (credentials, key) = keyed(&headers, number, query)?;
        api.add_opt_out(client, credentials, key).await
    }
    .await;
    answer(
        "opt_outs_add",
        outcome.map(|entry| (StatusCode::OK, Json(entry))),
    )
}

async fn remove<A: OptOutApi>(
    State(api): State<Arc<A>>,
    client: ClientAddr,
    headers: HeaderMap,
    number: Result<Path<String>, PathRejection>,
    query: Result<Query<SenderQuery>, QueryRejection>,
) -> Response {
    let outcome = async {
        let (credentials, key) = keyed(&headers, number, query)?;
        api.remove_opt_out(client, credentials, key).await
    }
    .await;
    answer("opt_outs_remove", outcome.map(|()| StatusCode::NO_CONTENT))
}

/// The credentials and the opt-out a `PUT` or `DELETE` names.
fn keyed(
    headers: &HeaderMap,
    number: Result<Path<String>, PathRejection>,
    query: Result<Query<SenderQuery>, QueryRejection>,
) -> Result<(Credentials, OptOutKey), ApiError> {
    Ok((api::credentials(headers)?, key(number, query)?))
}

/// The answer, counted like the messages API's.
fn answer(endpoint: &'static str, outcome: Result<impl IntoResponse, ApiError>) -> Response {
    match outcome {
        Ok(done) => {
            let response = done.into_response();
            api::count(endpoint, response.status());
            response
        }
        Err(error) => api::refuse(endpoint, error),
    }
}
