//! The one rule for a valid MT destination, on every interface: HTTP and SMPP ingest both
//! go through [`destination_digits`] (from [`crate::ingest::Ingest::submit`]).
//!
//! A destination is an international number of 7 to 15 digits starting with its country code
//! (never 0): E.164 allows at most 15, and no country has complete numbers shorter than 7, so
//! a shorter one is a typo or a short code the carriers would reject later. The HTTP edge
//! checks the same digits first, to answer in the Genesys profile's words. Interfaces differ
//! only in how a number is written: the Genesys profile has no `+`, so the HTTP APIs refuse
//! one; SMPP clients often send it, so it is accepted and dropped.

use std::ops::RangeInclusive;

/// How many digits a destination has.
pub const DESTINATION_DIGITS: RangeInclusive<usize> = 7..=15;

/// The digits of `destination` (without a leading `+`) when it is a valid destination.
pub fn destination_digits(destination: &str) -> Option<&str> {
    let digits = destination.strip_prefix('+').unwrap_or(destination);
    let valid = DESTINATION_DIGITS.contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    valid.then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_to_fifteen_digits_with_an_optional_plus() {
        assert_eq!(destination_digits("1234567"), Some("1234567"));
        assert_eq!(
            destination_digits("123456789012345"),
            Some("123456789012345")
        );
        assert_eq!(destination_digits("+447700900123"), Some("447700900123"));
        for refused in [
            "",
            "+",
            "123456",
            "+123456",
            "1234567890123456",
            "44 7700900123",
            "44770090012a",
            "++447700900123",
            "07700900123",
            "+07700900123",
            "١٢٣٤٥٦٧",
        ] {
            assert_eq!(destination_digits(refused), None, "{refused:?}");
        }
    }
}
