//! The submit_sm PDUs an MT becomes: text is segmented (UDH concatenation, the smallest
//! encoding that fits); a client's PDU payload passes through unchanged.

use std::time::Duration;

use smsgw_smpp::{
    encoding::{apply_to_submit_sm, relative_time, ApplyError, Part, SegmentError, SegmentInfo},
    rusmpp::{
        pdus::SubmitSm,
        types::EmptyOrFullCOctetString,
        values::{EsmClass, Npi, PriorityFlag, RegisteredDelivery, Ton},
    },
};

use crate::{
    message::{smpp_priority_flag, Mt, Payload},
    segmentation::{segment_text, MAX_PARTS},
};

/// Why an MT cannot be turned into PDUs (a permanent failure of that MT).
#[derive(Debug, thiserror::Error)]
pub enum SubmitPduError {
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

/// A concatenation reference stable for one message, so a retried MT keeps its reference.
pub fn reference_for(mt: &Mt) -> u8 {
    mt.id
        .as_str()
        .bytes()
        .fold(0u8, |acc, b| acc.wrapping_mul(31).wrapping_add(b))
}

/// The validity left at `now_ms`, relative (so carrier and gateway clocks need not agree);
/// empty (the carrier's default) when the MT has none.
fn remaining_validity(mt: &Mt, now_ms: u64) -> EmptyOrFullCOctetString<17> {
    mt.timing
        .valid_until_ms
        .and_then(|until| {
            let left = Duration::from_millis(until.saturating_sub(now_ms)).max(MIN_VALIDITY_LEFT);
            EmptyOrFullCOctetString::from_string(relative_time(left)).ok()
        })
        .unwrap_or_else(EmptyOrFullCOctetString::empty)
}

/// The least validity passed on: "000000000000000R" would read as "none" to some SMSCs.
const MIN_VALIDITY_LEFT: Duration = Duration::from_secs(1);

/// TON/NPI for an address: alphanumeric senders are TON 5; digits international (1/1).
fn ton_npi(address: &str) -> (Ton, Npi) {
    if !address.is_empty() && address.bytes().all(|b| b.is_ascii_digit()) {
        (Ton::International, Npi::Isdn)
    } else {
        (Ton::Alphanumeric, Npi::Unknown)
    }
}

/// Every submit_sm of an MT, in part order. Receipts are always requested from the carrier:
/// the gateway tracks every message's state, and forwards receipts to clients who asked.
/// What remains at `now_ms` of the MT's validity goes with each part (relative format).
pub fn submit_pdus(mt: &Mt, now_ms: u64) -> Result<Vec<SubmitSm>, SubmitPduError> {
    let (source_ton, source_npi) = ton_npi(&mt.source);
    // Explicit: rusmpp 0.4's EsmClass::default() is 0x08, not the plain 0x00.
    let base = SubmitSm::builder()
        .esm_class(EsmClass::from(0))
        .source_addr_ton(source_ton)
        .source_addr_npi(source_npi)
        .source_addr(mt.source.parse().unwrap_or_default())
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(mt.destination.parse().unwrap_or_default())
        .priority_flag(PriorityFlag::from(smpp_priority_flag(mt.priority)))
        .registered_delivery(RegisteredDelivery::from(1))
        .validity_period(remaining_validity(mt, now_ms))
        .build();
    let parts = match &mt.payload {
        Payload::Text(text) => segment_text(text, MAX_PARTS, reference_for(mt))?,
        Payload::Pdu {
            data_coding,
            esm_class,
            short_message,
            message_payload,
            sar,
        } => vec![Part {
            data_coding: *data_coding,
            esm_class_bits: *esm_class,
            short_message: short_message.clone(),
            message_payload: message_payload.clone(),
            sar: sar.map(|(reference, total, seq)| SegmentInfo {
                reference,
                total,
                seq,
            }),
        }],
    };
    parts
        .iter()
        .map(|part| {
            let mut submit = base.clone();
            apply_to_submit_sm(part, &mut submit)?;
            Ok(submit)
        })
        .collect()
}
