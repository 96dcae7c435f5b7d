//! One router for the public HTTP edge: receiver, JSON API, `/healthz` and `/readyz` merged,
//! with a JSON 404 for unknown paths (`/metrics` is not among them: see [`crate::ops`]).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};

use crate::api::{self, ErrorBody, ErrorDetail, MessageApi};
use crate::ops::{self, Readiness};
use crate::receiver::{self, ReceiverHandler};
use crate::result_code;

/// Every public endpoint of the edge. The gateway can pass one `Arc` of a type implementing
/// several traits for several arguments.
pub fn router<H, A, R>(receiver: Arc<H>, api: Arc<A>, readiness: Arc<R>) -> Router
where
    H: ReceiverHandler,
    A: MessageApi,
    R: Readiness,
{
    receiver::router(receiver)
        .merge(api::router(api))
        .merge(ops::router(readiness))
        .fallback(not_found)
}

/// The JSON 404 of an unknown path (code 104), for any router's fallback.
pub async fn not_found() -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: result_code::NOT_FOUND,
            message: "no such endpoint".into(),
        },
    };
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}
