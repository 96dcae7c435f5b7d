//! End to end over HTTP: the Genesys receiver (idempotent on message_id), the JSON API with
//! Idempotency-Key and status, HTTP push of receipts and MOs, /readyz and /metrics.

mod gateway;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{routing::post, Router};
use gateway::*;
use smsgw::carrier_sim::CarrierSimConfig;

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn genesys(message_id: &str, text: &str) -> Vec<(String, String)> {
    form(&[
        ("login", "acme"),
        ("password", PASSWORD),
        ("phone_number", "447700900001"),
        ("sender", "ACME"),
        ("message", text),
        ("message_id", message_id),
        ("receipt", "TRUE"),
        ("app_id", "app-1"),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genesys_receiver_accepts_once_per_message_id() {
    let test = TestGateway::start().await;
    let (status, body) = post_receiver(&test, &genesys("c-1", "hello €")).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "result_code=0&message_id=c-1")
    );
    // The same request again (a client retry): the same answer, no second SMS.
    let (status, body) = post_receiver(&test, &genesys("c-1", "hello €")).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "result_code=0&message_id=c-1")
    );
    // Concurrent retries too.
    let race = genesys("c-2", "race");
    let retries = (0..8).map(|_| post_receiver(&test, &race));
    for (status, _) in futures_util::future::join_all(retries).await {
        assert_eq!(status, 200);
    }
    // Same id, other text: result_code 7.
    let (status, body) = post_receiver(&test, &genesys("c-1", "changed")).await;
    assert_eq!(status, 409);
    assert!(body.starts_with("result_code=7&"), "{body}");
    assert_eq!(carrier_submits_settled(&test.sim, 2).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genesys_receiver_refuses_bad_input_with_result_codes_never_500() {
    let test = TestGateway::start().await;
    let mut wrong_password = genesys("c-1", "x");
    wrong_password[1].1 = "nope".into();
    let cases = [
        (wrong_password, 401, "result_code=2&"),
        (
            genesys("c-2", &"long text ".repeat(200)),
            400,
            "result_code=8&",
        ),
        (
            {
                let mut bad = genesys("c-3", "x");
                bad[2].1 = "+44 7700".into();
                bad
            },
            400,
            "result_code=1&",
        ),
        (
            {
                let mut carrier = genesys("c-4", "x");
                carrier.push(("carrier".into(), "nosuchcarrier".into()));
                carrier
            },
            400,
            "result_code=3&",
        ),
    ];
    for (body, status, prefix) in cases {
        let (got, text) = post_receiver(&test, &body).await;
        assert_eq!(got, status, "{text}");
        assert!(text.starts_with(prefix), "{text}");
    }
    let response = http()
        .get(test.url("/httpapi/receiver?login=acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(test.sim.stats().submits_accepted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_needs_7_to_15_digits_on_both_apis() {
    let test = TestGateway::start().await;
    let cases = [
        ("123456", false),
        ("1234567", true),
        ("123456789012345", true),
        ("1234567890123456", false),
    ];
    for (n, (destination, accepted)) in cases.into_iter().enumerate() {
        let mut body = genesys(&format!("d-{n}"), "x");
        body[2].1 = destination.into();
        let (status, text) = post_receiver(&test, &body).await;
        let (want_status, want_prefix) = if accepted {
            (200, "result_code=0&")
        } else {
            (400, "result_code=1&")
        };
        assert_eq!(status, want_status, "receiver {destination}: {text}");
        assert!(
            text.starts_with(want_prefix),
            "receiver {destination}: {text}"
        );

        let response = http()
            .post(test.url("/v1/messages"))
            .basic_auth("acme", Some(PASSWORD))
            .json(&serde_json::json!({"to": destination, "from": "ACME", "text": "x"}))
            .send()
            .await
            .unwrap();
        let want_status = if accepted { 202 } else { 400 };
        assert_eq!(response.status().as_u16(), want_status, "api {destination}");
        if !accepted {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], 1, "api {destination}: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_api_with_idempotency_key_and_status_history() {
    let test = TestGateway::start().await;
    let body =
        serde_json::json!({"to": "447700900001", "from": "ACME", "text": "hi", "receipt": true});
    let send = || {
        http()
            .post(test.url("/v1/messages"))
            .basic_auth("acme", Some(PASSWORD))
            .header("Idempotency-Key", "key-1")
            .json(&body)
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status().as_u16(), 202);
    let first: serde_json::Value = first.json().await.unwrap();
    let replay: serde_json::Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(first["id"], replay["id"]);
    let other = http()
        .post(test.url("/v1/messages"))
        .basic_auth("acme", Some(PASSWORD))
        .header("Idempotency-Key", "key-1")
        .json(&serde_json::json!({"to": "447700900001", "from": "ACME", "text": "other"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 422);

    let id = first["id"].as_str().unwrap();
    let mut state = serde_json::Value::Null;
    for _ in 0..100 {
        let status: serde_json::Value = json_of(
            http()
                .get(test.url(&format!("/v1/messages/{id}")))
                .basic_auth("acme", Some(PASSWORD)),
        )
        .await;
        state = status.clone();
        if status["state"] == "DELIVERED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state["state"], "DELIVERED", "{state}");
    let history: Vec<&str> = state["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["ACCEPTED", "ENROUTE", "DELIVERED"]);
    let missing = http()
        .get(test.url("/v1/messages/nope"))
        .basic_auth("acme", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(test.sim.stats().submits_accepted, 1);
}

/// What a push is about: its `type` and `message_id` fields (form format; both are plain
/// tokens, nothing to decode).
fn push_identity(body: &str) -> (String, String) {
    let field = |name: &str| {
        body.split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_default()
            .to_owned()
    };
    (field("type"), field("message_id"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_and_mos_are_pushed_to_the_account_url_and_retried_until_2xx() {
    // Every request in arrival order: its body and the status it was answered with. The
    // first is answered 503, the rest 200.
    let requests: Arc<Mutex<Vec<(String, u16)>>> = Arc::default();
    let app = {
        let requests = requests.clone();
        Router::new().route(
            "/push",
            post(move |body: String| {
                let requests = requests.clone();
                async move {
                    let mut requests = requests.lock().unwrap();
                    let status = if requests.is_empty() { 503 } else { 200 };
                    requests.push((body, status));
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let push_url = format!("http://{}/push", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let extra = format!(
        "push = {{ url = \"{push_url}\", format = \"form\", allow_private_targets = [\"127.0.0.1\"] }}"
    );
    let test = TestGateway::start_with(CarrierSimConfig::default(), &extra).await;

    let (status, _) = post_receiver(&test, &genesys("c-9", "hello")).await;
    assert_eq!(status, 200);
    let mut mo = genesys("c-10", "echo me");
    mo[2].1 = "99900001".into();
    mo[3].1 = "447700900123".into();
    let (status, _) = post_receiver(&test, &mo).await;
    assert_eq!(status, 200);

    // Done once the push that got the 503 came again and was taken, and both kinds arrived.
    let taken = |requests: &[(String, u16)], wanted: &dyn Fn(&str) -> bool| {
        requests
            .iter()
            .any(|(body, status)| *status == 200 && wanted(body))
    };
    let refused = |requests: &[(String, u16)]| push_identity(&requests[0].0);
    let settled = |requests: &[(String, u16)]| {
        !requests.is_empty()
            && taken(requests, &|b| push_identity(b) == refused(requests))
            && taken(requests, &|b| b.contains("type=receipt"))
            && taken(requests, &|b| b.contains("type=MO"))
    };
    let done = push_receiver::wait_until(Duration::from_secs(30), || {
        settled(&requests.lock().unwrap())
    })
    .await;
    let requests = requests.lock().unwrap().clone();
    assert!(
        done,
        "within 30 s the push answered 503 was not taken on a retry, or a receipt or MO \
         never arrived: {requests:?}"
    );
    let (kind, message_id) = refused(&requests);
    assert!(
        !kind.is_empty() && !message_id.is_empty(),
        "the refused push names its message: {requests:?}"
    );
    let bodies: Vec<&String> = requests
        .iter()
        .filter(|(_, status)| *status == 200)
        .map(|(body, _)| body)
        .collect();
    assert!(
        bodies.iter().any(|b| b.contains("type=receipt")
            && b.contains("message_id=c-9")
            && b.contains("message_state=2")
            && b.contains("app_id=app-1")),
        "{bodies:?}"
    );
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("type=MO") && b.contains("message=echo+me")),
        "{bodies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_and_metrics() {
    let test = TestGateway::start().await;
    let ready = http().get(test.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(
        http()
            .get(test.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    post_receiver(&test, &genesys("m-1", "count me")).await;
    let metrics = metrics_text(test.gateway.admin_addr()).await;
    assert!(metrics.contains("ingest_mt_total"), "{metrics}");
    // Carrier gone: not ready.
    test.sim.shutdown().await;
    let mut status = 200;
    for _ in 0..50 {
        status = http()
            .get(test.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 503);
}
