//! `/httpapi/receiver` over real sockets: parsing, validation, answers and error mapping.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use smsgw_http::receiver::{self, ReceiverError, ReceiverHandler, ReceiverRequest};
use smsgw_http::{limits, Priority};

use common::{client, field, serve};

/// Records requests; refuses some message ids with scripted errors.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<ReceiverRequest>>,
}

impl ReceiverHandler for Recorder {
    async fn submit(
        &self,
        _: smsgw_http::ClientAddr,
        request: ReceiverRequest,
    ) -> Result<(), ReceiverError> {
        let scripted = match request.message_id.as_str() {
            "auth" => Some(ReceiverError::auth()),
            "carrier" => Some(ReceiverError::unknown_carrier("nowhere")),
            "throttle" => Some(ReceiverError::throttled(Duration::from_millis(2500))),
            "dup" => Some(ReceiverError::duplicate()),
            "long" => Some(ReceiverError::too_long(12, 6)),
            "internal" => Some(ReceiverError::internal()),
            _ => None,
        };
        if let Some(error) = scripted {
            return Err(error);
        }
        self.seen.lock().expect("lock").push(request);
        Ok(())
    }
}

async fn start() -> (String, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let addr = serve(receiver::router(recorder.clone())).await;
    (format!("http://{addr}{}", receiver::PATH), recorder)
}

fn valid(message_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("login", "demo".into()),
        ("password", "demo1234".into()),
        ("phone_number", "447700900123".into()),
        ("sender", "ACME".into()),
        ("message", "hello".into()),
        ("message_id", message_id.into()),
    ]
}

fn with(
    mut params: Vec<(&'static str, String)>,
    name: &'static str,
    value: &str,
) -> Vec<(&'static str, String)> {
    params.retain(|(k, _)| *k != name);
    params.push((name, value.into()));
    params
}

async fn get(url: &str, params: &[(&str, String)]) -> (u16, String, reqwest::header::HeaderMap) {
    let query = serde_urlencoded::to_string(params).expect("query");
    let response = client()
        .get(format!("{url}?{query}"))
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.expect("body"), headers)
}

async fn post(url: &str, params: &[(&str, String)]) -> (u16, String) {
    let response = client().post(url).form(params).send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn get_with_query_is_accepted_and_reaches_the_handler() {
    let (url, recorder) = start().await;
    let params = with(
        with(valid("id 1/é?"), "receipt", "TRUE"),
        "priority",
        "INTERACTIVE_LOW",
    );
    let params = with(with(params, "app_id", "app"), "conversation_id", "conv");
    let (status, body, headers) = get(&url, &params).await;
    assert_eq!(status, 400, "é is not printable ASCII: {body}");
    assert_eq!(field(&body, "result_code").as_deref(), Some("1"));
    assert!(field(&body, "description").unwrap().contains("message_id"));
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");

    let params = with(params, "message_id", "id 1/&=?");
    let (status, body, _) = get(&url, &params).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(field(&body, "result_code").as_deref(), Some("0"));
    assert_eq!(field(&body, "message_id").as_deref(), Some("id 1/&=?"));
    let seen = recorder.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.credentials.login, "demo");
    assert_eq!(r.credentials.password, "demo1234");
    assert_eq!(r.phone_number, "447700900123");
    assert_eq!(r.sender, "ACME");
    assert!(r.receipt);
    assert_eq!(r.priority, Priority::InteractiveLow);
    assert_eq!(r.app_id.as_deref(), Some("app"));
    assert_eq!(r.conversation_id.as_deref(), Some("conv"));
    assert_eq!(r.carrier, None);
}

#[tokio::test]
async fn post_form_with_emoji_round_trips_exactly() {
    let (url, recorder) = start().await;
    let text = "Grüße 👋🏽 from Zürich — €5 @ £3 ✓\nline two";
    let params = with(
        with(valid("m-utf8"), "message", text),
        "carrier",
        "vodafone-uk",
    );
    let (status, body) = post(&url, &params).await;
    assert_eq!(status, 200, "{body}");
    let seen = recorder.seen.lock().unwrap().clone();
    assert_eq!(seen[0].message, text);
    assert_eq!(seen[0].carrier.as_deref(), Some("vodafone-uk"));
    assert!(!seen[0].receipt, "receipt defaults to FALSE");
    assert_eq!(seen[0].priority, Priority::Bulk);
}

#[tokio::test]
async fn post_reads_parameters_from_query_and_body_together() {
    let (url, recorder) = start().await;
    let response = client()
        .post(format!("{url}?login=demo&password=demo1234"))
        .form(&[
            ("phone_number", "15551234567"),
            ("sender", "12345"),
            ("message", "hi"),
            ("message_id", "split"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(recorder.seen.lock().unwrap()[0].sender, "12345");

    // The same parameter in both places is ambiguous.
    let response = client()
        .post(format!("{url}?sender=OTHER"))
        .form(&valid("twice"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body = response.text().await.unwrap();
    assert!(
        field(&body, "description").unwrap().contains("sender"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let (url, recorder) = start().await;
    let params = with(
        with(valid("extra"), "foo", "bar"),
        "mms_attachment[0].url",
        "x",
    );
    let (status, _) = post(&url, &params).await;
    assert_eq!(status, 200);
    assert_eq!(recorder.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn missing_required_parameters_are_all_listed() {
    let (url, recorder) = start().await;
    let (status, body, _) = get(&url, &[("login", "demo".into()), ("message", "".into())]).await;
    assert_eq!(status, 400);
    assert_eq!(field(&body, "result_code").as_deref(), Some("1"));
    assert_eq!(
        field(&body, "description").as_deref(),
        Some("missing parameter(s): password, phone_number, sender, message, message_id")
    );
    assert!(recorder.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn each_validation_rule_answers_400_naming_the_parameter() {
    let (url, recorder) = start().await;
    let cases: &[(&str, &str)] = &[
        ("phone_number", "+447700900123"),
        ("phone_number", "0447700900"),
        ("phone_number", "12345"),
        ("phone_number", "1234567890123456"),
        ("phone_number", "44-7700-900"),
        ("sender", "TwelveChars1"),
        ("sender", "1234567890123456"),
        ("sender", "AC/ME"),
        ("message_id", &"x".repeat(65)),
        ("message_id", "tab\tid"),
        ("receipt", "maybe"),
        ("priority", "URGENT"),
        ("carrier", "a\u{7}b"),
        ("app_id", &"a".repeat(129)),
        ("conversation_id", "line\nbreak"),
        ("login", "a\u{0}"),
    ];
    for (name, value) in cases {
        let (status, body) = post(&url, &with(valid("v"), name, value)).await;
        assert_eq!(status, 400, "{name}={value:?}: {body}");
        assert_eq!(field(&body, "result_code").as_deref(), Some("1"), "{body}");
        let description = field(&body, "description").unwrap();
        assert!(description.contains(name), "{name}: {description}");
    }
    assert!(recorder.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn invalid_utf8_is_refused_not_replaced() {
    let (url, recorder) = start().await;
    let body = "login=demo&password=demo1234&phone_number=447700900123&sender=ACME&message_id=u&message=%C3%28";
    let response = client()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(
        field(&text, "description").unwrap().contains("message"),
        "{text}"
    );
    assert!(recorder.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn handler_errors_map_to_genesys_codes_and_statuses() {
    let (url, _) = start().await;
    let cases = [
        ("auth", 401, "2"),
        ("carrier", 400, "3"),
        ("throttle", 429, "6"),
        ("dup", 409, "7"),
        ("long", 400, "8"),
        ("internal", 503, "98"),
    ];
    for (id, status, code) in cases {
        let (got, body, headers) = get(&url, &valid(id)).await;
        assert_eq!(got, status, "{id}: {body}");
        assert_eq!(field(&body, "result_code").as_deref(), Some(code), "{id}");
        assert!(!field(&body, "description").unwrap().is_empty());
        if id == "throttle" {
            assert_eq!(headers["retry-after"], "3");
        } else {
            assert!(headers.get("retry-after").is_none());
        }
    }
}

#[tokio::test]
async fn oversized_body_gets_413_with_a_result_code() {
    let (url, recorder) = start().await;
    let big = "x".repeat(limits::MAX_BODY_BYTES + 1);
    let (status, body) = post(&url, &with(valid("big"), "message", &big)).await;
    assert_eq!(status, 413);
    assert_eq!(field(&body, "result_code").as_deref(), Some("1"));
    assert!(recorder.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn wrong_content_type_and_method_get_4xx_with_a_result_code() {
    let (url, _) = start().await;
    let response = client()
        .post(&url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_eq!(
        field(&response.text().await.unwrap(), "result_code").as_deref(),
        Some("1")
    );

    let response = client().delete(&url).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(
        field(&response.text().await.unwrap(), "result_code").as_deref(),
        Some("1")
    );
}
