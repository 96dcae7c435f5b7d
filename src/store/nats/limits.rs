//! Cluster-wide limits in the NATS store ([`crate::store::limits`]), in shard 0 beside the
//! heartbeats: a window's token counter is one subject `h.t.<key>.<window>` written with the
//! expected last sequence of the value it was read at (a concurrent take makes it read again);
//! a key's places are subjects `h.p.<key>.<n>`, each held by one claim (holder and lease end)
//! whose `Nats-TTL` removes it when its lease runs out; a claim or renewal is a write expecting
//! the sequence it saw, so two nodes never hold one place.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{api, commit::Entry, shard::Shard, values};
use crate::{
    message::now_ms,
    store::{HeldSlot, StoreError, TokenWindow},
};

/// Reads and writes a token counter tries before giving up (the caller falls back).
const TOKEN_ATTEMPTS: usize = 50;

/// "No message found" and "sequence not found": a message deleted already.
const GONE: [u32; 2] = [10037, 10043];

/// A place's claim.
#[derive(Debug, Serialize, Deserialize)]
struct Claim {
    holder: String,
    until_ms: u64,
}

impl Shard {
    pub(super) async fn take_window_tokens(
        &self,
        counter: &TokenWindow<'_>,
        want: u32,
    ) -> Result<u32, StoreError> {
        let subject = self.subjects.tokens(counter.key, counter.window);
        for _ in 0..TOKEN_ATTEMPTS {
            let (taken, seq) = match self.last(&subject).await? {
                Some(found) => (
                    values::decode::<u32>(&subject, &found.payload)?,
                    found.sequence,
                ),
                None => (0, 0),
            };
            let granted = want.min(counter.limit.saturating_sub(taken));
            if granted == 0 {
                return Ok(0);
            }
            let mut entry = Entry::new(subject.clone(), values::encode(&(taken + granted))?);
            entry.expected = Some(seq);
            entry.ttl = Some(counter.ttl);
            match self.send(std::slice::from_ref(&entry)).await? {
                Ok(_) => return Ok(granted),
                Err(refused) if api::WRONG_LAST_SEQUENCE.contains(&refused.err_code) => {
                    // Another node took from it meanwhile: read it again, a moment later.
                    tokio::time::sleep(Duration::from_millis(fastrand::u64(1..5))).await;
                }
                Err(refused) => return Err(StoreError::Backend(format!("{subject}: {refused}"))),
            }
        }
        Err(StoreError::Backend(format!(
            "{subject}: still contended after {TOKEN_ATTEMPTS} attempts"
        )))
    }

    pub(super) async fn claim_place(
        &self,
        key: &str,
        max: u32,
        lease: Duration,
    ) -> Result<Option<HeldSlot>, StoreError> {
        for place in 0..max {
            let subject = self.subjects.place(key, place);
            let seen = match self.last(&subject).await? {
                Some(found) => {
                    let claim: Claim = values::decode(&subject, &found.payload)?;
                    if claim.until_ms > now_ms() {
                        continue;
                    }
                    found.sequence
                }
                None => 0,
            };
            let mut held = HeldSlot::new(key, place, seen);
            if self.write_claim(&mut held, lease).await? {
                return Ok(Some(held));
            }
        }
        Ok(None)
    }

    pub(super) async fn renew_place(
        &self,
        slot: &mut HeldSlot,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.write_claim(slot, lease).await
    }

    pub(super) async fn release_place(&self, slot: &HeldSlot) -> Result<(), StoreError> {
        // By sequence: a place that another node claimed since is not touched. A claim whose
        // TTL removed it already, or that a renewal replaced, is answered "not found".
        match api::delete_message(&self.client, &self.stream_name(), slot.version).await? {
            Ok(_) => Ok(()),
            Err(refused) if GONE.contains(&refused.err_code) => Ok(()),
            Err(refused) => Err(StoreError::Backend(format!(
                "releasing {}: {refused}",
                slot.key
            ))),
        }
    }

    /// Writes `slot`'s claim for `lease` over the version it holds; `false` when the place
    /// changed since (another node's claim, or the lease ran out and it was removed).
    async fn write_claim(&self, slot: &mut HeldSlot, lease: Duration) -> Result<bool, StoreError> {
        let subject = self.subjects.place(&slot.key, slot.slot);
        let claim = Claim {
            holder: slot.holder.clone(),
            until_ms: now_ms().saturating_add(lease.as_millis() as u64),
        };
        let mut entry = Entry::new(subject.clone(), values::encode(&claim)?);
        entry.expected = Some(slot.version);
        entry.ttl = Some(lease);
        match self.send(std::slice::from_ref(&entry)).await? {
            Ok(seq) => {
                slot.version = seq;
                Ok(true)
            }
            Err(refused) if api::WRONG_LAST_SEQUENCE.contains(&refused.err_code) => Ok(false),
            Err(refused) => Err(StoreError::Backend(format!("{subject}: {refused}"))),
        }
    }
}
