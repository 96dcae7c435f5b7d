//! MTs in the Redis store: accepting (with the idempotency claim), taking under a lease,
//! and the ends of a lease (submitted, rejected, released).

use std::collections::HashMap;

use redis::AsyncCommands;

use serde::{Deserialize, Serialize};
use smsgw_smpp::encoding::normalize_message_id;

use super::{
    decode, encode, scripts::StepResult, too_much_contention, wakeups::mts_topic, RedisStore, Step,
    GROUP, MAX_ATTEMPTS,
};
use crate::{
    message::{now_ms, CarrierReceipt, MessageId, MessageState, Mt, OutboxItem},
    store::{receipts, Acceptance, HistoryEntry, Idempotency, MessageRecord, StoreError},
};

/// What an idempotency key holds.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct IdempotencyClaim {
    pub message_id: MessageId,
    pub fingerprint: String,
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
            step.absent(&record_key).hset(
                &record_key,
                &[("json", &encode(&MessageRecord::accepted(&mt))), ("v", "1")],
            );
            let queue = self.keys.queue(&connector, mt.priority.rank());
            self.enqueue(&mut step, &queue, &connector, &mt.id);
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
        let queue = mts_topic(connector);
        self.pacer.before_take(&queue).await;
        let streams = self.keys.queue_streams(connector);
        let mut invocation = self.scripts.take_mts.prepare_invoke();
        for stream in &streams {
            invocation.key(stream);
        }
        let flat: Vec<String> = invocation
            .arg(self.reclaim_after_ms(&queue))
            .arg(max)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(self.keys.message_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        self.pacer.after_take(&queue, max, flat.len() / 4);
        let mut mts = Vec::with_capacity(flat.len() / 4);
        for taken in flat.chunks_exact(4) {
            let [stream_index, entry, id, json] = taken else {
                continue;
            };
            let key = self.keys.message(id);
            if json.is_empty() {
                return Err(StoreError::Corrupt {
                    key,
                    error: "message record missing".into(),
                });
            }
            let stream = stream_index
                .parse::<usize>()
                .ok()
                .and_then(|k| streams.get(k.wrapping_sub(1)))
                .ok_or_else(|| {
                    StoreError::Backend(format!("take script named stream {stream_index}"))
                })?;
            self.hold(MessageId(id.clone()), stream.clone(), entry.clone());
            mts.push(decode::<MessageRecord>(&key, json)?.mt);
        }
        Ok(mts)
    }

    /// Adds to `step`: `id` at the end of `stream`, one of `connector`'s queues, and a
    /// wake-up for whoever waits for that connector's MTs.
    fn enqueue(&self, step: &mut Step, stream: &str, connector: &str, id: &MessageId) {
        step.stream_add(stream, id.as_str())
            .wake(stream, &self.keys.wake_channel(), &mts_topic(connector))
            .sadd(&self.keys.connectors(), connector);
    }

    /// Whether something is queued, or a lease expired, on the connector.
    pub(super) async fn has_mts(&self, connector: &str) -> Result<bool, StoreError> {
        let mut invocation = self.scripts.has_work.prepare_invoke();
        invocation.key(self.keys.nothing());
        for stream in self.keys.queue_streams(connector) {
            invocation.key(stream);
        }
        let found: u8 = invocation
            .arg(GROUP)
            .arg(self.lease.as_millis().max(1) as u64)
            .arg(now_ms())
            .invoke_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        Ok(found == 1)
    }

    /// Adds to `step`: this node's lease on the MT ends (its queue entry is acknowledged and
    /// deleted). Nothing when this node does not hold it.
    fn end_lease(&self, step: &mut Step, id: &MessageId) {
        if let Some(held) = self.held(id) {
            step.stream_done(&held.stream, GROUP, &held.entry);
        }
    }

    pub(super) async fn submitted(
        &self,
        id: &MessageId,
        connector: &str,
        carrier_ids: &[String],
    ) -> Result<(), StoreError> {
        // Receipts that beat the submit_sm_resp wait in a list under each part's carrier id.
        let parked_keys: Vec<Vec<String>> = carrier_ids
            .iter()
            .map(|carrier_id| {
                vec![self
                    .keys
                    .parked(connector, &normalize_message_id(carrier_id))]
            })
            .collect();
        for _ in 0..MAX_ATTEMPTS {
            let (mut record, version, parked) = self.record_and_lists(id, &parked_keys).await?;
            let mut step = Step::default();
            self.end_lease(&mut step, id);
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
                self.release_hold(id);
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
            self.end_lease(&mut step, id);
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
                self.release_hold(id);
                return Ok(());
            }
        }
        Err(too_much_contention("mt_rejected"))
    }

    /// Back to `connector`, ahead of what is queued at its priority (the released stream).
    /// A no-op when this node does not hold the MT (any more): another node that claimed it
    /// after the lease ran out has it now.
    pub(super) async fn release(&self, id: &MessageId, connector: &str) -> Result<(), StoreError> {
        let Some(held) = self.held(id) else {
            return Ok(());
        };
        for _ in 0..MAX_ATTEMPTS {
            let (mut record, version) = self.existing_record(id).await?;
            let mut step = Step::default();
            step.stream_entry_held(&held.stream, GROUP, &held.entry, &self.consumer)
                .stream_done(&held.stream, GROUP, &held.entry);
            record.connector = Some(connector.to_owned());
            self.put_record(&mut step, &record, &version);
            let released = self.keys.released(connector, record.mt.priority.rank());
            self.enqueue(&mut step, &released, connector, id);
            if self.run(step).await? == StepResult::Committed || !self.still_holds(&held).await? {
                self.release_hold(id);
                return Ok(());
            }
        }
        Err(too_much_contention("release_mt"))
    }

    /// Whether the stream entry is still pending with this node.
    async fn still_holds(&self, held: &Held) -> Result<bool, StoreError> {
        let pending: Vec<redis::Value> = redis::cmd("XPENDING")
            .arg(&held.stream)
            .arg(GROUP)
            .arg(&held.entry)
            .arg(&held.entry)
            .arg(1)
            .arg(&self.consumer)
            .query_async(&mut self.conn())
            .await
            .map_err(StoreError::backend)?;
        Ok(!pending.is_empty())
    }

    fn holds(&self) -> std::sync::MutexGuard<'_, HashMap<MessageId, Held>> {
        self.held_mts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Remembers that this node took `id` from `stream` as `entry`.
    fn hold(&self, id: MessageId, stream: String, entry: String) {
        self.holds().insert(id, Held { stream, entry });
    }

    fn held(&self, id: &MessageId) -> Option<Held> {
        self.holds().get(id).cloned()
    }

    fn release_hold(&self, id: &MessageId) {
        self.holds().remove(id);
    }
}

/// Where an MT this node took sits in its queue: the stream and the entry id, pending with
/// this node's consumer until acknowledged.
#[derive(Debug, Clone)]
pub(super) struct Held {
    stream: String,
    entry: String,
}
