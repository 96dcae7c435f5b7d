//! Property tests across the module: round trips, and no panics on arbitrary input.

use proptest::prelude::*;
use rusmpp::{pdus::DeliverSm, types::OctetString, values::DataCoding};
use tokio::time::Instant;

use super::*;

/// Text mixing GSM, GSM escapes, Latin-1, BMP and non-BMP characters.
fn message_text() -> impl Strategy<Value = String> {
    let chars = prop_oneof![
        4 => prop::sample::select(vec!['a', ' ', '@', '€', '{', '\\', '\u{0C}', 'é', 'Z', '\n']),
        1 => prop::sample::select(vec!['â', 'ÿ', '\u{80}', 'я', '中', '😀', '🇫']),
        1 => any::<char>(),
    ];
    prop::collection::vec(chars, 0..500).prop_map(|v| v.into_iter().collect())
}

fn reassemble(parts: &[Part]) -> CompleteMessage {
    let mut reassembler = Reassembler::new(ReassemblyConfig {
        timeout: std::time::Duration::from_secs(60),
        max_pending: 4,
    });
    let now = Instant::now();
    // Reverse order to exercise out-of-order arrival.
    let mut last = None;
    for part in parts.iter().rev() {
        let inbound = InboundPart::parse(
            part.esm_class_bits,
            part.data_coding,
            &part.short_message,
            part.message_payload.as_deref(),
            part.sar,
        )
        .expect("our own parts parse");
        last = Some(
            reassembler
                .push("k", inbound, now)
                .expect("consistent parts"),
        );
    }
    match last {
        Some(Pushed::Complete(message)) => message,
        other => panic!("not complete: {other:?}"),
    }
}

proptest! {
    #[test]
    fn chosen_encoding_round_trips(text in message_text()) {
        let (encoding, bytes) = encode_text(&text, &DEFAULT_PREFERENCE).unwrap();
        prop_assert_eq!(decode_text(encoding.data_coding(), &bytes).unwrap(), text);
    }

    #[test]
    fn segmented_parts_reassemble(text in message_text(), reference: u16, sar: bool) {
        let concatenation = if sar {
            Concatenation::Sar { reference }
        } else {
            Concatenation::Udh { reference: reference as u8 }
        };
        let options = SegmentOptions { concatenation, max_segments: 255 };
        let segmented = segment(&text, &DEFAULT_PREFERENCE, &options).unwrap();
        let limits = Limits::of(segmented.encoding);
        let multipart = segmented.parts.len() > 1;
        for part in &segmented.parts {
            let body = if multipart && !sar { &part.short_message[6..] } else { &part.short_message[..] };
            let limit = if multipart { limits.part } else { limits.single };
            prop_assert!(body.len() <= limit);
            // Every part decodes alone: no escape or surrogate pair was cut.
            prop_assert!(decode_text(part.data_coding, body).is_ok());
        }
        let message = reassemble(&segmented.parts);
        prop_assert_eq!(decode_text(message.data_coding, &message.payload).unwrap(), text);
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), dc: u8) {
        let _ = decode_text(dc, &bytes);
        let _ = decode_gsm(&bytes);
        let _ = parse_udh(&bytes);
        let _ = InboundPart::parse(0x40, dc, &bytes, None, None);
        let _ = InboundPart::parse(0xFF, dc, &[], Some(&bytes), None);
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = parse_receipt_text(&lossy);
        let _ = ReceiptDate::parse(&lossy);
        for format in ReceiptIdFormat::ALL {
            let _ = format.response_form(&lossy);
        }
        if let Ok(short_message) = OctetString::from_vec(bytes.clone()) {
            let sm = DeliverSm::builder()
                .data_coding(DataCoding::from(dc))
                .short_message(short_message)
                .build();
            let _ = receipt_from_deliver_sm(&sm);
            let _ = InboundPart::from_deliver_sm(&sm);
        }
    }

    #[test]
    fn receipt_parser_never_panics(text in "\\PC{0,300}") {
        let _ = parse_receipt_text(&text);
        let _ = normalize_message_id(&text);
        for format in ReceiptIdFormat::ALL {
            let _ = format.response_form(&text);
        }
    }

    #[test]
    fn receipt_like_text_never_panics(
        fields in prop::collection::vec(
            prop::sample::select(vec![
                "id:", "ID :", "sub:", "dlvrd:", "submit date:", "Submit_Date:", "done date:",
                "stat:", "err:", "text:", "Text:", " ", "  ", "0a1B", "2401311200", "DELIVRD", "é",
            ]),
            0..30,
        )
    ) {
        let _ = parse_receipt_text(&fields.concat());
    }

    #[test]
    fn each_format_maps_a_receipt_id_to_the_resp_id(n: u64, zeros in 0usize..3, upper: bool) {
        let hex = format!("{}{n:x}", "0".repeat(zeros));
        let hex = if upper { hex.to_uppercase() } else { hex };
        let decimal = n.to_string();
        prop_assert_eq!(
            ReceiptIdFormat::HexRespDecimalReceipt.response_form(&decimal).unwrap(),
            normalize_message_id(&hex)
        );
        prop_assert_eq!(
            ReceiptIdFormat::DecimalRespHexReceipt.response_form(&hex).unwrap(),
            normalize_message_id(&decimal)
        );
        prop_assert_eq!(
            ReceiptIdFormat::Same.response_form(&hex).unwrap(),
            normalize_message_id(&hex)
        );
    }

    #[test]
    fn any_time_field_parses_or_is_refused_without_panicking(field in prop::collection::vec(any::<u8>(), 0..20)) {
        if let Ok(Some(time)) = SmppTime::parse(&field) {
            let _ = time.at_ms(u64::MAX);
        }
    }

    #[test]
    fn a_remaining_validity_written_relative_reads_back_to_the_second(seconds in 0u64..(99 * 365 * 86_400)) {
        let field = relative_time(std::time::Duration::from_secs(seconds));
        prop_assert_eq!(
            SmppTime::parse(field.as_bytes()).unwrap(),
            Some(SmppTime::Relative(std::time::Duration::from_secs(seconds)))
        );
    }
}
