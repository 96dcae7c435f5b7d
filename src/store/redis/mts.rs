//! MTs in the Redis store: queueing, taking under a lease, and the ends of a lease (a
//! commit's `EndLease`, or released back to a queue). A take passes over entries whose
//! record is no longer ACCEPTED (cancelled while queued) and finishes them.

use std::collections::HashMap;

use super::{
    decode, scripts::StepResult, too_much_contention, wakeups::mts_topic, RedisStore, Step, GROUP,
};
use crate::{
    message::{now_ms, queue_rank, MessageId, MessageState, Mt},
    store::{change::MAX_ATTEMPTS, Guard, MessageRecord, StoreError},
};

impl RedisStore {
    pub(super) async fn take(&self, connector: &str, max: usize) -> Result<Vec<Mt>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let queue = mts_topic(connector);
        self.pacer.before_take(&queue).await;
        let streams = self.keys.queue_streams(connector);
        let mut invocation = self.scripts.take_mts.prepare_invoke();
        for stream in &streams {
            invocation.key(stream);
        }
        let flat: Vec<String> = invocation
            .arg(self.reclaim_after_ms(&queue))
            .arg(max)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(self.keys.message_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        self.pacer.after_take(&queue, max, flat.len() / 4);
        let mut mts = Vec::with_capacity(flat.len() / 4);
        // Entries whose record left the queue while queued (cancelled by its client): done.
        let mut left = Step::default();
        let mut any_left = false;
        for taken in flat.chunks_exact(4) {
            let [stream_index, entry, id, json] = taken else {
                continue;
            };
            let key = self.keys.message(id);
            if json.is_empty() {
                return Err(StoreError::Corrupt {
                    key,
                    error: "message record missing".into(),
                });
            }
            let stream = stream_index
                .parse::<usize>()
                .ok()
                .and_then(|k| streams.get(k.wrapping_sub(1)))
                .ok_or_else(|| {
                    StoreError::Backend(format!("take script named stream {stream_index}"))
                })?;
            let record = decode::<MessageRecord>(&key, json)?;
            if record.state != MessageState::Accepted {
                left.stream_done(stream, GROUP, entry);
                any_left = true;
                continue;
            }
            self.hold(MessageId(id.clone()), stream.clone(), entry.clone());
            mts.push(record.mt);
        }
        if any_left {
            self.run(left).await?;
        }
        Ok(mts)
    }

    /// Adds to `step`: `id` at the end of `stream`, one of `connector`'s queues, and a
    /// wake-up for whoever waits for that connector's MTs.
    pub(super) fn enqueue(&self, step: &mut Step, stream: &str, connector: &str, id: &MessageId) {
        step.stream_add(stream, id.as_str())
            .wake(stream, &self.keys.wake_channel(), &mts_topic(connector))
            .sadd(&self.keys.connectors(), connector);
    }

    /// Whether something is queued, or a lease expired, on the connector.
    pub(super) async fn has_mts(&self, connector: &str) -> Result<bool, StoreError> {
        let mut invocation = self.scripts.has_work.prepare_invoke();
        invocation.key(self.keys.nothing());
        for stream in self.keys.queue_streams(connector) {
            invocation.key(stream);
        }
        let found: u8 = invocation
            .arg(GROUP)
            .arg(self.lease.as_millis().max(1) as u64)
            .arg(now_ms())
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        Ok(found == 1)
    }

    /// Adds to `step`: this node's lease on the MT ends (its queue entry is acknowledged and
    /// deleted). Nothing when this node does not hold it.
    pub(super) fn end_lease(&self, step: &mut Step, id: &MessageId) {
        if let Some(held) = self.held(id) {
            step.stream_done(&held.stream, GROUP, &held.entry);
        }
    }

    /// Back to `connector`, ahead of what is queued at its priority (the released stream).
    /// A no-op when this node does not hold the MT (any more): another node that claimed it
    /// after the lease ran out has it now.
    pub(super) async fn release(&self, id: &MessageId, connector: &str) -> Result<(), StoreError> {
        let Some(held) = self.held(id) else {
            return Ok(());
        };
        for _ in 0..MAX_ATTEMPTS {
            let mut found = self.existing_record(id).await?;
            let mut step = Step::default();
            step.stream_entry_held(&held.stream, GROUP, &held.entry, &self.consumer)
                .stream_done(&held.stream, GROUP, &held.entry);
            let record = &mut found.value;
            record.connector = Some(connector.to_owned());
            record.version = found.version + 1;
            self.add_guard(
                &mut step,
                &Guard::RecordVersion {
                    id: id.clone(),
                    version: found.version,
                },
            );
            self.put_record(&mut step, record);
            let released = self
                .keys
                .released(connector, queue_rank(record.mt.priority));
            self.enqueue(&mut step, &released, connector, id);
            if self.run(step).await? == StepResult::Committed || !self.still_holds(&held).await? {
                self.release_hold(id);
                return Ok(());
            }
        }
        Err(too_much_contention("release_mt"))
    }

    /// Whether the stream entry is still pending with this node.
    async fn still_holds(&self, held: &Held) -> Result<bool, StoreError> {
        let pending: Vec<redis::Value> = redis::cmd("XPENDING")
            .arg(&held.stream)
            .arg(GROUP)
            .arg(&held.entry)
            .arg(&held.entry)
            .arg(1)
            .arg(&self.consumer)
            .query_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        Ok(!pending.is_empty())
    }

    fn holds(&self) -> std::sync::MutexGuard<'_, HashMap<MessageId, Held>> {
        self.held_mts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Remembers that this node took `id` from `stream` as `entry`.
    fn hold(&self, id: MessageId, stream: String, entry: String) {
        self.holds().insert(id, Held { stream, entry });
    }

    fn held(&self, id: &MessageId) -> Option<Held> {
        self.holds().get(id).cloned()
    }

    pub(super) fn release_hold(&self, id: &MessageId) {
        self.holds().remove(id);
    }
}

/// Where an MT this node took sits in its queue: the stream and the entry id, pending with
/// this node's consumer until acknowledged.
#[derive(Debug, Clone)]
pub(super) struct Held {
    stream: String,
    entry: String,
}
