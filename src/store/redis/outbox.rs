//! Account outboxes in the Redis store: one stream per account, read through one consumer
//! group in which every node is a consumer. Reading an entry is taking it (it stays pending
//! with this node until done); an entry another node has held for longer than the lease is
//! claimed (XAUTOCLAIM). Retries wait in a sorted set by due time (their entries in a hash)
//! and go back to the stream, as new entries, when due. An entry's seq is its stream id as a number ([`outbox_seq`]).

use std::time::Duration;

use super::{
    decode, encode,
    keys::{outbox_seq, outbox_stream_id},
    scripts::StepResult,
    wakeups::outbox_topic,
    OutboxRecord, RedisStore, Step, GROUP,
};
use crate::{
    message::now_ms,
    store::{OutboxEntry, StoreError},
};

impl RedisStore {
    /// Decodes `id, JSON, id, JSON...` as the scripts return them.
    fn outbox_entries(
        &self,
        account: &str,
        flat: Vec<String>,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let key = self.keys.outbox_stream(account);
        flat.chunks_exact(2)
            .map(|pair| {
                let record: OutboxRecord = decode(&key, &pair[1])?;
                let seq = outbox_seq(&pair[0]).ok_or_else(|| StoreError::Corrupt {
                    key: format!("{key}/{}", pair[0]),
                    error: "not an outbox stream id".into(),
                })?;
                Ok(OutboxEntry {
                    account: account.to_owned(),
                    seq,
                    item: record.item,
                    attempts: record.attempts,
                })
            })
            .collect()
    }

    /// Adds to `step`: append a new entry to its account's outbox.
    pub(super) fn append_outbox_record(&self, step: &mut Step, account: &str, json: &str) {
        let stream = self.keys.outbox_stream(account);
        step.outbox_append(&stream, &self.keys.accounts(), account, json)
            .wake(&stream, &self.keys.wake_channel(), &outbox_topic(account));
    }

    /// Adds to `step`: a new entry not due before its `not_before_ms`, waiting with the
    /// delayed retries (moved to the stream by the take that finds it due).
    pub(super) fn append_delayed_outbox_record(
        &self,
        step: &mut Step,
        account: &str,
        record: &OutboxRecord,
    ) {
        let stream = self.keys.outbox_stream(account);
        step.outbox_append_delayed(
            &stream,
            &self.keys.outbox_delayed(account),
            &self.keys.outbox_retries(account),
            &self.keys.accounts(),
            account,
            record.not_before_ms,
            &encode(record),
        );
    }

    pub(super) async fn take_due(
        &self,
        account: &str,
        max: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let queue = outbox_topic(account);
        self.pacer.before_take(&queue).await;
        let flat: Vec<String> = self
            .scripts
            .take_outbox
            .key(self.keys.outbox_stream(account))
            .key(self.keys.outbox_delayed(account))
            .key(self.keys.outbox_retries(account))
            .arg(now_ms())
            .arg(self.reclaim_after_ms(&queue))
            .arg(max)
            .arg(GROUP)
            .arg(&self.consumer)
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        self.pacer.after_take(&queue, max, flat.len() / 2);

        self.outbox_entries(account, flat)
    }

    /// How long an entry must have been pending with another node for this take of `queue`
    /// to claim it: the lease; or 0, claiming nothing, when this node looked less than a
    /// second (or a quarter lease) ago, since claiming scans the group's pending entries.
    pub(super) fn reclaim_after_ms(&self, queue: &str) -> u64 {
        let now = tokio::time::Instant::now();
        let mut last = self
            .last_reclaim
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match last.get(queue) {
            Some(at) if now.duration_since(*at) < RECLAIM_INTERVAL.min(self.lease / 4) => 0,
            _ => {
                last.insert(queue.to_owned(), now);
                self.lease.as_millis().max(1) as u64
            }
        }
    }

    /// Whether a retry is due, an entry is unread, or a lease ran out.
    pub(super) async fn has_due(&self, account: &str) -> Result<bool, StoreError> {
        let found: u8 = self
            .scripts
            .has_work
            .key(self.keys.outbox_delayed(account))
            .key(self.keys.outbox_stream(account))
            .arg(GROUP)
            .arg(self.lease.as_millis().max(1) as u64)
            .arg(now_ms())
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        Ok(found == 1)
    }

    pub(super) async fn done(&self, account: &str, seq: u64) -> Result<(), StoreError> {
        self.done_many(account, &[seq]).await
    }

    /// Every entry of `seqs` done, in one step.
    pub(super) async fn done_many(&self, account: &str, seqs: &[u64]) -> Result<(), StoreError> {
        let stream = self.keys.outbox_stream(account);
        let mut step = Step::default();
        for seq in seqs {
            step.stream_done(&stream, GROUP, &outbox_stream_id(*seq));
        }
        self.run(step).await.map(|_| ())
    }

    /// Into the delayed retries, due at `retry_at_ms`, one attempt more: out of the stream
    /// when taken from there, or a new due time when it already waits for a retry. Only the
    /// node holding the entry retries it, so reading and rewriting it races with nobody but
    /// expiry, which the existence guards cover.
    pub(super) async fn retry(
        &self,
        account: &str,
        seq: u64,
        retry_at_ms: u64,
    ) -> Result<(), StoreError> {
        let stream = self.keys.outbox_stream(account);
        let (delayed, retries) = (
            self.keys.outbox_delayed(account),
            self.keys.outbox_retries(account),
        );
        let id = outbox_stream_id(seq);
        type StreamEntries = Vec<(String, Vec<(String, String)>)>;
        let (in_stream, waiting): (StreamEntries, Option<String>) = redis::pipe()
            .cmd("XRANGE")
            .arg(&stream)
            .arg(&id)
            .arg(&id)
            .hget(&retries, &id)
            .query_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        let in_stream = in_stream
            .into_iter()
            .flat_map(|(_, fields)| fields)
            .find_map(|(field, json)| (field == "e").then_some(json));
        let mut step = Step::default();
        let json = match (in_stream, waiting) {
            (Some(json), _) => {
                step.stream_entry_exists(&stream, &id)
                    .stream_done(&stream, GROUP, &id);
                json
            }
            (None, Some(json)) => {
                step.member_of(&delayed, &id);
                json
            }
            // Gone (delivered or expired): nothing to retry.
            (None, None) => return Ok(()),
        };
        let mut record: OutboxRecord = decode(&stream, &json)?;
        record.attempts += 1;
        record.not_before_ms = retry_at_ms;
        step.zadd(&delayed, retry_at_ms, &id)
            .hset(&retries, &[(&id, &encode(&record))]);
        match self.run(step).await? {
            // Gone meanwhile (expired): nothing to retry.
            StepResult::Committed | StepResult::Conflict | StepResult::Claimed => Ok(()),
        }
    }

    pub(super) async fn expire(
        &self,
        account: &str,
        ttl: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let cutoff = now_ms().saturating_sub(ttl.as_millis() as u64);
        let flat: Vec<String> = self
            .scripts
            .expire_outbox
            .key(self.keys.outbox_stream(account))
            .key(self.keys.outbox_delayed(account))
            .key(self.keys.outbox_retries(account))
            .arg(cutoff)
            .arg(GROUP)
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        self.outbox_entries(account, flat)
    }
}

/// How often a node looks for outbox entries whose lease ran out.
const RECLAIM_INTERVAL: Duration = Duration::from_secs(1);
