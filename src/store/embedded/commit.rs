//! A [`Change`] in the embedded store: under the index lock its guards are checked against
//! what is committed or pending, and its writes go into one batch of the group commit; MTs it
//! queues are queued only once that batch is durable.

use super::{durable, encode, key2, kv::Table, Batch, EmbeddedStore, Index};
use crate::{
    message::{now_ms, CarrierReceipt, MessageId, Priority},
    store::{
        CarrierKey, Change, ClaimSpace, Committed, Guard, MessageRecord, PartSet, PartSetKey,
        StoreError, Write,
    },
};
use serde::{Deserialize, Serialize};

/// A claim (idempotency key, dedupe key) and until when it holds.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ClaimRecord {
    pub(super) value: String,
    pub(super) expires_ms: u64,
}

/// A multipart MO's part set with its version (see `store::part_sets`).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredPartSet {
    pub(super) version: u64,
    pub(super) set: PartSet,
}

pub(super) fn part_set_key(key: &PartSetKey) -> String {
    key2(&key.connector, &key.within_connector())
}

/// An MT to queue once its change is durable: connector, priority, id, released.
type Enqueue = (String, Priority, MessageId, bool);

pub(super) fn carrier_key(key: &CarrierKey) -> String {
    key2(&key.connector, &key.carrier_id)
}

impl EmbeddedStore {
    /// Where a claim of `space` lives.
    pub(super) fn claim_slot(space: &ClaimSpace, key: &str) -> (Table, String) {
        match space {
            ClaimSpace::Idempotency { account } => (Table::Idempotency, key2(account, key)),
            ClaimSpace::ReceiptDedupe => (Table::Dedupe, key2("dr", key)),
            ClaimSpace::MoDedupe => (Table::Dedupe, key2("mo", key)),
        }
    }

    pub(super) fn live_claim(
        &self,
        table: Table,
        key: &str,
    ) -> Result<Option<ClaimRecord>, StoreError> {
        Ok(self
            .get::<ClaimRecord>(table, key)?
            .filter(|claim| claim.expires_ms > now_ms()))
    }

    pub(super) fn parked(
        &self,
        index: &Index,
        key: &CarrierKey,
    ) -> Result<Vec<CarrierReceipt>, StoreError> {
        if index.parked == 0 {
            return Ok(Vec::new());
        }
        Ok(self
            .get(Table::ParkedReceipts, &carrier_key(key))?
            .unwrap_or_default())
    }

    /// Whether a record is at `version` (0: does not exist), without copying it: the decoded
    /// copy when cached; else a version 0 needs only a look for the key.
    fn record_is_at(&self, id: &MessageId, version: u64) -> Result<bool, StoreError> {
        if let Some(record) = self.records().get(id) {
            return Ok(record.version == version);
        }
        if version == 0 {
            return Ok(self.kv.get(Table::Messages, id.as_str())?.is_none());
        }
        let stored = self.get::<MessageRecord>(Table::Messages, id.as_str())?;
        Ok(stored.is_some_and(|record| record.version == version))
    }

    /// The first guard of `guards` that fails, if any; claims that hold are added to `batch`.
    fn check(
        &self,
        index: &Index,
        guards: &[Guard],
        batch: &mut Batch,
    ) -> Result<Option<Committed>, StoreError> {
        for guard in guards {
            let failed = match guard {
                Guard::Claim(claim) => {
                    let (table, key) = Self::claim_slot(&claim.space, &claim.key);
                    match self.live_claim(table, &key)? {
                        Some(held) => {
                            // Only this is written: again, so the answer based on it waits
                            // until the first write is durable too.
                            *batch = Batch::default();
                            batch.put(table, key, encode(&held));
                            Some(Committed::Claimed)
                        }
                        None => {
                            let record = ClaimRecord {
                                value: claim.value.clone(),
                                expires_ms: now_ms() + claim.ttl.as_millis() as u64,
                            };
                            batch.put(table, key, encode(&record));
                            None
                        }
                    }
                }
                Guard::RecordVersion { id, version } => {
                    (!self.record_is_at(id, *version)?).then_some(Committed::Conflict)
                }
                Guard::Unmapped(key) => self
                    .kv
                    .get(Table::CarrierIds, &carrier_key(key))?
                    .map(|_| Committed::Conflict),
                Guard::ParkedCount { key, count } => {
                    (self.parked(index, key)?.len() != *count).then_some(Committed::Conflict)
                }
                Guard::PartSetVersion { key, version } => {
                    let stored = self.get::<StoredPartSet>(Table::PartSets, &part_set_key(key))?;
                    (stored.map_or(0, |stored| stored.version) != *version)
                        .then_some(Committed::Conflict)
                }
            };
            if failed.is_some() {
                return Ok(failed);
            }
        }
        Ok(None)
    }

    /// Adds the writes of a change whose guards hold to `batch` and the index; returns the MTs
    /// to queue once the batch is durable.
    fn apply(
        &self,
        index: &mut Index,
        writes: Vec<Write>,
        batch: &mut Batch,
    ) -> Result<Vec<Enqueue>, StoreError> {
        let mut enqueue = Vec::new();
        for write in writes {
            match write {
                Write::Record(record) => self.put_record(record, batch),
                Write::MapCarrierId { key, mapping } => {
                    batch.put(Table::CarrierIds, carrier_key(&key), encode(&mapping));
                }
                Write::Park { key, receipt } => {
                    let mut parked = self.parked(index, &key)?;
                    parked.push(receipt);
                    index.parked += 1;
                    batch.put(Table::ParkedReceipts, carrier_key(&key), encode(&parked));
                }
                Write::Unpark(key) => {
                    let parked = self.parked(index, &key)?;
                    index.parked = index.parked.saturating_sub(parked.len());
                    batch.delete(Table::ParkedReceipts, carrier_key(&key));
                }
                Write::Outbox(item) => self.append_outbox(index, item, batch),
                Write::Enqueue {
                    connector,
                    priority,
                    id,
                    released,
                } => enqueue.push((connector, priority, id, released)),
                Write::EndLease(id) => {
                    index.taken.remove(&id);
                }
                Write::PartSet { key, set, version } => {
                    let stored = StoredPartSet { version, set };
                    batch.put(Table::PartSets, part_set_key(&key), encode(&stored));
                }
                Write::RemovePartSet(key) => batch.delete(Table::PartSets, part_set_key(&key)),
            }
        }
        Ok(enqueue)
    }

    pub(super) async fn commit_change(&self, change: Change) -> Result<Committed, StoreError> {
        let (outcome, enqueue, written) = {
            let mut index = self.index();
            let mut batch = Batch::default();
            match self.check(&index, &change.guards, &mut batch)? {
                Some(Committed::Conflict) => return Ok(Committed::Conflict),
                // The claim found held is written again (see `check`).
                Some(failed) => (failed, Vec::new(), self.kv.write(batch)),
                None => {
                    let enqueue = self.apply(&mut index, change.writes, &mut batch)?;
                    (Committed::Done, enqueue, self.kv.write(batch))
                }
            }
        };
        durable(written).await?;
        if !enqueue.is_empty() {
            // Queued only once durable: a worker never sends what a crash could forget.
            let mut index = self.index();
            for (connector, priority, id, released) in enqueue {
                index.enqueue(&connector, priority, id, released);
            }
        }
        Ok(outcome)
    }
}
