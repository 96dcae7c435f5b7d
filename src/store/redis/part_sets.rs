//! Multipart MO part sets in the Redis store: a hash per set, `{json, v}` like a record,
//! indexed by when the set began for retention.

use super::{carrier::parse_version, decode, encode, RedisStore, Step};
use crate::store::{PartSet, PartSetKey, StoreError, Versioned};

impl RedisStore {
    pub(super) fn part_set_key(&self, key: &PartSetKey) -> String {
        self.keys.part_set(&key.connector, &key.within_connector())
    }

    /// A set and its version (0 and `None`: no set).
    pub(super) async fn read_part_set(
        &self,
        key: &PartSetKey,
    ) -> Result<Versioned<Option<PartSet>>, StoreError> {
        let name = self.part_set_key(key);
        let (json, version): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(&name)
            .arg("json")
            .arg("v")
            .query_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        Ok(match json {
            Some(json) => Versioned {
                value: Some(decode(&name, &json)?),
                version: parse_version(&version.unwrap_or_default()),
            },
            None => Versioned {
                value: None,
                version: 0,
            },
        })
    }

    /// Adds to `step`: write the set at `version`, indexed by its start for retention.
    pub(super) fn put_part_set(
        &self,
        step: &mut Step,
        key: &PartSetKey,
        set: &PartSet,
        version: u64,
    ) {
        let name = self.part_set_key(key);
        step.hset(
            &name,
            &[("json", &encode(set)), ("v", &version.to_string())],
        )
        .zadd(&self.keys.part_sets_started(), set.started_ms, &name);
    }

    /// Adds to `step`: remove the set and its index entry.
    pub(super) fn remove_part_set(&self, step: &mut Step, key: &PartSetKey) {
        let name = self.part_set_key(key);
        step.del(&name).zrem(&self.keys.part_sets_started(), &name);
    }
}
