//! The only shared state of the gateway: messages, connector queues, idempotency keys, the
//! carrier-id map for receipts, dedupe claims and per-account outboxes.
//!
//! Everything another node would need to see lives behind [`Store`]; the embedded
//! implementation keeps it in a redb file on one node, the distributed one in Redis. The
//! store holds state and knows no rules: the flows (`ingest`, `upstream::receipts`,
//! `upstream::mo`) read, decide, and commit a [`Change`] (guards and writes, all or nothing);
//! queues and outboxes are taken, acknowledged and released through their own primitives.
//! Every method that changes state returns only once the change is durable, so the caller
//! may acknowledge right after.

pub mod change;
pub mod embedded;
pub mod event_switch;
pub mod limits;
pub mod nats;
pub mod part_sets;
pub mod redis;

use std::{path::Path, time::Duration};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::message::{CarrierReceipt, MessageId, MessageState, Mt, OutboxItem};

pub use self::redis::{
    connect::{Servers as RedisServers, Target as RedisTarget},
    RedisStore,
};
pub use change::{
    CarrierIdRecord, CarrierKey, Change, Claim, ClaimSpace, Committed, Guard, Versioned, Write,
};
pub use embedded::EmbeddedStore;
pub use event_switch::EventSwitch;
pub use limits::{HeldSlot, TokenWindow};
pub use nats::{NatsStore, NatsTarget, NatsTls};
pub use part_sets::{PartSet, PartSetKey};

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("store backend error: {0}")]
    Backend(String),
    #[error("{path}: {error}")]
    Io { path: String, error: String },
    #[error("corrupt record {key}: {error}")]
    Corrupt { key: String, error: String },
    #[error("store is shut down")]
    Closed,
}

impl StoreError {
    pub fn backend(error: impl std::fmt::Display) -> Self {
        StoreError::Backend(error.to_string())
    }

    pub fn io(path: &Path, error: impl std::fmt::Display) -> Self {
        StoreError::Io {
            path: path.display().to_string(),
            error: error.to_string(),
        }
    }
}

/// One part of a submitted MT as the carrier knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PartRecord {
    pub carrier_id: Option<String>,
    pub state: Option<MessageState>,
    pub error: String,
}

/// One line of a message's history (what `GET /v1/messages/{id}` shows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub state: MessageState,
    pub error: String,
    pub at_ms: u64,
    /// Which part, for multipart messages.
    pub part: Option<u8>,
}

/// Everything known about one MT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub mt: Mt,
    /// Accepted, then Enroute once submitted, then final.
    pub state: MessageState,
    /// The connector it was (or is being) submitted on.
    pub connector: Option<String>,
    pub parts: Vec<PartRecord>,
    pub history: Vec<HistoryEntry>,
    /// The final receipt has gone to the client's outbox.
    pub receipt_queued: bool,
    /// Scheduled for later: not queued on a connector until its `send_at` timer releases it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held: bool,
    /// Bumped by every write (the embedded store's guard; Redis keeps it beside the JSON).
    #[serde(default)]
    pub version: u64,
}

impl MessageRecord {
    /// The record of an MT just accepted: queued on its route's first connector.
    pub fn accepted(mt: &Mt) -> Self {
        Self {
            state: MessageState::Accepted,
            connector: mt.connectors.first().cloned(),
            parts: vec![PartRecord::default(); usize::from(mt.parts.max(1))],
            history: vec![HistoryEntry {
                state: MessageState::Accepted,
                error: String::new(),
                at_ms: mt.accepted_at_ms,
                part: None,
            }],
            receipt_queued: false,
            held: false,
            version: 0,
            mt: mt.clone(),
        }
    }
}

/// An outbox entry handed to a deliverer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub account: String,
    pub seq: u64,
    pub item: OutboxItem,
    /// Delivery attempts so far.
    pub attempts: u32,
}

/// An outbox entry as every store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub item: OutboxItem,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Not delivered again before this time (a retry's backoff).
    pub not_before_ms: u64,
    pub created_ms: u64,
}

impl OutboxRecord {
    /// A new entry, due at once (a timer: when it is due).
    pub fn new(item: OutboxItem, created_ms: u64) -> Self {
        Self {
            not_before_ms: item.due_ms().unwrap_or(0),
            item,
            attempts: 0,
            created_ms,
        }
    }
}

/// A live node as its heartbeat describes it (for `GET /cluster`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub node_id: String,
    pub site: String,
    pub started_ms: u64,
    pub last_seen_ms: u64,
    /// What the node serves: its listeners (`http`, `https`, `smpp`, `smpp_tls`), `carrier`
    /// while it has a carrier bind up, `simulator` when it runs the built-in one.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Bound client sessions per account on this node.
    pub client_binds: Vec<(String, usize)>,
    /// Carrier binds up per connector on this node.
    pub carrier_binds: Vec<(String, usize)>,
}

/// A number that asked (or was set over the API) to receive no MTs from an account, or from
/// one of its senders. Kept until lifted; the flow in `crate::optout` owns the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOut {
    /// The handset's number, in the digits an MT's destination is stored with.
    pub number: String,
    /// The sender it applies to; empty for every sender of the account.
    pub sender: String,
    /// What recorded it: the keyword of the MO (as the handset wrote it), or `api`.
    pub source: String,
    pub at_ms: u64,
}

/// What a [`Store::sweep`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepStats {
    pub idempotency_keys: usize,
    pub dedupe_claims: usize,
    pub carrier_ids: usize,
    pub parked_receipts: usize,
    pub messages: usize,
    /// Multipart MO sets begun longer than the retention ago (never completed, and not
    /// delivered part by part by their timeout).
    pub part_sets: usize,
    /// Redis: consumers of the queue and outbox groups with nothing pending, idle for ten
    /// leases (nodes that restarted or went away); a live one is recreated on its next read.
    pub idle_consumers: usize,
    /// Redis: outboxes of timer accounts of past hours with nothing left, forgotten (the
    /// embedded store drops an empty outbox at once; NATS deletes an hour's idle consumer).
    pub spent_timer_outboxes: usize,
}

/// The gateway's shared state. See the module documentation.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A tag the store wants at the end of the id of an MT first queued on `connector`
    /// (letters and digits), so a read by id finds the record without a lookup: the NATS store
    /// with several shards names the connector's shard. Ids stay opaque to clients; the
    /// embedded and Redis stores want none.
    fn id_tag(&self, _connector: &str) -> Option<String> {
        None
    }

    /// A message record and its version.
    async fn record(&self, id: &MessageId) -> Result<Option<Versioned<MessageRecord>>, StoreError>;

    async fn message(&self, id: &MessageId) -> Result<Option<MessageRecord>, StoreError> {
        Ok(self.record(id).await?.map(|found| found.value))
    }

    /// What a carrier id is mapped to, with that message's record and version, in one read.
    async fn carrier_target(
        &self,
        key: &CarrierKey,
    ) -> Result<Option<(CarrierIdRecord, Versioned<MessageRecord>)>, StoreError>;

    /// A message's record (it must exist) and the receipts parked under each key, in one read.
    async fn record_with_parked(
        &self,
        id: &MessageId,
        keys: &[CarrierKey],
    ) -> Result<(Versioned<MessageRecord>, Vec<Vec<CarrierReceipt>>), StoreError>;

    /// A multipart MO's part set with the version a change is guarded by; `None` (with the
    /// version that stands for "no set") when there is none.
    async fn part_set(&self, key: &PartSetKey) -> Result<Versioned<Option<PartSet>>, StoreError>;

    /// The value of an unexpired claim.
    async fn claimed(&self, space: &ClaimSpace, key: &str) -> Result<Option<String>, StoreError>;

    /// Commits a change atomically: all of it once its guards hold, durably, or nothing. Its
    /// events that [`Store::events`] keeps go with it, as one entry of the events outbox.
    async fn commit(&self, mut change: Change) -> Result<Committed, StoreError> {
        change.seal_events(&self.events().current());
        if change.is_empty() {
            return Ok(Committed::Done);
        }
        self.commit_sealed(change).await
    }

    /// [`Store::commit`] once the change's events are writes: what each backend does.
    async fn commit_sealed(&self, change: Change) -> Result<Committed, StoreError>;

    /// Which events commits keep; the node sets it from its event log's sinks.
    fn events(&self) -> &EventSwitch;

    /// Takes up to `max` queued MTs of a connector: highest priority first, in order within a
    /// priority. Taken MTs are nobody else's until submitted, rejected or released.
    async fn take_mts(&self, connector: &str, max: usize) -> Result<Vec<Mt>, StoreError>;

    /// Waits until the connector's queue may have something (or `timeout` passes).
    async fn wait_for_mts(&self, connector: &str, timeout: Duration);

    /// Gives a taken MT back to its queue (no bind to send it on...), or moves it to another
    /// connector's queue: it is taken again before the MTs queued at its priority, after
    /// those released before it.
    async fn release_mt(&self, id: &MessageId, connector: &str) -> Result<(), StoreError>;

    /// Takes up to `max` due outbox entries of an account, oldest first (an entry written
    /// with a due time, a timer, is not due before it). Taken entries are
    /// nobody else's until done or retried.
    async fn take_outbox(&self, account: &str, max: usize) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Waits until the account's outbox may have something due (or `timeout` passes).
    async fn wait_for_outbox(&self, account: &str, timeout: Duration);

    /// Delivered: removed for good.
    async fn outbox_done(&self, account: &str, seq: u64) -> Result<(), StoreError>;

    /// [`Store::outbox_done`] for many entries of one account at once (the event logger's
    /// batches): one write where the backend can (embedded: one transaction; Redis: one
    /// step), else each concurrently.
    async fn outbox_done_many(&self, account: &str, seqs: &[u64]) -> Result<(), StoreError> {
        futures_util::future::try_join_all(seqs.iter().map(|seq| self.outbox_done(account, *seq)))
            .await
            .map(|_| ())
    }

    /// Not delivered: back in the outbox, not before `retry_at_ms`.
    async fn outbox_retry(
        &self,
        account: &str,
        seq: u64,
        retry_at_ms: u64,
    ) -> Result<(), StoreError>;

    /// Removes outbox entries older than their TTL; returns them (to count and log).
    async fn expire_outbox(
        &self,
        account: &str,
        ttl: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Accounts with outbox entries, and how many (taken or not).
    async fn outbox_depths(&self) -> Result<Vec<(String, usize)>, StoreError>;

    /// Queued MTs per connector (not counting taken ones).
    async fn queue_depths(&self) -> Result<Vec<(String, usize)>, StoreError>;

    /// Removes what is no longer needed: expired idempotency keys and dedupe claims, and
    /// final messages, carrier-id mappings, parked receipts and multipart MO part sets older
    /// than `retention`.
    async fn sweep(&self, retention: Duration) -> Result<SweepStats, StoreError>;

    /// Records that `node` is alive for `lease` from now.
    async fn heartbeat(&self, node: &NodeInfo, lease: Duration) -> Result<(), StoreError>;

    /// Nodes whose last heartbeat's lease has not expired, by node id.
    async fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError>;

    /// The opt-out of `number` from `account`'s `sender` (empty: from every sender).
    async fn opt_out(
        &self,
        account: &str,
        sender: &str,
        number: &str,
    ) -> Result<Option<OptOut>, StoreError>;

    /// Every opt-out of an account (every sender), in no particular order.
    async fn opt_outs(&self, account: &str) -> Result<Vec<OptOut>, StoreError>;

    /// Records an opt-out (replacing one of the same sender and number), durably.
    async fn put_opt_out(&self, account: &str, opt_out: &OptOut) -> Result<(), StoreError>;

    /// Lifts an opt-out, durably; `false` if there was none.
    async fn remove_opt_out(
        &self,
        account: &str,
        sender: &str,
        number: &str,
    ) -> Result<bool, StoreError>;

    /// Whether a write reaches the disk (for /readyz).
    async fn check_writable(&self) -> Result<(), StoreError>;

    /// Adds up to `want` to the `counter`, never past its limit, atomically for every node;
    /// returns how much it added (0: the window's limit is reached).
    async fn take_tokens(&self, counter: &TokenWindow<'_>, want: u32) -> Result<u32, StoreError>;

    /// Claims one of `max` places of `key` for `lease`, atomically for every node; `None`
    /// when `max` unexpired claims hold them all.
    async fn claim_slot(
        &self,
        key: &str,
        max: u32,
        lease: Duration,
    ) -> Result<Option<HeldSlot>, StoreError>;

    /// Extends a claim's lease by `lease` from now; `false` when it was lost (its lease ran
    /// out, and its place may be another's).
    async fn renew_slot(&self, slot: &mut HeldSlot, lease: Duration) -> Result<bool, StoreError>;

    /// Gives a claimed place back (nothing when it was lost already).
    async fn release_slot(&self, slot: &HeldSlot) -> Result<(), StoreError>;
}
