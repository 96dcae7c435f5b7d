//! A [`Change`] in the Redis store: its guards and writes turned into one [`Step`] (run
//! atomically by the commit script, batched with concurrent steps), and the holds on MTs
//! whose lease the change ended let go once it is committed.

use std::time::Duration;

use super::{encode, scripts::StepResult, RedisStore, Step};
use crate::{
    message::{now_ms, queue_rank, MessageId},
    store::{CarrierKey, Change, ClaimSpace, Committed, Guard, MessageRecord, StoreError, Write},
};

/// The `v` field of a record at `version` (0: no record, so no field).
fn version_field(version: u64) -> String {
    if version == 0 {
        String::new()
    } else {
        version.to_string()
    }
}

impl RedisStore {
    /// Where a claim of `space` lives, and the index the sweep finds it by.
    pub(super) fn claim_key(&self, space: &ClaimSpace, key: &str) -> (String, String) {
        match space {
            ClaimSpace::Idempotency { account } => (
                self.keys.idempotency(account, key),
                self.keys.idempotency_expiry(),
            ),
            ClaimSpace::ReceiptDedupe => (self.keys.dedupe("dr", key), self.keys.dedupe_expiry()),
            ClaimSpace::MoDedupe => (self.keys.dedupe("mo", key), self.keys.dedupe_expiry()),
        }
    }

    fn carrier_id_key(&self, key: &CarrierKey) -> String {
        self.keys.carrier_id(&key.connector, &key.carrier_id)
    }

    pub(super) fn parked_key(&self, key: &CarrierKey) -> String {
        self.keys.parked(&key.connector, &key.carrier_id)
    }

    pub(super) fn add_guard(&self, step: &mut Step, guard: &Guard) {
        match guard {
            Guard::Claim(held) => {
                let (key, index) = self.claim_key(&held.space, &held.key);
                claim(step, &key, &index, &held.value, held.ttl);
            }
            Guard::RecordVersion { id, version } => {
                step.field_is(
                    &self.keys.message(id.as_str()),
                    "v",
                    &version_field(*version),
                );
            }
            Guard::Unmapped(key) => {
                step.absent(&self.carrier_id_key(key));
            }
            Guard::ParkedCount { key, count } => {
                step.list_len_is(&self.parked_key(key), *count);
            }
            Guard::PartSetVersion { key, version } => {
                step.field_is(&self.part_set_key(key), "v", &version_field(*version));
            }
        }
    }

    fn add_write(&self, step: &mut Step, write: Write, ended: &mut Vec<MessageId>) {
        match write {
            Write::Record(record) => self.put_record(step, &record),
            Write::MapCarrierId { key, mapping } => {
                let id_key = self.carrier_id_key(&key);
                step.set(&id_key, &encode(&mapping), None).zadd(
                    &self.keys.carrier_ids_created(),
                    mapping.created_ms,
                    &id_key,
                );
            }
            Write::Park { key, receipt } => {
                let parked = self.parked_key(&key);
                step.rpush(&parked, &encode(&receipt)).zadd_greater(
                    &self.keys.parked_newest(),
                    receipt.at_ms,
                    &parked,
                );
            }
            Write::Unpark(key) => {
                let parked = self.parked_key(&key);
                step.del(&parked).zrem(&self.keys.parked_newest(), &parked);
            }
            Write::Outbox(item) => self.append_outbox(step, item),
            Write::Enqueue {
                connector,
                priority,
                id,
                released,
            } => {
                let stream = if released {
                    self.keys.released(&connector, queue_rank(priority))
                } else {
                    self.keys.queue(&connector, queue_rank(priority))
                };
                self.enqueue(step, &stream, &connector, &id);
            }
            Write::EndLease(id) => {
                self.end_lease(step, &id);
                ended.push(id);
            }
            Write::PartSet { key, set, version } => self.put_part_set(step, &key, &set, version),
            Write::RemovePartSet(key) => self.remove_part_set(step, &key),
        }
    }

    /// Adds to `step`: write `record` (its `version` already the next one); index it for
    /// retention once final.
    pub(super) fn put_record(&self, step: &mut Step, record: &MessageRecord) {
        let key = self.keys.message(record.mt.id.as_str());
        step.hset(
            &key,
            &[
                ("json", &encode(record)),
                ("v", &record.version.to_string()),
            ],
        );
        if record.receipt_queued {
            let last = record.history.last().map_or(0, |h| h.at_ms);
            step.zadd(&self.keys.final_messages(), last, record.mt.id.as_str());
        }
    }

    pub(super) async fn commit_change(&self, change: Change) -> Result<Committed, StoreError> {
        let mut step = Step::default();
        for guard in &change.guards {
            self.add_guard(&mut step, guard);
        }
        let mut ended = Vec::new();
        for write in change.writes {
            self.add_write(&mut step, write, &mut ended);
        }
        let committed = match self.run(step).await? {
            StepResult::Committed => Committed::Done,
            StepResult::Claimed => Committed::Claimed,
            StepResult::Conflict => return Ok(Committed::Conflict),
        };
        for id in &ended {
            self.release_hold(id);
        }
        if change.acknowledged {
            self.wait_for_replicas().await?;
        }
        Ok(committed)
    }
}

/// Adds to `step`: a claim on `key` (with `value`) that expires after `ttl`, indexed for the
/// sweep in `index`.
fn claim(step: &mut Step, key: &str, index: &str, value: &str, ttl: Duration) {
    let ttl_ms = ttl.as_millis() as u64;
    step.claim(key)
        .set(key, value, Some(ttl_ms))
        .zadd(index, now_ms() + ttl_ms, key);
}
