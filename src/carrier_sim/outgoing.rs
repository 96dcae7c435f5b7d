//! What the simulator sends back to the gateway, kept compact while it waits in the outbox and
//! turned into a deliver_sm only when it is sent: delivery receipts and MOs.

use std::time::{SystemTime, UNIX_EPOCH};

use smsgw_smpp::{
    bind::c_string,
    encoding::{decode_text, parse_udh, DeliveryReceipt, ReceiptDate, ReceiptStat},
    rusmpp::{
        pdus::{DeliverSm, SubmitSm},
        tlvs::{MessageDeliveryRequestTlvValue, TlvValue},
        types::{COctetString, OctetString},
        values::{DataCoding, EsmClass, MessagePayload, MessageState, Npi, Ton},
    },
};

use super::{ids::IdStyle, rules::error_code};

/// esm_class of a delivery receipt (message type "SMSC delivery receipt").
const ESM_CLASS_RECEIPT: u8 = 0x04;
/// esm_class bit: short_message starts with a user data header.
const ESM_CLASS_UDHI: u8 = 0x40;
/// How many characters of the original text a receipt quotes.
const RECEIPT_EXCERPT_CHARS: usize = 20;

/// One end of a message: TON, NPI and address.
#[derive(Debug, Clone)]
pub struct Party {
    pub ton: Ton,
    pub npi: Npi,
    pub addr: COctetString<1, 21>,
}

impl Party {
    pub fn source_of(submit: &SubmitSm) -> Self {
        Self {
            ton: submit.source_addr_ton,
            npi: submit.source_addr_npi,
            addr: submit.source_addr.clone(),
        }
    }

    pub fn destination_of(submit: &SubmitSm) -> Self {
        Self {
            ton: submit.dest_addr_ton,
            npi: submit.dest_addr_npi,
            addr: submit.destination_addr.clone(),
        }
    }

    /// A party from configuration (unknown TON/NPI); `None` for an address SMPP cannot carry.
    pub fn from_address(addr: &str) -> Option<Self> {
        Some(Self {
            ton: Ton::Unknown,
            npi: Npi::Unknown,
            addr: c_string(addr)?,
        })
    }
}

/// A message waiting to go back to the gateway.
#[derive(Debug, Clone)]
pub enum Outgoing {
    Receipt(SimReceipt),
    Mo(SimMo),
}

/// A delivery receipt for one accepted submit_sm.
#[derive(Debug, Clone)]
pub struct SimReceipt {
    pub message_id: u64,
    pub state: MessageState,
    /// When the submit_sm was accepted, seconds since the Unix epoch.
    pub submitted_at: u64,
    /// The MT's destination: the receipt comes from the handset.
    pub from: Party,
    /// The MT's source.
    pub to: Party,
    /// The first characters of the MT's text, ASCII only.
    pub excerpt: Box<str>,
}

/// A mobile-originated message.
#[derive(Debug, Clone)]
pub struct SimMo {
    pub from: Party,
    pub to: Party,
    pub data_coding: DataCoding,
    /// Whether `body` starts with a user data header (a part of a concatenated message).
    pub udhi: bool,
    pub body: Body,
    /// SAR TLVs (reference, total, sequence) of a segmented message.
    pub sar: Option<(u16, u8, u8)>,
}

/// A message body: short_message, or message_payload when it was carried that way.
#[derive(Debug, Clone)]
pub enum Body {
    Short(OctetString<0, 255>),
    Payload(MessagePayload),
}

impl Outgoing {
    /// A short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Outgoing::Receipt(_) => "dr",
            Outgoing::Mo(_) => "mo",
        }
    }

    pub fn to_deliver_sm(&self, id_style: IdStyle) -> DeliverSm {
        match self {
            Outgoing::Receipt(receipt) => receipt.to_deliver_sm(id_style),
            Outgoing::Mo(mo) => mo.to_deliver_sm(),
        }
    }
}

impl SimReceipt {
    /// The receipt for `submit`, which got `message_id` and reached `state`.
    pub fn for_submit(submit: &SubmitSm, message_id: u64, state: MessageState) -> Self {
        Self {
            message_id,
            state,
            submitted_at: unix_now(),
            from: Party::destination_of(submit),
            to: Party::source_of(submit),
            excerpt: excerpt(submit).into_boxed_str(),
        }
    }

    /// The receipt text, in the SMPP 3.4 Appendix B format.
    pub fn text(&self, id_style: IdStyle) -> String {
        let delivered = self.state == MessageState::Delivered;
        DeliveryReceipt {
            id: id_style.receipt_id(self.message_id),
            sub: Some("001".into()),
            dlvrd: Some(if delivered { "001" } else { "000" }.into()),
            submit_date: Some(receipt_date(self.submitted_at)),
            done_date: Some(receipt_date(unix_now())),
            stat: Some(ReceiptStat::from_state(self.state)),
            err: Some(error_code(self.state).into()),
            text: Some(self.excerpt.to_string()),
            network_error: None,
        }
        .to_text()
    }

    fn to_deliver_sm(&self, id_style: IdStyle) -> DeliverSm {
        let text = self.text(id_style);
        // The text is ASCII and at most ~150 octets: it always fits short_message.
        let short_message = OctetString::from_vec(text.into_bytes()).unwrap_or_default();
        let receipted_id = c_string(&id_style.receipt_id(self.message_id)).unwrap_or_default();
        DeliverSm::builder()
            .source_addr_ton(self.from.ton)
            .source_addr_npi(self.from.npi)
            .source_addr(self.from.addr.clone())
            .dest_addr_ton(self.to.ton)
            .dest_addr_npi(self.to.npi)
            .destination_addr(self.to.addr.clone())
            .esm_class(EsmClass::from(ESM_CLASS_RECEIPT))
            .short_message(short_message)
            .push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(
                receipted_id,
            ))
            .push_tlv(MessageDeliveryRequestTlvValue::MessageState(self.state))
            .build()
    }
}

impl SimMo {
    /// The MT's text sent back from its destination to its source, parts and SAR kept.
    pub fn echo_of(submit: &SubmitSm) -> Self {
        let payload = submit.tlvs().iter().find_map(|tlv| match tlv.value() {
            Some(TlvValue::MessagePayload(payload)) => Some(payload.clone()),
            _ => None,
        });
        let body = match payload {
            Some(payload) if submit.short_message().as_ref().is_empty() => Body::Payload(payload),
            _ => Body::Short(submit.short_message().clone()),
        };
        Self {
            from: Party::destination_of(submit),
            to: Party::source_of(submit),
            data_coding: submit.data_coding,
            udhi: u8::from(submit.esm_class) & ESM_CLASS_UDHI != 0,
            body,
            sar: sar_of(submit),
        }
    }

    /// A plain text MO (GSM default alphabet; `text` should be ASCII).
    pub fn text(from: Party, to: Party, text: &str) -> Self {
        let bytes = text.as_bytes();
        let body = match OctetString::from_vec(bytes.to_vec()) {
            Ok(short) => Body::Short(short),
            Err(_) => Body::Payload(MessagePayload::new(bytes.to_vec().into())),
        };
        Self {
            from,
            to,
            data_coding: DataCoding::McSpecific,
            udhi: false,
            body,
            sar: None,
        }
    }

    fn to_deliver_sm(&self) -> DeliverSm {
        let mut builder = DeliverSm::builder()
            .source_addr_ton(self.from.ton)
            .source_addr_npi(self.from.npi)
            .source_addr(self.from.addr.clone())
            .dest_addr_ton(self.to.ton)
            .dest_addr_npi(self.to.npi)
            .destination_addr(self.to.addr.clone())
            .esm_class(EsmClass::from(if self.udhi { ESM_CLASS_UDHI } else { 0 }))
            .data_coding(self.data_coding);
        builder = match &self.body {
            Body::Short(short) => builder.short_message(short.clone()),
            Body::Payload(payload) => builder.push_tlv(
                MessageDeliveryRequestTlvValue::MessagePayload(payload.clone()),
            ),
        };
        if let Some((reference, total, sequence)) = self.sar {
            builder = builder
                .push_tlv(MessageDeliveryRequestTlvValue::SarMsgRefNum(reference))
                .push_tlv(MessageDeliveryRequestTlvValue::SarTotalSegments(total))
                .push_tlv(MessageDeliveryRequestTlvValue::SarSegmentSeqnum(sequence));
        }
        builder.build()
    }
}

fn sar_of(submit: &SubmitSm) -> Option<(u16, u8, u8)> {
    let (mut reference, mut total, mut sequence) = (None, None, None);
    for value in submit.tlvs().iter().filter_map(|tlv| tlv.value()) {
        match value {
            TlvValue::SarMsgRefNum(v) => reference = Some(*v),
            TlvValue::SarTotalSegments(v) => total = Some(*v),
            TlvValue::SarSegmentSeqnum(v) => sequence = Some(*v),
            _ => {}
        }
    }
    Some((reference?, total?, sequence?))
}

/// The first characters of an MT's text (after any UDH), non-printable or non-ASCII
/// characters replaced by `?` so the receipt stays plain ASCII.
pub fn excerpt(submit: &SubmitSm) -> String {
    let mut body: &[u8] = submit.short_message().as_ref();
    if body.is_empty() {
        if let Some(payload) = submit.tlvs().iter().find_map(|tlv| match tlv.value() {
            Some(TlvValue::MessagePayload(payload)) => Some(payload),
            _ => None,
        }) {
            body = payload.value.as_ref();
        }
    }
    if u8::from(submit.esm_class) & ESM_CLASS_UDHI != 0 {
        body = parse_udh(body).map_or(&[][..], |parsed| parsed.payload);
    }
    let data_coding = u8::from(submit.data_coding);
    let text = decode_text(data_coding, body)
        .unwrap_or_else(|_| body.iter().map(|&b| char::from(b)).collect());
    text.chars()
        .take(RECEIPT_EXCERPT_CHARS)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// `YYMMDDhhmm` in UTC for a Unix time (10 digits, as most carriers write it).
pub fn receipt_date(unix_seconds: u64) -> ReceiptDate {
    ReceiptDate {
        second: None,
        ..ReceiptDate::from_unix_ms(unix_seconds.saturating_mul(1000))
    }
}

#[cfg(test)]
mod tests {
    use smsgw_smpp::encoding::{concat_udh, receipt_from_deliver_sm};

    use super::*;

    fn submit(destination: &str, text: &[u8]) -> SubmitSm {
        SubmitSm::builder()
            .source_addr("12345".parse().unwrap())
            .destination_addr(destination.parse().unwrap())
            .short_message(OctetString::from_vec(text.to_vec()).unwrap())
            .build()
    }

    #[test]
    fn dates_in_utc() {
        // 2024-02-29 23:59:30 UTC
        let date = receipt_date(1_709_251_170);
        assert_eq!(date.to_string(), "2402292359");
        assert_eq!(receipt_date(0).to_string(), "7001010000");
        // 2000-03-01 00:00 UTC
        assert_eq!(receipt_date(951_868_800).to_string(), "0003010000");
    }

    #[test]
    fn receipt_reads_back_with_swapped_addresses() {
        let mt = submit("447700900123", b"Hello there, this is a long text");
        let receipt = SimReceipt::for_submit(&mt, 1234567, MessageState::Undeliverable);
        let pdu = Outgoing::Receipt(receipt).to_deliver_sm(IdStyle::Hex);
        assert_eq!(u8::from(pdu.esm_class), 0x04);
        assert_eq!(pdu.source_addr.as_str(), "447700900123");
        assert_eq!(pdu.destination_addr.as_str(), "12345");
        let text = String::from_utf8(pdu.short_message().as_ref().to_vec()).unwrap();
        assert!(
            text.starts_with("id:1234567 sub:001 dlvrd:000 submit date:"),
            "{text}"
        );
        assert!(
            text.ends_with("stat:UNDELIV err:001 text:Hello there, this is"),
            "{text}"
        );
        let parsed = receipt_from_deliver_sm(&pdu).unwrap();
        assert_eq!(parsed.id, "1234567");
        assert_eq!(parsed.stat.unwrap().state, MessageState::Undeliverable);
        assert!(parsed.submit_date.is_some() && parsed.done_date.is_some());
    }

    #[test]
    fn excerpt_skips_udh_and_decodes_ucs2() {
        let mut body = concat_udh(7, 2, 1).to_vec();
        body.extend_from_slice(b"part one");
        let mt = SubmitSm::builder()
            .esm_class(EsmClass::from(0x40))
            .short_message(OctetString::from_vec(body).unwrap())
            .build();
        assert_eq!(excerpt(&mt), "part one");

        let ucs2: Vec<u8> = "h\u{e9}llo \u{1F600}"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        let mt = SubmitSm::builder()
            .data_coding(DataCoding::Ucs2)
            .short_message(OctetString::from_vec(ucs2).unwrap())
            .build();
        assert_eq!(excerpt(&mt), "h?llo ?");
    }

    #[test]
    fn echo_keeps_body_coding_and_udhi() {
        let mut body = concat_udh(9, 2, 2).to_vec();
        body.extend_from_slice(b"tail");
        let mt = SubmitSm::builder()
            .source_addr("12345".parse().unwrap())
            .destination_addr("99901".parse().unwrap())
            .esm_class(EsmClass::from(0x40))
            .data_coding(DataCoding::Latin1)
            .short_message(OctetString::from_vec(body.clone()).unwrap())
            .build();
        let pdu = Outgoing::Mo(SimMo::echo_of(&mt)).to_deliver_sm(IdStyle::Decimal);
        assert_eq!(u8::from(pdu.esm_class), 0x40);
        assert_eq!(pdu.data_coding, DataCoding::Latin1);
        assert_eq!(pdu.short_message().as_ref(), body.as_slice());
        assert_eq!(pdu.source_addr.as_str(), "99901");
        assert_eq!(pdu.destination_addr.as_str(), "12345");
    }
}
