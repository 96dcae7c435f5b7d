//! Splitting a mobile-terminated text into the parts that go out as `submit_sm` PDUs.
//!
//! Ours rather than rusmpp-extra 0.4's multipart builder, because that one takes a single octet
//! limit for every encoding (so GSM gets 140 characters, not 160, unless the caller adjusts it
//! per encoding), leaves 154 septets per GSM part instead of 153 (the 6-octet UDH costs 7
//! septets once packed), cannot carry non-BMP characters in UCS-2, and has no SAR or
//! message_payload mode. Parts are cut between characters only, so a GSM escape sequence or a
//! UTF-16 surrogate pair is never split.

use rusmpp::{
    pdus::SubmitSm,
    tlvs::{MessageSubmissionRequestTlvValue, TlvTag},
    types::{AnyOctetString, OctetString},
    values::{DataCoding, EsmClass, MessagePayload},
};

use super::{
    gsm::gsm_char,
    text::{EncodeError, Encoding},
    udh::{concat_udh, SegmentInfo, ESM_CLASS_UDHI},
};

/// Largest value a `message_payload` TLV can hold (its length is 16 bits).
pub const MAX_MESSAGE_PAYLOAD_LEN: usize = u16::MAX as usize;

/// How a message too long for one `short_message` is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concatenation {
    /// A 6-octet UDH (IEI 0x00, 8-bit reference) in front of each part, UDHI set in esm_class.
    Udh { reference: u8 },
    /// `sar_msg_ref_num`, `sar_total_segments`, `sar_segment_seqnum` TLVs; no UDH.
    Sar { reference: u16 },
    /// The whole body in one PDU's `message_payload` TLV, `short_message` empty.
    MessagePayload,
}

/// How to segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentOptions {
    pub concatenation: Concatenation,
    /// More parts than this is an error rather than a surprise bill.
    pub max_segments: u8,
}

/// Per-encoding capacity, in octets of `short_message` (GSM is unpacked: one septet per octet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A message that fits in one part: 160 septets, 140 octets, 70 UCS-2 code units.
    pub single: usize,
    /// Each part of a concatenated message: 153 septets, 134 octets, 67 code units.
    pub part: usize,
}

impl Limits {
    /// The limits for `encoding`.
    ///
    /// SAR parts use the concatenated limit too: the SMSC turns SAR into a UDH on the air.
    pub fn of(encoding: Encoding) -> Self {
        match encoding {
            Encoding::Gsm7 => Limits {
                single: 160,
                part: 153,
            },
            Encoding::Latin1 | Encoding::Ucs2 => Limits {
                single: 140,
                part: 134,
            },
        }
    }

    /// The limits for a body in `data_coding`: its encoding's, else (binary and codings
    /// this module does not know) octets, as Latin-1.
    pub fn of_data_coding(data_coding: u8) -> Self {
        Self::of(Encoding::from_data_coding(data_coding).unwrap_or(Encoding::Latin1))
    }

    /// Parts a body of `len` octets of `short_message` needs: one up to [`Limits::single`],
    /// else one per [`Limits::part`].
    pub fn parts_for(self, len: usize) -> usize {
        if len <= self.single {
            1
        } else {
            len.div_ceil(self.part)
        }
    }
}

/// One PDU's worth of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub data_coding: u8,
    /// Bits to OR into esm_class: [`ESM_CLASS_UDHI`] when `short_message` starts with a UDH.
    pub esm_class_bits: u8,
    /// The `short_message` octets, UDH included in UDH mode; empty in message_payload mode.
    pub short_message: Vec<u8>,
    /// The `message_payload` TLV value in message_payload mode.
    pub message_payload: Option<Vec<u8>>,
    /// The SAR TLV values in SAR mode when there is more than one part.
    pub sar: Option<SegmentInfo>,
}

/// A text split into parts, with the encoding chosen for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segmented {
    pub encoding: Encoding,
    pub parts: Vec<Part>,
}

/// Errors segmenting a text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("the message needs {needed} parts, more than the {max} allowed")]
    TooManySegments { needed: usize, max: u8 },
    #[error("the message is {len} octets, more than a message_payload TLV holds")]
    PayloadTooLong { len: usize },
}

/// Octets of `short_message` that `text` takes in `encoding` (GSM escapes count twice).
fn encoded_len(text: &str, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Gsm7 => text
            .chars()
            .map(|ch| gsm_char(ch).map_or(0, |g| g.septets()))
            .sum(),
        Encoding::Latin1 => text.chars().count(),
        Encoding::Ucs2 => 2 * text.encode_utf16().count(),
    }
}

/// Parts `text` needs in `encoding` (an estimate: a split that avoids cutting an escape or a
/// surrogate pair can need one more).
pub fn parts_needed(text: &str, encoding: Encoding) -> usize {
    Limits::of(encoding).parts_for(encoded_len(text, encoding))
}

/// The smallest encoding in `preference` that represents `text`: the fewest parts, ties going
/// to the earlier in `preference`. So GSM is used whenever it costs no more parts, and a text
/// full of GSM escapes (`{`, `[`, `~`) goes as Latin-1 when that saves a part.
pub fn choose_smallest_encoding(
    text: &str,
    preference: &[Encoding],
) -> Result<Encoding, EncodeError> {
    preference
        .iter()
        .copied()
        .filter(|encoding| encoding.can_represent(text))
        .enumerate()
        .min_by_key(|(rank, encoding)| (parts_needed(text, *encoding), *rank))
        .map(|(_, encoding)| encoding)
        .ok_or_else(|| EncodeError::NoEncodingFits {
            preference: preference.to_vec(),
        })
}

/// Chooses the smallest encoding from `preference` (see [`choose_smallest_encoding`]), encodes
/// `text` and splits it per `options`.
///
/// A text within the single-message limit is one part with no UDH and no SAR, whatever the
/// concatenation mode, except in message_payload mode which always uses the TLV.
pub fn segment(
    text: &str,
    preference: &[Encoding],
    options: &SegmentOptions,
) -> Result<Segmented, SegmentError> {
    let encoding = choose_smallest_encoding(text, preference)?;
    let data_coding = encoding.data_coding();
    let limits = Limits::of(encoding);
    let single = |short_message, message_payload| Part {
        data_coding,
        esm_class_bits: 0,
        short_message,
        message_payload,
        sar: None,
    };

    let framing = match options.concatenation {
        Concatenation::Udh { reference } => Framing::Udh(reference),
        Concatenation::Sar { reference } => Framing::Sar(reference),
        Concatenation::MessagePayload => {
            let body = encoding.encode(text)?;
            if body.len() > MAX_MESSAGE_PAYLOAD_LEN {
                return Err(SegmentError::PayloadTooLong { len: body.len() });
            }
            return Ok(Segmented {
                encoding,
                parts: vec![single(Vec::new(), Some(body))],
            });
        }
    };

    let mut chunks = split_between_chars(text, encoding, limits)?;
    let too_many = SegmentError::TooManySegments {
        needed: chunks.len(),
        max: options.max_segments,
    };
    if chunks.len() > usize::from(options.max_segments) {
        return Err(too_many);
    }
    if chunks.len() <= 1 {
        let body = chunks.pop().unwrap_or_default();
        return Ok(Segmented {
            encoding,
            parts: vec![single(body, None)],
        });
    }
    let total = u8::try_from(chunks.len()).map_err(|_| too_many)?;

    let parts = (1..=total)
        .zip(chunks)
        .map(|(seq, chunk)| match framing {
            Framing::Udh(reference) => {
                let mut short_message = concat_udh(reference, total, seq).to_vec();
                short_message.extend_from_slice(&chunk);
                Part {
                    data_coding,
                    esm_class_bits: ESM_CLASS_UDHI,
                    short_message,
                    message_payload: None,
                    sar: None,
                }
            }
            Framing::Sar(reference) => Part {
                data_coding,
                esm_class_bits: 0,
                short_message: chunk,
                message_payload: None,
                sar: Some(SegmentInfo {
                    reference,
                    total,
                    seq,
                }),
            },
        })
        .collect();
    Ok(Segmented { encoding, parts })
}

/// How each part of a multi-part message says where it belongs.
#[derive(Clone, Copy)]
enum Framing {
    Udh(u8),
    Sar(u16),
}

/// Encodes `text` and cuts it into chunks of at most the part limit, only between characters.
fn split_between_chars(
    text: &str,
    encoding: Encoding,
    limits: Limits,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let whole = encoding.encode(text)?;
    if whole.len() <= limits.single {
        return Ok(vec![whole]);
    }
    let mut chunks = Vec::new();
    let mut current = Vec::with_capacity(limits.part);
    let mut encoded_char = Vec::with_capacity(4);
    for ch in text.chars() {
        encoded_char.clear();
        encoding.encode_char(ch, &mut encoded_char)?;
        if current.len() + encoded_char.len() > limits.part {
            chunks.push(std::mem::take(&mut current));
        }
        current.extend_from_slice(&encoded_char);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    Ok(chunks)
}

/// Errors writing a part into a `SubmitSm`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The template already has a TLV the part would set; rusmpp cannot remove a single TLV,
    /// and sending both would contradict.
    #[error("the submit_sm already carries TLV {0:?}")]
    ConflictingTlv(TlvTag),
    #[error("short_message of {0} octets exceeds 255")]
    ShortMessageTooLong(usize),
}

/// Writes `part` into `sm`: data_coding, the esm_class bits, short_message and the TLVs.
///
/// Other esm_class bits (messaging mode, reply path) are kept.
pub fn apply_to_submit_sm(part: &Part, sm: &mut SubmitSm) -> Result<(), ApplyError> {
    const OWNED_TAGS: [TlvTag; 4] = [
        TlvTag::SarMsgRefNum,
        TlvTag::SarTotalSegments,
        TlvTag::SarSegmentSeqnum,
        TlvTag::MessagePayload,
    ];
    if let Some(tlv) = sm.tlvs().iter().find(|tlv| OWNED_TAGS.contains(&tlv.tag())) {
        return Err(ApplyError::ConflictingTlv(tlv.tag()));
    }
    let short_message = OctetString::from_vec(part.short_message.clone())
        .map_err(|_| ApplyError::ShortMessageTooLong(part.short_message.len()))?;

    sm.data_coding = DataCoding::from(part.data_coding);
    sm.esm_class = EsmClass::from(u8::from(sm.esm_class) | part.esm_class_bits);
    sm.set_short_message(short_message);
    if let Some(sar) = part.sar {
        sm.push_tlv(MessageSubmissionRequestTlvValue::SarMsgRefNum(
            sar.reference,
        ));
        sm.push_tlv(MessageSubmissionRequestTlvValue::SarTotalSegments(
            sar.total,
        ));
        sm.push_tlv(MessageSubmissionRequestTlvValue::SarSegmentSeqnum(sar.seq));
    }
    if let Some(payload) = &part.message_payload {
        sm.push_tlv(MessageSubmissionRequestTlvValue::MessagePayload(
            MessagePayload::new(AnyOctetString::from_slice(payload)),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusmpp::tlvs::TlvValue;

    use super::*;
    use crate::encoding::text::{decode_text, DEFAULT_PREFERENCE};

    const UDH: SegmentOptions = SegmentOptions {
        concatenation: Concatenation::Udh { reference: 0x2A },
        max_segments: 10,
    };

    fn parts(text: &str, options: &SegmentOptions) -> Vec<Part> {
        segment(text, &DEFAULT_PREFERENCE, options).unwrap().parts
    }

    /// Octets after the 6-octet UDH.
    fn bodies(parts: &[Part]) -> Vec<&[u8]> {
        parts
            .iter()
            .map(|p| p.short_message.get(6..).unwrap_or(&[]))
            .collect()
    }

    #[test]
    fn gsm_160_is_one_part_161_is_two() {
        let one = parts(&"a".repeat(160), &UDH);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].short_message.len(), 160);
        assert_eq!(one[0].esm_class_bits, 0);
        let two = parts(&"a".repeat(161), &UDH);
        assert_eq!(two.len(), 2);
        assert_eq!(
            bodies(&two).iter().map(|b| b.len()).collect::<Vec<_>>(),
            [153, 8]
        );
    }

    #[test]
    fn latin1_140_is_one_part_141_is_two() {
        assert_eq!(parts(&"â".repeat(140), &UDH).len(), 1);
        let two = parts(&"â".repeat(141), &UDH);
        assert_eq!(two[0].data_coding, 3);
        assert_eq!(
            bodies(&two).iter().map(|b| b.len()).collect::<Vec<_>>(),
            [134, 7]
        );
    }

    #[test]
    fn ucs2_70_is_one_part_71_is_two() {
        assert_eq!(parts(&"я".repeat(70), &UDH).len(), 1);
        let two = parts(&"я".repeat(71), &UDH);
        assert_eq!(two[0].data_coding, 8);
        assert_eq!(
            bodies(&two).iter().map(|b| b.len()).collect::<Vec<_>>(),
            [134, 8]
        );
    }

    #[test]
    fn udh_parts_carry_the_header_and_udhi() {
        let two = parts(&"a".repeat(161), &UDH);
        assert_eq!(
            two[0].short_message[..6],
            [0x05, 0x00, 0x03, 0x2A, 0x02, 0x01]
        );
        assert_eq!(
            two[1].short_message[..6],
            [0x05, 0x00, 0x03, 0x2A, 0x02, 0x02]
        );
        assert!(two
            .iter()
            .all(|p| p.esm_class_bits == 0x40 && p.sar.is_none()));
    }

    #[test]
    fn sar_parts_have_no_udh() {
        let options = SegmentOptions {
            concatenation: Concatenation::Sar { reference: 0xBEEF },
            max_segments: 10,
        };
        let three = parts(&"a".repeat(307), &options);
        assert_eq!(three.len(), 3);
        for (i, part) in three.iter().enumerate() {
            assert_eq!(part.esm_class_bits, 0);
            assert_eq!(
                part.sar,
                Some(SegmentInfo {
                    reference: 0xBEEF,
                    total: 3,
                    seq: i as u8 + 1
                })
            );
        }
        assert_eq!(three[0].short_message, "a".repeat(153).as_bytes());
        assert_eq!(three[2].short_message, b"a");
        // A short text is not segmented at all.
        assert_eq!(parts("hi", &options)[0].sar, None);
    }

    #[test]
    fn message_payload_holds_everything() {
        let options = SegmentOptions {
            concatenation: Concatenation::MessagePayload,
            max_segments: 1,
        };
        let one = parts(&"a".repeat(1000), &options);
        assert_eq!(one.len(), 1);
        assert!(one[0].short_message.is_empty());
        assert_eq!(
            one[0].message_payload.as_deref(),
            Some("a".repeat(1000).as_bytes())
        );
    }

    #[test]
    fn emoji_is_not_split_at_the_part_boundary() {
        let text = format!("{}😀{}", "a".repeat(66), "b".repeat(10));
        let two = parts(&text, &UDH);
        let bodies = bodies(&two);
        // 66 units + a 2-unit pair exceeds 67, so the whole pair moves to part two.
        assert_eq!(bodies[0].len(), 132);
        assert_eq!(bodies[1][..4], [0xD8, 0x3D, 0xDE, 0x00]);
        for body in &bodies {
            assert!(decode_text(8, body).is_ok());
        }
    }

    #[test]
    fn gsm_escape_is_not_split_at_152_153() {
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(10));
        let two = parts(&text, &UDH);
        let bodies = bodies(&two);
        assert_eq!(bodies[0].len(), 152);
        assert_eq!(bodies[1][..2], [0x1B, 0x65]);

        // One character earlier the escape fits exactly in the 153 septets.
        let text = format!("{}€{}", "a".repeat(151), "b".repeat(10));
        let two = parts(&text, &UDH);
        assert_eq!(bodies_len(&two), [153, 10]);
        assert_eq!(two[0].short_message[157..], [0x1B, 0x65]);
    }

    fn bodies_len(parts: &[Part]) -> Vec<usize> {
        bodies(parts).iter().map(|b| b.len()).collect()
    }

    #[test]
    fn too_many_segments_is_an_error() {
        let options = SegmentOptions {
            concatenation: Concatenation::Udh { reference: 1 },
            max_segments: 2,
        };
        assert_eq!(
            segment(&"a".repeat(307), &DEFAULT_PREFERENCE, &options),
            Err(SegmentError::TooManySegments { needed: 3, max: 2 })
        );
        assert!(segment(&"a".repeat(306), &DEFAULT_PREFERENCE, &options).is_ok());
    }

    #[test]
    fn empty_text_is_one_empty_part() {
        let one = parts("", &UDH);
        assert_eq!(one.len(), 1);
        assert!(one[0].short_message.is_empty());
    }

    #[test]
    fn apply_sets_fields_and_keeps_other_esm_bits() {
        let two = parts(&"a".repeat(161), &UDH);
        let mut sm = SubmitSm::builder().esm_class(EsmClass::from(0x03)).build();
        apply_to_submit_sm(&two[0], &mut sm).unwrap();
        assert_eq!(u8::from(sm.esm_class), 0x43);
        assert_eq!(sm.data_coding, DataCoding::McSpecific);
        assert_eq!(sm.short_message().as_ref(), two[0].short_message.as_slice());
        assert!(sm.tlvs().is_empty());
    }

    #[test]
    fn apply_writes_sar_and_payload_tlvs() {
        let options = SegmentOptions {
            concatenation: Concatenation::Sar { reference: 513 },
            max_segments: 5,
        };
        let two = parts(&"я".repeat(71), &options);
        let mut sm = SubmitSm::builder().build();
        apply_to_submit_sm(&two[1], &mut sm).unwrap();
        let values: Vec<_> = sm
            .tlvs()
            .iter()
            .filter_map(|t| t.value().cloned())
            .collect();
        assert_eq!(
            values,
            [
                TlvValue::SarMsgRefNum(513),
                TlvValue::SarTotalSegments(2),
                TlvValue::SarSegmentSeqnum(2)
            ]
        );
        assert_eq!(sm.data_coding, DataCoding::Ucs2);
        // Applying a second part onto the same PDU would duplicate the TLVs.
        assert_eq!(
            apply_to_submit_sm(&two[0], &mut sm),
            Err(ApplyError::ConflictingTlv(TlvTag::SarMsgRefNum))
        );

        let options = SegmentOptions {
            concatenation: Concatenation::MessagePayload,
            max_segments: 1,
        };
        let mut sm = SubmitSm::builder().build();
        apply_to_submit_sm(&parts("hello", &options)[0], &mut sm).unwrap();
        assert_eq!(sm.sm_length(), 0);
        assert!(matches!(
            sm.tlvs()[0].value(),
            Some(TlvValue::MessagePayload(p)) if p.value.as_ref() == b"hello"
        ));
    }

    /// rusmpp-extra 0.4 gives GSM parts 154 septets (160 - 6-octet UDH), one more than fits
    /// once the SMSC packs the UDH into 7 septets; and with its default limit of 140 a
    /// 160-character GSM text becomes two parts.
    #[test]
    fn rusmpp_extra_gsm_part_limits_are_wrong() {
        use rusmpp_extra::concatenation::owned::SubmitSmMultipartExt;

        let text = "a".repeat(161);
        let sms = SubmitSm::builder()
            .build()
            .multipart(&text)
            .max_short_message_size(160)
            .reference_u8(1)
            .build()
            .unwrap();
        assert_eq!(sms[0].short_message().len(), 6 + 154);

        let sms = SubmitSm::builder()
            .build()
            .multipart(&"a".repeat(160))
            .build()
            .unwrap();
        assert_eq!(sms.len(), 2);
    }
}

#[cfg(test)]
mod smallest_tests {
    use super::*;
    use crate::encoding::DEFAULT_PREFERENCE;

    #[test]
    fn gsm_wins_ties_and_latin1_wins_when_escapes_cost_a_part() {
        let plain = "hello there";
        assert_eq!(
            choose_smallest_encoding(plain, &DEFAULT_PREFERENCE).unwrap(),
            Encoding::Gsm7
        );
        // 100 braces: 200 septets (2 GSM parts) but 100 Latin-1 octets (1 part).
        let braces = "{}".repeat(50);
        assert_eq!(parts_needed(&braces, Encoding::Gsm7), 2);
        assert_eq!(
            choose_smallest_encoding(&braces, &DEFAULT_PREFERENCE).unwrap(),
            Encoding::Latin1
        );
        // The euro sign is not Latin-1: GSM it is, escapes and all.
        let euros = "€".repeat(100);
        assert_eq!(
            choose_smallest_encoding(&euros, &DEFAULT_PREFERENCE).unwrap(),
            Encoding::Gsm7
        );
        assert_eq!(
            choose_smallest_encoding("emoji 😀", &DEFAULT_PREFERENCE).unwrap(),
            Encoding::Ucs2
        );
    }
}
