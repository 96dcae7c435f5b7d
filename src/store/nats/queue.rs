//! Connector queues in the NATS store: an MT is queued as `q.<connector>.<slot>.<id>`, one
//! consumer per slot; slots go by priority, and within a priority MTs given back come first
//! (see [`queue_slot`](super::subjects::queue_slot)), each slot in the order its entries were written. A take fetches the
//! slots in that order and checks every entry against its record: only an MT still accepted
//! on this connector is handed out, anything else (a tombstone, an entry a crashed node left
//! behind) is acknowledged and dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_nats::jetstream;
use futures_util::future::try_join_all;

use super::{
    consumers::{self, fetch},
    held::Held,
    subjects::{Topic, QUEUE_SLOTS},
    Shard,
};
use crate::{
    message::{MessageId, MessageState, Mt},
    store::{
        change::commit_with_retries, Change, Committed, MessageRecord, StoreError, Versioned, Write,
    },
};

/// How soon a queued entry whose record is not where it is yet is delivered again.
const RECORD_BEHIND_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether a queued entry of `connector` is still the record's: accepted and queued there.
fn still_queued(record: &MessageRecord, connector: &str) -> bool {
    record.state == MessageState::Accepted
        && record.connector.as_deref().unwrap_or_default() == connector
}

impl Shard {
    pub(super) async fn take(&self, connector: &str, max: usize) -> Result<Vec<Mt>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        self.wakeups.taking(&Topic::Queue(connector.to_owned()));
        let mut taken = Vec::new();
        for slot in 0..QUEUE_SLOTS {
            let consumer = self
                .consumers
                .get(
                    &self.subjects.queue_consumer(connector, slot),
                    &self.subjects.queue_slot_filter(connector, slot),
                )
                .await?;
            while taken.len() < max {
                let want = max - taken.len();
                let fetched = fetch(&consumer, want).await?;
                let drained = fetched.len() < want;
                taken.extend(self.still_queued(connector, fetched).await?);
                if drained {
                    break;
                }
            }
        }
        Ok(taken)
    }

    /// The MTs of `fetched` that are still queued, now held by this store; the rest dropped.
    async fn still_queued(
        &self,
        connector: &str,
        fetched: Vec<jetstream::Message>,
    ) -> Result<Vec<Mt>, StoreError> {
        let mut entries = Vec::with_capacity(fetched.len());
        for message in fetched {
            let held = Held {
                subject: message.subject.to_string(),
                stream_seq: message.info().map_or(0, |info| info.stream_sequence),
                ack: consumers::ack_subject(&message),
            };
            match std::str::from_utf8(&message.payload) {
                Ok(id) if !id.is_empty() => entries.push((MessageId(id.to_owned()), held)),
                // A tombstone: the MT was finished.
                _ => consumers::acknowledge(&self.client, held.ack.as_deref()).await,
            }
        }
        let records = try_join_all(entries.iter().map(|(id, _)| self.record(id))).await?;
        let mut mts = Vec::with_capacity(entries.len());
        for ((id, held), record) in entries.into_iter().zip(records) {
            match record {
                Some(Versioned { value, .. }) if still_queued(&value, connector) => {
                    self.held_mts.hold(id, held);
                    mts.push(value.mt);
                }
                Some(Versioned { value, .. }) if value.state != MessageState::Accepted => {
                    // Submitted, or final: done with queues for good (an entry a node that
                    // lost its lease could not finish).
                    tracing::debug!(%id, "nats: dropping a queue entry its record has left");
                    self.delete(held.stream_seq).await?;
                    consumers::acknowledge(&self.client, held.ack.as_deref()).await;
                }
                _ => {
                    // Not found, or accepted on another connector: the entry and the record
                    // are written in one batch (and a release ends the old entry in its own),
                    // so this is a read that is behind (a stream leader just elected, still
                    // applying what was committed), never a reason to drop the MT. Given back,
                    // it is looked at again shortly.
                    tracing::warn!(%id, "nats: a queued MT's record is not where its entry is yet; taking it later");
                    consumers::give_back(&self.client, held.ack.as_deref(), RECORD_BEHIND_RETRY)
                        .await;
                }
            }
        }
        Ok(mts)
    }

    /// Back to `connector`, ahead of what is queued at its priority. A no-op when this store
    /// does not hold the MT (any more): another node took it after the lease ran out.
    pub(super) async fn release(&self, id: &MessageId, connector: &str) -> Result<(), StoreError> {
        if self.held_mts.get(id).is_none() {
            return Ok(());
        }
        commit_with_retries("release_mt", || async {
            let Some(Versioned { mut value, version }) = self.record(id).await? else {
                return Err(StoreError::Corrupt {
                    key: id.to_string(),
                    error: "message record missing".into(),
                });
            };
            value.connector = Some(connector.to_owned());
            let mut change = Change::default();
            change
                .write(Write::EndLease(id.clone()))
                .write(Write::Enqueue {
                    connector: connector.to_owned(),
                    priority: value.mt.priority,
                    id: id.clone(),
                    released: true,
                })
                .put_record(value, version);
            Ok((self.commit_change(change).await? == Committed::Done).then_some(()))
        })
        .await
    }

    /// Queued MTs per connector: what each slot's consumer has not delivered yet (or, for a
    /// slot nobody took from yet, its entries). Tombstones not yet skipped count too, for the
    /// second they live.
    pub(super) async fn queue_sizes(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let mut entries: HashMap<(String, usize), usize> = HashMap::new();
        for (subject, count) in self.subject_counts(&self.subjects.queues()).await? {
            if let Some(queue) = self.subjects.queue_of(&subject) {
                *entries.entry(queue).or_default() += count;
            }
        }
        let mut connectors: BTreeSet<String> = entries
            .keys()
            .map(|(connector, _)| connector.clone())
            .collect();
        for name in self.consumers.names().await? {
            if let Some((connector, _)) = self.subjects.queue_consumer_of(&name) {
                connectors.insert(connector);
            }
        }
        let mut depths = BTreeMap::new();
        for connector in connectors {
            let mut queued = 0;
            for slot in 0..QUEUE_SLOTS {
                let name = self.subjects.queue_consumer(&connector, slot);
                queued += match self.consumers.undelivered(&name).await? {
                    Some(undelivered) => undelivered as usize,
                    None => entries
                        .get(&(connector.clone(), slot))
                        .copied()
                        .unwrap_or(0),
                };
            }
            depths.insert(connector, queued);
        }
        Ok(depths.into_iter().collect())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::message::{IdGenerator, Interface, Payload, Priority};

    /// A record of an MT routed to `connector`, in `state`.
    pub(in crate::store::nats) fn record(
        connector: Option<&str>,
        state: MessageState,
    ) -> MessageRecord {
        let mt = Mt {
            id: IdGenerator::new("a", "n1").next(),
            account: "acme".into(),
            client_message_id: None,
            source: "A".into(),
            destination: "1".into(),
            payload: Payload::Text("x".into()),
            priority: Priority::Bulk,
            receipt: false,
            app_id: None,
            conversation_id: None,
            carrier: None,
            answered_with_client_id: false,
            connectors: connector.into_iter().map(str::to_owned).collect(),
            parts: 1,
            interface: Interface::Http,
            accepted_at_ms: 0,
            timing: Default::default(),
        };
        let mut record = MessageRecord::accepted(&mt);
        record.state = state;
        record
    }

    #[test]
    fn an_entry_is_live_while_its_record_is_accepted_on_its_connector() {
        assert!(still_queued(
            &record(Some("sim"), MessageState::Accepted),
            "sim"
        ));
        assert!(!still_queued(
            &record(Some("other"), MessageState::Accepted),
            "sim"
        ));
        assert!(!still_queued(
            &record(Some("sim"), MessageState::Enroute),
            "sim"
        ));
        assert!(still_queued(&record(None, MessageState::Accepted), ""));
    }
}
