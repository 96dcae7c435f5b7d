//! One router for the whole HTTP edge: receiver, JSON API and ops endpoints merged, with a JSON
//! 404 for unknown paths.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Json, Router};

use crate::api::{self, ErrorBody, ErrorDetail, MessageApi};
use crate::ops::{self, MetricsSource, Readiness};
use crate::receiver::{self, ReceiverHandler};
use crate::result_code;

/// Every endpoint of the edge. The gateway can pass one `Arc` of a type implementing several
/// traits for several arguments.
pub fn router<H, A, R, M>(
    receiver: Arc<H>,
    api: Arc<A>,
    readiness: Arc<R>,
    metrics: Arc<M>,
) -> Router
where
    H: ReceiverHandler,
    A: MessageApi,
    R: Readiness,
    M: MetricsSource,
{
    receiver::router(receiver)
        .merge(api::router(api))
        .merge(ops::router(readiness, metrics))
        .fallback(|| async {
            let body = ErrorBody {
                error: ErrorDetail {
                    code: result_code::NOT_FOUND,
                    message: "no such endpoint".into(),
                },
            };
            (StatusCode::NOT_FOUND, Json(body)).into_response()
        })
}
