//! The multi-site store on NATS JetStream (>= 2.12): every key a change touches is one
//! subject of its shard's stream (one message per subject, R3 over the sites), and a
//! [`Change`] is one atomic batch whose guards are expected subject sequences. See
//! docs/design/multi-site-store.md, "Decision".
//!
//! Built in steps on its branch: records, claims and `commit` (with claims, record versions
//! and enqueues) work; the queue consumers, outboxes, carrier-id slots, sweep and heartbeats
//! answer "not implemented yet".

mod api;
mod commit;
pub mod subjects;
mod target;

pub use target::{NatsTarget, NatsTls};

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

use self::subjects::Subjects;
use super::{
    CarrierIdRecord, CarrierKey, Change, ClaimSpace, Committed, MessageRecord, NodeInfo,
    OutboxEntry, Store, StoreError, SweepStats, Versioned,
};
use crate::message::{CarrierReceipt, MessageId, Mt};

/// How long `connect` waits for a cluster that is still electing its leaders.
const STREAM_PATIENCE: Duration = Duration::from_secs(15);
/// A request the cluster does not answer within this is an error (a leader election takes
/// a few seconds; the caller retries).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The store on a NATS JetStream cluster. See the module documentation.
pub struct NatsStore {
    client: async_nats::Client,
    subjects: Subjects,
    /// The one shard's stream (sharding by connector comes later).
    stream: String,
}

impl NatsStore {
    /// Connects to the cluster `target` names and makes its shard streams (3 copies over
    /// three sites; 1 for a single server). Each server is tried in turn; when none takes the
    /// connection (all down, a wrong password, a certificate not trusted) this fails with the
    /// reason, rather than retrying out of sight, so a misconfigured node stops at start.
    pub async fn connect(target: &NatsTarget) -> Result<Arc<Self>, StoreError> {
        let namespace = target.namespace.as_str();
        let replicas = target.replicas;
        if !subjects::valid_namespace(namespace) {
            return Err(StoreError::Backend(format!(
                "nats namespace {namespace:?}: only letters, digits, '-' and '_'"
            )));
        }
        let client = target
            .connect_options()
            .request_timeout(Some(REQUEST_TIMEOUT))
            .connect(target.servers.as_slice())
            .await
            .map_err(StoreError::backend)?;
        let subjects = Subjects::new(namespace);
        let stream = subjects.stream(0);
        api::ensure_stream(
            &client,
            &api::StreamSpec {
                name: &stream,
                subjects: subjects.stream_filters(),
                replicas,
            },
            STREAM_PATIENCE,
        )
        .await?;
        Ok(Arc::new(Self {
            client,
            subjects,
            stream,
        }))
    }

    /// The last message on `subject`, from the stream's leader.
    async fn last(&self, subject: &str) -> Result<Option<api::StoredMessage>, StoreError> {
        api::last_message(&self.client, &self.stream, subject).await
    }
}

fn not_implemented<T>(what: &str) -> Result<T, StoreError> {
    Err(StoreError::Backend(format!(
        "nats store: {what} not implemented yet"
    )))
}

#[async_trait]
impl Store for NatsStore {
    async fn record(&self, id: &MessageId) -> Result<Option<Versioned<MessageRecord>>, StoreError> {
        let subject = self.subjects.record(id.as_str());
        let Some(found) = self.last(&subject).await? else {
            return Ok(None);
        };
        let mut value: MessageRecord =
            serde_json::from_slice(&found.data).map_err(|error| StoreError::Corrupt {
                key: subject,
                error: error.to_string(),
            })?;
        // A version is the stream sequence of the record's last write: opaque, not a count.
        value.version = found.seq;
        Ok(Some(Versioned {
            value,
            version: found.seq,
        }))
    }

    async fn carrier_target(
        &self,
        _key: &CarrierKey,
    ) -> Result<Option<(CarrierIdRecord, Versioned<MessageRecord>)>, StoreError> {
        not_implemented("carrier_target")
    }

    async fn record_with_parked(
        &self,
        _id: &MessageId,
        _keys: &[CarrierKey],
    ) -> Result<(Versioned<MessageRecord>, Vec<Vec<CarrierReceipt>>), StoreError> {
        not_implemented("record_with_parked")
    }

    async fn claimed(&self, space: &ClaimSpace, key: &str) -> Result<Option<String>, StoreError> {
        // An expired claim is gone: the server removes it at its TTL.
        let subject = self.subjects.claim(space, key);
        self.last(&subject)
            .await?
            .map(|found| {
                String::from_utf8(found.data).map_err(|error| StoreError::Corrupt {
                    key: subject.clone(),
                    error: error.to_string(),
                })
            })
            .transpose()
    }

    async fn commit(&self, change: Change) -> Result<Committed, StoreError> {
        self.commit_change(change).await
    }

    async fn take_mts(&self, _connector: &str, _max: usize) -> Result<Vec<Mt>, StoreError> {
        not_implemented("take_mts")
    }

    async fn wait_for_mts(&self, _connector: &str, timeout: Duration) {
        tokio::time::sleep(timeout).await;
    }

    async fn release_mt(&self, _id: &MessageId, _connector: &str) -> Result<(), StoreError> {
        not_implemented("release_mt")
    }

    async fn take_outbox(
        &self,
        _account: &str,
        _max: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        not_implemented("take_outbox")
    }

    async fn wait_for_outbox(&self, _account: &str, timeout: Duration) {
        tokio::time::sleep(timeout).await;
    }

    async fn outbox_done(&self, _account: &str, _seq: u64) -> Result<(), StoreError> {
        not_implemented("outbox_done")
    }

    async fn outbox_retry(
        &self,
        _account: &str,
        _seq: u64,
        _retry_at_ms: u64,
    ) -> Result<(), StoreError> {
        not_implemented("outbox_retry")
    }

    async fn expire_outbox(
        &self,
        _account: &str,
        _ttl: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        not_implemented("expire_outbox")
    }

    async fn outbox_depths(&self) -> Result<Vec<(String, usize)>, StoreError> {
        not_implemented("outbox_depths")
    }

    async fn queue_depths(&self) -> Result<Vec<(String, usize)>, StoreError> {
        not_implemented("queue_depths")
    }

    async fn sweep(&self, _retention: Duration) -> Result<SweepStats, StoreError> {
        not_implemented("sweep")
    }

    async fn heartbeat(&self, _node: &NodeInfo, _lease: Duration) -> Result<(), StoreError> {
        not_implemented("heartbeat")
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        not_implemented("nodes")
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        not_implemented("check_writable")
    }
}
