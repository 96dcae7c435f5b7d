//! HTTP push of one account's outbox entries: at most `concurrency` requests in flight to the
//! account's URL, each slot freed as soon as the answer is in (recording the outcome in the
//! store does not hold the receiver's slot), outcomes turned into retries, and refused
//! targets (forbidden addresses) counted and logged at most once a minute.

use std::time::Duration;

use smsgw_http::{PushClient, PushMessage, PushOutcome, PushTarget};
use tokio::sync::Semaphore;
use tracing::warn;

use super::{refusal_log::RefusalLog, worker::Attempt};
use crate::{
    message::{now_ms, OutboxItem},
    store::OutboxEntry,
};

/// After a 410 Gone the URL is left alone this long (the entries wait, bounded by the TTL).
const GONE_PAUSE: Duration = Duration::from_secs(3600);

/// How often a refused target is logged (every refusal is counted).
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// An account's push receiver: its own client (own connection pool) and request slots.
pub struct PushRoute {
    client: PushClient,
    target: PushTarget,
    concurrency: usize,
    requests: Semaphore,
    refusals: RefusalLog,
}

impl PushRoute {
    /// `concurrency`: requests in flight at most (at least 1).
    pub fn new(client: PushClient, target: PushTarget, concurrency: usize) -> PushRoute {
        let concurrency = concurrency.max(1);
        PushRoute {
            client,
            target,
            concurrency,
            requests: Semaphore::new(concurrency),
            refusals: RefusalLog::new(REFUSAL_LOG_EVERY),
        }
    }

    /// Entries the account's deliverer may hold at once: those in a request, as many again
    /// waiting for a slot or recording their outcome, so the store's latency never leaves the
    /// receiver idle. Kept this low because a taken entry is leased: waiting longer than one
    /// request time-out for a slot would risk the lease.
    pub fn entries_held(&self) -> usize {
        self.concurrency * 2
    }

    /// One push attempt for `entry`.
    pub(super) async fn attempt(&self, account: &str, entry: &OutboxEntry) -> Attempt {
        let Some(message) = push_message(&entry.item) else {
            return Attempt::NotForClients;
        };
        let outcome = {
            // Never closed, so acquiring only fails if it were; then push without a slot.
            let _slot = self.requests.acquire().await.ok();
            self.client.send(&self.target, &message).await
        };
        let retry_in = match outcome {
            PushOutcome::Delivered => return Attempt::Delivered,
            PushOutcome::Gone => {
                warn!(
                    account,
                    "push URL answered 410 Gone; pushes paused for an hour"
                );
                metrics::counter!("delivery_push_gone_total", "account" => account.to_owned())
                    .increment(1);
                GONE_PAUSE
            }
            PushOutcome::Retry { after } => smsgw_http::backoff(entry.attempts, after),
            PushOutcome::Rejected(status) => {
                warn!(account, %status, "push refused; retrying with backoff");
                smsgw_http::backoff(entry.attempts, None)
            }
            PushOutcome::Refused(forbidden) => {
                metrics::counter!("delivery_push_refused_total", "account" => account.to_owned(), "range" => forbidden.range)
                    .increment(1);
                if let Some(refused) = self.refusals.note() {
                    warn!(account, url = %smsgw_http::RedactedUrl(self.target.url()), %forbidden, refused,
                        "push target refused (SSRF protection); entries stay in the outbox until \
                         allowed or expired. Allow the range with allow_private_targets if intended");
                }
                // As for a failing receiver: a DNS answer may change, so look again later.
                smsgw_http::backoff(entry.attempts, None)
            }
        };
        metrics::counter!("delivery_retries_total", "account" => account.to_owned(), "reason" => "push").increment(1);
        Attempt::Retry(now_ms() + retry_in.as_millis() as u64)
    }
}

/// The push body of an outbox item: receipts carry the client's message_id. `None` for a
/// timer, which is no client's.
fn push_message(item: &OutboxItem) -> Option<PushMessage> {
    Some(match item {
        OutboxItem::Timer(_) | OutboxItem::Events { .. } => return None,
        OutboxItem::Receipt(receipt) => PushMessage::Receipt {
            message_id: receipt
                .client_message_id
                .clone()
                .unwrap_or_else(|| receipt.message_id.to_string()),
            message_state: smsgw_http::MessageState::from_code(receipt.state.code())
                .unwrap_or(smsgw_http::MessageState::Unknown),
            result_code: u32::from(receipt.result_code),
            app_id: receipt.app_id.clone(),
            conversation_id: receipt.conversation_id.clone(),
        },
        OutboxItem::Mo(mo) => PushMessage::Mo {
            message_id: mo.id.clone(),
            shortcode: mo.destination.clone(),
            phone_number: mo.source.clone(),
            carrier: Some(mo.connector.clone()),
            message: mo.text.clone(),
        },
    })
}
