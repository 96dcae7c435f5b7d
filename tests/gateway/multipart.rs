//! Multipart MO helpers for tests: a carrier's deliver_sm parts (UDH or SAR) and what a
//! client saw of each deliver_sm it got.
#![allow(dead_code)]

use std::time::Duration;

use smsgw_smpp::{
    client::IncomingDeliver,
    frame,
    rusmpp::{
        pdus::DeliverSm,
        tlvs::{MessageDeliveryRequestTlvValue, TlvValue},
        types::{COctetString, OctetString},
        values::{DataCoding, EsmClass},
        Command, CommandStatus,
    },
};
use tokio::sync::mpsc::Receiver;

use super::{raw_carrier::CarrierLink, QUIET};

pub const HANDSET: &str = "447700900001";
pub const SHORT_CODE: &str = "12345";

/// A carrier's deliver_sm: `udh` and `user_data` in short_message (UDHI set when there is a
/// UDH), with `data_coding` and the SAR values when given.
pub fn part_pdu(
    sequence: u32,
    data_coding: u8,
    udh: &[u8],
    user_data: &[u8],
    sar: Option<(u16, u8, u8)>,
) -> Vec<u8> {
    let body: Vec<u8> = udh.iter().chain(user_data).copied().collect();
    let mut builder = DeliverSm::builder()
        .esm_class(EsmClass::from(if udh.is_empty() { 0 } else { 0x40 }))
        .data_coding(DataCoding::from(data_coding))
        .source_addr(HANDSET.parse::<COctetString<1, 21>>().unwrap())
        .destination_addr(SHORT_CODE.parse::<COctetString<1, 21>>().unwrap())
        .short_message(OctetString::from_vec(body).unwrap());
    if let Some((reference, total, seq)) = sar {
        builder = builder
            .push_tlv(MessageDeliveryRequestTlvValue::SarMsgRefNum(reference))
            .push_tlv(MessageDeliveryRequestTlvValue::SarTotalSegments(total))
            .push_tlv(MessageDeliveryRequestTlvValue::SarSegmentSeqnum(seq));
    }
    frame::encode_to_vec(&Command::new(
        CommandStatus::EsmeRok,
        sequence,
        builder.build(),
    ))
}

/// [`part_pdu`] with `udh` and `user_data` in message_payload (short_message empty), as some
/// carriers send them.
pub fn part_pdu_in_payload(sequence: u32, udh: &[u8], user_data: &[u8]) -> Vec<u8> {
    let body: Vec<u8> = udh.iter().chain(user_data).copied().collect();
    let pdu = DeliverSm::builder()
        .esm_class(EsmClass::from(0x40))
        .source_addr(HANDSET.parse::<COctetString<1, 21>>().unwrap())
        .destination_addr(SHORT_CODE.parse::<COctetString<1, 21>>().unwrap())
        .push_tlv(MessageDeliveryRequestTlvValue::MessagePayload(
            smsgw_smpp::rusmpp::values::MessagePayload::new(
                smsgw_smpp::rusmpp::types::AnyOctetString::from_vec(body),
            ),
        ))
        .build();
    frame::encode_to_vec(&Command::new(CommandStatus::EsmeRok, sequence, pdu))
}

pub fn udh8(reference: u8, total: u8, seq: u8) -> Vec<u8> {
    vec![5, 0, 3, reference, total, seq]
}

pub fn udh16(reference: u16, total: u8, seq: u8) -> Vec<u8> {
    let [high, low] = reference.to_be_bytes();
    vec![6, 8, 4, high, low, total, seq]
}

pub fn ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// What a client saw of one deliver_sm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub esm_class: u8,
    pub data_coding: u8,
    pub short_message: Vec<u8>,
    pub message_payload: Option<Vec<u8>>,
    /// sar_msg_ref_num, sar_total_segments, sar_segment_seqnum.
    pub sar: Option<(u16, u8, u8)>,
}

pub fn seen(deliver: &IncomingDeliver) -> Seen {
    let pdu: &DeliverSm = deliver.pdu();
    let (mut payload, mut reference, mut total, mut seq) = (None, None, None, None);
    for value in pdu.tlvs().iter().filter_map(|tlv| tlv.value()) {
        match value {
            TlvValue::MessagePayload(p) => payload = Some(p.value.as_ref().to_vec()),
            TlvValue::SarMsgRefNum(n) => reference = Some(*n),
            TlvValue::SarTotalSegments(n) => total = Some(*n),
            TlvValue::SarSegmentSeqnum(n) => seq = Some(*n),
            _ => {}
        }
    }
    Seen {
        esm_class: u8::from(pdu.esm_class),
        data_coding: u8::from(pdu.data_coding),
        short_message: pdu.short_message().as_ref().to_vec(),
        message_payload: payload,
        sar: reference.zip(total).zip(seq).map(|((r, t), s)| (r, t, s)),
    }
}

/// Accepts deliver_sm until `expected` came, then for [`QUIET`] more (so that an extra one
/// right behind shows).
pub async fn delivered(incoming: &mut Receiver<IncomingDeliver>, expected: usize) -> Vec<Seen> {
    let mut all = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let limit = if all.len() < expected {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        } else {
            QUIET
        };
        let Ok(Some(deliver)) = tokio::time::timeout(limit, incoming.recv()).await else {
            return all;
        };
        all.push(seen(&deliver));
        deliver.accept();
    }
}

/// Sends each PDU and checks it was answered OK.
pub async fn send_all(link: &mut CarrierLink, pdus: &[(u32, Vec<u8>)]) {
    for (sequence, pdu) in pdus {
        link.send(pdu).await;
        assert_eq!(link.answer(*sequence).await, CommandStatus::EsmeRok);
    }
}

pub fn plain(data_coding: u8, short_message: &[u8]) -> Seen {
    Seen {
        esm_class: 0,
        data_coding,
        short_message: short_message.to_vec(),
        message_payload: None,
        sar: None,
    }
}
