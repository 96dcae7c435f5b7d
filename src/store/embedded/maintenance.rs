//! Retention in the embedded store: expired claims, and final messages, carrier-id mappings
//! parked receipts and multipart MO part sets older than the retention, removed in one batch.

use std::time::Duration;

use super::{
    commit::{ClaimRecord, StoredPartSet},
    decode, durable,
    kv::Table,
    Batch, EmbeddedStore,
};
use crate::{
    message::{now_ms, CarrierReceipt},
    store::{CarrierIdRecord, MessageRecord, StoreError, SweepStats},
};

impl EmbeddedStore {
    pub(super) async fn remove_old(&self, retention: Duration) -> Result<SweepStats, StoreError> {
        let now = now_ms();
        let cutoff = now.saturating_sub(retention.as_millis() as u64);
        let mut stats = SweepStats::default();
        let mut batch = Batch::default();
        // Scanned from committed data without the index lock; deletes go through the
        // committer like every write, so a concurrent update is never lost (it is newer).
        for (key, value) in self.kv.scan(Table::Idempotency)? {
            let claim: ClaimRecord = decode(&key, &value)?;
            if claim.expires_ms <= now {
                batch.delete(Table::Idempotency, key);
                stats.idempotency_keys += 1;
            }
        }
        for (key, value) in self.kv.scan(Table::Dedupe)? {
            let claim: ClaimRecord = decode(&key, &value)?;
            if claim.expires_ms <= now {
                batch.delete(Table::Dedupe, key);
                stats.dedupe_claims += 1;
            }
        }
        for (key, value) in self.kv.scan(Table::CarrierIds)? {
            let record: CarrierIdRecord = decode(&key, &value)?;
            if record.created_ms < cutoff {
                batch.delete(Table::CarrierIds, key);
                stats.carrier_ids += 1;
            }
        }
        for (key, value) in self.kv.scan(Table::ParkedReceipts)? {
            let parked: Vec<CarrierReceipt> = decode(&key, &value)?;
            if parked.iter().all(|r| r.at_ms < cutoff) {
                batch.delete(Table::ParkedReceipts, key);
                let mut index = self.index();
                index.parked = index.parked.saturating_sub(parked.len());
                stats.parked_receipts += parked.len();
            }
        }
        for (key, value) in self.kv.scan(Table::PartSets)? {
            let stored: StoredPartSet = decode(&key, &value)?;
            if stored.set.started_ms < cutoff {
                batch.delete(Table::PartSets, key);
                stats.part_sets += 1;
            }
        }
        for (key, value) in self.kv.scan(Table::Messages)? {
            let record: MessageRecord = decode(&key, &value)?;
            let last = record.history.last().map_or(0, |h| h.at_ms);
            if record.receipt_queued && last < cutoff {
                batch.delete(Table::Messages, key);
                stats.messages += 1;
            }
        }
        durable(self.kv.write(batch)).await?;
        Ok(stats)
    }
}
