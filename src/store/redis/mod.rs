//! The distributed store: all shared state in one Redis (6.2+, or a Sentinel-managed
//! primary, or a Cluster), so any node of any site can take work another node accepted.
//!
//! **Records.** A message is a hash `{json, v}`: the same JSON [`MessageRecord`] the embedded
//! store keeps, and a version. Receipt merging (worst-of for multipart, one final receipt)
//! runs in Rust ([`super::receipts`]); the write goes back through a [`scripts::Step`] guarded
//! by the version read, so two nodes updating one message at once cannot lose an update: the
//! loser's step fails as a conflict, it reads again and retries. WATCH/MULTI would do the same
//! but needs a dedicated connection per transaction; a Lua compare-and-set works on the
//! shared multiplexed connections.
//!
//! **Atomic steps.** Each state change that must be all-or-nothing is one [`scripts::Step`]:
//! accepting an MT (idempotency claim + record + enqueue), a receipt (dedupe claim + record
//! update + client receipt in the outbox, or dedupe claim + parking when no mapping exists
//! yet), a submit (carrier-id mappings + the parked receipts applied + record), an MO (dedupe
//! claim + outbox). Steps of concurrent callers go to Redis together in one script run
//! ([`batch`]), each still all-or-nothing. All keys share one hash tag (see [`keys`]), so
//! this holds on Cluster too, at the price of one slot per deployment.
//!
//! **Queues and outboxes: Streams.** Each connector has a stream per priority, plus a stream
//! per priority of MTs given back (no bind to send on, or moved by route fallback) that is
//! read first; each account has an outbox stream. Every node reads them through one consumer
//! group, as its own consumer: an entry read is taken (pending with that node) until the node
//! acknowledges and deletes it (submitted, rejected, released; delivered). A node that dies
//! leaves its entries pending; after the lease another node claims them (XAUTOCLAIM), highest
//! priority first. A node whose lease expired while it was merely slow may still finish the
//! work, so a lease shorter than a submit can cause a duplicate send: choose it well above
//! the carrier's response timeout. Outbox retries wait in a sorted set by due time and go
//! back to the stream when due.
//!
//! **Durability.** Redis acknowledges a write once it is in the primary's memory (and AOF
//! per its fsync policy). With `wait_replicas > 0`, steps that let the gateway acknowledge
//! something (accept_mt, carrier_receipt, carrier_mo) also `WAIT` for that many replicas and
//! fail if fewer confirm, so the caller does not acknowledge.
//!
//! **Waiting.** A step that adds to a queue or an outbox publishes its topic once the batch
//! is done ([`wakeups`]); `wait_for_mts` / `wait_for_outbox` wake on it at once, and poll
//! every 500 ms (one script run over the streams) for what no wake-up announces. A take that drained a queue makes the next take of that
//! queue wait 2 ms ([`pacing`]), so a busy queue is read in batches, not an entry per call.
//!
//! **Cost.** About 31 Redis commands per MT through the whole cycle (accept, take, submit,
//! receipt, outbox, delivered), most of them inside ~1.1 script runs per MT
//! (`scripts/bench-redis.sh` prints the breakdown).

mod batch;
mod carrier;
mod commit;
pub mod connect;
pub mod keys;
mod limits;
mod maintenance;
mod mts;
mod opt_outs;
mod outbox;
mod pacing;
mod part_sets;
pub mod scripts;
mod sentinel;
pub mod wakeups;

use std::{sync::Arc, time::Duration};

use crate::store::NodeInfo;

use async_trait::async_trait;
use redis::AsyncCommands;
use serde::{de::DeserializeOwned, Serialize};

use self::{
    connect::{Connection, Target},
    keys::Keys,
    scripts::{Scripts, Step},
};
use super::{
    change::MAX_ATTEMPTS, CarrierIdRecord, CarrierKey, Change, ClaimSpace, Committed, HeldSlot,
    MessageRecord, OptOut, OutboxEntry, OutboxRecord, PartSet, PartSetKey, Store, StoreError,
    SweepStats, TokenWindow, Versioned,
};
use crate::message::{now_ms, CarrierReceipt, MessageId, Mt, OutboxItem};

/// How long an MT or outbox entry stays with the node that took it, unless configured.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// How long `WAIT` waits for replicas.
const REPLICA_WAIT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a command may take to answer (beyond a `WAIT`).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// The consumer group every node reads the queue and outbox streams through (each store
/// instance a consumer).
const GROUP: &str = "smsgw";

/// Multiplexed connections per store (see [`RedisStore`]).
const CONNECTIONS: usize = 4;

/// How often the waits poll when no wake-up comes (they come at once for new work; polling
/// finds due retries, leases that ran out, and work while the subscription is down).
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The Redis store. See the module documentation.
pub struct RedisStore {
    /// A few multiplexed connections used in turn: one alone stalled (requests never reached
    /// the socket) under ~500 concurrent receipt calls; four carried the same load.
    connections: Vec<Connection>,
    next_connection: std::sync::atomic::AtomicUsize,
    /// Group commit of steps over the same connections.
    batcher: batch::StepBatcher,
    keys: Keys,
    scripts: Scripts,
    wait_replicas: u32,
    lease: Duration,
    /// This store's name as a consumer of the outbox streams' group.
    consumer: String,
    /// Local waiters, woken by other nodes' (and our own) new work.
    wakeups: Arc<wakeups::Wakeups>,
    /// Takes from a queue that is drained to the last item wait a little (see [`pacing`]).
    pacer: pacing::TakePacer,
    /// MTs this node took and has not yet submitted, rejected or released.
    held_mts: std::sync::Mutex<std::collections::HashMap<MessageId, mts::Held>>,
    /// When this node last looked for queue or outbox entries whose lease ran out, per queue.
    last_reclaim: std::sync::Mutex<std::collections::HashMap<String, tokio::time::Instant>>,
    events: super::EventSwitch,
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &str) -> Result<T, StoreError> {
    serde_json::from_str(bytes).map_err(|e| StoreError::Corrupt {
        key: key.replace('\u{1f}', "/"),
        error: e.to_string(),
    })
}

fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A name no other store instance uses: the process id and a random number.
fn consumer_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{}-{random:016x}", std::process::id())
}

fn too_much_contention(what: &str) -> StoreError {
    StoreError::Backend(format!(
        "{what}: still conflicting after {MAX_ATTEMPTS} attempts"
    ))
}

impl RedisStore {
    /// Connects with the default lease to `target`: a URL as the `redis` crate takes it
    /// (`redis://[:password@]host[:port][/db]`, `rediss://` for TLS) or Sentinels.
    pub async fn connect(
        target: impl Into<Target>,
        key_prefix: &str,
        wait_replicas: u32,
    ) -> Result<Arc<Self>, StoreError> {
        Self::connect_with_lease(target, key_prefix, wait_replicas, DEFAULT_LEASE).await
    }

    /// Connects; taken work not finished within `lease` goes back to the queues.
    pub async fn connect_with_lease(
        target: impl Into<Target>,
        key_prefix: &str,
        wait_replicas: u32,
        lease: Duration,
    ) -> Result<Arc<Self>, StoreError> {
        let target = target.into();
        let mut connections = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            // Above the WAIT timeout, so a slow replica is reported as such, not as a timeout.
            let mut conn = connect::open(&target, REPLICA_WAIT_TIMEOUT + RESPONSE_TIMEOUT)
                .await
                .map_err(StoreError::backend)?;
            let _: String = redis::cmd("PING")
                .query_async(&mut conn)
                .await
                .map_err(StoreError::backend)?;
            connections.push(conn);
        }
        let keys = Keys::new(key_prefix);
        Ok(Arc::new(Self {
            events: super::EventSwitch::default(),
            wakeups: wakeups::Wakeups::start(target, keys.wake_channel()),
            batcher: batch::StepBatcher::start(connections.clone()),
            connections,
            next_connection: Default::default(),
            keys,
            scripts: Scripts::default(),
            wait_replicas,
            lease,
            consumer: consumer_name(),
            pacer: Default::default(),
            held_mts: Default::default(),
            last_reclaim: Default::default(),
        }))
    }

    fn conn(&self) -> Connection {
        let turn = self
            .next_connection
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.connections[turn % self.connections.len()].clone()
    }

    /// Runs a step atomically (batched with concurrent ones).
    async fn run(&self, step: Step) -> Result<scripts::StepResult, StoreError> {
        self.batcher.run(step).await
    }

    /// A message record and its version.
    async fn read_record(
        &self,
        id: &MessageId,
    ) -> Result<Option<Versioned<MessageRecord>>, StoreError> {
        let key = self.keys.message(id.as_str());
        let (json, version): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(&key)
            .arg("json")
            .arg("v")
            .query_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        match json {
            Some(json) => Ok(Some(Versioned {
                value: decode(&key, &json)?,
                version: carrier::parse_version(&version.unwrap_or_default()),
            })),
            None => Ok(None),
        }
    }

    async fn existing_record(
        &self,
        id: &MessageId,
    ) -> Result<Versioned<MessageRecord>, StoreError> {
        self.read_record(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                key: id.to_string(),
                error: "message record missing".into(),
            })
    }

    /// Adds to `step`: append `item` to its account's outbox.
    fn append_outbox(&self, step: &mut Step, item: OutboxItem) {
        let account = item.account().to_owned();
        let now = now_ms();
        let record = OutboxRecord::new(item, now);
        if record.not_before_ms > now {
            self.append_delayed_outbox_record(step, &account, &record);
        } else {
            self.append_outbox_record(step, &account, &encode(&record));
        }
    }

    /// With `wait_replicas > 0`: waits until that many replicas have every write so far.
    /// WAIT covers the writes of the connection it is sent on, and the write may have gone
    /// out on any of ours, so it is sent on each and the least confirmation counts.
    async fn wait_for_replicas(&self) -> Result<(), StoreError> {
        if self.wait_replicas == 0 {
            return Ok(());
        }
        let waits = self.connections.iter().map(|conn| {
            let mut conn = conn.clone();
            async move {
                redis::cmd("WAIT")
                    .arg(self.wait_replicas)
                    .arg(REPLICA_WAIT_TIMEOUT.as_millis() as u64)
                    .query_async::<u32>(&mut conn)
                    .await
            }
        });
        let mut confirmed = u32::MAX;
        for result in futures_util::future::join_all(waits).await {
            confirmed = confirmed.min(result.map_err(StoreError::backend)?);
        }
        if confirmed < self.wait_replicas {
            return Err(StoreError::Backend(format!(
                "only {confirmed} of {} replicas confirmed the write",
                self.wait_replicas
            )));
        }
        Ok(())
    }

    /// Returns once `has_work` says yes (or fails), or `timeout` passes: checked again on
    /// each wake-up for `topic` and every [`POLL_INTERVAL`].
    async fn wait_for_work<F, Fut>(&self, topic: &str, timeout: Duration, has_work: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<bool, StoreError>>,
    {
        let notify = self.wakeups.notify_for(topic);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Armed before looking, so a wake-up in between is not lost.
            let woken = notify.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if !matches!(has_work().await, Ok(false)) {
                return;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return;
            }
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(POLL_INTERVAL.min(deadline - now)) => {}
            }
        }
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn record(&self, id: &MessageId) -> Result<Option<Versioned<MessageRecord>>, StoreError> {
        self.read_record(id).await
    }

    async fn carrier_target(
        &self,
        key: &CarrierKey,
    ) -> Result<Option<(CarrierIdRecord, Versioned<MessageRecord>)>, StoreError> {
        self.target(key).await
    }

    async fn record_with_parked(
        &self,
        id: &MessageId,
        keys: &[CarrierKey],
    ) -> Result<(Versioned<MessageRecord>, Vec<Vec<CarrierReceipt>>), StoreError> {
        self.record_and_parked(id, keys).await
    }

    async fn part_set(&self, key: &PartSetKey) -> Result<Versioned<Option<PartSet>>, StoreError> {
        self.read_part_set(key).await
    }

    async fn claimed(&self, space: &ClaimSpace, key: &str) -> Result<Option<String>, StoreError> {
        let (key, _) = self.claim_key(space, key);
        self.conn().get(&key).await.map_err(StoreError::backend)
    }

    fn events(&self) -> &super::EventSwitch {
        &self.events
    }

    async fn commit_sealed(&self, change: Change) -> Result<Committed, StoreError> {
        self.commit_change(change).await
    }

    async fn take_mts(&self, connector: &str, max: usize) -> Result<Vec<Mt>, StoreError> {
        self.take(connector, max).await
    }

    async fn wait_for_mts(&self, connector: &str, timeout: Duration) {
        let topic = wakeups::mts_topic(connector);
        self.wait_for_work(&topic, timeout, || self.has_mts(connector))
            .await
    }

    async fn release_mt(&self, id: &MessageId, connector: &str) -> Result<(), StoreError> {
        self.release(id, connector).await
    }

    async fn take_outbox(&self, account: &str, max: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.take_due(account, max).await
    }

    async fn wait_for_outbox(&self, account: &str, timeout: Duration) {
        let topic = wakeups::outbox_topic(account);
        self.wait_for_work(&topic, timeout, || self.has_due(account))
            .await
    }

    async fn outbox_done(&self, account: &str, seq: u64) -> Result<(), StoreError> {
        self.done(account, seq).await
    }

    async fn outbox_done_many(&self, account: &str, seqs: &[u64]) -> Result<(), StoreError> {
        self.done_many(account, seqs).await
    }

    async fn outbox_retry(
        &self,
        account: &str,
        seq: u64,
        retry_at_ms: u64,
    ) -> Result<(), StoreError> {
        self.retry(account, seq, retry_at_ms).await
    }

    async fn expire_outbox(
        &self,
        account: &str,
        ttl: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.expire(account, ttl).await
    }

    async fn outbox_depths(&self) -> Result<Vec<(String, usize)>, StoreError> {
        self.outbox_sizes().await
    }

    async fn queue_depths(&self) -> Result<Vec<(String, usize)>, StoreError> {
        self.queue_sizes().await
    }

    async fn sweep(&self, retention: Duration) -> Result<SweepStats, StoreError> {
        self.remove_old(retention).await
    }

    async fn heartbeat(&self, node: &NodeInfo, lease: Duration) -> Result<(), StoreError> {
        let expires = now_ms() + lease.as_millis() as u64;
        // Two plain commands: a MULTI on the shared multiplexed connection is not needed
        // here (a reader tolerates a record without its index entry for one beat).
        let mut conn = self.conn();
        let _: () = redis::cmd("SET")
            .arg(self.keys.node(&node.node_id))
            .arg(encode(node))
            .arg("PX")
            .arg(lease.as_millis() as u64)
            .query_async(&mut conn)
            .await
            .map_err(StoreError::backend)?;
        let _: () = conn
            .zadd(self.keys.nodes(), &node.node_id, expires)
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        let mut conn = self.conn();
        let _: () = conn
            .zrembyscore(self.keys.nodes(), "-inf", now_ms())
            .await
            .map_err(StoreError::backend)?;
        let ids: Vec<String> = conn
            .zrange(self.keys.nodes(), 0, -1)
            .await
            .map_err(StoreError::backend)?;
        let mut nodes = Vec::new();
        for id in ids {
            let key = self.keys.node(&id);
            let value: Option<String> = conn.get(&key).await.map_err(StoreError::backend)?;
            if let Some(value) = value {
                nodes.push(decode::<NodeInfo>(&key, &value)?);
            }
        }
        nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        Ok(nodes)
    }

    async fn opt_out(
        &self,
        account: &str,
        sender: &str,
        number: &str,
    ) -> Result<Option<OptOut>, StoreError> {
        self.read_opt_out(account, sender, number).await
    }

    async fn opt_outs(&self, account: &str) -> Result<Vec<OptOut>, StoreError> {
        self.read_opt_outs(account).await
    }

    async fn put_opt_out(&self, account: &str, opt_out: &OptOut) -> Result<(), StoreError> {
        self.write_opt_out(account, opt_out).await
    }

    async fn remove_opt_out(
        &self,
        account: &str,
        sender: &str,
        number: &str,
    ) -> Result<bool, StoreError> {
        self.lift_opt_out(account, sender, number).await
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        let _: () = self
            .conn()
            .set(self.keys.health(), now_ms())
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn take_tokens(&self, counter: &TokenWindow<'_>, want: u32) -> Result<u32, StoreError> {
        self.take_window_tokens(counter, want).await
    }

    async fn claim_slot(
        &self,
        key: &str,
        max: u32,
        lease: Duration,
    ) -> Result<Option<HeldSlot>, StoreError> {
        self.claim_place(key, max, lease).await
    }

    async fn renew_slot(&self, slot: &mut HeldSlot, lease: Duration) -> Result<bool, StoreError> {
        self.renew_place(slot, lease).await
    }

    async fn release_slot(&self, slot: &HeldSlot) -> Result<(), StoreError> {
        self.release_place(slot).await
    }
}
