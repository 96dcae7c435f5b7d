//! `/v1/messages` over real sockets: auth, idempotency key, validation, answers and errors.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use smsgw_http::api::{self, ErrorBody};
use smsgw_http::{
    limits, ApiError, Credentials, IdempotencyKey, MessageApi, MessageState, MessageStatus,
    Priority, StatusEvent, SubmitAccepted, SubmitRequest,
};

use common::{client, serve};

type Seen = (Credentials, Option<IdempotencyKey>, SubmitRequest);

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
}

impl MessageApi for Recorder {
    async fn submit(
        &self,
        _client: smsgw_http::ClientAddr,
        credentials: Credentials,
        key: Option<IdempotencyKey>,
        request: SubmitRequest,
    ) -> Result<SubmitAccepted, ApiError> {
        if credentials.password != "demo1234" {
            return Err(ApiError::auth());
        }
        match key.as_ref().map(IdempotencyKey::as_str) {
            Some("mismatch") => return Err(ApiError::idempotency_mismatch()),
            Some("inflight") => return Err(ApiError::in_flight()),
            _ => {}
        }
        match request.text.as_str() {
            "throttle" => return Err(ApiError::throttled(Duration::from_secs(4))),
            "carrier" => return Err(ApiError::unknown_carrier("x")),
            "long" => return Err(ApiError::too_long(9, 6)),
            "internal" => return Err(ApiError::internal()),
            _ => {}
        }
        self.seen.lock().unwrap().push((credentials, key, request));
        Ok(SubmitAccepted {
            id: "A-0001".into(),
            state: MessageState::Accepted,
            parts: 1,
        })
    }

    async fn status(
        &self,
        _client: smsgw_http::ClientAddr,
        credentials: Credentials,
        id: String,
    ) -> Result<MessageStatus, ApiError> {
        if credentials.password != "demo1234" {
            return Err(ApiError::auth());
        }
        match id.as_str() {
            "A-0001" => Ok(MessageStatus {
                id,
                state: MessageState::Delivered,
                to: "447700900123".into(),
                from: "ACME".into(),
                created_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800),
                parts: 2,
                history: vec![
                    StatusEvent {
                        state: MessageState::Accepted,
                        code: None,
                        at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800),
                    },
                    StatusEvent {
                        state: MessageState::Delivered,
                        code: Some(0),
                        at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_714_564_801_500),
                    },
                ],
            }),
            "broken" => Err(ApiError::internal()),
            _ => Err(ApiError::not_found()),
        }
    }
}

async fn start() -> (String, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let addr = serve(api::router(recorder.clone())).await;
    (format!("http://{addr}"), recorder)
}

fn body() -> Value {
    json!({ "to": "447700900123", "from": "ACME", "text": "hello 👋" })
}

async fn submit(
    base: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = client()
        .post(format!("{base}/v1/messages"))
        .basic_auth("demo", Some("demo1234"))
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.json().await.unwrap(), headers)
}

fn error_of(value: Value) -> ErrorBody {
    serde_json::from_value(value).expect("error body")
}

#[tokio::test]
async fn submit_is_accepted_with_202_location_and_all_fields_reach_the_handler() {
    let (base, recorder) = start().await;
    let full = json!({
        "to": "447700900123", "from": "ACME", "text": "Grüße 👋🏽 €",
        "carrier": "vodafone", "receipt": true, "priority": "INTERACTIVE",
        "app_id": "app", "conversation_id": "conv", "client_message_id": "c-1"
    });
    let (status, answer, headers) = submit(&base, Some("key-1"), &full).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer,
        json!({ "id": "A-0001", "state": "ACCEPTED", "parts": 1 })
    );
    assert_eq!(headers["location"], "/v1/messages/A-0001");
    let seen = recorder.seen.lock().unwrap().clone();
    let (credentials, key, request) = &seen[0];
    assert_eq!(credentials.login, "demo");
    assert_eq!(key.as_ref().map(IdempotencyKey::as_str), Some("key-1"));
    assert_eq!(request.text, "Grüße 👋🏽 €");
    assert_eq!(request.carrier.as_deref(), Some("vodafone"));
    assert!(request.receipt);
    assert_eq!(request.priority, Priority::Interactive);
    assert_eq!(request.app_id.as_deref(), Some("app"));
    assert_eq!(request.conversation_id.as_deref(), Some("conv"));
    assert_eq!(request.client_message_id.as_deref(), Some("c-1"));
}

#[tokio::test]
async fn idempotency_key_is_optional_and_defaults_apply() {
    let (base, recorder) = start().await;
    let (status, _, _) = submit(&base, None, &body()).await;
    assert_eq!(status, 202);
    let (_, key, request) = recorder.seen.lock().unwrap()[0].clone();
    assert_eq!(key, None);
    assert!(!request.receipt);
    assert_eq!(request.priority, Priority::Bulk);
    assert_eq!(request.carrier, None);
}

#[tokio::test]
async fn missing_or_malformed_basic_auth_is_401_with_a_challenge() {
    let (base, recorder) = start().await;
    for auth in [None, Some("Bearer token"), Some("Basic %%%")] {
        let mut request = client().post(format!("{base}/v1/messages")).json(&body());
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        assert!(response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"));
        let error = error_of(response.json().await.unwrap());
        assert_eq!(error.error.code, 2);
    }
    let response = client()
        .post(format!("{base}/v1/messages"))
        .basic_auth("demo", Some("wrong"))
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(recorder.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_fields_bad_json_and_rule_violations_are_400_naming_the_problem() {
    let (base, recorder) = start().await;
    let mut typo = body();
    typo["reciept"] = json!(true);
    let cases = [
        (typo, "reciept"),
        (json!({ "to": "447700900123", "from": "ACME" }), "text"),
        (
            json!({ "to": 447700900123u64, "from": "ACME", "text": "x" }),
            "invalid type",
        ),
        (
            json!({ "to": "+447700900123", "from": "ACME", "text": "x" }),
            "to",
        ),
        (
            json!({ "to": "447700900123", "from": "TwelveChars1", "text": "x" }),
            "from",
        ),
        (
            json!({ "to": "447700900123", "from": "ACME", "text": "" }),
            "text",
        ),
        (
            json!({ "to": "447700900123", "from": "ACME", "text": "x", "priority": "HIGH" }),
            "unknown variant",
        ),
        (
            json!({ "to": "447700900123", "from": "ACME", "text": "x", "client_message_id": "x".repeat(65) }),
            "client_message_id",
        ),
        (
            json!({ "to": "447700900123", "from": "ACME", "text": "x", "carrier": "a\nb" }),
            "carrier",
        ),
    ];
    for (payload, mention) in cases {
        let (status, answer, _) = submit(&base, None, &payload).await;
        assert_eq!(status, 400, "{payload}: {answer}");
        let error = error_of(answer);
        assert_eq!(error.error.code, 1);
        assert!(
            error.error.message.contains(mention),
            "{mention}: {}",
            error.error.message
        );
    }
    let (status, answer, _) = submit(&base, Some("tab\tkey"), &body()).await;
    assert_eq!(status, 400);
    assert!(error_of(answer).error.message.contains("Idempotency-Key"));

    let response = client()
        .post(format!("{base}/v1/messages"))
        .basic_auth("demo", Some("demo1234"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(recorder.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn wrong_content_type_oversized_body_and_wrong_method_are_4xx_json() {
    let (base, _) = start().await;
    let response = client()
        .post(format!("{base}/v1/messages"))
        .basic_auth("demo", Some("demo1234"))
        .form(&[("to", "447700900123")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(error_of(response.json().await.unwrap()).error.code, 1);

    let mut big = body();
    big["text"] = json!("x".repeat(limits::MAX_BODY_BYTES));
    let (status, answer, _) = submit(&base, None, &big).await;
    assert_eq!(status, 413);
    assert_eq!(error_of(answer).error.code, 1);

    let response = client()
        .put(format!("{base}/v1/messages"))
        .basic_auth("demo", Some("demo1234"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(error_of(response.json().await.unwrap()).error.code, 1);
}

#[tokio::test]
async fn handler_errors_map_to_statuses_codes_and_retry_after() {
    let (base, _) = start().await;
    let text = |t: &str| json!({ "to": "447700900123", "from": "ACME", "text": t });
    let cases = [
        (Some("mismatch"), text("x"), 422, 7),
        (Some("inflight"), text("x"), 409, 109),
        (None, text("throttle"), 429, 6),
        (None, text("carrier"), 400, 3),
        (None, text("long"), 400, 8),
        (None, text("internal"), 503, 98),
    ];
    for (key, payload, status, code) in cases {
        let (got, answer, headers) = submit(&base, key, &payload).await;
        assert_eq!(got, status, "{payload}: {answer}");
        assert_eq!(error_of(answer).error.code, code);
        if status == 429 {
            assert_eq!(headers["retry-after"], "4");
        }
    }
}

#[tokio::test]
async fn status_returns_history_or_404() {
    let (base, _) = start().await;
    let get = |id: &str| {
        client()
            .get(format!("{base}/v1/messages/{id}"))
            .basic_auth("demo", Some("demo1234"))
            .send()
    };
    let response = get("A-0001").await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer,
        json!({
            "id": "A-0001", "state": "DELIVERED", "to": "447700900123", "from": "ACME",
            "created_at": "2024-05-01T12:00:00Z", "parts": 2,
            "history": [
                { "state": "ACCEPTED", "code": null, "at": "2024-05-01T12:00:00Z" },
                { "state": "DELIVERED", "code": 0, "at": "2024-05-01T12:00:01.5Z" }
            ]
        })
    );
    let typed: MessageStatus = serde_json::from_value(answer).unwrap();
    assert_eq!(typed.history.len(), 2);

    let response = get("nope").await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(error_of(response.json().await.unwrap()).error.code, 104);
    let response = get("broken").await.unwrap();
    assert_eq!(response.status(), 503);
    let response = get(&"x".repeat(65)).await.unwrap();
    assert_eq!(response.status(), 400);

    let response = client()
        .get(format!("{base}/v1/messages/A-0001"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}
