//! Opt-outs in the embedded store: one table keyed by account, sender and number (NUL
//! separated, which none of them contains), each value the [`OptOut`]'s JSON.

use super::{
    decode, encode,
    kv::{durable, Batch, Table},
    EmbeddedStore,
};
use crate::store::{OptOut, StoreError};

fn opt_out_key(account: &str, sender: &str, number: &str) -> String {
    format!("{account}\0{sender}\0{number}")
}

impl EmbeddedStore {
    pub(super) fn read_opt_out(
        &self,
        account: &str,
        sender: &str,
        number: &str,
    ) -> Result<Option<OptOut>, StoreError> {
        let key = opt_out_key(account, sender, number);
        self.kv
            .get(Table::OptOuts, &key)?
            .map(|bytes| decode(&key, &bytes))
            .transpose()
    }

    pub(super) fn read_opt_outs(&self, account: &str) -> Result<Vec<OptOut>, StoreError> {
        let prefix = format!("{account}\0");
        self.kv
            .scan(Table::OptOuts)?
            .into_iter()
            .filter(|(key, _)| key.starts_with(&prefix))
            .map(|(key, bytes)| decode(&key, &bytes))
            .collect()
    }

    pub(super) async fn write_opt_out(
        &self,
        account: &str,
        opt_out: &OptOut,
    ) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        let key = opt_out_key(account, &opt_out.sender, &opt_out.number);
        batch.put(Table::OptOuts, key, encode(opt_out));
        durable(self.kv.write(batch)).await
    }

    pub(super) async fn lift_opt_out(
        &self,
        account: &str,
        sender: &str,
        number: &str,
    ) -> Result<bool, StoreError> {
        let key = opt_out_key(account, sender, number);
        if self.kv.get(Table::OptOuts, &key)?.is_none() {
            return Ok(false);
        }
        let mut batch = Batch::default();
        batch.delete(Table::OptOuts, key);
        durable(self.kv.write(batch)).await?;
        Ok(true)
    }
}
