//! Cluster-wide limits in the Redis store ([`crate::store::limits`]): a token counter per
//! window is one key, taken from by one script (never past the limit); a key's places are a
//! sorted set of holders by lease end in the server's clock, claimed and renewed by one script
//! each, so no node's clock decides.

use std::time::Duration;

use redis::AsyncCommands;

use super::RedisStore;
use crate::store::{HeldSlot, StoreError, TokenWindow};

impl RedisStore {
    pub(super) async fn take_window_tokens(
        &self,
        counter: &TokenWindow<'_>,
        want: u32,
    ) -> Result<u32, StoreError> {
        self.scripts
            .take_tokens
            .key(self.keys.tokens(counter.key, counter.window))
            .arg(want)
            .arg(counter.limit)
            .arg(counter.ttl.as_millis() as u64)
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)
    }

    pub(super) async fn claim_place(
        &self,
        key: &str,
        max: u32,
        lease: Duration,
    ) -> Result<Option<HeldSlot>, StoreError> {
        let claim = HeldSlot::new(key, 0, 0);
        let claimed: u32 = self
            .scripts
            .claim_slot
            .key(self.keys.slots(key))
            .arg(&claim.holder)
            .arg(lease.as_millis() as u64)
            .arg(max)
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        Ok((claimed == 1).then_some(claim))
    }

    pub(super) async fn renew_place(
        &self,
        slot: &HeldSlot,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let renewed: u32 = self
            .scripts
            .renew_slot
            .key(self.keys.slots(&slot.key))
            .arg(&slot.holder)
            .arg(lease.as_millis() as u64)
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        Ok(renewed == 1)
    }

    pub(super) async fn release_place(&self, slot: &HeldSlot) -> Result<(), StoreError> {
        let _: u32 = self
            .conn()
            .zrem(self.keys.slots(&slot.key), &slot.holder)
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }
}
