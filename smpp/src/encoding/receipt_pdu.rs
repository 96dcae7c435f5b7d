//! The deliver_sm that carries a delivery receipt: esm_class 0x04, the standard text, and the
//! receipted_message_id and message_state TLVs that careful ESMEs read first.

use rusmpp::{
    pdus::DeliverSm,
    tlvs::MessageDeliveryRequestTlvValue,
    types::{COctetString, OctetString},
    values::{EsmClass, MessageState},
};

use super::receipt::{DeliveryReceipt, ReceiptDate};

/// esm_class of a deliver_sm that is an SMSC delivery receipt.
pub const ESM_CLASS_DELIVERY_RECEIPT: u8 = 0x04;

impl ReceiptDate {
    /// The UTC date of a Unix time in milliseconds, to the second.
    pub fn from_unix_ms(ms: u64) -> Self {
        let seconds = ms / 1000;
        let days = (seconds / 86_400) as i64;
        let of_day = seconds % 86_400;
        let (year, month, day) = civil_from_days(days);
        Self {
            year: (year.rem_euclid(100)) as u8,
            month,
            day,
            hour: (of_day / 3600) as u8,
            minute: (of_day / 60 % 60) as u8,
            second: Some((of_day % 60) as u8),
        }
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A receipt deliver_sm from `source` (the MT's destination) to `destination` (its sender).
/// Addresses too long for SMPP (over 20 characters) are left empty rather than refused.
pub fn receipt_deliver_sm(receipt: &DeliveryReceipt, source: &str, destination: &str) -> DeliverSm {
    let text = receipt.to_text();
    let mut body = text.into_bytes();
    body.truncate(254);
    let state = receipt
        .stat
        .as_ref()
        .map_or(MessageState::Unknown, |s| s.state);
    let mut tlvs = vec![MessageDeliveryRequestTlvValue::MessageState(state)];
    if let Ok(id) = COctetString::from_vec([receipt.id.as_bytes(), b"\0"].concat()) {
        tlvs.push(MessageDeliveryRequestTlvValue::ReceiptedMessageId(id));
    }
    DeliverSm::builder()
        .source_addr(source.parse().unwrap_or_default())
        .destination_addr(destination.parse().unwrap_or_default())
        .esm_class(EsmClass::from(ESM_CLASS_DELIVERY_RECEIPT))
        .short_message(OctetString::from_vec(body).unwrap_or_default())
        .tlvs(tlvs)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::{receipt_from_deliver_sm, ReceiptStat};

    #[test]
    fn rusmpp_default_esm_class_is_not_zero_so_we_always_set_it() {
        // rusmpp 0.4 defaults the ANSI-41 bits to "delivery acknowledgement" (0x08); every PDU
        // we build sets esm_class explicitly. If this starts failing, the quirk is gone.
        assert_eq!(u8::from(EsmClass::default()), 0x08);
    }

    #[test]
    fn dates_from_unix_time() {
        // 2026-11-25 01:14:36 UTC
        let date = ReceiptDate::from_unix_ms(1_795_569_276_000);
        assert_eq!(date.to_string(), "261125011436");
        assert_eq!(ReceiptDate::from_unix_ms(0).to_string(), "700101000000");
        // leap day
        assert_eq!(
            ReceiptDate::from_unix_ms(951_782_400_000).to_string(),
            "000229000000"
        );
    }

    #[test]
    fn a_receipt_pdu_reads_back_with_tlvs_and_text() {
        let receipt = DeliveryReceipt {
            id: "gw-1-abc".into(),
            sub: None,
            dlvrd: None,
            submit_date: Some(ReceiptDate::from_unix_ms(1_795_569_276_000)),
            done_date: Some(ReceiptDate::from_unix_ms(1_795_569_286_000)),
            stat: Some(ReceiptStat::from_state(MessageState::Undeliverable)),
            err: Some("001".into()),
            text: Some("hello".into()),
            network_error: None,
        };
        let pdu = receipt_deliver_sm(&receipt, "447700900001", "ACME");
        assert_eq!(u8::from(pdu.esm_class), ESM_CLASS_DELIVERY_RECEIPT);
        let back = receipt_from_deliver_sm(&pdu).unwrap();
        assert_eq!(back.id, "gw-1-abc");
        assert_eq!(back.stat.unwrap().state, MessageState::Undeliverable);
        assert_eq!(back.err.as_deref(), Some("001"));
        let text = String::from_utf8(pdu.short_message().to_vec()).unwrap();
        assert!(text.contains("stat:UNDELIV"), "{text}");
    }
}
