//! `PushClient`: one HTTP attempt to push an MO or receipt, with bounded time-outs, classified
//! into a [`PushOutcome`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};

use super::{PushFormat, PushMessage, PushOutcome, PushTarget};

/// Time-outs for pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushConfig {
    /// Longest wait for the TCP (and TLS) connection; default 5 s.
    pub connect_timeout: Duration,
    /// Longest wait for the whole exchange until the status line; default 15 s.
    pub timeout: Duration,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
        }
    }
}

/// The HTTP client could not be built (TLS set-up).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the push HTTP client: {0}")]
pub struct PushClientError(#[from] reqwest::Error);

/// Pushes to application URLs. Cheap to clone; share one per process (connection reuse).
#[derive(Debug, Clone)]
pub struct PushClient {
    http: reqwest::Client,
}

impl PushClient {
    /// Builds the client. Installs rustls' ring provider if none is installed yet, because
    /// reqwest is built without one. Redirects are not followed: a push is a POST with a
    /// signed body, and a 3xx usually means a wrong URL, which should be fixed, not guessed.
    pub fn new(config: PushConfig) -> Result<PushClient, PushClientError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("smsgw-push/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(PushClient { http })
    }

    /// One attempt. Every attempt for the same message carries the same `webhook-id`
    /// ([`PushMessage::event_id`]); with a signing secret it also carries a fresh
    /// `webhook-timestamp` and the `webhook-signature` over `id.timestamp.body`.
    pub async fn send(&self, target: &PushTarget, message: &PushMessage) -> PushOutcome {
        let (body, content_type) = match target.format() {
            PushFormat::Form => (message.to_form(), "application/x-www-form-urlencoded"),
            PushFormat::Json => (message.to_json(), "application/json"),
        };
        let event_id = message.event_id();
        let mut request = self
            .http
            .post(target.url().clone())
            .header(CONTENT_TYPE, content_type)
            .header(standardwebhooks::HEADER_WEBHOOK_ID, header_value(&event_id));
        if let Some(signer) = target.signer() {
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or_default();
            match signer.sign(&event_id, timestamp, body.as_bytes()) {
                Ok(signature) => {
                    request = request
                        .header(standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, timestamp)
                        .header(
                            standardwebhooks::HEADER_WEBHOOK_SIGNATURE,
                            header_value(&signature),
                        );
                }
                // Only fails for a non-UTF-8 body, which ours never are; send unsigned
                // rather than drop, and let the receiver refuse it.
                Err(error) => tracing::error!(%error, "cannot sign push"),
            }
        }
        let outcome = match request.body(body).send().await {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok());
                PushOutcome::from_response(response.status(), retry_after, SystemTime::now())
            }
            Err(error) => {
                tracing::debug!(url = %target.url(), %error, "push failed to connect or timed out");
                PushOutcome::Retry { after: None }
            }
        };
        record(target, message, &outcome);
        outcome
    }
}

/// Ids and signatures are printable ASCII; anything else is percent-escaped rather than
/// failing the push.
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| {
        let escaped: String = crate::form::encode(&[("", text)])
            .trim_start_matches('=')
            .into();
        HeaderValue::from_str(&escaped).unwrap_or(HeaderValue::from_static("invalid"))
    })
}

fn record(target: &PushTarget, message: &PushMessage, outcome: &PushOutcome) {
    metrics::counter!(
        "smsgw_push_attempts_total",
        "kind" => message.kind(),
        "outcome" => outcome.label()
    )
    .increment(1);
    match outcome {
        PushOutcome::Delivered => {}
        PushOutcome::Gone => {
            metrics::counter!("smsgw_push_gone_total").increment(1);
            tracing::warn!(url = %target.url(), id = %message.event_id(),
                "push URL answered 410 Gone: stop pushing to it until it is reconfigured");
        }
        PushOutcome::Retry { after } => {
            tracing::debug!(url = %target.url(), id = %message.event_id(), ?after, "push to retry");
        }
        PushOutcome::Rejected(status) => {
            tracing::warn!(url = %target.url(), id = %message.event_id(), %status,
                "push rejected by the receiver; retrying with backoff");
        }
    }
}
