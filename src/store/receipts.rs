//! How carrier submits and receipts change a [`MessageRecord`], shared by every store: the
//! carrier ids of each part, the worst-of rule across the parts of a multipart message, and
//! the one client receipt when it becomes final.
//!
//! Pure functions on the record; the store decides how to persist the result atomically.

use serde::{Deserialize, Serialize};

use super::{HistoryEntry, MessageRecord, PartRecord};
use crate::message::{now_ms, CarrierReceipt, MessageId, MessageState, Payload, Receipt};

/// Where a carrier id leads: the message and part it was given for.
#[derive(Debug, Serialize, Deserialize)]
pub struct CarrierIdRecord {
    pub message_id: MessageId,
    pub part: u8,
    /// When the submit was recorded, for retention.
    #[serde(default)]
    pub created_ms: u64,
}

/// Records that every part was accepted by the carrier with `carrier_ids` (in part order) and
/// returns the mapping to store for each id.
pub fn mark_submitted(
    record: &mut MessageRecord,
    connector: &str,
    carrier_ids: &[String],
) -> Vec<CarrierIdRecord> {
    let now = now_ms();
    record.state = MessageState::Enroute;
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
    /// The receipt for the client's outbox, if the client asked for receipts.
    pub receipt: Option<Receipt>,
}

/// Applies a carrier receipt to one part; returns what finished if the whole message became
/// final.
pub fn apply_receipt(
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
        Some(current) => receipt.state.is_final() && receipt.state.severity() > current.severity(),
    };
    if replace {
        slot.state = Some(receipt.state);
        slot.error = receipt.error.clone();
    }
    finish_if_final(record, receipt.at_ms)
}

/// Marks the record final with the worst state of its parts once every part is final, once.
pub fn finish_if_final(record: &mut MessageRecord, at_ms: u64) -> Option<Finished> {
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
        .max_by_key(|s| s.severity())?;
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
        .then(|| client_receipt(record, worst, error, at_ms));
    Some(Finished {
        state: worst,
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
    }
}
