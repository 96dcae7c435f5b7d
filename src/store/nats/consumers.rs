//! The durable pull consumers queues and outboxes are read through: one per queue slot of a
//! connector and one per account's outbox, shared by every node, made on first use (making
//! one again with the same config is a no-op). A message fetched is taken: nobody else gets
//! it until it is acknowledged, or `ack_wait` (the lease) passes and it is delivered again.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use async_nats::jetstream::{
    self,
    consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer},
};
use futures_util::StreamExt;

use crate::store::StoreError;

/// How long a fetch waits for the consumer's leader (an election takes a few seconds; the
/// caller tries again).
const FETCH_PATIENCE: Duration = Duration::from_secs(5);

/// Taken but unacknowledged entries a consumer allows before it delivers no more.
const MAX_TAKEN: i64 = 100_000;

/// The consumers of one shard's stream, made once per store.
pub struct Consumers {
    stream: jetstream::stream::Stream<()>,
    lease: Duration,
    made: Mutex<HashMap<String, PullConsumer>>,
}

impl Consumers {
    pub fn new(stream: jetstream::stream::Stream<()>, lease: Duration) -> Self {
        Self {
            stream,
            lease,
            made: Mutex::default(),
        }
    }

    fn made(&self) -> std::sync::MutexGuard<'_, HashMap<String, PullConsumer>> {
        self.made
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The consumer `name` reading `filter`, made if this store has not yet.
    pub async fn get(&self, name: &str, filter: &str) -> Result<PullConsumer, StoreError> {
        self.get_forgotten_after(name, filter, None).await
    }

    /// [`Self::get`] for a consumer the server deletes once nobody read through it for
    /// `idle` (the entries stay in the stream; a later read makes it again, from the first).
    pub async fn get_forgotten_after(
        &self,
        name: &str,
        filter: &str,
        idle: Option<Duration>,
    ) -> Result<PullConsumer, StoreError> {
        if let Some(consumer) = self.made().get(name) {
            return Ok(consumer.clone());
        }
        let consumer = self
            .stream
            .create_consumer(pull::Config {
                durable_name: Some(name.to_owned()),
                filter_subject: filter.to_owned(),
                deliver_policy: DeliverPolicy::All,
                ack_policy: AckPolicy::Explicit,
                ack_wait: self.lease,
                // Delivered again after every lease that runs out, however often.
                max_deliver: -1,
                max_ack_pending: MAX_TAKEN,
                inactive_threshold: idle.unwrap_or_default(),
                ..Default::default()
            })
            .await
            .map_err(|error| StoreError::Backend(format!("consumer {name}: {error}")))?;
        self.made().insert(name.to_owned(), consumer.clone());
        Ok(consumer)
    }

    /// How many entries the consumer `name` has not delivered yet; `None` if nobody made it.
    pub async fn undelivered(&self, name: &str) -> Result<Option<u64>, StoreError> {
        match self.stream.consumer_info(name).await {
            Ok(info) => Ok(Some(info.num_pending)),
            Err(error) if error.kind() == jetstream::context::ConsumerInfoErrorKind::NotFound => {
                Ok(None)
            }
            Err(error) => Err(StoreError::Backend(format!("consumer {name}: {error}"))),
        }
    }

    /// The names of the stream's consumers.
    pub async fn names(&self) -> Result<Vec<String>, StoreError> {
        let mut names = self.stream.consumer_names();
        let mut all = Vec::new();
        while let Some(name) = names.next().await {
            all.push(name.map_err(StoreError::backend)?);
        }
        Ok(all)
    }
}

/// Takes up to `max` entries the consumer has ready now (waiting for none). A consumer just
/// made, or whose leader is being elected, answers "no responders" for a moment: asked again
/// until [`FETCH_PATIENCE`] passes.
pub async fn fetch(
    consumer: &PullConsumer,
    max: usize,
) -> Result<Vec<jetstream::Message>, StoreError> {
    let deadline = tokio::time::Instant::now() + FETCH_PATIENCE;
    loop {
        match fetch_once(consumer, max, deadline).await {
            Err(error) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(%error, "nats: fetch refused; asking again");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            outcome => return outcome,
        }
    }
}

async fn fetch_once(
    consumer: &PullConsumer,
    max: usize,
    deadline: tokio::time::Instant,
) -> Result<Vec<jetstream::Message>, StoreError> {
    let mut batch = consumer
        .fetch()
        .max_messages(max)
        .messages()
        .await
        .map_err(StoreError::backend)?;
    let mut taken = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, batch.next()).await {
            Ok(Some(Ok(message))) => taken.push(message),
            Ok(None) => return Ok(taken),
            // What came before an error is taken all the same: hand it out.
            Ok(Some(Err(_))) | Err(_) if !taken.is_empty() => return Ok(taken),
            Ok(Some(Err(error))) => return Err(StoreError::backend(error)),
            Err(_) => {
                return Err(StoreError::Backend(format!(
                    "no answer to a fetch within {FETCH_PATIENCE:?}"
                )))
            }
        }
    }
}

/// The reply subject an entry is acknowledged on (what [`Held`](super::held) keeps).
pub fn ack_subject(message: &jetstream::Message) -> Option<String> {
    message.reply.as_ref().map(|reply| reply.to_string())
}

/// Gives a taken entry back to its consumer, delivered again after `delay` (a NAK): best
/// effort, as one never given back is delivered again after its lease all the same.
pub async fn give_back(client: &async_nats::Client, ack_subject: Option<&str>, delay: Duration) {
    if let Some(subject) = ack_subject {
        let nak = format!("-NAK {{\"delay\": {}}}", delay.as_nanos());
        if let Err(error) = client.publish(subject.to_owned(), nak.into()).await {
            tracing::debug!(%error, "nats: giving back a taken entry failed");
        }
    }
}

/// Acknowledges a taken entry by its reply subject: best effort, since an entry whose
/// subject was replaced or deleted is gone for its consumer anyway, and one never
/// acknowledged is delivered again after its lease, where the taker finds it finished.
pub async fn acknowledge(client: &async_nats::Client, ack_subject: Option<&str>) {
    if let Some(subject) = ack_subject {
        if let Err(error) = client.publish(subject.to_owned(), "+ACK".into()).await {
            tracing::debug!(%error, "nats: acknowledging a taken entry failed");
        }
    }
}
