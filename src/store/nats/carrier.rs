//! The reads a receipt or a submit is decided on, in the NATS store: a carrier id's slot
//! (its mapping and the receipts parked before it), with the record it leads to.

use futures_util::future::try_join_all;

use super::{
    values::{self, Slot},
    Shard,
};
use crate::{
    message::{CarrierReceipt, MessageId},
    store::{CarrierIdRecord, CarrierKey, MessageRecord, StoreError, Versioned},
};

fn record_missing(id: &MessageId) -> StoreError {
    StoreError::Corrupt {
        key: id.to_string(),
        error: "message record missing".into(),
    }
}

impl Shard {
    /// A slot and its sequence (0 and an empty slot when it has no message).
    pub(super) async fn read_slot(&self, subject: &str) -> Result<(u64, Slot), StoreError> {
        match self.last(subject).await? {
            Some(found) => Ok((found.sequence, values::decode(subject, &found.payload)?)),
            None => Ok((0, Slot::default())),
        }
    }

    fn slot_subject(&self, key: &CarrierKey) -> String {
        self.subjects.slot(&key.connector, &key.carrier_id)
    }

    /// The mapping of a carrier id, with the message record it names and its version.
    pub(super) async fn target(
        &self,
        key: &CarrierKey,
    ) -> Result<Option<(CarrierIdRecord, Versioned<MessageRecord>)>, StoreError> {
        let (_, slot) = self.read_slot(&self.slot_subject(key)).await?;
        let Some(mapping) = slot.mapping else {
            return Ok(None);
        };
        let record = self
            .record(&mapping.message_id)
            .await?
            .ok_or_else(|| record_missing(&mapping.message_id))?;
        Ok(Some((mapping, record)))
    }

    /// A message record (it must exist) and the receipts parked under each of `keys`.
    pub(super) async fn record_and_parked(
        &self,
        id: &MessageId,
        keys: &[CarrierKey],
    ) -> Result<(Versioned<MessageRecord>, Vec<Vec<CarrierReceipt>>), StoreError> {
        let slots = keys.iter().map(|key| async move {
            let (_, slot) = self.read_slot(&self.slot_subject(key)).await?;
            Ok::<_, StoreError>(slot.parked)
        });
        let (record, parked) =
            futures_util::future::try_join(self.record(id), try_join_all(slots)).await?;
        Ok((record.ok_or_else(|| record_missing(id))?, parked))
    }
}
