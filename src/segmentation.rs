//! How many parts a text is, and what they are: GSM 7-bit, else Latin-1 or UCS-2 (the smallest
//! encoding that fits), concatenated with UDH. Accepting an MT counts its parts against the
//! account's limit; submitting it sends them.

use smsgw_smpp::encoding::{
    segment, Concatenation, Part, SegmentError, SegmentOptions, DEFAULT_PREFERENCE,
};

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
