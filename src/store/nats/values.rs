//! What the messages of a shard's stream hold, beside records ([`MessageRecord`] JSON) and
//! outbox entries ([`OutboxRecord`] JSON): claims with their expiry, carrier-id slots and
//! heartbeats. A queued MT's message holds its id; an empty one is a tombstone.
//!
//! [`MessageRecord`]: crate::store::MessageRecord
//! [`OutboxRecord`]: crate::store::OutboxRecord

use bytes::Bytes;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::{
    message::CarrierReceipt,
    store::{CarrierIdRecord, NodeInfo, StoreError},
};

/// A claim's value and when it ends. The server removes the message later (`Nats-TTL` has
/// whole seconds and a grace for the sweep), so the expiry here is the one that counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimValue {
    pub value: String,
    pub expires_ms: u64,
}

impl ClaimValue {
    pub fn live(&self, now_ms: u64) -> bool {
        self.expires_ms > now_ms
    }
}

/// A carrier id's slot: its mapping once the submit is recorded, and the receipts that came
/// before it (parked). One subject for both, so a park and a mapping guard each other.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    #[serde(default)]
    pub mapping: Option<CarrierIdRecord>,
    #[serde(default)]
    pub parked: Vec<CarrierReceipt>,
}

/// A node's heartbeat and when its lease ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub node: NodeInfo,
    pub expires_ms: u64,
}

pub fn encode<T: Serialize>(value: &T) -> Result<Bytes, StoreError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(StoreError::backend)
}

pub fn decode<T: DeserializeOwned>(subject: &str, payload: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(payload).map_err(|error| StoreError::Corrupt {
        key: subject.to_owned(),
        error: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_lives_until_its_expiry() {
        let claim = ClaimValue {
            value: "v".into(),
            expires_ms: 10,
        };
        assert!(claim.live(9));
        assert!(!claim.live(10));
    }
}
