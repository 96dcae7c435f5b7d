//! Operations endpoints: `/healthz` (the process runs) and `/readyz` (the gateway can take
//! traffic, per [`Readiness`]), for balancers and orchestrators on the public port
//! ([`router`]); `/metrics` (Prometheus text from [`MetricsSource`]), which names accounts and
//! connectors and so belongs on an operators' listener behind authentication
//! ([`metrics_router`]: the embedder chooses where, and what guards it).

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Content type of the Prometheus text exposition format.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether the gateway can serve traffic now (store reachable, not draining, ...).
pub trait Readiness: Send + Sync + 'static {
    /// `Ok` when ready; otherwise the reason, shown in the 503 body and logs.
    fn check(&self) -> impl Future<Output = Result<(), String>> + Send;
}

/// Renders the current metrics in Prometheus text format. Any `Fn() -> String` is one, so the
/// gateway can pass `move || prometheus_handle.render()`.
pub trait MetricsSource: Send + Sync + 'static {
    /// The exposition text.
    fn render(&self) -> String;
}

impl<F> MetricsSource for F
where
    F: Fn() -> String + Send + Sync + 'static,
{
    fn render(&self) -> String {
        self()
    }
}

/// `/healthz` and `/readyz`: safe to answer anyone.
pub fn router<R: Readiness>(readiness: Arc<R>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { (StatusCode::OK, "ok\n") }))
        .route("/readyz", get(ready::<R>).with_state(readiness))
}

/// `/metrics`: for operators only (its labels name accounts and connectors).
pub fn metrics_router<M: MetricsSource>(metrics: Arc<M>) -> Router {
    Router::new().route("/metrics", get(render::<M>).with_state(metrics))
}

async fn ready<R: Readiness>(State(readiness): State<Arc<R>>) -> Response {
    match readiness.check().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reason) => {
            tracing::info!(%reason, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {reason}\n"),
            )
                .into_response()
        }
    }
}

async fn render<M: MetricsSource>(State(metrics): State<Arc<M>>) -> Response {
    let mut response = metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PROMETHEUS_CONTENT_TYPE),
    );
    response
}
