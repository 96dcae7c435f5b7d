//! `PushClient`: one HTTP attempt to push an MO or receipt, with bounded time-outs, kept-alive
//! connections and the [`AddressPolicy`] applied to every address connected to, classified
//! into a [`PushOutcome`].

use std::{
    net::IpAddr,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};

use super::resolver::{GuardedResolver, RefusedHost};
use super::{AddressPolicy, ForbiddenAddress, PushFormat, PushMessage, PushOutcome, PushTarget};
use crate::redact::RedactedUrl;

/// Time-outs, connection reuse and allowed addresses for pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    /// Longest wait for the TCP (and TLS) connection; default 5 s.
    pub connect_timeout: Duration,
    /// Longest wait for the whole exchange until the status line; default 15 s.
    pub timeout: Duration,
    /// Idle connections kept alive per host for the next pushes; default 64.
    pub max_idle_connections: usize,
    /// How long an idle connection is kept; default 90 s.
    pub idle_timeout: Duration,
    /// Which addresses may be connected to; default: public addresses only.
    pub addresses: AddressPolicy,
}

impl Default for PushConfig {
    fn default() -> Self {
        PushConfig {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(15),
            max_idle_connections: 64,
            idle_timeout: Duration::from_secs(90),
            addresses: AddressPolicy::default(),
        }
    }
}

/// The HTTP client could not be built (TLS set-up).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the push HTTP client: {0}")]
pub struct PushClientError(#[from] reqwest::Error);

/// Pushes to application URLs. Cheap to clone; clones share one connection pool. Give each
/// receiver (account) its own client so that a slow receiver's pool cannot hold up others.
#[derive(Debug, Clone)]
pub struct PushClient {
    http: reqwest::Client,
    addresses: Arc<AddressPolicy>,
}

impl PushClient {
    /// Builds the client. Installs rustls' ring provider if none is installed yet, because
    /// reqwest is built without one. Redirects are not followed: a push is a POST with a
    /// signed body, and a 3xx usually means a wrong URL, which should be fixed, not guessed.
    /// No proxy is used, even if the environment names one: the address check must apply
    /// to the receiver itself, and a proxy would connect wherever it was told.
    pub fn new(config: PushConfig) -> Result<PushClient, PushClientError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let addresses = Arc::new(config.addresses);
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .pool_max_idle_per_host(config.max_idle_connections)
            .pool_idle_timeout(config.idle_timeout)
            .tcp_nodelay(true)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(addresses.clone())))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("smsgw-push/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(PushClient { http, addresses })
    }

    /// `Err` when `target`'s host is an IP address the policy refuses (the resolver, which
    /// checks names, is not asked for IP literals).
    fn check_literal(&self, target: &PushTarget) -> Result<(), ForbiddenAddress> {
        // The URL parser has normalised IPv4 literals (`0x7f.1`, `2130706433`) to dotted
        // form; IPv6 literals come in brackets.
        let host = target.url().host_str().unwrap_or_default();
        match host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(literal) => self.addresses.check(literal),
            Err(_) => Ok(()),
        }
    }

    /// One attempt. Every attempt for the same message carries the same `webhook-id`
    /// ([`PushMessage::event_id`]); with a signing secret it also carries a fresh
    /// `webhook-timestamp` and the `webhook-signature` over `id.timestamp.body`.
    pub async fn send(&self, target: &PushTarget, message: &PushMessage) -> PushOutcome {
        if let Err(forbidden) = self.check_literal(target) {
            let outcome = PushOutcome::Refused(forbidden);
            record(target, message, &outcome);
            return outcome;
        }
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
                let outcome =
                    PushOutcome::from_response(response.status(), retry_after, SystemTime::now());
                drain(response).await;
                outcome
            }
            Err(error) => match refused_host(&error) {
                Some(refused) => PushOutcome::Refused(refused.refused.clone()),
                None => {
                    // reqwest's message names the URL, credentials included: leave it out.
                    let error = error.without_url();
                    tracing::debug!(url = %RedactedUrl(target.url()), %error,
                        "push failed to connect or timed out");
                    PushOutcome::Retry { after: None }
                }
            },
        };
        record(target, message, &outcome);
        outcome
    }
}

/// Most of an answer's body read to keep its connection for the next push; a receiver that
/// says more gets its connection closed instead (its words are not used).
const MAX_DRAINED_BODY: usize = 64 * 1024;

/// Reads the answer's body to its end, so the kept-alive connection can carry the next push
/// (an unread body makes the pool drop it), unless it is longer than [`MAX_DRAINED_BODY`].
/// Bounded in time by the client's timeout, which covers the body too.
async fn drain(mut response: reqwest::Response) {
    let mut read = 0;
    while let Ok(Some(chunk)) = response.chunk().await {
        read += chunk.len();
        if read > MAX_DRAINED_BODY {
            break;
        }
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

/// The resolver's refusal inside a failed request, if that is why it failed.
fn refused_host(error: &reqwest::Error) -> Option<&RefusedHost> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<RefusedHost>() {
            return Some(refused);
        }
        source = current.source();
    }
    None
}

fn record(target: &PushTarget, message: &PushMessage, outcome: &PushOutcome) {
    metrics::counter!(
        "smsgw_push_attempts_total",
        "kind" => message.kind(),
        "outcome" => outcome.label()
    )
    .increment(1);
    let url = RedactedUrl(target.url());
    match outcome {
        PushOutcome::Delivered => {}
        // Logged by the caller, which knows whose push it was and limits the rate.
        PushOutcome::Refused(_) => {}
        PushOutcome::Gone => {
            metrics::counter!("smsgw_push_gone_total").increment(1);
            tracing::warn!(%url, id = %message.event_id(),
                "push URL answered 410 Gone: stop pushing to it until it is reconfigured");
        }
        PushOutcome::Retry { after } => {
            tracing::debug!(%url, id = %message.event_id(), ?after, "push to retry");
        }
        PushOutcome::Rejected(status) => {
            tracing::warn!(%url, id = %message.event_id(), %status,
                "push rejected by the receiver; retrying with backoff");
        }
    }
}
