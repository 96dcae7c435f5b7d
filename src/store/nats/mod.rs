//! The multi-site store on NATS JetStream (>= 2.12): every key a change touches is one
//! subject of its shard's stream (one message per subject, R3 over the sites), and a
//! [`Change`] is one atomic batch whose guards are expected subject sequences. See
//! docs/design/multi-site-store.md, "Decision".
//!
//! - **Records** `r.<id>`: the record's JSON; its version is the stream sequence of its last
//!   write. **Claims** `c.…`: the value and its expiry, with a `Nats-TTL` that outlives it.
//!   **Carrier-id slots** `m.<connector>.<carrier id>`: the mapping and the receipts parked
//!   before it, so a park and a mapping guard each other ([`commit`]).
//! - **Queues** `q.<connector>.<slot>.<id>` and **outboxes** `o.<account>.<seq>`: read through
//!   durable pull consumers ([`consumers`]); a fetched entry is taken until acknowledged, and
//!   delivered again once its lease (`ack_wait`) runs out. A change that finishes a queued
//!   MT replaces its entry with a tombstone in the same batch; takers skip tombstones, and
//!   check each entry against its record, so an entry a change did not finish is dropped.
//! - **Heartbeats** `n.<node>` with a TTL; **wake-ups** on core NATS ([`wakeups`]).
//! - Reads go to the stream's leader (`STREAM.MSG.GET`), never to a replica that may lag.
//!
//! One shard for now: the stream is named per shard so connectors can be spread over several
//! later.

mod api;
mod carrier;
mod commit;
mod connect;
mod consumers;
mod held;
mod maintenance;
mod outbox;
mod queue;
pub mod subjects;
mod values;
mod wakeups;

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_nats::jetstream::{
    self,
    message::StreamMessage,
    stream::{DeleteMessageErrorKind, LastRawMessageErrorKind},
};
use async_trait::async_trait;
use futures_util::StreamExt;

use self::{
    consumers::Consumers,
    held::HeldEntries,
    subjects::{Subjects, Topic},
    wakeups::Wakeups,
};
use super::{
    CarrierIdRecord, CarrierKey, Change, ClaimSpace, Committed, MessageRecord, NodeInfo,
    OutboxEntry, Store, StoreError, SweepStats, Versioned,
};
use crate::message::{now_ms, CarrierReceipt, MessageId, Mt};

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
    client: async_nats::Client,
    /// The one shard's stream (sharding by connector comes later).
    stream: jetstream::stream::Stream<()>,
    subjects: Subjects,
    consumers: Consumers,
    wakeups: Arc<Wakeups>,
    held_mts: HeldEntries<MessageId>,
    held_outbox: HeldEntries<(String, u64)>,
    /// Where the sweep of a kind of key starts: everything before is kept for a reason that
    /// lasts until it is written again (and so moves past this point).
    sweep_from: std::sync::Mutex<HashMap<&'static str, u64>>,
}

impl NatsStore {
    /// Connects to the cluster `target` names (see [`connect`]) and makes its shard streams (3
    /// copies over three sites; 1 for a single server).
    pub async fn connect(target: &NatsTarget) -> Result<Arc<Self>, StoreError> {
        let namespace = target.namespace.as_str();
        let replicas = target.replicas;
        if !subjects::valid_namespace(namespace) {
            return Err(StoreError::Backend(format!(
                "nats namespace {namespace:?}: only letters, digits, '-' and '_'"
            )));
        }
        if target.lease.is_zero() {
            return Err(StoreError::Backend("nats lease must not be zero".into()));
        }
        let client = connect::client(target, REQUEST_TIMEOUT).await?;
        let subjects = Subjects::new(namespace);
        let stream_name = subjects.stream(0);
        api::ensure_stream(
            &client,
            &api::StreamSpec {
                name: &stream_name,
                subjects: subjects.stream_filters(),
                replicas,
            },
            STREAM_PATIENCE,
        )
        .await?;
        let mut context = jetstream::new(client.clone());
        context.set_timeout(REQUEST_TIMEOUT);
        let stream = context
            .get_stream_no_info(&stream_name)
            .await
            .map_err(StoreError::backend)?;
        Ok(Arc::new(Self {
            wakeups: Wakeups::start(&client, &subjects).await?,
            consumers: Consumers::new(stream.clone(), target.lease),
            client,
            stream,
            subjects,
            held_mts: HeldEntries::default(),
            held_outbox: HeldEntries::default(),
            sweep_from: Default::default(),
        }))
    }

    /// The last message on `subject`, from the stream's leader.
    async fn last(&self, subject: &str) -> Result<Option<StreamMessage>, StoreError> {
        match self.stream.get_last_raw_message_by_subject(subject).await {
            Ok(message) => Ok(Some(message)),
            Err(error) if matches!(error.kind(), LastRawMessageErrorKind::NoMessageFound) => {
                Ok(None)
            }
            Err(error) => Err(StoreError::Backend(format!("{subject}: {error}"))),
        }
    }

    /// The first message at or after stream sequence `from` on a subject `filter` matches,
    /// from the stream's leader.
    async fn first_from(
        &self,
        filter: &str,
        from: u64,
    ) -> Result<Option<StreamMessage>, StoreError> {
        match self
            .stream
            .get_first_raw_message_by_subject(filter, from)
            .await
        {
            Ok(message) => Ok(Some(message)),
            Err(error) if matches!(error.kind(), LastRawMessageErrorKind::NoMessageFound) => {
                Ok(None)
            }
            Err(error) => Err(StoreError::Backend(format!("{filter}: {error}"))),
        }
    }

    /// The messages on subjects `filter` matches, from stream sequence `from` on, in order,
    /// each read from the stream's leader.
    fn scan<'a>(
        &'a self,
        filter: &'a str,
        from: u64,
    ) -> impl futures_util::Stream<Item = Result<StreamMessage, StoreError>> + 'a {
        futures_util::stream::try_unfold(from, move |from| async move {
            let found = self.first_from(filter, from).await?;
            Ok(found.map(|found| {
                let next = found.sequence + 1;
                (found, next)
            }))
        })
    }

    /// How many messages each subject `filter` matches has (one at most, per the stream).
    async fn subject_counts(&self, filter: &str) -> Result<Vec<(String, usize)>, StoreError> {
        let mut listed = self
            .stream
            .info_with_subjects(filter)
            .await
            .map_err(StoreError::backend)?;
        let mut counts = Vec::new();
        while let Some(subject) = listed.next().await {
            counts.push(subject.map_err(StoreError::backend)?);
        }
        Ok(counts)
    }

    /// Removes the message at stream sequence `seq`; `false` if it was gone already (replaced,
    /// expired or removed by another node).
    async fn delete(&self, seq: u64) -> Result<bool, StoreError> {
        match self.stream.delete_message(seq).await {
            Ok(deleted) => Ok(deleted),
            Err(error) => match error.kind() {
                DeleteMessageErrorKind::JetStream(error)
                    if error.error_code() == NO_MESSAGE_FOUND =>
                {
                    Ok(false)
                }
                _ => Err(StoreError::Backend(format!("deleting {seq}: {error}"))),
            },
        }
    }

    /// Tells every node's waiters for `topic` (best effort: they also look on their own).
    async fn wake(&self, topic: &Topic) {
        let subject = self.subjects.wake(topic);
        if let Err(error) = self.client.publish(subject, bytes::Bytes::new()).await {
            tracing::debug!(%error, "nats: wake-up not sent");
        }
    }
}

/// A stream message's time in ms since the epoch.
fn written_ms(message: &StreamMessage) -> u64 {
    u64::try_from(message.time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

#[async_trait]
impl Store for NatsStore {
    async fn record(&self, id: &MessageId) -> Result<Option<Versioned<MessageRecord>>, StoreError> {
        let subject = self.subjects.record(id.as_str());
        let Some(found) = self.last(&subject).await? else {
            return Ok(None);
        };
        let mut value: MessageRecord = values::decode(&subject, &found.payload)?;
        // A version is the stream sequence of the record's last write: opaque, not a count.
        value.version = found.sequence;
        Ok(Some(Versioned {
            value,
            version: found.sequence,
        }))
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

    async fn claimed(&self, space: &ClaimSpace, key: &str) -> Result<Option<String>, StoreError> {
        let subject = self.subjects.claim(space, key);
        let Some(found) = self.last(&subject).await? else {
            return Ok(None);
        };
        let claim: values::ClaimValue = values::decode(&subject, &found.payload)?;
        Ok(claim.live(now_ms()).then_some(claim.value))
    }

    async fn commit(&self, change: Change) -> Result<Committed, StoreError> {
        self.commit_change(change).await
    }

    async fn take_mts(&self, connector: &str, max: usize) -> Result<Vec<Mt>, StoreError> {
        self.take(connector, max).await
    }

    async fn wait_for_mts(&self, connector: &str, timeout: Duration) {
        let topic = Topic::Queue(connector.to_owned());
        self.wakeups.wait(&topic, timeout).await;
    }

    async fn release_mt(&self, id: &MessageId, connector: &str) -> Result<(), StoreError> {
        self.release(id, connector).await
    }

    async fn take_outbox(&self, account: &str, max: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.take_due(account, max).await
    }

    async fn wait_for_outbox(&self, account: &str, timeout: Duration) {
        let topic = Topic::Outbox(account.to_owned());
        self.wakeups.wait(&topic, timeout).await;
    }

    async fn outbox_done(&self, account: &str, seq: u64) -> Result<(), StoreError> {
        self.done(account, seq).await
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
        self.beat(node, lease).await
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        self.live_nodes().await
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        self.write_check().await
    }
}
