//! One account's outbox deliverer: takes due entries, delivers them concurrently, marks them
//! done or schedules a retry, and expires what waited longer than the account's TTL.

use std::{sync::Arc, time::Duration};

use futures_util::{stream::FuturesUnordered, FutureExt, StreamExt};
use smsgw_backoff::Backoff;
use smsgw_smpp::{rusmpp::CommandStatus, DeliverError, Registry};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use super::{deliver_pdu::deliver_sms_for, event_batch::EventBatch, push::PushRoute};
use crate::{
    event::{Event, EventKind},
    message::{now_ms, Interface, MoMultipart, OutboxItem},
    store::{Change, OutboxEntry, Store},
};

/// How an account's receipts and MOs reach it.
#[derive(Clone)]
pub enum DeliveryRoute {
    /// deliver_sm on any receiver or transceiver bind of the account (its system_id).
    Smpp(Arc<Registry>),
    /// HTTP POST to the account's URL (Genesys form or signed JSON), with the account's own
    /// client and request slots.
    Push(Arc<PushRoute>),
}

/// Entries in delivery at once per account over SMPP (spread over its binds' windows).
const SMPP_IN_FLIGHT: usize = 512;

/// How long recording a delivery's outcome is retried when the store fails.
const OUTCOME_RETRY_FOR: Duration = Duration::from_secs(10);
/// When no bind is up, look again this soon (a new bind is the usual cure).
const NO_RECEIVER_RETRY: Duration = Duration::from_millis(500);
/// How often expired entries are looked for: every minute, or more often for short TTLs.
const EXPIRY_CHECK: Duration = Duration::from_secs(60);

/// The deliverer of one account. See the module documentation.
pub struct AccountDelivery {
    pub account: String,
    pub store: Arc<dyn Store>,
    pub route: DeliveryRoute,
    pub outbox_ttl: Duration,
    /// How a multipart MO goes to the account's binds.
    pub mo_multipart: MoMultipart,
}

/// How one delivery attempt ended.
pub(super) enum Attempt {
    Delivered,
    /// Try again at this time.
    Retry(u64),
    /// Nothing a client can be given (a timer); removed.
    NotForClients,
}

/// Retries for a client that refused a delivery: 1 s doubling to 10 min, plus up to 20 %.
pub const REFUSED_DELIVERY_BACKOFF: Backoff =
    Backoff::new(Duration::from_secs(1), Duration::from_secs(600)).with_upward_jitter(0.2);
/// Retries of recording a delivery's outcome while the store fails: 100 ms doubling to 1 s.
const OUTCOME_RECORD_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(100), Duration::from_secs(1));

impl AccountDelivery {
    /// Runs until `stop` is cancelled. Deliveries are pipelined (up to [`SMPP_IN_FLIGHT`] or
    /// [`PushRoute::entries_held`] at once), refilled as they complete, so one slow answer
    /// does not hold up the rest. Each account has its own deliverer task, so a slow receiver
    /// holds up only its own account.
    pub async fn run(self, stop: CancellationToken) {
        let limit = match &self.route {
            DeliveryRoute::Smpp(_) => SMPP_IN_FLIGHT,
            DeliveryRoute::Push(route) => route.entries_held(),
        };
        // Before the deliveries that borrow it.
        let events = EventBatch::start(self.store.clone());
        let mut next_expiry = tokio::time::Instant::now();
        let mut in_flight = FuturesUnordered::new();
        loop {
            if stop.is_cancelled() {
                // Let started deliveries record their outcome.
                while in_flight.next().await.is_some() {}
                return;
            }
            if tokio::time::Instant::now() >= next_expiry {
                self.expire().await;
                next_expiry = tokio::time::Instant::now() + EXPIRY_CHECK.min(self.outbox_ttl / 2);
            }
            // Only a node with a receiving bind of the account takes its outbox over SMPP: a
            // node without one would take entries only to put them back, starving the node
            // that can deliver them.
            let room = if self.can_deliver_here() {
                limit - in_flight.len()
            } else {
                0
            };
            if room == 0 && in_flight.is_empty() {
                tokio::select! {
                    () = tokio::time::sleep(NO_RECEIVER_RETRY) => {}
                    () = stop.cancelled() => {}
                }
                continue;
            }
            let entries = if room == 0 {
                Vec::new()
            } else {
                match self.store.take_outbox(&self.account, room).await {
                    Ok(entries) => entries,
                    Err(err) => {
                        error!(account = %self.account, %err, "reading the outbox failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            };
            let took = !entries.is_empty();
            for entry in entries {
                in_flight.push(self.deliver(entry, &events));
            }
            if in_flight.is_empty() {
                tokio::select! {
                    () = self.store.wait_for_outbox(&self.account, Duration::from_secs(1)) => {}
                    () = stop.cancelled() => {}
                }
            } else if in_flight.len() > limit - limit / 4 {
                // (Nearly) full: only finished deliveries make room (due entries must not spin
                // us), and the outbox is read again once a quarter of it is free, in one batch
                // rather than an entry per finished delivery.
                while in_flight.len() > limit - limit / 4 {
                    tokio::select! {
                        Some(()) = in_flight.next() => {}
                        () = stop.cancelled() => break,
                    }
                }
            } else if !took {
                // Nothing due: wait for new work, reaping finished deliveries meanwhile (a
                // finished delivery alone is no reason to look at the outbox again).
                let new_work = self
                    .store
                    .wait_for_outbox(&self.account, Duration::from_millis(200));
                tokio::pin!(new_work);
                loop {
                    tokio::select! {
                        () = &mut new_work => break,
                        Some(()) = in_flight.next() => {}
                        () = stop.cancelled() => break,
                    }
                }
            } else {
                // Reap what already finished without waiting.
                while let Some(Some(())) = in_flight.next().now_or_never() {}
            }
        }
    }

    /// Whether this node can deliver the account's entries now.
    fn can_deliver_here(&self) -> bool {
        match &self.route {
            DeliveryRoute::Smpp(registry) => !registry.receivers(&self.account).is_empty(),
            DeliveryRoute::Push(_) => true,
        }
    }

    async fn deliver(&self, entry: OutboxEntry, batch: &EventBatch) {
        let attempt = match &self.route {
            DeliveryRoute::Smpp(registry) => self.deliver_smpp(registry, &entry).await,
            DeliveryRoute::Push(route) => route.attempt(&self.account, &entry).await,
        };
        let kind = match &entry.item {
            OutboxItem::Receipt(_) => "receipt",
            OutboxItem::Mo(_) => "mo",
            OutboxItem::Timer(_) => "timer",
            OutboxItem::Events { .. } => "events",
        };
        if let Attempt::NotForClients = &attempt {
            error!(account = %self.account, seq = entry.seq, "a timer or events in a client's outbox; dropped");
        }
        if let Attempt::Delivered = &attempt {
            metrics::counter!("delivery_delivered_total", "account" => self.account.clone(), "kind" => kind).increment(1);
        }
        // The store may be failing over (a Redis primary dying takes seconds): keep trying
        // for a while, as an outcome not recorded means the entry is delivered again once
        // its lease ends.
        let give_up = tokio::time::Instant::now() + OUTCOME_RETRY_FOR;
        let mut delivered_event = match &attempt {
            Attempt::Delivered => self.events(EventKind::Delivered, [&entry]),
            _ => None,
        };
        for retry in 0.. {
            let result = match &attempt {
                // The event first: a delivery whose event cannot be written is not marked
                // done either, so it is delivered (and recorded) again, never unrecorded.
                Attempt::Delivered | Attempt::NotForClients => match delivered_event.take() {
                    Some(events) => match batch.record(events.clone()).await {
                        Ok(()) => self.store.outbox_done(&self.account, entry.seq).await,
                        Err(err) => {
                            delivered_event = Some(events);
                            Err(err)
                        }
                    },
                    None => self.store.outbox_done(&self.account, entry.seq).await,
                },
                Attempt::Retry(at_ms) => {
                    self.store
                        .outbox_retry(&self.account, entry.seq, *at_ms)
                        .await
                }
            };
            let Err(err) = result else {
                return;
            };
            let pause = OUTCOME_RECORD_BACKOFF.delay(retry);
            if tokio::time::Instant::now() + pause > give_up {
                error!(account = %self.account, seq = entry.seq, %err, "updating the outbox failed");
                return;
            }
            warn!(account = %self.account, seq = entry.seq, %err, "updating the outbox failed; trying again");
            tokio::time::sleep(pause).await;
        }
    }

    /// The `kind` events of `entries`, if any is for the event log.
    fn events<'a>(
        &self,
        kind: EventKind,
        entries: impl IntoIterator<Item = &'a OutboxEntry>,
    ) -> Option<Vec<Event>> {
        let channel = match &self.route {
            DeliveryRoute::Smpp(_) => Interface::Smpp,
            DeliveryRoute::Push(_) => Interface::Http,
        };
        let events: Vec<Event> = entries
            .into_iter()
            .filter_map(|entry| Event::of_delivery(kind, &entry.item, channel))
            .collect();
        let keeps = self.store.events().current();
        (events.iter().any(|event| keeps.keeps(event))).then_some(events)
    }

    async fn deliver_smpp(&self, registry: &Registry, entry: &OutboxEntry) -> Attempt {
        // A multipart MO's parts all on one bind, in order: done once each was answered OK.
        let pdus: Vec<_> = deliver_sms_for(&entry.item, self.mo_multipart)
            .into_iter()
            .map(Into::into)
            .collect();
        if pdus.is_empty() {
            return Attempt::NotForClients;
        }
        match registry.deliver_in_order(&self.account, pdus).await {
            Ok(delivered) if delivered.status == CommandStatus::EsmeRok => Attempt::Delivered,
            Ok(delivered) => {
                let delay = REFUSED_DELIVERY_BACKOFF.delay(entry.attempts);
                debug!(account = %self.account, status = ?delivered.status, ?delay, "client refused a deliver_sm");
                metrics::counter!("delivery_retries_total", "account" => self.account.clone(), "reason" => "refused").increment(1);
                Attempt::Retry(now_ms() + delay.as_millis() as u64)
            }
            Err(DeliverError::NoReceiver(_)) => {
                Attempt::Retry(now_ms() + NO_RECEIVER_RETRY.as_millis() as u64)
            }
            Err(DeliverError::Request { session, error }) => {
                // The client may have it (response lost): retried on any bind, soon.
                metrics::counter!("delivery_retries_total", "account" => self.account.clone(), "reason" => "no_response").increment(1);
                warn!(account = %self.account, %session, %error, "deliver_sm unanswered; retrying");
                Attempt::Retry(now_ms() + 200)
            }
        }
    }

    async fn expire(&self) {
        match self
            .store
            .expire_outbox(&self.account, self.outbox_ttl)
            .await
        {
            Ok(expired) if !expired.is_empty() => {
                metrics::counter!("delivery_expired_total", "account" => self.account.clone())
                    .increment(expired.len() as u64);
                for entry in &expired {
                    warn!(account = %self.account, id = entry.item.delivery_id(), attempts = entry.attempts, "outbox entry expired undelivered");
                }
                // Gone from the outbox already: a store failing now loses these events
                // (logged and counted in `events_unrecorded_total`).
                if let Some(events) = self.events(EventKind::DeliveryExpired, &expired) {
                    if let Err(err) = self.store.commit(Change::of_events(events)).await {
                        warn!(account = %self.account, %err, "recording expired deliveries' events failed");
                        metrics::counter!("events_unrecorded_total")
                            .increment(expired.len() as u64);
                    }
                }
            }
            Ok(_) => {}
            Err(err) => error!(account = %self.account, %err, "expiring the outbox failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_deliveries_wait_1_s_first_and_12_min_at_most() {
        let steps: Vec<u64> = (0..12)
            .map(|attempts| REFUSED_DELIVERY_BACKOFF.step(attempts).as_secs())
            .collect();
        assert_eq!(steps, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(REFUSED_DELIVERY_BACKOFF.longest(), Duration::from_secs(720));
        for attempts in [0, 3, 10, u32::MAX] {
            let delay = REFUSED_DELIVERY_BACKOFF.delay(attempts);
            let step = REFUSED_DELIVERY_BACKOFF.step(attempts);
            assert!(
                delay >= step && delay <= step.mul_f64(1.2),
                "{attempts}: {delay:?}"
            );
        }
    }

    #[test]
    fn recording_an_outcome_retries_from_100_ms_to_1_s() {
        assert_eq!(OUTCOME_RECORD_BACKOFF.delay(0), Duration::from_millis(100));
        assert_eq!(OUTCOME_RECORD_BACKOFF.delay(4), Duration::from_secs(1));
        assert_eq!(OUTCOME_RECORD_BACKOFF.longest(), Duration::from_secs(1));
    }
}
