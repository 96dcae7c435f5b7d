//! Opt-outs in the Redis store: one hash per account ([`Keys::opt_outs`]), a field per sender
//! and number. A write is one command, confirmed by the replicas like an acknowledged change.

use redis::AsyncCommands;

use super::{decode, encode, keys::opt_out_field, RedisStore};
use crate::store::{OptOut, StoreError};

impl RedisStore {
    pub(super) async fn read_opt_out(
        &self,
        account: &str,
        sender: &str,
        number: &str,
    ) -> Result<Option<OptOut>, StoreError> {
        let key = self.keys.opt_outs(account);
        let value: Option<String> = self
            .conn()
            .hget(&key, opt_out_field(sender, number))
            .await
            .map_err(StoreError::backend)?;
        value.map(|value| decode(&key, &value)).transpose()
    }

    pub(super) async fn read_opt_outs(&self, account: &str) -> Result<Vec<OptOut>, StoreError> {
        let key = self.keys.opt_outs(account);
        let values: Vec<String> = self.conn().hvals(&key).await.map_err(StoreError::backend)?;
        values.iter().map(|value| decode(&key, value)).collect()
    }

    pub(super) async fn write_opt_out(
        &self,
        account: &str,
        opt_out: &OptOut,
    ) -> Result<(), StoreError> {
        let _: () = self
            .conn()
            .hset(
                self.keys.opt_outs(account),
                opt_out_field(&opt_out.sender, &opt_out.number),
                encode(opt_out),
            )
            .await
            .map_err(StoreError::backend)?;
        self.wait_for_replicas().await
    }

    pub(super) async fn lift_opt_out(
        &self,
        account: &str,
        sender: &str,
        number: &str,
    ) -> Result<bool, StoreError> {
        let removed: u32 = self
            .conn()
            .hdel(self.keys.opt_outs(account), opt_out_field(sender, number))
            .await
            .map_err(StoreError::backend)?;
        self.wait_for_replicas().await?;
        Ok(removed > 0)
    }
}
