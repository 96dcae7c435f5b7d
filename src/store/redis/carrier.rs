//! The reads a receipt or a submit is decided on, in the Redis store: what a carrier id maps
//! to (with that message's record and version) and the receipts parked under carrier ids.

use super::{decode, RedisStore};
use crate::{
    message::{CarrierReceipt, MessageId},
    store::{CarrierIdRecord, CarrierKey, MessageRecord, StoreError, Versioned},
};

/// A record's version from its `v` field ("" or missing: 0).
pub(super) fn parse_version(field: &str) -> u64 {
    field.parse().unwrap_or(0)
}

impl RedisStore {
    /// The mapping of a carrier id, with the message record it names and that record's
    /// version: one round trip.
    pub(super) async fn target(
        &self,
        key: &CarrierKey,
    ) -> Result<Option<(CarrierIdRecord, Versioned<MessageRecord>)>, StoreError> {
        let found: Vec<String> = self
            .scripts
            .find_receipt_target
            .prepare_invoke()
            .key(self.keys.carrier_id(&key.connector, &key.carrier_id))
            .arg(self.keys.message_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        let [mapping, record, version] = <[String; 3]>::try_from(found).unwrap_or_default();
        if mapping.is_empty() {
            return Ok(None);
        }
        let mapping: CarrierIdRecord = decode(&key.connector, &mapping)?;
        let record_key = self.keys.message(mapping.message_id.as_str());
        if record.is_empty() {
            return Err(StoreError::Corrupt {
                key: record_key,
                error: "message record missing".into(),
            });
        }
        let value = decode(&record_key, &record)?;
        let version = parse_version(&version);
        Ok(Some((mapping, Versioned { value, version })))
    }

    /// A message record, its version and the receipts parked under `keys`, in one round trip.
    pub(super) async fn record_and_parked(
        &self,
        id: &MessageId,
        keys: &[CarrierKey],
    ) -> Result<(Versioned<MessageRecord>, Vec<Vec<CarrierReceipt>>), StoreError> {
        let key = self.keys.message(id.as_str());
        let lists: Vec<String> = keys.iter().map(|k| self.parked_key(k)).collect();
        let mut pipe = redis::pipe();
        pipe.cmd("HMGET").arg(&key).arg("json").arg("v");
        for list in &lists {
            pipe.lrange(list, 0, -1);
        }
        let mut replies: Vec<redis::Value> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        let contents = replies.split_off(1);
        let (json, version): (Option<String>, Option<String>) =
            redis::from_redis_value(replies.remove(0)).map_err(StoreError::backend)?;
        let json = json.ok_or_else(|| StoreError::Corrupt {
            key: id.to_string(),
            error: "message record missing".into(),
        })?;
        let mut parked = Vec::with_capacity(lists.len());
        for (list, value) in lists.iter().zip(contents) {
            let receipts: Vec<String> =
                redis::from_redis_value(value).map_err(StoreError::backend)?;
            parked.push(
                receipts
                    .iter()
                    .map(|json| decode(list, json))
                    .collect::<Result<_, _>>()?,
            );
        }
        let record = Versioned {
            value: decode(&key, &json)?,
            version: parse_version(&version.unwrap_or_default()),
        };
        Ok((record, parked))
    }
}
