//! Opt-outs in the NATS store: one subject per account, sender and number
//! ([`super::subjects::Subjects::opt_out`]) in shard 0's stream, holding the opt-out's JSON
//! until it is lifted (deleted). Listing scans the account's subjects from the leader.

use std::pin::pin;

use futures_util::TryStreamExt;

use super::{commit::Entry, values, Shard};
use crate::store::{OptOut, StoreError};

impl Shard {
    pub(super) async fn read_opt_out(
        &self,
        account: &str,
        sender: &str,
        number: &str,
    ) -> Result<Option<OptOut>, StoreError> {
        let subject = self.subjects.opt_out(account, sender, number);
        self.last(&subject)
            .await?
            .map(|found| values::decode(&subject, &found.payload))
            .transpose()
    }

    pub(super) async fn read_opt_outs(&self, account: &str) -> Result<Vec<OptOut>, StoreError> {
        let filter = self.subjects.opt_outs(account);
        let mut found = pin!(self.scan(&filter, 1));
        let mut opt_outs = Vec::new();
        while let Some(message) = found.try_next().await? {
            opt_outs.push(values::decode(&message.subject, &message.payload)?);
        }
        Ok(opt_outs)
    }

    pub(super) async fn write_opt_out(
        &self,
        account: &str,
        opt_out: &OptOut,
    ) -> Result<(), StoreError> {
        let subject = self
            .subjects
            .opt_out(account, &opt_out.sender, &opt_out.number);
        self.put_one(Entry::new(subject, values::encode(opt_out)?))
            .await
    }

    pub(super) async fn lift_opt_out(
        &self,
        account: &str,
        sender: &str,
        number: &str,
    ) -> Result<bool, StoreError> {
        let subject = self.subjects.opt_out(account, sender, number);
        match self.last(&subject).await? {
            Some(found) => self.delete(found.sequence).await,
            None => Ok(false),
        }
    }
}
