//! One shard of the NATS store: a complete store over its own stream, for the connectors
//! placed in it (see [`super::placement`]). Every key a change touches is one subject of the
//! stream (one message per subject, R3 over the sites), and a [`Change`] is one atomic batch
//! whose guards are expected subject sequences. See docs/design/multi-site-store.md.
//!
//! - **Records** `r.<id>`: the record's JSON; its version is the stream sequence of its last
//!   write (a record that moved to another shard leaves a pointer: [`super::moves`]).
//!   **Claims** `c.…`: the value and its expiry, with a `Nats-TTL` that outlives it.
//!   **Carrier-id slots** `m.<connector>.<carrier id>`: the mapping and the receipts parked
//!   before it, so a park and a mapping guard each other ([`super::commit`]).
//! - **Queues** `q.<connector>.<slot>.<id>` and **outboxes** `o.<account>.<seq>`: read through
//!   durable pull consumers ([`super::consumers`]); a fetched entry is taken until
//!   acknowledged, and delivered again once its lease (`ack_wait`) runs out. A change that
//!   finishes a queued MT replaces its entry with a tombstone in the same batch; takers skip
//!   tombstones, and check each entry against its record, so an entry a change did not finish
//!   is dropped.
//! - **Heartbeats** `n.<node>` with a TTL (shard 0 only).
//! - Reads go to the stream's leader (`STREAM.MSG.GET`), never to a replica that may lag.

use std::{collections::HashMap, sync::Arc, time::Duration};

use async_nats::jetstream::{self, message::StreamMessage, stream::LastRawMessageErrorKind};
use futures_util::StreamExt;

use super::{
    api,
    consumers::Consumers,
    held::HeldEntries,
    moves::Location,
    subjects::{Subjects, Topic},
    values,
    wakeups::Wakeups,
    NO_MESSAGE_FOUND, REQUEST_TIMEOUT, STREAM_PATIENCE,
};
use crate::{
    message::{now_ms, MessageId},
    store::{ClaimSpace, MessageRecord, StoreError, Versioned},
};

/// Atomic batches one node keeps open on a shard's stream at most: under the server's 50 per
/// stream with two nodes busy, and plenty for a batch's round trip.
const OPEN_BATCHES_PER_NODE: usize = 24;

/// One shard: a complete store over its own stream. See the module documentation.
pub struct Shard {
    /// Its place in the deployment's list of shards (what an id's tag names).
    pub index: usize,
    pub(super) client: async_nats::Client,
    pub(super) stream: jetstream::stream::Stream<()>,
    pub(super) subjects: Subjects,
    pub(super) consumers: Consumers,
    /// Shared by every shard of the store: wake-ups name connectors and accounts, not shards.
    pub(super) wakeups: Arc<Wakeups>,
    pub(super) held_mts: HeldEntries<MessageId>,
    pub(super) held_outbox: HeldEntries<(String, u64)>,
    /// Where the sweep of a kind of key starts: everything before is kept for a reason that
    /// lasts until it is written again (and so moves past this point).
    pub(super) sweep_from: std::sync::Mutex<HashMap<&'static str, u64>>,
    /// Atomic batches this node may have open on the stream at once (the server refuses
    /// past 50 per stream, for all nodes together).
    pub(super) open_batches: tokio::sync::Semaphore,
}

impl Shard {
    /// Makes (or finds) shard `index`'s stream, `replicas` copies placed by the cluster.
    pub(super) async fn open(
        client: &async_nats::Client,
        namespace: &str,
        index: usize,
        replicas: usize,
        lease: Duration,
        wakeups: Arc<Wakeups>,
    ) -> Result<Self, StoreError> {
        let subjects = Subjects::for_shard(namespace, index);
        let stream_name = subjects.stream(index);
        api::ensure_stream(
            client,
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
        Ok(Self {
            index,
            wakeups,
            consumers: Consumers::new(stream.clone(), lease),
            client: client.clone(),
            stream,
            subjects,
            held_mts: HeldEntries::default(),
            held_outbox: HeldEntries::default(),
            sweep_from: Default::default(),
            open_batches: tokio::sync::Semaphore::new(OPEN_BATCHES_PER_NODE),
        })
    }

    /// The name of this shard's stream.
    pub(super) fn stream_name(&self) -> String {
        self.subjects.stream(self.index)
    }

    /// The last message on `subject`, from the stream's leader.
    pub(super) async fn last(&self, subject: &str) -> Result<Option<StreamMessage>, StoreError> {
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
    pub(super) async fn first_from(
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
    pub(super) fn scan<'a>(
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
    pub(super) async fn subject_counts(
        &self,
        filter: &str,
    ) -> Result<Vec<(String, usize)>, StoreError> {
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
    pub(super) async fn delete(&self, seq: u64) -> Result<bool, StoreError> {
        match api::delete_message(&self.client, &self.stream_name(), seq).await? {
            Ok(deleted) => Ok(deleted),
            Err(error) if u64::from(error.err_code) == NO_MESSAGE_FOUND.0 => Ok(false),
            Err(error) => Err(StoreError::Backend(format!("deleting {seq}: {error}"))),
        }
    }

    /// Tells every node's waiters for `topic` (best effort: they also look on their own).
    pub(super) async fn wake(&self, topic: &Topic) {
        let subject = self.subjects.wake(topic);
        if let Err(error) = self.client.publish(subject, bytes::Bytes::new()).await {
            tracing::debug!(%error, "nats: wake-up not sent");
        }
    }
}

/// A stream message's time in ms since the epoch.
pub(super) fn written_ms(message: &StreamMessage) -> u64 {
    u64::try_from(message.time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

impl Shard {
    /// The record under `id` in this shard (a pointer to another shard is not a record here).
    pub(super) async fn record(
        &self,
        id: &MessageId,
    ) -> Result<Option<Versioned<MessageRecord>>, StoreError> {
        Ok(match self.location(id).await?.1 {
            Location::Here(found) => Some(found),
            Location::Absent | Location::Moved(_) => None,
        })
    }

    /// The value of an unexpired claim in this shard.
    pub(super) async fn claimed(
        &self,
        space: &ClaimSpace,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let subject = self.subjects.claim(space, key);
        let Some(found) = self.last(&subject).await? else {
            return Ok(None);
        };
        let claim: values::ClaimValue = values::decode(&subject, &found.payload)?;
        Ok(claim.live(now_ms()).then_some(claim.value))
    }
}
