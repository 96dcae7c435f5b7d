//! Pushes against a real application server on loopback: bodies, headers, signatures and the
//! classification of every kind of answer.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use standardwebhooks::Webhook;

use smsgw_http::{
    MessageState, PushClient, PushConfig, PushFormat, PushMessage, PushOutcome, PushTarget,
};

use common::{form, serve};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

type Log = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn application() -> (String, Log) {
    let log: Log = Arc::default();
    let router = Router::new()
        .route("/ok", post(record))
        .route("/gone", post(|| async { StatusCode::GONE }))
        .route(
            "/throttle",
            post(|| async { (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "7")]) }),
        )
        .route(
            "/unavailable",
            post(|| async {
                let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
                (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", at)]).into_response()
            }),
        )
        .route(
            "/fail",
            post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route("/bad", post(|| async { StatusCode::BAD_REQUEST }))
        .route(
            "/moved",
            post(|| async { (StatusCode::FOUND, [("location", "/ok")]) }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                StatusCode::OK
            }),
        )
        .with_state(log.clone());
    (format!("http://{}", serve(router).await), log)
}

async fn record(State(log): State<Log>, headers: HeaderMap, body: Bytes) -> StatusCode {
    log.lock().unwrap().push((headers, body));
    StatusCode::OK
}

fn client() -> PushClient {
    PushClient::new(PushConfig {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_millis(300),
        ..common::loopback_push_config()
    })
    .expect("push client")
}

fn mo() -> PushMessage {
    PushMessage::Mo {
        message_id: "MO-42".into(),
        shortcode: "12345".into(),
        phone_number: "447700900123".into(),
        carrier: Some("vodafone".into()),
        message: "Grüße 👋 & more".into(),
    }
}

fn receipt() -> PushMessage {
    PushMessage::Receipt {
        message_id: "client-7".into(),
        message_state: MessageState::Delivered,
        result_code: 0,
        app_id: Some("app".into()),
        conversation_id: None,
    }
}

#[tokio::test]
async fn form_push_is_delivered_with_the_genesys_fields() {
    let (base, log) = application().await;
    let target = PushTarget::new(&format!("{base}/ok"), PushFormat::Form, None).unwrap();
    assert_eq!(client().send(&target, &mo()).await, PushOutcome::Delivered);
    assert_eq!(
        client().send(&target, &receipt()).await,
        PushOutcome::Delivered
    );

    let log = log.lock().unwrap().clone();
    let (headers, body) = &log[0];
    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(headers["webhook-id"], "MO-42");
    assert!(
        headers.get("webhook-signature").is_none(),
        "unsigned without a secret"
    );
    let fields = form(std::str::from_utf8(body).unwrap());
    let expect = [
        ("type", "MO"),
        ("message_id", "MO-42"),
        ("shortcode", "12345"),
        ("phone_number", "447700900123"),
        ("carrier", "vodafone"),
        ("message", "Grüße 👋 & more"),
    ];
    let expect: Vec<(String, String)> = expect
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(fields, expect);

    let fields = form(std::str::from_utf8(&log[1].1).unwrap());
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "type",
            "message_id",
            "message_state",
            "result_code",
            "app_id",
            "conversation_id"
        ]
    );
    assert_eq!(fields[0].1, "receipt");
    assert_eq!(fields[2].1, "2");
}

#[tokio::test]
async fn signed_json_push_verifies_and_keeps_its_id_across_retries() {
    let (base, log) = application().await;
    let target = PushTarget::new(&format!("{base}/ok"), PushFormat::Json, Some(SECRET)).unwrap();
    let push = client();
    assert_eq!(push.send(&target, &receipt()).await, PushOutcome::Delivered);
    assert_eq!(push.send(&target, &receipt()).await, PushOutcome::Delivered);

    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    let verifier = Webhook::new(SECRET).unwrap();
    for (headers, body) in &log {
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["webhook-id"], "client-7:2");
        assert!(headers["webhook-signature"]
            .to_str()
            .unwrap()
            .starts_with("v1,"));
        verifier.verify(body, headers).expect("signature verifies");
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json["type"], "receipt");
        assert_eq!(json["message_id"], "client-7");
        assert_eq!(json["message_state"], 2);
        assert_eq!(json["state"], "DELIVERED");
    }
    // A tampered body or another secret does not verify.
    let (headers, body) = &log[0];
    let mut tampered = body.to_vec();
    tampered[2] ^= 1;
    assert!(verifier.verify(&tampered, headers).is_err());
    let other = Webhook::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
    assert!(other.verify(body, headers).is_err());
}

#[tokio::test]
async fn answers_are_classified() {
    let (base, _) = application().await;
    let push = client();
    let at =
        |path: &str| PushTarget::new(&format!("{base}{path}"), PushFormat::Form, None).unwrap();

    assert_eq!(push.send(&at("/gone"), &mo()).await, PushOutcome::Gone);
    assert_eq!(
        push.send(&at("/throttle"), &mo()).await,
        PushOutcome::Retry {
            after: Some(Duration::from_secs(7))
        }
    );
    match push.send(&at("/unavailable"), &mo()).await {
        PushOutcome::Retry { after: Some(after) } => {
            assert!(
                after > Duration::from_secs(60) && after <= Duration::from_secs(120),
                "{after:?}"
            )
        }
        other => panic!("expected a retry with a date, got {other:?}"),
    }
    assert_eq!(
        push.send(&at("/fail"), &mo()).await,
        PushOutcome::Retry { after: None }
    );
    assert_eq!(
        push.send(&at("/bad"), &mo()).await,
        PushOutcome::Rejected(reqwest::StatusCode::BAD_REQUEST)
    );
    assert_eq!(
        push.send(&at("/moved"), &mo()).await,
        PushOutcome::Rejected(reqwest::StatusCode::FOUND),
        "redirects are not followed"
    );
    assert_eq!(
        push.send(&at("/nowhere"), &mo()).await,
        PushOutcome::Rejected(reqwest::StatusCode::NOT_FOUND)
    );
}

#[tokio::test]
async fn time_outs_and_refused_connections_are_retried() {
    let (base, _) = application().await;
    let push = client();
    let slow = PushTarget::new(&format!("{base}/slow"), PushFormat::Json, None).unwrap();
    assert_eq!(
        push.send(&slow, &mo()).await,
        PushOutcome::Retry { after: None }
    );

    // A port that was just free: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let closed = PushTarget::new(
        &format!("http://127.0.0.1:{port}/x"),
        PushFormat::Form,
        None,
    )
    .unwrap();
    assert_eq!(
        push.send(&closed, &mo()).await,
        PushOutcome::Retry { after: None }
    );
}
