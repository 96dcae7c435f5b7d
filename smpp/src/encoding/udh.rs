//! The concatenation information elements of a User Data Header, and the SAR values that carry
//! the same facts in TLVs.
//!
//! A UDH is `UDHL` (its length, not counting itself) then information elements, each
//! `IEI, length, data`. Concatenation uses IEI 0x00 (8-bit reference) or 0x08 (16-bit).

/// `esm_class` bit saying `short_message` starts with a UDH.
pub const ESM_CLASS_UDHI: u8 = 0x40;

/// IEI of concatenation with an 8-bit reference.
pub const IEI_CONCAT_8BIT: u8 = 0x00;

/// IEI of concatenation with a 16-bit reference.
pub const IEI_CONCAT_16BIT: u8 = 0x08;

/// Length of the UDH [`concat_udh`] writes: `05 00 03 ref total seq`.
pub const CONCAT_UDH_LEN: usize = 6;

/// Where a part sits in a concatenated message; the same whether it came as UDH or SAR TLVs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentInfo {
    /// Reference shared by all parts of one message (8-bit UDH references are widened).
    pub reference: u16,
    /// Number of parts, 1..=255.
    pub total: u8,
    /// This part's number, 1..=total.
    pub seq: u8,
}

/// A UDH or SAR that is present but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UdhError {
    #[error("UDHI is set but short_message is empty")]
    Empty,
    #[error("UDH length {udhl} exceeds the {available} octets that follow it")]
    HeaderTooLong { udhl: usize, available: usize },
    #[error("information element 0x{iei:02X} runs past the end of the UDH")]
    ElementTooLong { iei: u8 },
    #[error("concatenation element 0x{iei:02X} has length {length}")]
    BadConcatLength { iei: u8, length: usize },
    #[error("part {seq} of {total} is not a valid position")]
    BadPosition { seq: u8, total: u8 },
    #[error("SAR TLVs are incomplete: sar_msg_ref_num, sar_total_segments and sar_segment_seqnum go together")]
    IncompleteSar,
}

impl SegmentInfo {
    /// Checks `seq` and `total` describe a real position.
    pub fn new(reference: u16, total: u8, seq: u8) -> Result<Self, UdhError> {
        if total == 0 || seq == 0 || seq > total {
            return Err(UdhError::BadPosition { seq, total });
        }
        Ok(Self {
            reference,
            total,
            seq,
        })
    }
}

/// The 6-octet UDH for part `seq` of `total` with an 8-bit reference.
pub fn concat_udh(reference: u8, total: u8, seq: u8) -> [u8; CONCAT_UDH_LEN] {
    [0x05, IEI_CONCAT_8BIT, 0x03, reference, total, seq]
}

/// A `short_message` split into its UDH facts and the user data after the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUdh<'a> {
    /// The concatenation element, if the header has one.
    pub segment: Option<SegmentInfo>,
    /// The octets after the header.
    pub payload: &'a [u8],
}

/// Parses the UDH at the start of `short_message` (call only when `esm_class` has UDHI).
///
/// Elements other than concatenation are skipped. If several concatenation elements appear,
/// the first wins.
pub fn parse_udh(short_message: &[u8]) -> Result<ParsedUdh<'_>, UdhError> {
    let (&udhl, rest) = short_message.split_first().ok_or(UdhError::Empty)?;
    let udhl = usize::from(udhl);
    if udhl > rest.len() {
        return Err(UdhError::HeaderTooLong {
            udhl,
            available: rest.len(),
        });
    }
    let (mut header, payload) = rest.split_at(udhl);
    let mut segment = None;
    while let [iei, length, tail @ ..] = header {
        let length = usize::from(*length);
        if length > tail.len() {
            return Err(UdhError::ElementTooLong { iei: *iei });
        }
        let (data, next) = tail.split_at(length);
        if segment.is_none() {
            segment = concat_element(*iei, data)?;
        }
        header = next;
    }
    // A single leftover octet cannot be an element; it is padding at worst, so ignore it.
    Ok(ParsedUdh { segment, payload })
}

fn concat_element(iei: u8, data: &[u8]) -> Result<Option<SegmentInfo>, UdhError> {
    let bad_length = UdhError::BadConcatLength {
        iei,
        length: data.len(),
    };
    match (iei, data) {
        (IEI_CONCAT_8BIT, &[reference, total, seq]) => {
            SegmentInfo::new(u16::from(reference), total, seq).map(Some)
        }
        (IEI_CONCAT_16BIT, &[hi, lo, total, seq]) => {
            SegmentInfo::new(u16::from_be_bytes([hi, lo]), total, seq).map(Some)
        }
        (IEI_CONCAT_8BIT | IEI_CONCAT_16BIT, _) => Err(bad_length),
        _ => Ok(None),
    }
}

/// Combines the three SAR TLV values, any of which may be absent.
///
/// None present means the message is not segmented; some but not all is an error.
pub fn sar_segment(
    msg_ref_num: Option<u16>,
    total_segments: Option<u8>,
    segment_seqnum: Option<u8>,
) -> Result<Option<SegmentInfo>, UdhError> {
    match (msg_ref_num, total_segments, segment_seqnum) {
        (None, None, None) => Ok(None),
        (Some(reference), Some(total), Some(seq)) => {
            SegmentInfo::new(reference, total, seq).map(Some)
        }
        _ => Err(UdhError::IncompleteSar),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_six_octet_header() {
        assert_eq!(concat_udh(0xAB, 3, 2), [0x05, 0x00, 0x03, 0xAB, 0x03, 0x02]);
    }

    #[test]
    fn parses_8bit_reference() {
        let sm = [0x05, 0x00, 0x03, 0x42, 0x02, 0x01, b'h', b'i'];
        let parsed = parse_udh(&sm).unwrap();
        assert_eq!(
            parsed.segment,
            Some(SegmentInfo {
                reference: 0x42,
                total: 2,
                seq: 1
            })
        );
        assert_eq!(parsed.payload, b"hi");
    }

    #[test]
    fn parses_16bit_reference_after_other_elements() {
        // A port-addressing element (IEI 0x05) first, then 16-bit concatenation.
        let sm = [
            0x0C, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x08, 0x04, 0x12, 0x34, 0x03, 0x03, b'x',
        ];
        let parsed = parse_udh(&sm).unwrap();
        assert_eq!(
            parsed.segment,
            Some(SegmentInfo {
                reference: 0x1234,
                total: 3,
                seq: 3
            })
        );
        assert_eq!(parsed.payload, b"x");
    }

    #[test]
    fn udh_without_concatenation() {
        let parsed = parse_udh(&[0x00, b'a']).unwrap();
        assert_eq!(parsed.segment, None);
        assert_eq!(parsed.payload, b"a");
    }

    #[test]
    fn malformed_headers_are_errors() {
        assert_eq!(parse_udh(&[]), Err(UdhError::Empty));
        assert!(matches!(
            parse_udh(&[0x05, 0x00]),
            Err(UdhError::HeaderTooLong { .. })
        ));
        assert!(matches!(
            parse_udh(&[0x02, 0x00, 0x03]),
            Err(UdhError::ElementTooLong { .. })
        ));
        assert!(matches!(
            parse_udh(&[0x04, 0x00, 0x02, 1, 1]),
            Err(UdhError::BadConcatLength { .. })
        ));
        assert_eq!(
            parse_udh(&[0x05, 0x00, 0x03, 1, 2, 3]),
            Err(UdhError::BadPosition { seq: 3, total: 2 })
        );
        assert!(matches!(
            parse_udh(&[0x05, 0x00, 0x03, 1, 0, 0]),
            Err(UdhError::BadPosition { .. })
        ));
    }

    #[test]
    fn sar_values_go_together() {
        assert_eq!(sar_segment(None, None, None), Ok(None));
        assert_eq!(
            sar_segment(Some(7), Some(2), Some(2)),
            Ok(Some(SegmentInfo {
                reference: 7,
                total: 2,
                seq: 2
            }))
        );
        assert_eq!(
            sar_segment(Some(7), None, Some(2)),
            Err(UdhError::IncompleteSar)
        );
    }
}
