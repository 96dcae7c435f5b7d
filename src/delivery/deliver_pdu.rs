//! The deliver_sm a client gets for a receipt (esm_class 0x04, TLVs, standard text) or an MO.

use smsgw_smpp::{
    encoding::{
        encode_text, receipt_deliver_sm, DeliveryReceipt, ReceiptDate, ReceiptStat,
        DEFAULT_PREFERENCE,
    },
    rusmpp::{
        pdus::DeliverSm,
        tlvs::MessageDeliveryRequestTlvValue,
        types::{AnyOctetString, OctetString},
        values::{DataCoding, EsmClass, MessagePayload, MessageState as SmppState},
    },
};

use crate::message::{Mo, OutboxItem, Receipt};

/// The deliver_sm for an outbox item.
pub fn deliver_sm_for(item: &OutboxItem) -> DeliverSm {
    match item {
        OutboxItem::Receipt(receipt) => receipt_pdu(receipt),
        OutboxItem::Mo(mo) => mo_pdu(mo),
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
    // Explicit: rusmpp 0.4's EsmClass::default() is 0x08, not the plain 0x00.
    let builder = DeliverSm::builder()
        .esm_class(EsmClass::from(0))
        .source_addr(mo.source.parse().unwrap_or_default())
        .destination_addr(mo.destination.parse().unwrap_or_default())
        .data_coding(DataCoding::from(encoding.data_coding()));
    if body.len() <= 254 {
        builder
            .short_message(OctetString::from_vec(body).unwrap_or_default())
            .build()
    } else {
        // Too long for short_message: the whole text in message_payload.
        builder
            .push_tlv(MessageDeliveryRequestTlvValue::MessagePayload(
                MessagePayload::new(AnyOctetString::from_vec(body)),
            ))
            .build()
    }
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
        let pdu = deliver_sm_for(&OutboxItem::Receipt(receipt));
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
            let pdu = deliver_sm_for(&OutboxItem::Mo(mo(text)));
            let decoded =
                decode_text(u8::from(pdu.data_coding), pdu.short_message().as_ref()).unwrap();
            assert_eq!(decoded, text);
        }
        let long = "x".repeat(400);
        let pdu = deliver_sm_for(&OutboxItem::Mo(mo(&long)));
        assert!(pdu.short_message().is_empty());
        assert_eq!(pdu.tlvs().len(), 1);
    }
}
