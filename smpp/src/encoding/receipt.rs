//! Delivery receipts: the SMPP 3.4 Appendix B text, and the TLVs that may accompany it.
//!
//! `id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD
//! err:E text: ...`
//!
//! Parsing is tolerant of what carriers send: fields missing or reordered, keys and stat values
//! in any case, runs of spaces, 10- or 12-digit dates, `Text:` for `text:`. Everything after
//! `text:` is the text, whatever it contains. Fields that are present but unreadable (a date
//! with letters) are left out rather than failing the whole receipt.

use std::fmt;

use rusmpp::{
    pdus::DeliverSm,
    tlvs::{Tlv, TlvValue},
    values::{MessageState, NetworkErrorCode},
};

/// Bits of esm_class that carry the message type.
const ESM_CLASS_TYPE_MASK: u8 = 0x3C;

/// esm_class message type of an SMSC delivery receipt.
const ESM_CLASS_DELIVERY_RECEIPT: u8 = 0x04;

/// Whether a `deliver_sm` with this esm_class is an SMSC delivery receipt.
pub fn is_delivery_receipt(esm_class: u8) -> bool {
    esm_class & ESM_CLASS_TYPE_MASK == ESM_CLASS_DELIVERY_RECEIPT
}

/// A receipt date: `YYMMDDhhmm`, with seconds when the carrier sends 12 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptDate {
    pub year: u8,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: Option<u8>,
}

impl ReceiptDate {
    /// Reads 10 or 12 digits; anything else, or an impossible date, is `None`.
    pub fn parse(value: &str) -> Option<Self> {
        let digits = value.trim().as_bytes();
        if !(digits.len() == 10 || digits.len() == 12) || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let pair = |i: usize| (digits[i] - b'0') * 10 + (digits[i + 1] - b'0');
        let date = Self {
            year: pair(0),
            month: pair(2),
            day: pair(4),
            hour: pair(6),
            minute: pair(8),
            second: (digits.len() == 12).then(|| pair(10)),
        };
        let valid = (1..=12).contains(&date.month)
            && (1..=31).contains(&date.day)
            && date.hour < 24
            && date.minute < 60
            && date.second.is_none_or(|s| s < 60);
        valid.then_some(date)
    }
}

impl fmt::Display for ReceiptDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute
        )?;
        match self.second {
            Some(second) => write!(f, "{second:02}"),
            None => Ok(()),
        }
    }
}

/// The receipt's final state, and how it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptStat {
    pub state: MessageState,
    /// The text as received (or the standard code when it came from the TLV).
    pub raw: String,
    /// False when `raw` was not a known code and `state` defaulted to UNKNOWN; log it.
    pub recognised: bool,
}

impl ReceiptStat {
    /// Maps a `stat:` value, in any case; unknown values become UNKNOWN, not recognised.
    pub fn parse(value: &str) -> Self {
        let raw = value.trim().to_owned();
        let state = match raw.to_ascii_uppercase().as_str() {
            "ENROUTE" => Some(MessageState::Enroute),
            "DELIVRD" | "DELIVERED" => Some(MessageState::Delivered),
            "EXPIRED" => Some(MessageState::Expired),
            "DELETED" => Some(MessageState::Deleted),
            "UNDELIV" | "UNDELIVERABLE" => Some(MessageState::Undeliverable),
            "ACCEPTD" | "ACCEPTED" => Some(MessageState::Accepted),
            "UNKNOWN" => Some(MessageState::Unknown),
            "REJECTD" | "REJECTED" => Some(MessageState::Rejected),
            _ => None,
        };
        Self {
            state: state.unwrap_or(MessageState::Unknown),
            raw,
            recognised: state.is_some(),
        }
    }

    /// The stat for a `message_state` TLV value.
    pub fn from_state(state: MessageState) -> Self {
        Self {
            state,
            raw: stat_code(state).to_owned(),
            recognised: true,
        }
    }
}

/// The 7-letter receipt code for a state.
pub fn stat_code(state: MessageState) -> &'static str {
    match state {
        MessageState::Enroute => "ENROUTE",
        MessageState::Delivered => "DELIVRD",
        MessageState::Expired => "EXPIRED",
        MessageState::Deleted => "DELETED",
        MessageState::Undeliverable => "UNDELIV",
        MessageState::Accepted => "ACCEPTD",
        MessageState::Rejected => "REJECTD",
        _ => "UNKNOWN",
    }
}

/// A delivery receipt. Numeric fields keep the carrier's text (`"001"`, `"0x1F"`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeliveryReceipt {
    pub id: String,
    pub sub: Option<String>,
    pub dlvrd: Option<String>,
    pub submit_date: Option<ReceiptDate>,
    pub done_date: Option<ReceiptDate>,
    pub stat: Option<ReceiptStat>,
    pub err: Option<String>,
    pub text: Option<String>,
    /// From the `network_error_code` TLV, when the receipt came in a `deliver_sm` with one.
    pub network_error: Option<NetworkErrorCode>,
}

/// A receipt that cannot be correlated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("no message id in the receipt text or receipted_message_id TLV")]
    MissingId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Sub,
    Dlvrd,
    SubmitDate,
    DoneDate,
    Stat,
    Err,
    Text,
}

/// Keys as words; between words any run of spaces or underscores is accepted.
const KEYS: [(&[&str], Field); 8] = [
    (&["id"], Field::Id),
    (&["sub"], Field::Sub),
    (&["dlvrd"], Field::Dlvrd),
    (&["submit", "date"], Field::SubmitDate),
    (&["done", "date"], Field::DoneDate),
    (&["stat"], Field::Stat),
    (&["err"], Field::Err),
    (&["text"], Field::Text),
];

/// Parses receipt text; the id is required, every other field optional.
pub fn parse_receipt_text(text: &str) -> Result<DeliveryReceipt, ReceiptError> {
    let receipt = scan_fields(text);
    if receipt.id.is_empty() {
        return Err(ReceiptError::MissingId);
    }
    Ok(receipt)
}

fn scan_fields(text: &str) -> DeliveryReceipt {
    // ASCII lowercasing keeps byte offsets, so positions found here index `text` too.
    let lower = text.to_ascii_lowercase();
    let mut found: Vec<(usize, usize, Field)> = Vec::new();
    let mut previous_is_space = true;
    for (start, ch) in text.char_indices() {
        if previous_is_space {
            if let Some((value_start, field)) = match_key(&lower, start) {
                found.push((start, value_start, field));
                if field == Field::Text {
                    break;
                }
            }
        }
        previous_is_space = ch.is_whitespace();
    }

    let mut receipt = DeliveryReceipt::default();
    for (i, &(_, value_start, field)) in found.iter().enumerate() {
        let value_end = found.get(i + 1).map_or(text.len(), |&(next, _, _)| next);
        let value = text.get(value_start..value_end).unwrap_or("").trim();
        let owned = || Some(value.to_owned());
        match field {
            Field::Id if receipt.id.is_empty() => receipt.id = value.to_owned(),
            Field::Sub if receipt.sub.is_none() => receipt.sub = owned(),
            Field::Dlvrd if receipt.dlvrd.is_none() => receipt.dlvrd = owned(),
            Field::SubmitDate if receipt.submit_date.is_none() => {
                receipt.submit_date = ReceiptDate::parse(value)
            }
            Field::DoneDate if receipt.done_date.is_none() => {
                receipt.done_date = ReceiptDate::parse(value)
            }
            Field::Stat if receipt.stat.is_none() => receipt.stat = Some(ReceiptStat::parse(value)),
            Field::Err if receipt.err.is_none() => receipt.err = owned(),
            Field::Text => receipt.text = owned(),
            _ => {}
        }
    }
    receipt
}

/// If a key starts at `start`, returns where its value starts (after the colon).
fn match_key(lower: &str, start: usize) -> Option<(usize, Field)> {
    let rest = lower.get(start..)?;
    KEYS.iter().find_map(|&(words, field)| {
        let mut pos = 0;
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                pos += skip(&rest[pos..], |c| c == ' ' || c == '_');
            }
            pos += rest[pos..].starts_with(word).then_some(word.len())?;
        }
        pos += skip(&rest[pos..], |c| c == ' ' || c == '\t');
        rest[pos..]
            .starts_with(':')
            .then_some((start + pos + 1, field))
    })
}

fn skip(s: &str, pred: impl Fn(char) -> bool) -> usize {
    s.find(|c: char| !pred(c)).unwrap_or(s.len())
}

impl DeliveryReceipt {
    /// The standard text. Missing counts are written as `001`/`000`, missing `err` as `000`;
    /// missing dates are left out.
    pub fn to_text(&self) -> String {
        let state = self.stat.as_ref().map(|s| s.state);
        let delivered = state == Some(MessageState::Delivered);
        let mut out = format!(
            "id:{} sub:{} dlvrd:{}",
            self.id,
            self.sub.as_deref().unwrap_or("001"),
            self.dlvrd
                .as_deref()
                .unwrap_or(if delivered { "001" } else { "000" }),
        );
        if let Some(date) = self.submit_date {
            out.push_str(&format!(" submit date:{date}"));
        }
        if let Some(date) = self.done_date {
            out.push_str(&format!(" done date:{date}"));
        }
        out.push_str(&format!(
            " stat:{} err:{} text:{}",
            state.map_or("UNKNOWN", stat_code),
            self.err.as_deref().unwrap_or("000"),
            self.text.as_deref().unwrap_or(""),
        ));
        out
    }
}

/// The receipt in a `deliver_sm`: its text, overridden by the `receipted_message_id` and
/// `message_state` TLVs when present, plus `network_error_code`.
///
/// The body is `message_payload` when present, else `short_message`; UCS-2 bodies
/// (`data_coding` 8) are decoded as such, anything else byte-per-character, which leaves the
/// ASCII of a receipt intact whatever the carrier declared.
pub fn receipt_from_deliver_sm(sm: &DeliverSm) -> Result<DeliveryReceipt, ReceiptError> {
    let values = || sm.tlvs().iter().filter_map(Tlv::value);
    let body = values()
        .find_map(|v| match v {
            TlvValue::MessagePayload(p) => Some(p.value.as_ref()),
            _ => None,
        })
        .unwrap_or(sm.short_message().as_ref());
    let text = if u8::from(sm.data_coding) == 0x08 {
        let units: Vec<u16> = body
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        body.iter().map(|&b| char::from(b)).collect()
    };

    let mut receipt = scan_fields(&text);
    for value in values() {
        match value {
            TlvValue::ReceiptedMessageId(id) => receipt.id = id.as_str().trim().to_owned(),
            TlvValue::MessageState(state) => receipt.stat = Some(ReceiptStat::from_state(*state)),
            TlvValue::NetworkErrorCode(code) => receipt.network_error = Some(code.clone()),
            _ => {}
        }
    }
    if receipt.id.is_empty() {
        return Err(ReceiptError::MissingId);
    }
    Ok(receipt)
}

#[cfg(test)]
mod tests {
    use rusmpp::{
        tlvs::MessageDeliveryRequestTlvValue,
        types::{COctetString, OctetString},
        values::{DataCoding, ErrorCodeNetworkType},
    };

    use super::*;

    fn date(s: &str) -> Option<ReceiptDate> {
        ReceiptDate::parse(s)
    }

    #[test]
    fn standard_receipt() {
        let r = parse_receipt_text(
            "id:0123456789 sub:001 dlvrd:001 submit date:2401311200 done date:2401311201 \
             stat:DELIVRD err:000 text:Hello world",
        )
        .unwrap();
        assert_eq!(r.id, "0123456789");
        assert_eq!(r.sub.as_deref(), Some("001"));
        assert_eq!(r.dlvrd.as_deref(), Some("001"));
        assert_eq!(r.submit_date, date("2401311200"));
        assert_eq!(
            r.done_date.map(|d| (d.day, d.hour, d.minute)),
            Some((31, 12, 1))
        );
        let stat = r.stat.unwrap();
        assert_eq!(
            (stat.state, stat.recognised),
            (MessageState::Delivered, true)
        );
        assert_eq!(r.err.as_deref(), Some("000"));
        assert_eq!(r.text.as_deref(), Some("Hello world"));
    }

    #[test]
    fn carrier_variants() {
        // Upper-case keys, `Text:`, 12-digit dates, double spaces, lower-case stat, hex id.
        let r = parse_receipt_text(
            "ID:7f3a9c  SUB:1 DLVRD:1 Submit Date:240131120059  Done Date:240131120112 \
             Stat:delivrd Err:0 Text:id:trick stat:REJECTD",
        )
        .unwrap();
        assert_eq!(r.id, "7f3a9c");
        assert_eq!(r.submit_date.and_then(|d| d.second), Some(59));
        assert_eq!(r.stat.unwrap().state, MessageState::Delivered);
        assert_eq!(r.text.as_deref(), Some("id:trick stat:REJECTD"));

        // Missing fields, spaces around colons, underscore key, long-form stat.
        let r = parse_receipt_text("id : 42 submit_date:2402010000 stat : UNDELIVERABLE err:0x1F")
            .unwrap();
        assert_eq!(r.id, "42");
        assert!(r.submit_date.is_some());
        assert_eq!(r.stat.unwrap().state, MessageState::Undeliverable);
        assert_eq!(r.err.as_deref(), Some("0x1F"));
        assert_eq!((r.sub, r.done_date, r.text), (None, None, None));

        // Fields in another order, no text.
        let r = parse_receipt_text("stat:EXPIRED id:abc err:027").unwrap();
        assert_eq!(
            (r.id.as_str(), r.stat.unwrap().state),
            ("abc", MessageState::Expired)
        );
    }

    #[test]
    fn stat_mapping() {
        for (code, state) in [
            ("ENROUTE", MessageState::Enroute),
            ("DELIVRD", MessageState::Delivered),
            ("EXPIRED", MessageState::Expired),
            ("DELETED", MessageState::Deleted),
            ("UNDELIV", MessageState::Undeliverable),
            ("ACCEPTD", MessageState::Accepted),
            ("UNKNOWN", MessageState::Unknown),
            ("REJECTD", MessageState::Rejected),
        ] {
            let stat = ReceiptStat::parse(code);
            assert_eq!((stat.state, stat.recognised), (state, true), "{code}");
            assert_eq!(stat_code(state), code);
        }
        assert_eq!(u8::from(MessageState::Delivered), 2);
        assert_eq!(u8::from(MessageState::Rejected), 8);
        let odd = ReceiptStat::parse("FAILED");
        assert_eq!(
            (odd.state, odd.recognised, odd.raw.as_str()),
            (MessageState::Unknown, false, "FAILED")
        );
    }

    #[test]
    fn bad_dates_are_dropped_and_missing_id_is_an_error() {
        assert_eq!(date("2413011200"), None);
        assert_eq!(date("24010112"), None);
        assert_eq!(date("24010112a0"), None);
        assert_eq!(
            parse_receipt_text("stat:DELIVRD"),
            Err(ReceiptError::MissingId)
        );
        assert_eq!(parse_receipt_text(""), Err(ReceiptError::MissingId));
    }

    #[test]
    fn build_and_parse_round_trip() {
        let receipt = DeliveryReceipt {
            id: "1a2b".into(),
            submit_date: date("2401311200"),
            done_date: date("240131120159"),
            stat: Some(ReceiptStat::from_state(MessageState::Delivered)),
            text: Some("Hi there".into()),
            ..Default::default()
        };
        let text = receipt.to_text();
        assert_eq!(
            text,
            "id:1a2b sub:001 dlvrd:001 submit date:2401311200 done date:240131120159 \
             stat:DELIVRD err:000 text:Hi there"
        );
        let back = parse_receipt_text(&text).unwrap();
        assert_eq!(back.id, receipt.id);
        assert_eq!(back.done_date, receipt.done_date);
        assert_eq!(back.stat, receipt.stat);
        assert_eq!(back.text, receipt.text);
    }

    #[test]
    fn tlvs_take_precedence_over_text() {
        let sm = DeliverSm::builder()
            .esm_class(0x04.into())
            .short_message(
                OctetString::from_static_slice(b"id:999 stat:ENROUTE err:000 text:x").unwrap(),
            )
            .push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(
                COctetString::from_static_slice(b"3E7\0").unwrap(),
            ))
            .push_tlv(MessageDeliveryRequestTlvValue::MessageState(
                MessageState::Undeliverable,
            ))
            .push_tlv(MessageDeliveryRequestTlvValue::NetworkErrorCode(
                NetworkErrorCode::new(ErrorCodeNetworkType::Gsm, 34),
            ))
            .build();
        assert!(is_delivery_receipt(u8::from(sm.esm_class)));
        let r = receipt_from_deliver_sm(&sm).unwrap();
        assert_eq!(r.id, "3E7");
        assert_eq!(r.stat.unwrap().state, MessageState::Undeliverable);
        assert_eq!(r.err.as_deref(), Some("000"));
        assert_eq!(r.network_error.map(|n| n.error_code), Some(34));
        assert_eq!(
            crate::encoding::ReceiptIdFormat::DecimalRespHexReceipt.response_form(&r.id),
            Ok("999".to_owned())
        );
    }

    #[test]
    fn ucs2_receipt_body_and_tlv_only_receipt() {
        let body: Vec<u8> = "id:5 stat:DELIVRD"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        let sm = DeliverSm::builder()
            .data_coding(DataCoding::Ucs2)
            .short_message(OctetString::from_vec(body).unwrap())
            .build();
        assert_eq!(receipt_from_deliver_sm(&sm).unwrap().id, "5");

        let sm = DeliverSm::builder()
            .push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(
                COctetString::from_static_slice(b"77\0").unwrap(),
            ))
            .build();
        assert_eq!(receipt_from_deliver_sm(&sm).unwrap().id, "77");
        assert_eq!(
            receipt_from_deliver_sm(&DeliverSm::default()),
            Err(ReceiptError::MissingId)
        );
    }
}
