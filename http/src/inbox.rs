//! Receiving pushes, for applications: an axum route that reads both push formats, verifies
//! Standard Webhooks signatures (with the library's 5-minute timestamp tolerance), drops
//! duplicates by id within a window, and answers 2xx only after the application's callback
//! succeeded.
//!
//! Answers: 200 delivered (or a duplicate already handled); 400 unreadable body (the gateway
//! retries it anyway, and it shows in its "rejected" counter); 401 missing or bad signature
//! when a secret is configured; 413 body too large; 503 when the callback failed (the gateway
//! retries with backoff). Duplicates are remembered only after the callback succeeded, so two
//! copies arriving at once may both reach the callback: delivery is at least once.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use standardwebhooks::Webhook;
use tokio::time::Instant;

use crate::limits;
use crate::push::{PushMessage, PushTargetError};

/// What the application does with one push.
pub trait PushHandler: Send + Sync + 'static {
    /// Handles the message; `Err` (with a reason for logs) makes the gateway retry later.
    fn on_push(&self, message: PushMessage) -> impl Future<Output = Result<(), String>> + Send;
}

/// Settings of the receiving route.
#[derive(Debug, Clone)]
pub struct InboxConfig {
    /// `whsec_<base64>`: when set, unsigned or badly signed pushes are refused.
    pub signing_secret: Option<String>,
    /// How long a handled id is remembered; default 1 h.
    pub dedupe_window: Duration,
    /// At most this many ids are remembered (oldest forgotten first); default 100 000.
    pub max_remembered: usize,
}

impl Default for InboxConfig {
    fn default() -> Self {
        InboxConfig {
            signing_secret: None,
            dedupe_window: Duration::from_secs(3600),
            max_remembered: 100_000,
        }
    }
}

struct Inbox<H> {
    handler: H,
    verifier: Option<Webhook>,
    seen: Mutex<Seen>,
    window: Duration,
    capacity: usize,
}

/// Ids handled recently, in arrival order for expiry.
#[derive(Default)]
struct Seen {
    at: HashMap<String, Instant>,
    order: VecDeque<(String, Instant)>,
}

impl Seen {
    fn contains(&mut self, id: &str, now: Instant, window: Duration) -> bool {
        while let Some((old, at)) = self.order.front() {
            if now.duration_since(*at) < window {
                break;
            }
            if self.at.get(old) == Some(at) {
                self.at.remove(old);
            }
            self.order.pop_front();
        }
        self.at.contains_key(id)
    }

    fn insert(&mut self, id: String, now: Instant, capacity: usize) {
        self.at.insert(id.clone(), now);
        self.order.push_back((id, now));
        while self.order.len() > capacity {
            if let Some((old, at)) = self.order.pop_front() {
                if self.at.get(&old) == Some(&at) {
                    self.at.remove(&old);
                }
            }
        }
    }
}

/// A route at `path` that receives pushes for `handler`. Fails only on a malformed secret.
pub fn router<H: PushHandler>(
    path: &str,
    handler: H,
    config: InboxConfig,
) -> Result<Router, PushTargetError> {
    let verifier = match config.signing_secret.as_deref() {
        Some(secret) => Some(Webhook::new(secret)?),
        None => None,
    };
    let inbox = Arc::new(Inbox {
        handler,
        verifier,
        seen: Mutex::new(Seen::default()),
        window: config.dedupe_window,
        capacity: config.max_remembered.max(1),
    });
    Ok(Router::new()
        .route(path, post(receive::<H>))
        .layer(DefaultBodyLimit::max(limits::MAX_BODY_BYTES))
        .with_state(inbox))
}

async fn receive<H: PushHandler>(
    State(inbox): State<Arc<Inbox<H>>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return (rejection.status(), "unreadable body\n").into_response(),
    };
    if let Some(verifier) = &inbox.verifier {
        if let Err(error) = verifier.verify(&body, &headers) {
            tracing::info!(%error, "push signature refused");
            return (StatusCode::UNAUTHORIZED, format!("{error}\n")).into_response();
        }
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    let parsed = if is_json {
        PushMessage::from_json(&body)
    } else {
        PushMessage::from_form(&body)
    };
    let message = match parsed {
        Ok(message) => message,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response(),
    };
    let id = headers
        .get(standardwebhooks::HEADER_WEBHOOK_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| message.event_id());
    let duplicate = lock(&inbox.seen).contains(&id, Instant::now(), inbox.window);
    if duplicate {
        metrics::counter!("smsgw_inbox_duplicates_total").increment(1);
        return (StatusCode::OK, "duplicate\n").into_response();
    }
    match inbox.handler.on_push(message).await {
        Ok(()) => {
            lock(&inbox.seen).insert(id, Instant::now(), inbox.capacity);
            (StatusCode::OK, "ok\n").into_response()
        }
        Err(reason) => {
            tracing::warn!(%id, %reason, "push handler failed; the sender will retry");
            (StatusCode::SERVICE_UNAVAILABLE, "retry later\n").into_response()
        }
    }
}

/// A poisoned lock only means another request panicked mid-update of a cache; keep using it.
fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn remembers_ids_for_the_window_and_up_to_the_capacity() {
        let window = Duration::from_secs(60);
        let mut seen = Seen::default();
        seen.insert("a".into(), Instant::now(), 2);
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(seen.contains("a", Instant::now(), window));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!seen.contains("a", Instant::now(), window));

        for id in ["x", "y", "z"] {
            seen.insert(id.into(), Instant::now(), 2);
        }
        assert!(
            !seen.contains("x", Instant::now(), window),
            "oldest forgotten at capacity"
        );
        assert!(seen.contains("z", Instant::now(), window));
    }
}
