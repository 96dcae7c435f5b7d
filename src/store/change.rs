//! One all-or-nothing change of the shared state, in the gateway's terms: the guards it
//! depends on (a claim, a record's version, a carrier id still unmapped...) and the writes it
//! makes. The flows build changes (`ingest`, `upstream::receipts`, `upstream::mo`); each
//! backend commits one atomically, in its own way (the embedded store under its index lock in
//! one redb transaction, Redis in one script run).
//!
//! A flow reads (a record and its version, a carrier id's mapping), decides, and commits a
//! change guarded by what it read. When another writer got there first the commit reports
//! [`Committed::Conflict`], nothing is written, and the flow reads again: see
//! [`commit_with_retries`].

use std::{future::Future, time::Duration};

use serde::{Deserialize, Serialize};

use super::{
    part_sets::{next_part_set_version, PartSet, PartSetKey},
    MessageRecord, StoreError,
};
use crate::{
    event::{Event, EventFilter},
    message::{CarrierReceipt, MessageId, OutboxItem, Priority},
};

/// A value as read, with the version a change can be guarded by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    /// Grows with every write; 0 never written. Opaque: the embedded and Redis stores count
    /// writes, NATS gives the stream sequence of the last one.
    pub version: u64,
}

/// The namespaces of claims: keys a change may take only if nobody holds them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClaimSpace {
    /// A client's message id (Genesys message_id, Idempotency-Key) within its account.
    Idempotency { account: String },
    /// A carrier's receipt (connector, carrier id, state), seen once.
    ReceiptDedupe,
    /// An MO, seen once.
    MoDedupe,
}

/// Where a carrier id leads: the message and part it was given for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierIdRecord {
    pub message_id: MessageId,
    pub part: u8,
    /// When the submit was recorded, for retention.
    #[serde(default)]
    pub created_ms: u64,
}

/// A carrier id as the stores key it: the connector and the id in its normalised form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CarrierKey {
    pub connector: String,
    pub carrier_id: String,
}

/// A key a change takes for `ttl`, with `value` (what a later reader of the claim learns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub space: ClaimSpace,
    pub key: String,
    pub value: String,
    pub ttl: Duration,
}

/// What a change depends on. The first guard that fails decides the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// [`Committed::Claimed`] if the key is held and unexpired; else the change takes it.
    Claim(Claim),
    /// [`Committed::Conflict`] unless the record is still at `version` (0: does not exist).
    RecordVersion { id: MessageId, version: u64 },
    /// [`Committed::Conflict`] if the carrier id got a mapping.
    Unmapped(CarrierKey),
    /// [`Committed::Conflict`] unless exactly `count` receipts are parked under the id.
    ParkedCount { key: CarrierKey, count: usize },
    /// [`Committed::Conflict`] unless the part set is still at `version` (as read; what
    /// [`super::Store::part_set`] gives for a set that does not exist means it still does not).
    PartSetVersion { key: PartSetKey, version: u64 },
}

/// What a change writes once its guards hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// The record; its `version` is already the one after the version its
    /// [`Guard::RecordVersion`] names.
    Record(MessageRecord),
    MapCarrierId {
        key: CarrierKey,
        mapping: CarrierIdRecord,
    },
    /// A receipt kept until the submit with its carrier id is recorded.
    Park {
        key: CarrierKey,
        receipt: CarrierReceipt,
    },
    /// The receipts parked under the id are gone (applied).
    Unpark(CarrierKey),
    /// Appended to its account's outbox.
    Outbox(OutboxItem),
    /// Queued on a connector; `released` ones are taken before the rest of their priority.
    Enqueue {
        connector: String,
        priority: Priority,
        id: MessageId,
        released: bool,
    },
    /// This node's hold on a taken MT ends (it was submitted or rejected).
    EndLease(MessageId),
    /// A multipart MO's parts so far; `version` is the one after its
    /// [`Guard::PartSetVersion`] (see [`Change::put_part_set`]).
    PartSet {
        key: PartSetKey,
        set: PartSet,
        version: u64,
    },
    /// The part set is gone (delivered whole, or part by part after its timeout).
    RemovePartSet(PartSetKey),
}

/// How a commit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// Everything written, durably.
    Done,
    /// A [`Guard::Claim`] found its key held; nothing written. The claim is durable by then,
    /// so an answer based on it cannot outlive it.
    Claimed,
    /// Another writer changed what the change was built on; nothing written.
    Conflict,
}

/// One all-or-nothing change. See the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Change {
    pub guards: Vec<Guard>,
    pub writes: Vec<Write>,
    /// The caller acknowledges something to a peer once this is committed: a backend with
    /// replicas confirms the change reached them first.
    pub acknowledged: bool,
    /// What the change means for the event log: written with it, as one entry of the events
    /// outbox, those the store's filter keeps (see [`Change::seal_events`]).
    pub events: Vec<Event>,
}

impl Change {
    /// A change whose commit the caller will acknowledge to a client or carrier.
    pub fn acknowledged() -> Change {
        Change {
            acknowledged: true,
            ..Change::default()
        }
    }

    pub fn claim(&mut self, space: ClaimSpace, key: &str, value: &str, ttl: Duration) -> &mut Self {
        self.guards.push(Guard::Claim(Claim {
            space,
            key: key.to_owned(),
            value: value.to_owned(),
            ttl,
        }));
        self
    }

    /// Writes a record read at `version` (guarded by it); 0 creates one that must not exist.
    pub fn put_record(&mut self, mut record: MessageRecord, version: u64) -> &mut Self {
        self.guards.push(Guard::RecordVersion {
            id: record.mt.id.clone(),
            version,
        });
        record.version = version + 1;
        self.writes.push(Write::Record(record));
        self
    }

    /// Writes a part set read at `version` (guarded by it).
    pub fn put_part_set(&mut self, key: PartSetKey, set: PartSet, version: u64) -> &mut Self {
        self.guards.push(Guard::PartSetVersion {
            key: key.clone(),
            version,
        });
        self.writes.push(Write::PartSet {
            key,
            set,
            version: next_part_set_version(version),
        });
        self
    }

    /// Removes a part set read at `version` (guarded by it).
    pub fn remove_part_set(&mut self, key: PartSetKey, version: u64) -> &mut Self {
        self.guards.push(Guard::PartSetVersion {
            key: key.clone(),
            version,
        });
        self.writes.push(Write::RemovePartSet(key));
        self
    }

    pub fn guard(&mut self, guard: Guard) -> &mut Self {
        self.guards.push(guard);
        self
    }

    pub fn write(&mut self, write: Write) -> &mut Self {
        self.writes.push(write);
        self
    }

    /// Records an event of this change (see [`crate::event`]).
    pub fn event(&mut self, event: Event) -> &mut Self {
        self.events.push(event);
        self
    }

    /// A change that only records events (a refusal, a delivery to a client).
    pub fn of_events(events: Vec<Event>) -> Change {
        Change {
            events,
            ..Change::default()
        }
    }

    /// Turns the events `filter` keeps into one write of the events outbox and drops the
    /// rest: one entry per change, not per event, so the event log costs one write per step.
    pub fn seal_events(&mut self, filter: &EventFilter) {
        let mut events = std::mem::take(&mut self.events);
        events.retain(|event| filter.keeps(event));
        if !events.is_empty() {
            self.writes
                .push(Write::Outbox(OutboxItem::Events { events }));
        }
    }

    /// Nothing to check and nothing to write.
    pub fn is_empty(&self) -> bool {
        self.guards.is_empty() && self.writes.is_empty() && self.events.is_empty()
    }
}

/// Attempts of an optimistic change before giving up under contention.
pub const MAX_ATTEMPTS: usize = 64;

/// Runs `attempt` (read, decide, commit) until it is not a conflict. `attempt` returns the
/// commit's outcome with what the caller makes of it.
pub async fn commit_with_retries<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, StoreError>>,
{
    for _ in 0..MAX_ATTEMPTS {
        if let Some(done) = attempt().await? {
            return Ok(done);
        }
    }
    Err(StoreError::Backend(format!(
        "{what}: still conflicting after {MAX_ATTEMPTS} attempts"
    )))
}
