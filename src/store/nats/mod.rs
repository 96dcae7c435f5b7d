//! The multi-site store on NATS JetStream (>= 2.12), sharded by connector: `shards` streams,
//! each a complete store ([`shard::Shard`]) with its own Raft leader, the leaders spread over
//! the servers ([`spread`]). A connector's queue, its carrier-id slots, the records of the
//! MTs queued on or submitted to it, their receipts and MOs and the outbox entries those make
//! all live in the connector's shard ([`placement`]), so every [`Change`] the flows make is
//! one atomic batch in one shard ([`route`]). See docs/design/multi-site-store.md,
//! "Decision" and "Sharding".
//!
//! What crosses shards, each step idempotent:
//! - **Reads by id** go to the shard the id's tag names, then follow the pointer a move left
//!   ([`moves`]); ids without a tag (another store's) are looked for shard by shard.
//! - **A release to a connector of another shard** moves the record in two steps
//!   ([`moves`]).
//! - **An account's outbox** is fed by every shard: a take goes round the shards, and a
//!   taken entry is acknowledged in the shard it came from.
//! - **Claims** live in the shard of their change (an idempotency key in its MT's first
//!   connector's shard); [`Store::claimed`] asks the shards in turn.
//! - Heartbeats live in shard 0; `check_writable` writes to every shard.

mod api;
mod carrier;
mod commit;
mod connect;
mod consumers;
mod held;
mod limits;
mod maintenance;
mod moves;
mod opt_outs;
mod outbox;
mod part_sets;
pub mod placement;
mod queue;
pub mod route;
mod shard;
mod spread;
pub mod subjects;
mod values;
mod wakeups;

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use async_nats::jetstream;
use async_trait::async_trait;

use self::{
    placement::Placement,
    route::Route,
    shard::{written_ms, Shard},
    subjects::{Subjects, Topic},
    wakeups::Wakeups,
};
use super::{
    CarrierIdRecord, CarrierKey, Change, ClaimSpace, Committed, HeldSlot, MessageRecord, NodeInfo,
    OptOut, OutboxEntry, PartSet, PartSetKey, Store, StoreError, SweepStats, TokenWindow,
    Versioned,
};
use crate::message::{CarrierReceipt, MessageId, Mt};

pub use self::connect::{NatsTarget, NatsTls};

/// How long `connect` waits for a cluster that is still electing its leaders.
const STREAM_PATIENCE: Duration = Duration::from_secs(15);
/// A request the cluster does not answer within this is an error (a leader election takes
/// a few seconds; the caller retries).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// JetStream's "no message found".
const NO_MESSAGE_FOUND: jetstream::ErrorCode = jetstream::ErrorCode(10037);

/// The store on a NATS JetStream cluster. See the module documentation.
pub struct NatsStore {
    shards: Vec<Shard>,
    placement: Placement,
    /// Where the next outbox take starts, so no shard's entries wait behind another's.
    next_outbox_shard: AtomicUsize,
    events: super::EventSwitch,
}

impl NatsStore {
    /// Connects to the cluster `target` names (see [`connect`]), makes its shard streams (3
    /// copies over three sites; 1 for a single server) and spreads their leaders.
    pub async fn connect(target: &NatsTarget) -> Result<Arc<Self>, StoreError> {
        let namespace = target.namespace.as_str();
        if !subjects::valid_namespace(namespace) {
            return Err(StoreError::Backend(format!(
                "nats namespace {namespace:?}: only letters, digits, '-' and '_'"
            )));
        }
        if target.lease.is_zero() {
            return Err(StoreError::Backend("nats lease must not be zero".into()));
        }
        let placement = Placement::new(target.shards, target.pinned.clone())?;
        let client = connect::client(target, REQUEST_TIMEOUT).await?;
        let wakeups = Wakeups::start(&client, &Subjects::new(namespace)).await?;
        let mut shards = Vec::with_capacity(placement.shards());
        for index in 0..placement.shards() {
            let shard = Shard::open(
                &client,
                namespace,
                index,
                target.replicas,
                target.lease,
                wakeups.clone(),
            )
            .await?;
            shards.push(shard);
        }
        if shards.len() > 1 && target.replicas > 1 {
            let streams: Vec<String> = shards.iter().map(Shard::stream_name).collect();
            spread::spread_leaders(&client, &streams, STREAM_PATIENCE).await;
        }
        Ok(Arc::new(Self {
            events: super::EventSwitch::default(),
            shards,
            placement,
            next_outbox_shard: AtomicUsize::new(0),
        }))
    }

    /// The shard of a connector.
    fn of_connector(&self, connector: &str) -> &Shard {
        &self.shards[self.placement.of_connector(connector)]
    }

    /// The shard an MT this node holds was taken from.
    fn holder(&self, id: &MessageId) -> Option<usize> {
        self.shards
            .iter()
            .position(|shard| shard.held_mts.get(id).is_some())
    }

    /// The shard an outbox entry this node took came from, else every shard that has it.
    async fn outbox_shards(&self, account: &str, seq: u64) -> Result<Vec<&Shard>, StoreError> {
        let key = (account.to_owned(), seq);
        if let Some(shard) = self
            .shards
            .iter()
            .find(|shard| shard.held_outbox.get(&key).is_some())
        {
            return Ok(vec![shard]);
        }
        let mut found = Vec::new();
        for shard in &self.shards {
            if shard
                .last(&shard.subjects.outbox(account, seq))
                .await?
                .is_some()
            {
                found.push(shard);
            }
        }
        Ok(found)
    }

    /// Per-key sums over every shard of what `each` lists.
    async fn summed<'a, F, Fut>(&'a self, each: F) -> Result<Vec<(String, usize)>, StoreError>
    where
        F: Fn(&'a Shard) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<(String, usize)>, StoreError>>,
    {
        let mut sums: BTreeMap<String, usize> = BTreeMap::new();
        for shard in &self.shards {
            for (key, count) in each(shard).await? {
                *sums.entry(key).or_default() += count;
            }
        }
        Ok(sums.into_iter().collect())
    }
}

#[async_trait]
impl Store for NatsStore {
    fn id_tag(&self, connector: &str) -> Option<String> {
        self.placement.id_tag(connector)
    }

    async fn record(&self, id: &MessageId) -> Result<Option<Versioned<MessageRecord>>, StoreError> {
        Ok(self.locate(id).await?.map(|(_, found)| found))
    }

    async fn carrier_target(
        &self,
        key: &CarrierKey,
    ) -> Result<Option<(CarrierIdRecord, Versioned<MessageRecord>)>, StoreError> {
        self.of_connector(&key.connector).target(key).await
    }

    async fn record_with_parked(
        &self,
        id: &MessageId,
        keys: &[CarrierKey],
    ) -> Result<(Versioned<MessageRecord>, Vec<Vec<CarrierReceipt>>), StoreError> {
        match keys.first() {
            Some(key) => {
                self.of_connector(&key.connector)
                    .record_and_parked(id, keys)
                    .await
            }
            None => {
                let (shard, _) = self.locate(id).await?.ok_or_else(|| StoreError::Corrupt {
                    key: id.to_string(),
                    error: "message record missing".into(),
                })?;
                self.shards[shard].record_and_parked(id, keys).await
            }
        }
    }

    async fn part_set(&self, key: &PartSetKey) -> Result<Versioned<Option<PartSet>>, StoreError> {
        self.of_connector(&key.connector).read_part_set(key).await
    }

    async fn claimed(&self, space: &ClaimSpace, key: &str) -> Result<Option<String>, StoreError> {
        // Only replays and lookups by client id read claims: asking each shard is affordable.
        for shard in &self.shards {
            if let Some(value) = shard.claimed(space, key).await? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    fn events(&self) -> &super::EventSwitch {
        &self.events
    }

    async fn commit_sealed(&self, change: Change) -> Result<Committed, StoreError> {
        let shard = match route::route(&change, &self.placement, |id| self.holder(id))? {
            Route::Shard(shard) => shard,
            Route::WhereRecordIs(id) => match self.locate(&id).await? {
                Some((shard, _)) => shard,
                None => self.placement.of_id(id.as_str()).unwrap_or(0),
            },
        };
        self.shards[shard].commit_change(change).await
    }

    async fn take_mts(&self, connector: &str, max: usize) -> Result<Vec<Mt>, StoreError> {
        self.of_connector(connector).take(connector, max).await
    }

    async fn wait_for_mts(&self, connector: &str, timeout: Duration) {
        let topic = Topic::Queue(connector.to_owned());
        self.shards[0].wakeups.wait(&topic, timeout).await;
    }

    async fn release_mt(&self, id: &MessageId, connector: &str) -> Result<(), StoreError> {
        let Some(from) = self.holder(id) else {
            return Ok(());
        };
        let to = self.placement.of_connector(connector);
        if from == to {
            self.shards[from].release(id, connector).await
        } else {
            self.move_released(from, to, id, connector).await
        }
    }

    async fn take_outbox(&self, account: &str, max: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let first = self.next_outbox_shard.fetch_add(1, Ordering::Relaxed);
        let mut taken = Vec::new();
        for offset in 0..self.shards.len() {
            if taken.len() >= max {
                break;
            }
            let shard = &self.shards[(first + offset) % self.shards.len()];
            taken.extend(shard.take_due(account, max - taken.len()).await?);
        }
        Ok(taken)
    }

    async fn wait_for_outbox(&self, account: &str, timeout: Duration) {
        let topic = Topic::Outbox(account.to_owned());
        self.shards[0].wakeups.wait(&topic, timeout).await;
    }

    async fn outbox_done(&self, account: &str, seq: u64) -> Result<(), StoreError> {
        for shard in self.outbox_shards(account, seq).await? {
            shard.done(account, seq).await?;
        }
        Ok(())
    }

    async fn outbox_retry(
        &self,
        account: &str,
        seq: u64,
        retry_at_ms: u64,
    ) -> Result<(), StoreError> {
        for shard in self.outbox_shards(account, seq).await? {
            shard.retry(account, seq, retry_at_ms).await?;
        }
        Ok(())
    }

    async fn expire_outbox(
        &self,
        account: &str,
        ttl: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut expired = Vec::new();
        for shard in &self.shards {
            expired.extend(shard.expire(account, ttl).await?);
        }
        Ok(expired)
    }

    async fn outbox_depths(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let depths = self.summed(|shard| shard.outbox_sizes()).await?;
        Ok(depths.into_iter().filter(|(_, n)| *n > 0).collect())
    }

    async fn queue_depths(&self) -> Result<Vec<(String, usize)>, StoreError> {
        self.summed(|shard| shard.queue_sizes()).await
    }

    async fn sweep(&self, retention: Duration) -> Result<SweepStats, StoreError> {
        let moves = self.complete_moves().await?;
        if moves > 0 {
            tracing::info!(moves, "nats: moves between shards completed by the sweep");
        }
        let mut total = SweepStats::default();
        for shard in &self.shards {
            let stats = shard.remove_old(retention).await?;
            total.idempotency_keys += stats.idempotency_keys;
            total.dedupe_claims += stats.dedupe_claims;
            total.carrier_ids += stats.carrier_ids;
            total.parked_receipts += stats.parked_receipts;
            total.part_sets += stats.part_sets;
            total.messages += stats.messages;
            total.idle_consumers += stats.idle_consumers;
        }
        Ok(total)
    }

    async fn heartbeat(&self, node: &NodeInfo, lease: Duration) -> Result<(), StoreError> {
        self.shards[0].beat(node, lease).await
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        self.shards[0].live_nodes().await
    }

    async fn opt_out(
        &self,
        account: &str,
        sender: &str,
        number: &str,
    ) -> Result<Option<OptOut>, StoreError> {
        self.shards[0].read_opt_out(account, sender, number).await
    }

    async fn opt_outs(&self, account: &str) -> Result<Vec<OptOut>, StoreError> {
        self.shards[0].read_opt_outs(account).await
    }

    async fn put_opt_out(&self, account: &str, opt_out: &OptOut) -> Result<(), StoreError> {
        self.shards[0].write_opt_out(account, opt_out).await
    }

    async fn remove_opt_out(
        &self,
        account: &str,
        sender: &str,
        number: &str,
    ) -> Result<bool, StoreError> {
        self.shards[0].lift_opt_out(account, sender, number).await
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        for shard in &self.shards {
            shard.write_check().await?;
        }
        Ok(())
    }

    // Limits live in shard 0, beside the heartbeats.

    async fn take_tokens(&self, counter: &TokenWindow<'_>, want: u32) -> Result<u32, StoreError> {
        self.shards[0].take_window_tokens(counter, want).await
    }

    async fn claim_slot(
        &self,
        key: &str,
        max: u32,
        lease: Duration,
    ) -> Result<Option<HeldSlot>, StoreError> {
        self.shards[0].claim_place(key, max, lease).await
    }

    async fn renew_slot(&self, slot: &mut HeldSlot, lease: Duration) -> Result<bool, StoreError> {
        self.shards[0].renew_place(slot, lease).await
    }

    async fn release_slot(&self, slot: &HeldSlot) -> Result<(), StoreError> {
        self.shards[0].release_place(slot).await
    }
}
