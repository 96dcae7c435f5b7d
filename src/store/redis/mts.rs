//! MTs in the Redis store: accepting (with the idempotency claim), taking under a lease,
//! and the ends of a lease (submitted, rejected, released).

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use smsgw_smpp::encoding::{correlation_keys, normalize_message_id};

use super::{
    decode, encode, keys::taken_member, scripts::StepResult, too_much_contention, RedisStore, Step,
    MAX_ATTEMPTS,
};
use crate::{
    message::{now_ms, CarrierReceipt, MessageId, MessageState, Mt, OutboxItem, Priority},
    store::{
        receipts, Acceptance, HistoryEntry, Idempotency, MessageRecord, PartRecord, StoreError,
    },
};

/// What an idempotency key holds.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct IdempotencyClaim {
    pub message_id: MessageId,
    pub fingerprint: String,
}

fn new_record(mt: &Mt) -> MessageRecord {
    MessageRecord {
        state: MessageState::Accepted,
        connector: mt.connectors.first().cloned(),
        parts: vec![PartRecord::default(); usize::from(mt.parts.max(1))],
        history: vec![HistoryEntry {
            state: MessageState::Accepted,
            error: String::new(),
            at_ms: mt.accepted_at_ms,
            part: None,
        }],
        receipt_queued: false,
        mt: mt.clone(),
    }
}

impl RedisStore {
    pub(super) async fn idempotency_claim(
        &self,
        account: &str,
        key: &str,
    ) -> Result<Option<IdempotencyClaim>, StoreError> {
        let key = self.keys.idempotency(account, key);
        let json: Option<String> = self.conn().get(&key).await.map_err(StoreError::backend)?;
        json.map(|json| decode(&key, &json)).transpose()
    }

    pub(super) async fn accept(
        &self,
        mt: Mt,
        idempotency: Option<Idempotency>,
    ) -> Result<Acceptance, StoreError> {
        let connector = mt.connectors.first().cloned().unwrap_or_default();
        let record_key = self.keys.message(mt.id.as_str());
        for _ in 0..MAX_ATTEMPTS {
            if let Some(claim) = &idempotency {
                if let Some(first) = self.idempotency_claim(&mt.account, &claim.key).await? {
                    return Ok(if first.fingerprint == claim.fingerprint {
                        Acceptance::Replayed(first.message_id)
                    } else {
                        Acceptance::Conflict(first.message_id)
                    });
                }
            }
            let mut step = Step::default();
            if let Some(claim) = &idempotency {
                let key = self.keys.idempotency(&mt.account, &claim.key);
                let ttl_ms = claim.ttl.as_millis() as u64;
                let value = encode(&IdempotencyClaim {
                    message_id: mt.id.clone(),
                    fingerprint: claim.fingerprint.clone(),
                });
                step.claim(&key).set(&key, &value, Some(ttl_ms)).zadd(
                    &self.keys.idempotency_expiry(),
                    now_ms() + ttl_ms,
                    &key,
                );
            }
            step.absent(&record_key)
                .hset(
                    &record_key,
                    &[("json", &encode(&new_record(&mt))), ("v", "1")],
                )
                .rpush(
                    &self.keys.queue(&connector, mt.priority.rank()),
                    mt.id.as_str(),
                )
                .sadd(&self.keys.connectors(), &connector);
            match self.run(step).await? {
                StepResult::Committed => return Ok(Acceptance::Accepted),
                // Someone claimed the key first: read their answer.
                StepResult::Claimed => continue,
                StepResult::Conflict => {
                    return Err(StoreError::Backend(format!(
                        "message id {} already stored",
                        mt.id
                    )))
                }
            }
        }
        Err(too_much_contention("accept_mt"))
    }

    pub(super) async fn take(&self, connector: &str, max: usize) -> Result<Vec<Mt>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let queue = format!("mts\u{1f}{connector}");
        self.pacer.before_take(&queue).await;
        let mut invocation = self.scripts.take_mts.prepare_invoke();
        for rank in 0..Priority::HIGHEST_FIRST.len() {
            invocation.key(self.keys.queue(connector, rank));
        }
        let flat: Vec<String> = invocation
            .key(self.keys.taken(connector))
            .arg(now_ms())
            .arg(self.lease_until())
            .arg(max)
            .arg(self.keys.message_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        self.pacer.after_take(&queue, max, flat.len() / 2);
        let mut mts = Vec::with_capacity(flat.len() / 2);
        for pair in flat.chunks_exact(2) {
            let key = self.keys.message(&pair[0]);
            if pair[1].is_empty() {
                return Err(StoreError::Corrupt {
                    key,
                    error: "message record missing".into(),
                });
            }
            mts.push(decode::<MessageRecord>(&key, &pair[1])?.mt);
        }
        Ok(mts)
    }

    /// Whether something is queued, or a lease expired, on the connector.
    pub(super) async fn has_mts(&self, connector: &str) -> Result<bool, StoreError> {
        let mut pipe = redis::pipe();
        for rank in 0..Priority::HIGHEST_FIRST.len() {
            pipe.llen(self.keys.queue(connector, rank));
        }
        pipe.zcount(self.keys.taken(connector), "-inf", now_ms());
        let counts: Vec<usize> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        Ok(counts.iter().any(|n| *n > 0))
    }

    /// Adds to `step`: the lease on `record` ends, and a copy re-queued after an expired
    /// lease is withdrawn.
    fn end_lease(&self, step: &mut Step, record: &MessageRecord) {
        let connector = record.connector.clone().unwrap_or_default();
        let rank = record.mt.priority.rank();
        let id = record.mt.id.as_str();
        step.unlease(
            &self.keys.taken(&connector),
            &taken_member(rank, id),
            &self.keys.queue(&connector, rank),
            id,
        );
    }

    pub(super) async fn submitted(
        &self,
        id: &MessageId,
        connector: &str,
        carrier_ids: &[String],
    ) -> Result<(), StoreError> {
        // Receipts that beat the submit_sm_resp wait in these lists, one per alias of each
        // part's carrier id.
        let parked_keys: Vec<Vec<String>> = carrier_ids
            .iter()
            .map(|carrier_id| {
                correlation_keys(carrier_id)
                    .iter()
                    .map(|alias| self.keys.parked(connector, alias))
                    .collect()
            })
            .collect();
        for _ in 0..MAX_ATTEMPTS {
            let (mut record, version, parked) = self.record_and_lists(id, &parked_keys).await?;
            let mut step = Step::default();
            self.end_lease(&mut step, &record);
            let mappings = receipts::mark_submitted(&mut record, connector, carrier_ids);
            for (part, (carrier_id, mapping)) in carrier_ids.iter().zip(mappings).enumerate() {
                let key = self
                    .keys
                    .carrier_id(connector, &normalize_message_id(carrier_id));
                step.set(&key, &encode(&mapping), None).zadd(
                    &self.keys.carrier_ids_created(),
                    mapping.created_ms,
                    &key,
                );
                // The length guard makes a receipt parked meanwhile a conflict, so it is
                // never left behind.
                for (parked_key, receipts_json) in parked_keys[part].iter().zip(&parked[part]) {
                    step.list_len_is(parked_key, receipts_json.len());
                    if receipts_json.is_empty() {
                        continue;
                    }
                    step.del(parked_key)
                        .zrem(&self.keys.parked_newest(), parked_key);
                    for json in receipts_json {
                        let receipt: CarrierReceipt = decode(parked_key, json)?;
                        if let Some(finished) =
                            receipts::apply_receipt(&mut record, part as u8, &receipt)
                        {
                            if let Some(receipt) = finished.receipt {
                                self.append_outbox(&mut step, OutboxItem::Receipt(receipt));
                            }
                        }
                    }
                }
            }
            self.put_record(&mut step, &record, &version);
            if self.run(step).await? == StepResult::Committed {
                return Ok(());
            }
        }
        Err(too_much_contention("mt_submitted"))
    }

    /// A message record, its version and the contents of `lists`, in one round trip.
    async fn record_and_lists(
        &self,
        id: &MessageId,
        lists: &[Vec<String>],
    ) -> Result<(MessageRecord, String, Vec<Vec<Vec<String>>>), StoreError> {
        let key = self.keys.message(id.as_str());
        let mut pipe = redis::pipe();
        pipe.cmd("HMGET").arg(&key).arg("json").arg("v");
        for list in lists.iter().flatten() {
            pipe.lrange(list, 0, -1);
        }
        let mut replies: Vec<redis::Value> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        let mut contents = replies.split_off(1).into_iter();
        let (json, version): (Option<String>, Option<String>) =
            redis::from_redis_value(replies.remove(0)).map_err(StoreError::backend)?;
        let json = json.ok_or_else(|| StoreError::Corrupt {
            key: id.to_string(),
            error: "message record missing".into(),
        })?;
        let mut parked = Vec::with_capacity(lists.len());
        for list in lists {
            let mut part = Vec::with_capacity(list.len());
            for _ in list {
                let value = contents.next().unwrap_or(redis::Value::Nil);
                part.push(redis::from_redis_value(value).map_err(StoreError::backend)?);
            }
            parked.push(part);
        }
        Ok((decode(&key, &json)?, version.unwrap_or_default(), parked))
    }

    pub(super) async fn rejected(&self, id: &MessageId, error: String) -> Result<(), StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            let (mut record, version) = self.existing_record(id).await?;
            let mut step = Step::default();
            self.end_lease(&mut step, &record);
            let now = now_ms();
            record.history.push(HistoryEntry {
                state: MessageState::Rejected,
                error: error.clone(),
                at_ms: now,
                part: None,
            });
            for part in &mut record.parts {
                part.state = Some(MessageState::Rejected);
                part.error = error.clone();
            }
            if let Some(finished) = receipts::finish_if_final(&mut record, now) {
                if let Some(receipt) = finished.receipt {
                    self.append_outbox(&mut step, OutboxItem::Receipt(receipt));
                }
            }
            self.put_record(&mut step, &record, &version);
            if self.run(step).await? == StepResult::Committed {
                return Ok(());
            }
        }
        Err(too_much_contention("mt_rejected"))
    }

    /// Back to the head of its priority on `connector`. A no-op when this node's lease
    /// already expired: the MT is then queued again or another node's.
    pub(super) async fn release(&self, id: &MessageId, connector: &str) -> Result<(), StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            let (mut record, version) = self.existing_record(id).await?;
            let old_connector = record.connector.clone().unwrap_or_default();
            let rank = record.mt.priority.rank();
            let taken_key = self.keys.taken(&old_connector);
            let member = taken_member(rank, id.as_str());
            if self
                .conn()
                .zscore::<_, _, Option<f64>>(&taken_key, &member)
                .await
                .map_err(StoreError::backend)?
                .is_none()
            {
                return Ok(());
            }
            let mut step = Step::default();
            step.member_of(&taken_key, &member)
                .zrem(&taken_key, &member);
            record.connector = Some(connector.to_owned());
            self.put_record(&mut step, &record, &version);
            step.lpush(&self.keys.queue(connector, rank), id.as_str())
                .sadd(&self.keys.connectors(), connector);
            if self.run(step).await? == StepResult::Committed {
                return Ok(());
            }
        }
        Err(too_much_contention("release_mt"))
    }
}
