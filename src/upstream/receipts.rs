//! The lifecycle of a submitted MT, once for every store: recording the carrier's ids, a
//! refusal, and the carrier's receipts (deduped, correlated to their message, or parked until
//! the submit is recorded), the worst-of rule across the parts of a multipart message, and the
//! one client receipt when the message becomes final.
//!
//! Each flow reads what it needs, decides here, and commits one [`Change`] guarded by what it
//! read; a conflict (another node or task changed the message meanwhile) reads again.

use std::time::Duration;

use smsgw_smpp::encoding::normalize_message_id;

use crate::{
    event::{Event, EventKind},
    message::{
        now_ms, CarrierReceipt, MessageId, MessageState, OutboxItem, Payload, Receipt, Timer,
        TimerAction,
    },
    store::{
        change::commit_with_retries, CarrierIdRecord, CarrierKey, Change, ClaimSpace, Committed,
        Guard, HistoryEntry, MessageRecord, PartRecord, Store, StoreError, Versioned, Write,
    },
};

/// How long receipt dedupe claims are kept.
const RECEIPT_DEDUPE_TTL: Duration = Duration::from_secs(24 * 3600);

/// What became of a carrier's receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// Applied to our message; `final_state` is set when the whole message became final.
    Applied {
        id: MessageId,
        final_state: Option<MessageState>,
    },
    /// No submit with that carrier id yet: kept until the submit_sm_resp is recorded.
    Parked,
    /// Seen before (the carrier retried, or another site got it too).
    Duplicate,
}

fn carrier_key(connector: &str, carrier_id: &str) -> CarrierKey {
    CarrierKey {
        connector: connector.to_owned(),
        carrier_id: normalize_message_id(carrier_id),
    }
}

/// A carrier's receipt: deduped on (connector, carrier id, state), applied to the message the
/// carrier id names, or parked until the submit with that id is recorded. When the message
/// becomes final its client receipt goes to the outbox in the same change.
pub async fn carrier_receipt<S: Store + ?Sized>(
    store: &S,
    connector: &str,
    receipt: CarrierReceipt,
) -> Result<ReceiptOutcome, StoreError> {
    let key = carrier_key(connector, &receipt.carrier_id);
    let dedupe = format!(
        "{connector}\u{1f}{}\u{1f}{}",
        key.carrier_id,
        receipt.state.code()
    );
    commit_with_retries("carrier_receipt", || async {
        let mut change = Change::acknowledged();
        change.claim(ClaimSpace::ReceiptDedupe, &dedupe, "", RECEIPT_DEDUPE_TTL);
        let outcome = match store.carrier_target(&key).await? {
            Some((mapping, Versioned { mut value, version })) => {
                let finished = apply_receipt(&mut value, mapping.part, &receipt);
                change.event(receipt_event(&value, mapping.part, &receipt));
                let final_state = queue_client_receipt(&mut change, &value, finished);
                change.put_record(value, version);
                ReceiptOutcome::Applied {
                    id: mapping.message_id,
                    final_state,
                }
            }
            None => {
                // Parked only while no mapping exists: a submit recorded meanwhile makes this
                // a conflict, and the next attempt applies the receipt.
                change
                    .guard(Guard::Unmapped(key.clone()))
                    .write(Write::Park {
                        key: key.clone(),
                        receipt: receipt.clone(),
                    });
                ReceiptOutcome::Parked
            }
        };
        Ok(match store.commit(change).await? {
            Committed::Done => Some(outcome),
            Committed::Claimed => Some(ReceiptOutcome::Duplicate),
            Committed::Conflict => None,
        })
    })
    .await
}

/// Every part was accepted by the carrier with these ids (in part order): they are mapped to
/// the message, receipts that arrived first are applied, and the node's hold on the MT ends.
/// With a `dr_timeout`, a timer makes the MT UNKNOWN if no final receipt comes in that time.
pub async fn mt_submitted<S: Store + ?Sized>(
    store: &S,
    id: &MessageId,
    connector: &str,
    carrier_ids: Vec<String>,
    dr_timeout: Option<Duration>,
) -> Result<(), StoreError> {
    let keys: Vec<CarrierKey> = carrier_ids
        .iter()
        .map(|carrier_id| carrier_key(connector, carrier_id))
        .collect();
    commit_with_retries("mt_submitted", || async {
        let (Versioned { mut value, version }, parked) =
            store.record_with_parked(id, &keys).await?;
        let mut change = Change::default();
        change.write(Write::EndLease(id.clone()));
        let mappings = mark_submitted(&mut value, connector, &carrier_ids);
        for (part, carrier_id) in carrier_ids.iter().enumerate() {
            change.event(
                Event::of_mt(EventKind::Submitted, &value.mt)
                    .with_connector(Some(connector))
                    .with_part(part, Some(carrier_id)),
            );
        }
        for (part, ((key, mapping), receipts)) in keys.iter().zip(mappings).zip(parked).enumerate()
        {
            // A receipt parked meanwhile makes this a conflict, so it is never left behind.
            change.guard(Guard::ParkedCount {
                key: key.clone(),
                count: receipts.len(),
            });
            change.write(Write::MapCarrierId {
                key: key.clone(),
                mapping,
            });
            if !receipts.is_empty() {
                change.write(Write::Unpark(key.clone()));
            }
            for receipt in receipts {
                let finished = apply_receipt(&mut value, part as u8, &receipt);
                change.event(receipt_event(&value, part as u8, &receipt));
                queue_client_receipt(&mut change, &value, finished);
            }
        }
        if let Some(wait) = dr_timeout.filter(|_| !value.state.is_final()) {
            let due_ms = now_ms().saturating_add(wait.as_millis() as u64);
            change.write(Write::Outbox(OutboxItem::Timer(Timer::new(
                TimerAction::DrTimeout(id.clone()),
                due_ms,
            ))));
        }
        change.put_record(value, version);
        Ok((store.commit(change).await? == Committed::Done).then_some(()))
    })
    .await
}

/// The carrier refused the MT for good: final state REJECTD and, if the client asked for
/// receipts, one with result_code 1. The node's hold on the MT ends.
pub async fn mt_rejected<S: Store + ?Sized>(
    store: &S,
    id: &MessageId,
    error: String,
) -> Result<(), StoreError> {
    commit_with_retries("mt_rejected", || async {
        let Some(Versioned { mut value, version }) = store.record(id).await? else {
            return Err(record_missing(id));
        };
        let now = now_ms();
        value.history.push(HistoryEntry {
            state: MessageState::Rejected,
            error: error.clone(),
            at_ms: now,
            part: None,
        });
        for part in &mut value.parts {
            part.state = Some(MessageState::Rejected);
            part.error = error.clone();
        }
        let mut change = Change::default();
        change.write(Write::EndLease(id.clone()));
        change.event(
            Event::of_mt(EventKind::Rejected, &value.mt)
                .with_connector(value.connector.as_deref())
                .with_state(MessageState::Rejected)
                .with_reason("", &error),
        );
        let finished = finish_if_final(&mut value, now);
        queue_client_receipt(&mut change, &value, finished);
        change.put_record(value, version);
        Ok((store.commit(change).await? == Committed::Done).then_some(()))
    })
    .await
}

fn record_missing(id: &MessageId) -> StoreError {
    StoreError::Corrupt {
        key: id.to_string(),
        error: "message record missing".into(),
    }
}

/// Adds what a message that just became final owes to `change`: the client's receipt and
/// the `final` event; returns the final state.
pub(crate) fn queue_client_receipt(
    change: &mut Change,
    record: &MessageRecord,
    finished: Option<Finished>,
) -> Option<MessageState> {
    let finished = finished?;
    change.event(final_event(record, finished.state, &finished.error));
    if let Some(receipt) = finished.receipt {
        change.write(Write::Outbox(OutboxItem::Receipt(receipt)));
    }
    Some(finished.state)
}

/// The event of an MT reaching its final `state` (one per MT: what usage reports count).
pub(crate) fn final_event(record: &MessageRecord, state: MessageState, error: &str) -> Event {
    Event::of_mt(EventKind::Final, &record.mt)
        .with_connector(record.connector.as_deref())
        .with_state(state)
        .with_reason(error, "")
}

/// The event of a carrier's receipt for one part.
fn receipt_event(record: &MessageRecord, part: u8, receipt: &CarrierReceipt) -> Event {
    Event::of_mt(EventKind::Receipt, &record.mt)
        .with_connector(record.connector.as_deref())
        .with_part(usize::from(part), Some(&receipt.carrier_id))
        .with_state(receipt.state)
        .with_reason(&receipt.error, "")
}

/// Records that every part was accepted by the carrier with `carrier_ids` (in part order) and
/// returns the mapping to store for each id.
fn mark_submitted(
    record: &mut MessageRecord,
    connector: &str,
    carrier_ids: &[String],
) -> Vec<CarrierIdRecord> {
    let now = now_ms();
    if record.state.is_final() {
        // Cancelled by its client after the worker's last look at the record, before the
        // submit_sm went: the carrier has it, the client was told DELETED. The ids are still
        // mapped (the carrier's receipts land in the history), the state stays final.
        tracing::warn!(id = %record.mt.id, state = ?record.state, "a final MT was submitted (a cancel raced the submit)");
        metrics::counter!("upstream_mt_submitted_after_final_total").increment(1);
    } else {
        record.state = MessageState::Enroute;
    }
    record.connector = Some(connector.to_owned());
    record.history.push(HistoryEntry {
        state: MessageState::Enroute,
        error: String::new(),
        at_ms: now,
        part: None,
    });
    if record.parts.len() < carrier_ids.len() {
        record
            .parts
            .resize(carrier_ids.len(), PartRecord::default());
    }
    carrier_ids
        .iter()
        .enumerate()
        .map(|(part, carrier_id)| {
            record.parts[part].carrier_id = Some(carrier_id.clone());
            CarrierIdRecord {
                message_id: record.mt.id.clone(),
                part: part as u8,
                created_ms: now,
            }
        })
        .collect()
}

/// A message that just became final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub state: MessageState,
    /// The error of the part whose state it is (empty when delivered).
    pub error: String,
    /// The receipt for the client's outbox, if the client asked for receipts.
    pub receipt: Option<Receipt>,
}

/// Applies a carrier receipt to one part; returns what finished if the whole message became
/// final.
fn apply_receipt(
    record: &mut MessageRecord,
    part: u8,
    receipt: &CarrierReceipt,
) -> Option<Finished> {
    let multipart = record.parts.len() > 1;
    record.history.push(HistoryEntry {
        state: receipt.state,
        error: receipt.error.clone(),
        at_ms: receipt.at_ms,
        part: multipart.then_some(part),
    });
    let slot = record.parts.get_mut(part as usize)?;
    let replace = match slot.state {
        None => true,
        Some(current) if !current.is_final() => true,
        // A failed part is never overwritten by a later success (or a milder failure).
        Some(current) => receipt.state.is_final() && severity(receipt.state) > severity(current),
    };
    if replace {
        slot.state = Some(receipt.state);
        slot.error = receipt.error.clone();
    }
    finish_if_final(record, receipt.at_ms)
}

/// How bad a final state is, for the worst-of rule across the parts of one message: a failed
/// part is never overwritten by a later success.
fn severity(state: MessageState) -> u8 {
    match state {
        MessageState::Delivered => 0,
        MessageState::Enroute | MessageState::Accepted => 1,
        MessageState::Unknown => 2,
        MessageState::Deleted => 3,
        MessageState::Expired => 4,
        MessageState::Undeliverable => 5,
        MessageState::Rejected => 6,
    }
}

/// Marks the record final with the worst state of its parts once every part is final, once.
pub(crate) fn finish_if_final(record: &mut MessageRecord, at_ms: u64) -> Option<Finished> {
    if record.receipt_queued
        || record
            .parts
            .iter()
            .any(|p| !p.state.is_some_and(MessageState::is_final))
    {
        return None;
    }
    let worst = record
        .parts
        .iter()
        .filter_map(|p| p.state)
        .max_by_key(|s| severity(*s))?;
    let error = record
        .parts
        .iter()
        .find(|p| p.state == Some(worst))
        .map(|p| p.error.clone())
        .unwrap_or_default();
    record.state = worst;
    record.receipt_queued = true;
    let receipt = record
        .mt
        .receipt
        .then(|| client_receipt(record, worst, error.clone(), at_ms));
    Some(Finished {
        state: worst,
        error,
        receipt,
    })
}

/// The receipt a client gets for a message that reached a final state.
pub fn client_receipt(
    record: &MessageRecord,
    state: MessageState,
    error: String,
    at_ms: u64,
) -> Receipt {
    let mt = &record.mt;
    let text_start = match &mt.payload {
        Payload::Text(text) => text.chars().take(20).collect(),
        Payload::Pdu { .. } => String::new(),
    };
    Receipt {
        message_id: mt.id.clone(),
        client_message_id: mt.client_message_id.clone(),
        account: mt.account.clone(),
        state,
        error,
        result_code: u8::from(state != MessageState::Delivered),
        source: mt.source.clone(),
        destination: mt.destination.clone(),
        submitted_at_ms: mt.accepted_at_ms,
        done_at_ms: at_ms,
        app_id: mt.app_id.clone(),
        conversation_id: mt.conversation_id.clone(),
        text_start,
        answered_with_client_id: mt.answered_with_client_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_part_outranks_a_delivered_one() {
        assert!(severity(MessageState::Undeliverable) > severity(MessageState::Delivered));
        assert!(severity(MessageState::Rejected) > severity(MessageState::Unknown));
    }
}
