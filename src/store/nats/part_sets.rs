//! Multipart MO part sets in the NATS store: one subject per set in its connector's shard,
//! beside the connector's carrier-id slots (`m.<connector>.p.<set>`), so a set's change (its
//! MO dedupe claim, the set, the whole MO into the outbox) is one batch on that shard. The
//! version is the subject's last stream sequence; a removed set is an empty message that
//! expires (a reader of it sees no set, and its sequence guards the next write).

use super::{commit::TOMBSTONE_TTL, values, Shard};
use crate::store::{PartSet, PartSetKey, StoreError, Versioned};

impl Shard {
    pub(super) fn part_set_subject(&self, key: &PartSetKey) -> String {
        self.subjects
            .part_set(&key.connector, &key.within_connector())
    }

    /// A set and the sequence of its subject's last message (0: none).
    pub(super) async fn read_part_set(
        &self,
        key: &PartSetKey,
    ) -> Result<Versioned<Option<PartSet>>, StoreError> {
        let subject = self.part_set_subject(key);
        Ok(match self.last(&subject).await? {
            Some(found) if found.payload.is_empty() => Versioned {
                value: None,
                version: found.sequence,
            },
            Some(found) => Versioned {
                value: Some(values::decode(&subject, &found.payload)?),
                version: found.sequence,
            },
            None => Versioned {
                value: None,
                version: 0,
            },
        })
    }
}

/// How long the empty message of a removed set stays.
pub(super) const REMOVED_SET_TTL: std::time::Duration = TOMBSTONE_TTL;
