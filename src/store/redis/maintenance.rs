//! Depths for the gauges and the sweep of the Redis store.

use std::time::Duration;

use redis::AsyncCommands;

use super::{RedisStore, GROUP};
use crate::{
    message::{now_ms, timer_account_hour, timer_hour},
    store::{StoreError, SweepStats},
};

impl RedisStore {
    async fn members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut members: Vec<String> = self
            .conn()
            .smembers(key)
            .await
            .map_err(StoreError::backend)?;
        members.sort();
        Ok(members)
    }

    /// Queued MTs per connector that ever had a queue (taken ones not counted).
    pub(super) async fn queue_sizes(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let mut depths = Vec::new();
        for connector in self.members(&self.keys.connectors()).await? {
            let mut invocation = self.scripts.streams_queued.prepare_invoke();
            for stream in self.keys.queue_streams(&connector) {
                invocation.key(stream);
            }
            let queued: usize = invocation
                .arg(GROUP)
                .invoke_async(&mut self.conn())
                .await
                .map_err(StoreError::backend)?;
            depths.push((connector, queued));
        }
        Ok(depths)
    }

    /// Outbox entries (taken or not) of accounts that have some.
    pub(super) async fn outbox_sizes(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let mut depths = Vec::new();
        for account in self.members(&self.keys.accounts()).await? {
            let (queued, delayed): (usize, usize) = redis::pipe()
                .xlen(self.keys.outbox_stream(&account))
                .zcard(self.keys.outbox_delayed(&account))
                .query_async(&mut self.conn())
                .await
                .map_err(StoreError::backend)?;
            let len = queued + delayed;
            if len > 0 {
                depths.push((account, len));
            }
        }
        Ok(depths)
    }

    /// Deletes the keys `index` scores at or before `cutoff`; see `SWEEP_INDEX`.
    async fn sweep_index(
        &self,
        index: &str,
        cutoff: u64,
        key_prefix: &str,
        count_lists: bool,
    ) -> Result<usize, StoreError> {
        self.scripts
            .sweep_index
            .key(index)
            .arg(cutoff)
            .arg(key_prefix)
            .arg(if count_lists { "lists" } else { "keys" })
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)
    }

    /// Removes the group consumers of nodes gone for ten leases (see
    /// [`SweepStats::idle_consumers`]).
    async fn remove_idle_consumers(&self) -> Result<usize, StoreError> {
        let mut invocation = self.scripts.remove_idle_consumers.prepare_invoke();
        for connector in self.members(&self.keys.connectors()).await? {
            for stream in self.keys.queue_streams(&connector) {
                invocation.key(stream);
            }
        }
        for account in self.members(&self.keys.accounts()).await? {
            invocation.key(self.keys.outbox_stream(&account));
        }
        invocation
            .arg(GROUP)
            .arg((self.lease * 10).as_millis() as u64)
            .arg(&self.consumer)
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)
    }

    /// Forgets the outboxes of timer accounts of hours past that have nothing left (one such
    /// account an hour would otherwise pile up in the accounts set every gauge reads).
    async fn forget_spent_timer_accounts(&self) -> Result<usize, StoreError> {
        let this_hour = timer_hour(now_ms());
        let mut forgotten = 0;
        for account in self.members(&self.keys.accounts()).await? {
            if timer_account_hour(&account).is_none_or(|hour| hour >= this_hour) {
                continue;
            }
            let done: u8 = self
                .scripts
                .forget_empty_outbox
                .key(self.keys.outbox_stream(&account))
                .key(self.keys.outbox_delayed(&account))
                .key(self.keys.outbox_retries(&account))
                .key(self.keys.accounts())
                .arg(&account)
                .invoke_async(&mut self.conn())
                .await
                .map_err(StoreError::backend)?;
            forgotten += usize::from(done);
        }
        Ok(forgotten)
    }

    /// Expired claims (Redis already dropped their keys; this clears and counts the
    /// indexes), and final messages, carrier-id mappings, parked receipts and part sets older
    /// than `retention`.
    pub(super) async fn remove_old(&self, retention: Duration) -> Result<SweepStats, StoreError> {
        let now = now_ms();
        let cutoff = now.saturating_sub(retention.as_millis() as u64);
        let keys = &self.keys;
        Ok(SweepStats {
            idempotency_keys: self
                .sweep_index(&keys.idempotency_expiry(), now, "", false)
                .await?,
            dedupe_claims: self
                .sweep_index(&keys.dedupe_expiry(), now, "", false)
                .await?,
            carrier_ids: self
                .sweep_index(&keys.carrier_ids_created(), cutoff, "", false)
                .await?,
            parked_receipts: self
                .sweep_index(&keys.parked_newest(), cutoff, "", true)
                .await?,
            messages: self
                .sweep_index(
                    &keys.final_messages(),
                    cutoff,
                    &keys.message_prefix(),
                    false,
                )
                .await?,
            part_sets: self
                .sweep_index(&keys.part_sets_started(), cutoff, "", false)
                .await?,
            idle_consumers: self.remove_idle_consumers().await?,
            spent_timer_outboxes: self.forget_spent_timer_accounts().await?,
        })
    }
}
