//! The deliver_sm a client gets for a receipt (esm_class 0x04, TLVs, standard text) or an MO.
//! A multipart MO is, by the account's `mo_multipart`, its parts as the carrier sent them
//! (8- or 16-bit concatenation UDH with UDHI, or SAR TLVs: same reference, total and places,
//! same data_coding) or one deliver_sm with the whole user data in `message_payload`.

use smsgw_smpp::{
    encoding::{
        encode_text, receipt_deliver_sm, DeliveryReceipt, ReceiptDate, ReceiptStat,
        DEFAULT_PREFERENCE, ESM_CLASS_UDHI,
    },
    rusmpp::{
        self,
        pdus::DeliverSm,
        tlvs::MessageDeliveryRequestTlvValue,
        types::{AnyOctetString, OctetString},
        values::{DataCoding, EsmClass, MessagePayload, MessageState as SmppState},
    },
};

use crate::message::{Mo, MoMultipart, MoPart, MoSegments, OutboxItem, Receipt};

/// Longest `short_message`; longer user data goes in `message_payload`.
const SHORT_MESSAGE_MAX: usize = 254;

/// The deliver_sm for an outbox item (a multipart MO as one: see [`deliver_sms_for`]);
/// `None` for a timer, which is no client's.
pub fn deliver_sm_for(item: &OutboxItem) -> Option<DeliverSm> {
    Some(match item {
        OutboxItem::Receipt(receipt) => receipt_pdu(receipt),
        OutboxItem::Mo(mo) => match &mo.segments {
            Some(segments) => payload_pdu(mo, segments),
            None => mo_pdu(mo),
        },
        OutboxItem::Timer(_) | OutboxItem::Events { .. } => return None,
    })
}

/// The deliver_sm PDUs for an outbox item, to send in order on one bind: one, or a
/// multipart MO's parts when the account takes them as parts; none for a timer.
pub fn deliver_sms_for(item: &OutboxItem, multipart: MoMultipart) -> Vec<DeliverSm> {
    match (item, multipart) {
        (OutboxItem::Mo(mo), MoMultipart::Parts) => match &mo.segments {
            Some(segments) => segments
                .parts
                .iter()
                .map(|part| part_pdu(mo, segments, part))
                .collect(),
            None => vec![mo_pdu(mo)],
        },
        _ => deliver_sm_for(item).into_iter().collect(),
    }
}

fn mo_builder(mo: &Mo, esm_class: u8, data_coding: u8) -> rusmpp::pdus::builders::DeliverSmBuilder {
    // Explicit: rusmpp 0.4's EsmClass::default() is 0x08, not the plain 0x00.
    DeliverSm::builder()
        .esm_class(EsmClass::from(esm_class))
        .source_addr(mo.source.parse().unwrap_or_default())
        .destination_addr(mo.destination.parse().unwrap_or_default())
        .data_coding(DataCoding::from(data_coding))
}

/// One part as the carrier sent it: its UDH (UDHI set) or its SAR TLVs.
fn part_pdu(mo: &Mo, segments: &MoSegments, part: &MoPart) -> DeliverSm {
    let udhi = if part.udh.is_empty() {
        0
    } else {
        ESM_CLASS_UDHI
    };
    let body: Vec<u8> = part.udh.iter().chain(&part.payload).copied().collect();
    let mut builder = mo_builder(mo, udhi, segments.data_coding);
    if segments.sar {
        builder = builder
            .push_tlv(MessageDeliveryRequestTlvValue::SarMsgRefNum(
                segments.reference,
            ))
            .push_tlv(MessageDeliveryRequestTlvValue::SarTotalSegments(
                segments.total,
            ))
            .push_tlv(MessageDeliveryRequestTlvValue::SarSegmentSeqnum(part.seq));
    }
    with_body(builder, body)
}

/// The whole user data in `message_payload`, short_message empty.
fn payload_pdu(mo: &Mo, segments: &MoSegments) -> DeliverSm {
    mo_builder(mo, 0, segments.data_coding)
        .push_tlv(MessageDeliveryRequestTlvValue::MessagePayload(
            MessagePayload::new(AnyOctetString::from_vec(segments.payload())),
        ))
        .build()
}

/// `body` in short_message, or in message_payload when too long for it.
fn with_body(builder: rusmpp::pdus::builders::DeliverSmBuilder, body: Vec<u8>) -> DeliverSm {
    if body.len() <= SHORT_MESSAGE_MAX {
        builder
            .short_message(OctetString::from_vec(body).unwrap_or_default())
            .build()
    } else {
        builder
            .push_tlv(MessageDeliveryRequestTlvValue::MessagePayload(
                MessagePayload::new(AnyOctetString::from_vec(body)),
            ))
            .build()
    }
}

fn receipt_pdu(receipt: &Receipt) -> DeliverSm {
    let delivered = receipt.result_code == 0;
    let error = if receipt.error.is_empty() {
        "000".to_owned()
    } else {
        receipt.error.chars().take(3).collect()
    };
    let dr = DeliveryReceipt {
        id: receipt.id_on_binds(),
        sub: Some("001".into()),
        dlvrd: Some(if delivered { "001" } else { "000" }.into()),
        submit_date: Some(ReceiptDate::from_unix_ms(receipt.submitted_at_ms)),
        done_date: Some(ReceiptDate::from_unix_ms(receipt.done_at_ms)),
        stat: Some(ReceiptStat::from_state(SmppState::from(
            receipt.state.code(),
        ))),
        err: Some(error),
        text: Some(receipt.text_start.clone()),
        network_error: None,
    };
    // A receipt travels back: from the handset (the MT's destination) to the sender.
    receipt_deliver_sm(&dr, &receipt.destination, &receipt.source)
}

fn mo_pdu(mo: &Mo) -> DeliverSm {
    let (encoding, body) = encode_text(&mo.text, &DEFAULT_PREFERENCE)
        .unwrap_or_else(|_| (smsgw_smpp::encoding::Encoding::Ucs2, utf16be(&mo.text)));
    with_body(mo_builder(mo, 0, encoding.data_coding()), body)
}

fn utf16be(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MessageId, MessageState};
    use smsgw_smpp::encoding::{decode_text, receipt_from_deliver_sm};

    #[test]
    fn receipt_pdu_carries_our_id_state_and_addresses_reversed() {
        let receipt = Receipt {
            message_id: MessageId("s-n-1-2".into()),
            client_message_id: Some("c1".into()),
            account: "acme".into(),
            state: MessageState::Undeliverable,
            error: "001".into(),
            result_code: 1,
            source: "ACME".into(),
            destination: "447700900001".into(),
            submitted_at_ms: 1_795_569_276_000,
            done_at_ms: 1_795_569_286_000,
            app_id: None,
            conversation_id: None,
            text_start: "hello".into(),
            answered_with_client_id: false,
        };
        let pdu = deliver_sm_for(&OutboxItem::Receipt(receipt)).unwrap();
        assert_eq!(pdu.source_addr.as_str(), "447700900001");
        assert_eq!(pdu.destination_addr.as_str(), "ACME");
        let back = receipt_from_deliver_sm(&pdu).unwrap();
        assert_eq!(back.id, "s-n-1-2");
        assert_eq!(u8::from(back.stat.unwrap().state), 5);
    }

    #[test]
    fn mo_pdu_round_trips_text_in_the_smallest_encoding() {
        let mo = |text: &str| Mo {
            id: "m".into(),
            account: "acme".into(),
            source: "447700900001".into(),
            destination: "12345".into(),
            text: text.into(),
            connector: "sim".into(),
            received_at_ms: 0,
            segments: None,
        };
        for text in ["STOP", "ünïcödé £€", "emoji 😀"] {
            let pdu = deliver_sm_for(&OutboxItem::Mo(mo(text))).unwrap();
            let decoded =
                decode_text(u8::from(pdu.data_coding), pdu.short_message().as_ref()).unwrap();
            assert_eq!(decoded, text);
        }
        let long = "x".repeat(400);
        let pdu = deliver_sm_for(&OutboxItem::Mo(mo(&long))).unwrap();
        assert!(pdu.short_message().is_empty());
        assert_eq!(pdu.tlvs().len(), 1);
    }

    fn multipart(sar: bool) -> Mo {
        let part = |seq: u8, payload: &[u8]| MoPart {
            seq,
            udh: if sar {
                Vec::new()
            } else {
                vec![6, 8, 4, 0x01, 0x2C, 2, seq]
            },
            payload: payload.to_vec(),
            id: format!("p{seq}"),
            received_at_ms: 0,
        };
        Mo {
            id: "p1".into(),
            account: "acme".into(),
            source: "447700900001".into(),
            destination: "12345".into(),
            text: "ab".into(),
            connector: "sim".into(),
            received_at_ms: 0,
            segments: Some(MoSegments {
                data_coding: 8,
                reference: 300,
                total: 2,
                sar,
                parts: vec![part(1, &[0, b'a']), part(2, &[0, b'b'])],
            }),
        }
    }

    #[test]
    fn a_multipart_mo_goes_as_its_parts_with_their_udh_or_as_one_payload() {
        let item = OutboxItem::Mo(multipart(false));
        let parts = deliver_sms_for(&item, MoMultipart::Parts);
        assert_eq!(parts.len(), 2);
        for (pdu, seq) in parts.iter().zip([1u8, 2]) {
            assert_eq!(u8::from(pdu.esm_class), ESM_CLASS_UDHI);
            assert_eq!(u8::from(pdu.data_coding), 8);
            let udh_and_text = [6, 8, 4, 0x01, 0x2C, 2, seq, 0, b'a' + seq - 1];
            assert_eq!(pdu.short_message().as_ref(), udh_and_text);
        }
        let whole = deliver_sms_for(&item, MoMultipart::Payload);
        assert_eq!(whole.len(), 1);
        assert_eq!(
            (u8::from(whole[0].esm_class), u8::from(whole[0].data_coding)),
            (0, 8)
        );
        assert!(whole[0].short_message().is_empty());
        let payload = whole[0].tlvs().iter().find_map(|tlv| match tlv.value() {
            Some(rusmpp::tlvs::TlvValue::MessagePayload(p)) => Some(p.value.as_ref().to_vec()),
            _ => None,
        });
        assert_eq!(payload.as_deref(), Some(&[0, b'a', 0, b'b'][..]));
    }

    #[test]
    fn a_sar_set_goes_with_its_sar_values() {
        let parts = deliver_sms_for(&OutboxItem::Mo(multipart(true)), MoMultipart::Parts);
        let second = smsgw_smpp::encoding::InboundPart::parse(
            u8::from(parts[1].esm_class),
            u8::from(parts[1].data_coding),
            parts[1].short_message().as_ref(),
            None,
            Some(smsgw_smpp::encoding::SegmentInfo::new(300, 2, 2).unwrap()),
        )
        .unwrap();
        assert_eq!(u8::from(parts[1].esm_class), 0);
        assert_eq!(second.payload, [0, b'b']);
        let sar: Vec<_> = parts[1]
            .tlvs()
            .iter()
            .filter_map(|tlv| match tlv.value() {
                Some(rusmpp::tlvs::TlvValue::SarMsgRefNum(n)) => Some(u32::from(*n)),
                Some(rusmpp::tlvs::TlvValue::SarTotalSegments(n)) => Some(u32::from(*n)),
                Some(rusmpp::tlvs::TlvValue::SarSegmentSeqnum(n)) => Some(u32::from(*n)),
                _ => None,
            })
            .collect();
        assert_eq!(sar, [300, 2, 2]);
    }
}
