//! JSON API: `POST /v1/messages` and `GET /v1/messages/{id}` (`id`: ours, or the client's own).
//!
//! - Authentication: HTTP Basic with the account's login and password, handed to the gateway
//!   unchecked as [`Credentials`]; a missing or malformed `Authorization` is a 401 here.
//! - `Idempotency-Key`: optional but recommended (see [`IdempotencyKey`]). Without it, a retry
//!   after a lost answer may send the SMS twice.
//! - Bodies: `application/json` in UTF-8 (no other content type, not even a missing one), at
//!   most [`limits::MAX_BODY_BYTES`], unknown fields refused.
//! - Success: 202 with [`SubmitAccepted`] and `Location: /v1/messages/{id}`; 200 with
//!   [`MessageStatus`].
//! - Errors: [`ApiError`] as `{"error": {"code": n, "message": "..."}}`, never a 500.
//!
//! The gateway implements [`MessageApi`]; it authenticates, claims the idempotency key,
//! writes durably and only then returns [`SubmitAccepted`].

mod error;
mod request;
mod status;

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use request::{IdempotencyKey, SubmitBody, SubmitRequest};
pub use status::{MessageStatus, StatusEvent, SubmitAccepted};

use crate::client_addr::ClientAddr;
use crate::credentials::Credentials;
use crate::{limits, validate};

/// Path of the collection.
pub const MESSAGES_PATH: &str = "/v1/messages";

/// What the gateway does for the JSON API.
pub trait MessageApi: Send + Sync + 'static {
    /// Accepts one MT from `client`: authenticate, claim the key, store durably, then answer.
    fn submit(
        &self,
        client: ClientAddr,
        credentials: Credentials,
        idempotency_key: Option<IdempotencyKey>,
        request: SubmitRequest,
    ) -> impl Future<Output = Result<SubmitAccepted, ApiError>> + Send;

    /// The state and history of one of the account's messages, named by the gateway's id or
    /// by the account's own client id ([`ApiError::not_found`] for another account's id too,
    /// so ids do not leak).
    fn status(
        &self,
        client: ClientAddr,
        credentials: Credentials,
        id: String,
    ) -> impl Future<Output = Result<MessageStatus, ApiError>> + Send;
}

/// The `/v1/messages` routes, with bodies bounded to [`limits::MAX_BODY_BYTES`].
pub fn router<A: MessageApi>(api: Arc<A>) -> Router {
    let not_allowed = || async { ApiError::method_not_allowed().into_response() };
    Router::new()
        .route(MESSAGES_PATH, post(submit::<A>).fallback(not_allowed))
        .route("/v1/messages/{id}", get(status::<A>).fallback(not_allowed))
        .layer(DefaultBodyLimit::max(limits::MAX_BODY_BYTES))
        .with_state(api)
}

async fn submit<A: MessageApi>(
    State(api): State<Arc<A>>,
    client: ClientAddr,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome = async {
        let credentials = credentials(&headers)?;
        let key = idempotency_key(&headers)?;
        let request = submit_request(&headers, body)?;
        api.submit(client, credentials, key, request).await
    }
    .await;
    match outcome {
        Ok(accepted) => {
            count("submit", StatusCode::ACCEPTED);
            let location = format!("{MESSAGES_PATH}/{}", accepted.id);
            let mut response = (StatusCode::ACCEPTED, Json(accepted)).into_response();
            // Our ids are printable ASCII; if one were not, the Location is merely omitted.
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        Err(error) => refuse("submit", error),
    }
}

async fn status<A: MessageApi>(
    State(api): State<Arc<A>>,
    client: ClientAddr,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let outcome = async {
        let credentials = credentials(&headers)?;
        let Path(id) = id.map_err(|_| ApiError::invalid("id", "not valid UTF-8"))?;
        let id = validate::client_id("id", &id)?;
        api.status(client, credentials, id).await
    }
    .await;
    match outcome {
        Ok(status) => {
            count("status", StatusCode::OK);
            (StatusCode::OK, Json(status)).into_response()
        }
        Err(error) => refuse("status", error),
    }
}

pub(crate) fn refuse(endpoint: &'static str, error: ApiError) -> Response {
    count(endpoint, error.status());
    if error.status().is_server_error() {
        tracing::warn!(endpoint, %error, "api failed");
    } else {
        tracing::debug!(endpoint, %error, "api refused");
    }
    error.into_response()
}

pub(crate) fn count(endpoint: &'static str, status: StatusCode) {
    metrics::counter!(
        "smsgw_http_api_requests_total",
        "endpoint" => endpoint,
        "status" => status.as_u16().to_string()
    )
    .increment(1);
}

/// The `Authorization: Basic` credentials of a request; [`ApiError::auth`] when missing or
/// malformed.
pub fn credentials(headers: &HeaderMap) -> Result<Credentials, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(Credentials::from_basic_auth)
        .ok_or_else(ApiError::auth)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get(IdempotencyKey::HEADER) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::invalid("Idempotency-Key", "printable ASCII only"))?;
    Ok(Some(IdempotencyKey::parse(value)?))
}

fn submit_request(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<SubmitRequest, ApiError> {
    if !is_utf8_json(headers) {
        return Err(ApiError::unsupported_media_type());
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(limits::MAX_BODY_BYTES)
        } else {
            ApiError::bad_json("body could not be read")
        }
    })?;
    let body: SubmitBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_json(&e.to_string()))?;
    Ok(SubmitRequest::try_from(body)?)
}

/// `application/json` or `application/<x>+json`, with no charset or UTF-8.
fn is_utf8_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    let mime = parts.next().unwrap_or_default().to_ascii_lowercase();
    let mime_ok =
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"));
    let charset_ok = parts.all(|param| match param.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    });
    mime_ok && charset_ok
}
