//! The timer worker: one per node, whichever nodes are alive. It takes due timers (outbox
//! entries of the reserved `~timers-<hour>` accounts, see [`crate::message::Timer`]) like a
//! deliverer takes receipts, runs the flow each names (release, expire, DR timeout, and a
//! multipart MO's incomplete set, `upstream::mo_parts::deliver_incomplete`) and marks it
//! done. A timer taken by a
//! node that dies is handed out again when its lease ends; firing twice is harmless (every
//! flow commits under the record's version guard).
//!
//! Timers live in one account per hour of their due time. The worker takes from the current
//! hour's account and from any earlier one that still has entries: those it finds in the
//! store's outbox list at start and every minute (a timer whose lease ran out, or one due while
//! every node was down), dropping an earlier hour once a take finds it empty.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use futures_util::{stream, StreamExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use super::{dr_timed_out, expire_mt, release_scheduled};
use crate::{
    message::{now_ms, timer_account, timer_account_hour, timer_hour, OutboxItem, TimerAction},
    store::{OutboxEntry, Store, StoreError},
    upstream::mo_parts::{deliver_incomplete, IncompleteOutcome},
};

/// Timers taken at once per account; a full take is followed by another at once.
const TAKE: usize = 256;
/// Timers whose flows run at once.
const CONCURRENCY: usize = 32;
/// How often the worker looks for due timers: timers fire within about this of their time.
const POLL: Duration = Duration::from_secs(1);
/// How often it lists the store's timer accounts for earlier hours with entries.
const DISCOVER: Duration = Duration::from_secs(60);
/// A flow that failed (store unavailable) is tried again after this.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Runs the node's timer worker until `stop` is cancelled.
pub fn spawn(store: Arc<dyn Store>, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut hours = BTreeSet::new();
        let mut discover_at = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= discover_at {
                discover(store.as_ref(), &mut hours).await;
                discover_at = tokio::time::Instant::now() + DISCOVER;
            }
            let busy = fire_due(&store, &mut hours).await;
            if !busy {
                tokio::select! {
                    () = tokio::time::sleep(POLL) => {}
                    () = stop.cancelled() => return,
                }
            } else if stop.is_cancelled() {
                return;
            }
        }
    })
}

/// Adds the hours of every timer account the store lists.
async fn discover(store: &dyn Store, hours: &mut BTreeSet<u64>) {
    match store.outbox_depths().await {
        Ok(depths) => hours.extend(
            depths
                .iter()
                .filter_map(|(account, _)| timer_account_hour(account)),
        ),
        Err(err) => warn!(%err, "listing timer accounts failed"),
    }
}

/// Takes and fires what is due in every hour up to now; `true` when a take was full (more
/// may be due at once).
async fn fire_due(store: &Arc<dyn Store>, hours: &mut BTreeSet<u64>) -> bool {
    let current = timer_hour(now_ms());
    hours.insert(current);
    let mut busy = false;
    let due_hours: Vec<u64> = hours.range(..=current).copied().collect();
    for hour in due_hours {
        let account = timer_account(hour * 3_600_000);
        let entries = match store.take_outbox(&account, TAKE).await {
            Ok(entries) => entries,
            Err(err) => {
                error!(%account, %err, "taking due timers failed");
                continue;
            }
        };
        if entries.is_empty() && hour < current {
            hours.remove(&hour);
        }
        busy |= entries.len() == TAKE;
        stream::iter(entries)
            .for_each_concurrent(CONCURRENCY, |entry| fire(store.as_ref(), entry))
            .await;
    }
    busy
}

/// Runs one timer's flow and marks it done, or retries it later when the store failed.
async fn fire(store: &dyn Store, entry: OutboxEntry) {
    let outcome = match &entry.item {
        OutboxItem::Timer(timer) => run(store, &timer.action)
            .await
            .map(|applied| (timer.action.label(), applied)),
        other => {
            error!(account = %entry.account, item = ?other, "not a timer in a timer account; dropped");
            Ok(("not_a_timer", false))
        }
    };
    let recorded = match outcome {
        Ok((action, applied)) => {
            let outcome = if applied { "applied" } else { "nothing_to_do" };
            metrics::counter!("lifecycle_timers_fired_total", "action" => action, "outcome" => outcome).increment(1);
            debug!(account = %entry.account, item = ?entry.item, outcome, "timer fired");
            store.outbox_done(&entry.account, entry.seq).await
        }
        Err(err) => {
            warn!(account = %entry.account, %err, "timer's flow failed; trying again later");
            let retry_at = now_ms() + RETRY_AFTER.as_millis() as u64;
            store
                .outbox_retry(&entry.account, entry.seq, retry_at)
                .await
        }
    };
    if let Err(err) = recorded {
        // Handed out again when its lease ends; the flow is idempotent.
        warn!(account = %entry.account, seq = entry.seq, %err, "recording a timer failed");
    }
}

/// The flow a timer names; whether it changed anything.
async fn run(store: &dyn Store, action: &TimerAction) -> Result<bool, StoreError> {
    match action {
        TimerAction::Release(id) => release_scheduled(store, id).await,
        TimerAction::Expire(id) => {
            let expired = expire_mt(store, id, false).await?;
            if expired {
                metrics::counter!("lifecycle_mt_expired_total").increment(1);
            }
            Ok(expired)
        }
        TimerAction::DrTimeout(id) => {
            let ended = dr_timed_out(store, id).await?;
            if ended {
                metrics::counter!("lifecycle_dr_timeouts_total").increment(1);
            }
            Ok(ended)
        }
        TimerAction::MoIncomplete(set) => Ok(matches!(
            deliver_incomplete(store, set).await?,
            IncompleteOutcome::Delivered(_)
        )),
    }
}
