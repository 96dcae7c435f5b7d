//! Account outboxes in the Redis store: taking due entries under a lease, done, retry and
//! expiry.

use std::time::Duration;

use redis::AsyncCommands;

use super::{
    decode, encode, keys::outbox_member, scripts::StepResult, OutboxRecord, RedisStore, Step,
};
use crate::{
    message::now_ms,
    store::{OutboxEntry, StoreError},
};

impl RedisStore {
    /// Decodes `seq, JSON, seq, JSON...` as a script returns them.
    fn outbox_entries(
        &self,
        account: &str,
        flat: Vec<String>,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let key = self.keys.outbox_entries(account);
        flat.chunks(2)
            .filter_map(|pair| match pair {
                [seq, json] => Some((seq, json)),
                _ => None,
            })
            .map(|(seq, json)| {
                let record: OutboxRecord = decode(&key, json)?;
                let seq = seq.parse().map_err(|e| StoreError::Corrupt {
                    key: format!("{key}/{seq}"),
                    error: format!("seq: {e}"),
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

    pub(super) async fn take_due(
        &self,
        account: &str,
        max: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let flat: Vec<String> = self
            .scripts
            .take_outbox
            .key(self.keys.outbox_entries(account))
            .key(self.keys.outbox_due(account))
            .key(self.keys.outbox_taken(account))
            .arg(now_ms())
            .arg(self.lease_until())
            .arg(max)
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        self.outbox_entries(account, flat)
    }

    /// Whether an entry is due, or a lease expired.
    pub(super) async fn has_due(&self, account: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let (due, expired): (usize, usize) = redis::pipe()
            .zcount(self.keys.outbox_due(account), "-inf", now)
            .zcount(self.keys.outbox_taken(account), "-inf", now)
            .query_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        Ok(due + expired > 0)
    }

    pub(super) async fn done(&self, account: &str, seq: u64) -> Result<(), StoreError> {
        let member = outbox_member(seq);
        let mut step = Step::default();
        step.hdel(&self.keys.outbox_entries(account), &member)
            .zrem(&self.keys.outbox_due(account), &member)
            .zrem(&self.keys.outbox_taken(account), &member)
            .zrem(&self.keys.outbox_created(account), &member);
        self.run(&step).await.map(|_| ())
    }

    /// Back in the outbox, due at `retry_at_ms`, one attempt more. Only the node holding the
    /// entry retries it, so reading and rewriting the entry races with nobody but `done`
    /// and expiry, which the existence guard covers.
    pub(super) async fn retry(
        &self,
        account: &str,
        seq: u64,
        retry_at_ms: u64,
    ) -> Result<(), StoreError> {
        let key = self.keys.outbox_entries(account);
        let member = outbox_member(seq);
        let json: Option<String> = self
            .conn()
            .hget(&key, &member)
            .await
            .map_err(StoreError::backend)?;
        let Some(json) = json else {
            return Ok(());
        };
        let mut record: OutboxRecord = decode(&key, &json)?;
        record.attempts += 1;
        record.not_before_ms = retry_at_ms;
        let mut step = Step::default();
        step.field_exists(&key, &member)
            .hset(&key, &[(&member, &encode(&record))])
            .zrem(&self.keys.outbox_taken(account), &member)
            .zadd(&self.keys.outbox_due(account), retry_at_ms, &member);
        match self.run(&step).await? {
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
            .key(self.keys.outbox_entries(account))
            .key(self.keys.outbox_due(account))
            .key(self.keys.outbox_taken(account))
            .key(self.keys.outbox_created(account))
            .arg(cutoff)
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        self.outbox_entries(account, flat)
    }
}
