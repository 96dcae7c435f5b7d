//! The outbox: receipts and MOs waiting for their time, or for a receiving bind.
//!
//! One min-heap ordered by due time holds everything, and one task ([`run_deliveries`]) takes
//! what is due and sends it with a bounded number of deliveries in flight, so a million
//! pending receipts cost a heap entry each, not a task or a timer each. A delivery that fails
//! (no receiver or transceiver bind, no answer in time, or a non-OK deliver_sm_resp) is
//! scheduled again after the retry interval until it is older than the retry age; the heap
//! has a fixed capacity. Everything dropped is counted in the stats and the
//! `carrier_sim_dropped_total` metric.

use std::{
    cmp::Ordering as CmpOrdering,
    collections::BinaryHeap,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use futures_util::{stream::FuturesUnordered, FutureExt, StreamExt};
use smsgw_smpp::{rusmpp::CommandStatus, DeliverError, Delivered, Registry};
use tokio::{sync::Notify, time::Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{
    ids::IdStyle,
    outgoing::Outgoing,
    stats::{bump, Counters},
};

/// When failed deliveries are tried again, and for how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub interval: Duration,
    pub max_age: Duration,
}

/// A receipt or MO for one account, with its delivery history.
#[derive(Debug)]
pub(crate) struct Pending {
    pub system_id: Arc<str>,
    pub message: Outgoing,
    /// When it was first due: retries stop `max_age` after this.
    pub first_due: Instant,
    pub attempts: u32,
}

impl Pending {
    pub fn new(system_id: Arc<str>, message: Outgoing, due: Instant) -> Self {
        Self {
            system_id,
            message,
            first_due: due,
            attempts: 0,
        }
    }
}

/// A heap entry: earliest due first, then first scheduled first.
struct Scheduled {
    due: Instant,
    sequence: u64,
    pending: Pending,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        // Reversed: BinaryHeap is a max-heap and we want the earliest on top.
        (other.due, other.sequence).cmp(&(self.due, self.sequence))
    }
}

/// Receipts and MOs waiting to be delivered.
pub(crate) struct Outbox {
    heap: Mutex<BinaryHeap<Scheduled>>,
    sequence: AtomicU64,
    /// Woken when something is scheduled before everything already waiting.
    earlier_entry: Notify,
    capacity: usize,
    in_flight: AtomicUsize,
    retry: RetryPolicy,
    id_style: IdStyle,
    counters: Arc<Counters>,
}

impl Outbox {
    pub fn new(
        capacity: usize,
        retry: RetryPolicy,
        id_style: IdStyle,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            heap: Mutex::new(BinaryHeap::new()),
            sequence: AtomicU64::new(0),
            earlier_entry: Notify::new(),
            capacity,
            in_flight: AtomicUsize::new(0),
            retry,
            id_style,
            counters,
        }
    }

    fn heap(&self) -> std::sync::MutexGuard<'_, BinaryHeap<Scheduled>> {
        self.heap.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `pending` for delivery at `due`; false (and counted) when the outbox is full.
    pub fn schedule(&self, pending: Pending, due: Instant) -> bool {
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        let mut heap = self.heap();
        if heap.len() >= self.capacity {
            drop(heap);
            let dropped = self
                .counters
                .dropped_queue_full
                .fetch_add(1, Ordering::Relaxed)
                + 1;
            metrics::counter!("carrier_sim_dropped_total", "reason" => "queue_full").increment(1);
            if dropped.is_power_of_two() {
                warn!(
                    capacity = self.capacity,
                    dropped, "carrier-sim outbox full: dropping receipts and MOs"
                );
            }
            return false;
        }
        let earliest = heap.peek().is_none_or(|head| due < head.due);
        heap.push(Scheduled {
            due,
            sequence,
            pending,
        });
        drop(heap);
        if earliest {
            self.earlier_entry.notify_one();
        }
        true
    }

    /// Receipts and MOs waiting or being delivered.
    pub fn pending(&self) -> u64 {
        (self.heap().len() + self.in_flight.load(Ordering::Relaxed)) as u64
    }

    /// Moves up to `limit` entries due by `now` into `due`; returns when the next one is due.
    fn take_due(&self, now: Instant, limit: usize, due: &mut Vec<Pending>) -> Option<Instant> {
        let mut heap = self.heap();
        while due.len() < limit {
            match heap.peek() {
                Some(head) if head.due <= now => {
                    if let Some(entry) = heap.pop() {
                        due.push(entry.pending);
                    }
                }
                _ => break,
            }
        }
        heap.peek().map(|head| head.due)
    }

    /// Delivers `pending` right away (the "receipt before submit_sm_resp" mode) and settles it.
    pub async fn deliver_now(&self, registry: &Registry, pending: Pending) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let pdu = pending.message.to_deliver_sm(self.id_style);
        let result = registry.deliver(&pending.system_id, pdu).await;
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.settle(pending, result);
    }

    /// Counts a delivery attempt, and schedules a retry or drops the message when it failed.
    fn settle(&self, mut pending: Pending, result: Result<Delivered, DeliverError>) {
        let kind = pending.message.kind();
        let (sent, acked, outcome) = match &result {
            Ok(delivered) if delivered.status == CommandStatus::EsmeRok => (true, true, "acked"),
            Ok(_) => (true, false, "refused"),
            Err(DeliverError::NoReceiver(_)) => (false, false, "no_receiver"),
            Err(_) => (true, false, "no_response"),
        };
        metrics::counter!("carrier_sim_deliveries_total", "kind" => kind, "outcome" => outcome)
            .increment(1);
        let is_receipt = matches!(pending.message, Outgoing::Receipt(_));
        let counters = &self.counters;
        if sent {
            bump(if is_receipt {
                &counters.drs_sent
            } else {
                &counters.mos_sent
            });
        }
        if acked {
            bump(if is_receipt {
                &counters.drs_acked
            } else {
                &counters.mos_acked
            });
            return;
        }
        pending.attempts += 1;
        let now = Instant::now();
        if now.saturating_duration_since(pending.first_due) >= self.retry.max_age {
            bump(&counters.dropped_expired);
            metrics::counter!("carrier_sim_dropped_total", "reason" => "expired").increment(1);
            warn!(
                system_id = %pending.system_id,
                kind,
                attempts = pending.attempts,
                "carrier-sim gives up on a delivery after {:?}",
                self.retry.max_age
            );
            return;
        }
        debug!(system_id = %pending.system_id, kind, outcome, attempts = pending.attempts, "delivery failed; retrying");
        bump(&counters.delivery_retries);
        self.schedule(pending, now + self.retry.interval);
    }
}

/// Delivers what falls due, at most `max_in_flight` at a time, until `stop` is cancelled.
pub(crate) async fn run_deliveries(
    outbox: Arc<Outbox>,
    registry: Arc<Registry>,
    max_in_flight: usize,
    stop: CancellationToken,
) {
    let mut in_flight = FuturesUnordered::new();
    let mut due = Vec::new();
    loop {
        let room = max_in_flight.saturating_sub(in_flight.len());
        let next_due = if room > 0 {
            outbox.take_due(Instant::now(), room, &mut due)
        } else {
            None
        };
        for pending in due.drain(..) {
            outbox.in_flight.fetch_add(1, Ordering::Relaxed);
            let pdu = pending.message.to_deliver_sm(outbox.id_style);
            let registry = registry.clone();
            in_flight.push(async move {
                let result = registry.deliver(&pending.system_id, pdu).await;
                (pending, result)
            });
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            Some((pending, result)) = in_flight.next(), if !in_flight.is_empty() => {
                outbox.in_flight.fetch_sub(1, Ordering::Relaxed);
                outbox.settle(pending, result);
                while let Some(Some((pending, result))) = in_flight.next().now_or_never() {
                    outbox.in_flight.fetch_sub(1, Ordering::Relaxed);
                    outbox.settle(pending, result);
                }
            }
            _ = tokio::time::sleep_until(next_due.unwrap_or_else(Instant::now)), if next_due.is_some() => {}
            _ = outbox.earlier_entry.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use smsgw_smpp::rusmpp::{pdus::SubmitSm, values::MessageState};

    use super::*;
    use crate::carrier_sim::outgoing::SimReceipt;

    fn receipt(id: u64) -> Outgoing {
        let submit = SubmitSm::builder()
            .destination_addr("447700900123".parse().unwrap())
            .build();
        Outgoing::Receipt(SimReceipt::for_submit(&submit, id, MessageState::Delivered))
    }

    fn outbox(capacity: usize) -> (Outbox, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        let retry = RetryPolicy {
            interval: Duration::from_secs(1),
            max_age: Duration::from_secs(3),
        };
        (
            Outbox::new(capacity, retry, IdStyle::Decimal, counters.clone()),
            counters,
        )
    }

    fn id_of(pending: &Pending) -> u64 {
        match &pending.message {
            Outgoing::Receipt(receipt) => receipt.message_id,
            Outgoing::Mo(_) => u64::MAX,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn takes_due_entries_in_time_order_and_reports_the_next() {
        let (outbox, _) = outbox(10);
        let now = Instant::now();
        let account: Arc<str> = "acme".into();
        for (id, delay_ms) in [(1, 30), (2, 10), (3, 20), (4, 10)] {
            let due = now + Duration::from_millis(delay_ms);
            assert!(outbox.schedule(Pending::new(account.clone(), receipt(id), due), due));
        }
        let mut due = Vec::new();
        let next = outbox.take_due(now + Duration::from_millis(20), 10, &mut due);
        assert_eq!(due.iter().map(id_of).collect::<Vec<_>>(), [2, 4, 3]);
        assert_eq!(next, Some(now + Duration::from_millis(30)));
        assert_eq!(outbox.pending(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn full_outbox_drops_and_counts() {
        let (outbox, counters) = outbox(2);
        let now = Instant::now();
        let account: Arc<str> = "acme".into();
        let results: Vec<bool> = (0..3)
            .map(|id| outbox.schedule(Pending::new(account.clone(), receipt(id), now), now))
            .collect();
        assert_eq!(results, [true, true, false]);
        assert_eq!(counters.snapshot(outbox.pending()).dropped_queue_full, 1);
        assert_eq!(outbox.pending(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_retry_until_the_age_limit() {
        let (outbox, counters) = outbox(10);
        let registry = Registry::new();
        let start = Instant::now();
        outbox
            .deliver_now(&registry, Pending::new("nobody".into(), receipt(7), start))
            .await;
        let stats = counters.snapshot(outbox.pending());
        assert_eq!(
            (stats.delivery_retries, stats.pending, stats.drs_sent),
            (1, 1, 0)
        );

        let mut attempts = 1;
        loop {
            let mut due = Vec::new();
            tokio::time::advance(Duration::from_secs(1)).await;
            outbox.take_due(Instant::now(), 10, &mut due);
            let Some(pending) = due.pop() else { break };
            outbox.deliver_now(&registry, pending).await;
            attempts += 1;
        }
        let stats = counters.snapshot(outbox.pending());
        assert_eq!(attempts, 4, "first try plus retries at 1 s, 2 s and 3 s");
        assert_eq!((stats.dropped_expired, stats.pending), (1, 0));
    }
}
