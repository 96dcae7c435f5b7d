//! The application-side inbox fed by the real push client over loopback.

mod common;

use std::sync::{Arc, Mutex};

use smsgw_http::inbox::{self, InboxConfig, PushHandler};
use smsgw_http::{MessageState, PushClient, PushFormat, PushMessage, PushOutcome, PushTarget};

use common::serve;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Clone, Default)]
struct App {
    got: Arc<Mutex<Vec<PushMessage>>>,
}

impl PushHandler for App {
    async fn on_push(&self, message: PushMessage) -> Result<(), String> {
        if let PushMessage::Mo { message: text, .. } = &message {
            if text == "fail" {
                return Err("database down".into());
            }
        }
        self.got.lock().unwrap().push(message);
        Ok(())
    }
}

fn receipt(id: &str, state: MessageState) -> PushMessage {
    PushMessage::Receipt {
        message_id: id.into(),
        message_state: state,
        result_code: 0,
        app_id: None,
        conversation_id: Some("c".into()),
    }
}

async fn start(secret: Option<&str>) -> (String, App) {
    let app = App::default();
    let config = InboxConfig {
        signing_secret: secret.map(str::to_owned),
        ..InboxConfig::default()
    };
    let router = inbox::router("/push", app.clone(), config).unwrap();
    (format!("http://{}/push", serve(router).await), app)
}

#[tokio::test]
async fn signed_pushes_reach_the_callback_once_and_later_states_still_arrive() {
    let (url, app) = start(Some(SECRET)).await;
    let push = PushClient::new(common::loopback_push_config()).unwrap();
    let target = PushTarget::new(&url, PushFormat::Json, Some(SECRET)).unwrap();
    let enroute = receipt("m-1", MessageState::Enroute);
    let delivered = receipt("m-1", MessageState::Delivered);
    assert_eq!(push.send(&target, &enroute).await, PushOutcome::Delivered);
    assert_eq!(
        push.send(&target, &enroute).await,
        PushOutcome::Delivered,
        "retry of a handled push"
    );
    assert_eq!(push.send(&target, &delivered).await, PushOutcome::Delivered);
    assert_eq!(*app.got.lock().unwrap(), vec![enroute, delivered]);

    let unsigned = PushTarget::new(&url, PushFormat::Json, None).unwrap();
    let other = receipt("m-2", MessageState::Delivered);
    assert_eq!(
        push.send(&unsigned, &other).await,
        PushOutcome::Rejected(reqwest::StatusCode::UNAUTHORIZED)
    );
    let wrong = PushTarget::new(
        &url,
        PushFormat::Json,
        Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
    )
    .unwrap();
    assert_eq!(
        push.send(&wrong, &other).await,
        PushOutcome::Rejected(reqwest::StatusCode::UNAUTHORIZED)
    );
    assert_eq!(app.got.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn form_pushes_without_a_secret_and_failing_callbacks_are_retried() {
    let (url, app) = start(None).await;
    let push = PushClient::new(common::loopback_push_config()).unwrap();
    let target = PushTarget::new(&url, PushFormat::Form, None).unwrap();
    let mo = |text: &str| PushMessage::Mo {
        message_id: format!("MO-{text}"),
        shortcode: "12345".into(),
        phone_number: "447700900123".into(),
        carrier: None,
        message: text.into(),
    };
    assert_eq!(
        push.send(&target, &mo("hello 👋")).await,
        PushOutcome::Delivered
    );
    assert_eq!(
        push.send(&target, &mo("fail")).await,
        PushOutcome::Retry { after: None }
    );
    assert_eq!(*app.got.lock().unwrap(), vec![mo("hello 👋")]);

    let garbage = reqwest::Client::new()
        .post(&url)
        .body("type=MT")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
}

/// A push signed with `SECRET` at `timestamp` (Unix seconds).
async fn post_signed_at(url: &str, message: &PushMessage, timestamp: i64) -> reqwest::StatusCode {
    let body = message.to_json();
    let id = message.event_id();
    let signature = standardwebhooks::Webhook::new(SECRET)
        .unwrap()
        .sign(&id, timestamp, body.as_bytes())
        .unwrap();
    common::client()
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_correctly_signed_push_outside_the_5_minute_tolerance_is_refused() {
    let (url, app) = start(Some(SECRET)).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let message = receipt("m-old", MessageState::Delivered);
    for stale in [now - 6 * 60, now + 6 * 60] {
        assert_eq!(post_signed_at(&url, &message, stale).await, 401);
    }
    assert!(app.got.lock().unwrap().is_empty());
    assert_eq!(post_signed_at(&url, &message, now - 60).await, 200);
    assert_eq!(*app.got.lock().unwrap(), vec![message]);
}
