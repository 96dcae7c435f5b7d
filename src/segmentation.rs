//! How many parts an MT is, and what they are: GSM 7-bit, else Latin-1 or UCS-2 (the smallest
//! encoding that fits), concatenated with UDH. Accepting an MT counts its parts against the
//! account's limit with [`count_parts`], the one rule for every interface; submitting it
//! sends them.

use smsgw_smpp::encoding::{
    segment, Concatenation, Limits, Part, SegmentError, SegmentOptions, DEFAULT_PREFERENCE,
};

use crate::message::Payload;

/// Most parts an MT may have.
pub const MAX_PARTS: u8 = 255;

/// The parts a text becomes; the gateway checks the count against the account's limit.
pub fn segment_text(
    text: &str,
    max_segments: u8,
    reference: u8,
) -> Result<Vec<Part>, SegmentError> {
    let options = SegmentOptions {
        concatenation: Concatenation::Udh { reference },
        max_segments,
    };
    Ok(segment(text, &DEFAULT_PREFERENCE, &options)?.parts)
}

/// How many parts `payload` is on the air, at most `max_segments`, whichever interface it
/// came in on. A text: as [`segment_text`] splits it. A client's PDU: its `short_message` is
/// one part (a part of the client's own concatenation, if any); a `message_payload` is split
/// by the carrier, so it counts as the parts its length needs in its `data_coding` (160 / 153
/// septets for GSM, 140 / 134 octets otherwise), the same limits as a text's.
pub fn count_parts(payload: &Payload, max_segments: u8) -> Result<u8, SegmentError> {
    let needed = match payload {
        Payload::Text(text) => segment_text(text, max_segments, 0)?.len(),
        Payload::Pdu {
            data_coding,
            message_payload: Some(body),
            ..
        } if !body.is_empty() => Limits::of_data_coding(*data_coding).parts_for(body.len()),
        Payload::Pdu { .. } => 1,
    };
    if needed > usize::from(max_segments) {
        return Err(SegmentError::TooManySegments {
            needed,
            max: max_segments,
        });
    }
    // At most max_segments, which is a u8.
    Ok(needed as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload_pdu(data_coding: u8, len: usize) -> Payload {
        Payload::Pdu {
            data_coding,
            esm_class: 0,
            short_message: Vec::new(),
            message_payload: Some(vec![b'a'; len]),
            sar: None,
        }
    }

    #[test]
    fn a_message_payload_counts_like_the_same_text() {
        let text = Payload::Text("a".repeat(400));
        assert_eq!(count_parts(&text, 10), Ok(3));
        assert_eq!(count_parts(&payload_pdu(0x00, 400), 10), Ok(3));
        assert_eq!(count_parts(&payload_pdu(0x00, 160), 10), Ok(1));
        assert_eq!(count_parts(&payload_pdu(0x08, 400), 10), Ok(3));
        assert_eq!(count_parts(&payload_pdu(0x04, 141), 10), Ok(2));
    }

    #[test]
    fn a_long_message_payload_is_refused_past_the_limit() {
        assert_eq!(
            count_parts(&payload_pdu(0x00, 65_535), 10),
            Err(SegmentError::TooManySegments {
                needed: 429,
                max: 10
            })
        );
    }

    #[test]
    fn a_short_message_pdu_is_one_part() {
        let pdu = Payload::Pdu {
            data_coding: 0,
            esm_class: 0x40,
            short_message: vec![b'a'; 140],
            message_payload: None,
            sar: None,
        };
        assert_eq!(count_parts(&pdu, 1), Ok(1));
    }
}
