//! The event logger, one per node: takes entries of the events outbox (leased, like any
//! outbox entry, so every node's logger shares the work), holds at most `max_queue_size`
//! events, and writes them to every sink once `batch_size` are waiting or `storing_timeout`
//! has passed since the oldest came. Entries are done only once every sink took their events;
//! a sink that fails puts them back for a retry with backoff, so a sink down or a full queue
//! delays events and never drops them (`events_backlog` counts what waits in the store).

use std::{sync::Arc, time::Duration};

use futures_util::{stream, StreamExt};
use smsgw_backoff::Backoff;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::sink::EventSink;
use crate::{
    event::{Event, EventFilter, EVENTS_ACCOUNT},
    message::{now_ms, OutboxItem},
    store::{OutboxEntry, Store},
};

/// A sink with its name (the `sink` label) and filter.
pub struct NamedSink {
    pub name: String,
    pub filter: EventFilter,
    pub sink: Box<dyn EventSink>,
}

/// Retries of a batch no sink or the store would take: 1 s, doubling, at most a minute.
const RETRY_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
/// Most entries taken in one call.
const TAKE_MAX: usize = 512;
/// Entries put back for a retry at once.
const RETRY_CONCURRENCY: usize = 64;

/// See the module documentation.
pub struct EventLogger {
    pub store: Arc<dyn Store>,
    pub batch_size: usize,
    pub storing_timeout: Duration,
    pub max_queue_size: usize,
    pub sinks: Vec<NamedSink>,
}

/// What a logger holds between take and write.
#[derive(Default)]
struct Held {
    entries: Vec<OutboxEntry>,
    events: usize,
    oldest: Option<Instant>,
}

fn events_of(entry: &OutboxEntry) -> &[Event] {
    match &entry.item {
        OutboxItem::Events { events } => events,
        _ => &[],
    }
}

impl EventLogger {
    /// Runs until `stop`; what is held then is written once more (else its lease runs out
    /// and a logger takes it again).
    pub async fn run(mut self, stop: CancellationToken) {
        let mut held = Held::default();
        let mut failures = 0u32;
        loop {
            let took = self.take(&mut held).await;
            let due = held
                .oldest
                .is_some_and(|oldest| oldest.elapsed() >= self.storing_timeout);
            if held.events >= self.batch_size.min(self.max_queue_size) || (due && held.events > 0) {
                failures = self.write(std::mem::take(&mut held), failures).await;
                continue;
            }
            if stop.is_cancelled() {
                if held.events > 0 {
                    self.write(held, failures).await;
                }
                return;
            }
            let wait = held.oldest.map_or(self.storing_timeout, |oldest| {
                self.storing_timeout.saturating_sub(oldest.elapsed())
            });
            tokio::select! {
                () = self.store.wait_for_outbox(EVENTS_ACCOUNT, wait) => {}
                () = stop.cancelled() => {}
            }
            if took == 0 {
                // The store may wake us for entries we hold ourselves: not a busy loop.
                tokio::time::sleep(Duration::from_millis(10).min(wait)).await;
            }
        }
    }

    /// Takes entries while there is room; returns how many.
    async fn take(&self, held: &mut Held) -> usize {
        let room = self.max_queue_size.saturating_sub(held.events);
        if room == 0 {
            return 0;
        }
        match self
            .store
            .take_outbox(EVENTS_ACCOUNT, room.min(TAKE_MAX))
            .await
        {
            Ok(entries) => {
                let took = entries.len();
                if took > 0 && held.oldest.is_none() {
                    held.oldest = Some(Instant::now());
                }
                for entry in entries {
                    held.events += events_of(&entry).len();
                    held.entries.push(entry);
                }
                metrics::gauge!("events_in_memory").set(held.events as f64);
                took
            }
            Err(err) => {
                warn!(%err, "event log: taking events failed");
                0
            }
        }
    }

    /// Writes `held` to every sink, then marks it done; on a failure puts it back for a retry.
    /// Returns the failures in a row.
    async fn write(&mut self, held: Held, failures: u32) -> u32 {
        let events: Vec<&Event> = held.entries.iter().flat_map(events_of).collect();
        let mut failed = None;
        for sink in &mut self.sinks {
            let kept: Vec<&Event> = events
                .iter()
                .copied()
                .filter(|event| sink.filter.keeps(event))
                .collect();
            for batch in kept.chunks(self.batch_size) {
                if let Err(err) = sink.sink.write(batch).await {
                    metrics::counter!("events_sink_errors_total", "sink" => sink.name.clone())
                        .increment(1);
                    warn!(sink = %sink.name, %err, "event log: a sink refused a batch; it is written again later");
                    failed = Some(sink.name.clone());
                    break;
                }
                metrics::counter!("events_written_total", "sink" => sink.name.clone())
                    .increment(batch.len() as u64);
            }
            if failed.is_some() {
                break;
            }
        }
        if let Some(oldest_ms) = events.iter().map(|event| event.at_ms).min() {
            let lag = now_ms().saturating_sub(oldest_ms) as f64 / 1000.0;
            metrics::gauge!("events_lag_seconds").set(lag);
        }
        metrics::gauge!("events_in_memory").set(0.0);
        let store = &self.store;
        match failed {
            None => {
                debug!(events = events.len(), "event log: batch written");
                let seqs: Vec<u64> = held.entries.iter().map(|entry| entry.seq).collect();
                if let Err(err) = store.outbox_done_many(EVENTS_ACCOUNT, &seqs).await {
                    // Written again once their leases end: sinks take them twice.
                    warn!(entries = seqs.len(), %err, "event log: marking a batch done failed");
                }
                0
            }
            Some(_) => {
                let retry_at_ms = now_ms() + RETRY_BACKOFF.delay(failures).as_millis() as u64;
                stream::iter(&held.entries)
                    .for_each_concurrent(RETRY_CONCURRENCY, |entry| async move {
                        if let Err(err) = store
                            .outbox_retry(EVENTS_ACCOUNT, entry.seq, retry_at_ms)
                            .await
                        {
                            warn!(seq = entry.seq, %err, "event log: putting a batch back failed; its lease ends it");
                        }
                    })
                    .await;
                failures.saturating_add(1)
            }
        }
    }
}
