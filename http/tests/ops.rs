//! `/healthz`, `/readyz`, `/metrics` and the merged public edge router over real sockets.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use smsgw_http::api::ErrorBody;
use smsgw_http::{
    app, ops, ApiError, Credentials, IdempotencyKey, MessageApi, MessageStatus, Readiness,
    ReceiverError, ReceiverHandler, ReceiverRequest, SubmitAccepted, SubmitRequest,
};

use common::{client, serve};

/// Ready unless told otherwise; also a stub-free gateway that refuses every message.
#[derive(Default)]
struct Gateway {
    draining: AtomicBool,
}

impl Readiness for Gateway {
    async fn check(&self) -> Result<(), String> {
        if self.draining.load(Ordering::SeqCst) {
            Err("draining".into())
        } else {
            Ok(())
        }
    }
}

impl ReceiverHandler for Gateway {
    async fn submit(
        &self,
        _: smsgw_http::ClientAddr,
        _: ReceiverRequest,
    ) -> Result<(), ReceiverError> {
        Err(ReceiverError::auth())
    }
}

impl MessageApi for Gateway {
    async fn submit(
        &self,
        _client: smsgw_http::ClientAddr,
        _: Credentials,
        _: Option<IdempotencyKey>,
        _: SubmitRequest,
    ) -> Result<SubmitAccepted, ApiError> {
        Err(ApiError::auth())
    }

    async fn status(
        &self,
        _client: smsgw_http::ClientAddr,
        _: Credentials,
        _: String,
    ) -> Result<MessageStatus, ApiError> {
        Err(ApiError::not_found())
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let gateway = Arc::new(Gateway::default());
    let metrics = Arc::new(|| "# TYPE smsgw_up gauge\nsmsgw_up 1\n".to_string());
    let addr = serve(ops::router(gateway.clone()).merge(ops::metrics_router(metrics))).await;
    let base = format!("http://{addr}");

    let health = client()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let ready = client().get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    gateway.draining.store(true, Ordering::SeqCst);
    let ready = client().get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("draining"));
    // Not ready is not unhealthy.
    let health = client()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let metrics = client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    assert_eq!(
        metrics.headers()["content-type"],
        ops::PROMETHEUS_CONTENT_TYPE
    );
    assert_eq!(
        metrics.text().await.unwrap(),
        "# TYPE smsgw_up gauge\nsmsgw_up 1\n"
    );
}

#[tokio::test]
async fn merged_router_serves_every_public_endpoint_and_a_json_404() {
    let gateway = Arc::new(Gateway::default());
    let router = app::router(gateway.clone(), gateway.clone(), gateway);
    let base = format!("http://{}", serve(router).await);

    let receiver = client()
        .get(format!(
            "{base}/httpapi/receiver?login=a&password=b&phone_number=447700900123&sender=ACME&message=x&message_id=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(receiver.status(), 401);
    let api = client()
        .get(format!("{base}/v1/messages/x"))
        .basic_auth("a", Some("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    let health = client()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // `/metrics` names accounts and connectors: not on the public router.
    for path in ["/nowhere", "/metrics"] {
        let unknown = client().get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(unknown.status(), 404, "{path}");
        let body: ErrorBody = unknown.json().await.unwrap();
        assert_eq!(body.error.code, 104);
    }
}
