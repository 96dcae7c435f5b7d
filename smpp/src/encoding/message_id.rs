//! Matching a carrier's message id from `submit_sm_resp` with the id in its delivery receipt.
//!
//! Most carriers write the same id in both places, give or take case and leading zeros. Some
//! answer `submit_sm` with the id in hex and report it in the receipt in decimal, or the
//! reverse. Which one a carrier does is a property of that carrier, so it is configured per
//! connector as a [`ReceiptIdFormat`] and never guessed: guessing across bases makes ids
//! collide (the decimal receipt id `16` read as hex is 22, and `10` read as hex is 16), so a
//! receipt whose own mapping is missing could be applied to another message.
//!
//! - [`normalize_message_id`]: trim, lowercase ASCII, strip leading zeros (all zeros → "0").
//!   Two ids in the same base match exactly when their normalised forms are equal; a
//!   submission is stored under the normalised `submit_sm_resp` id.
//! - [`ReceiptIdFormat::response_form`]: the receipt's id turned into that same normalised
//!   form, to look the submission up under one key.

use std::{fmt, str::FromStr};

/// The canonical form of `id` for comparison within one base.
pub fn normalize_message_id(id: &str) -> String {
    let lower = id.trim().to_ascii_lowercase();
    let stripped = lower.trim_start_matches('0');
    if stripped.is_empty() && !lower.is_empty() {
        "0".to_owned()
    } else {
        stripped.to_owned()
    }
}

/// How a carrier writes the message id in its receipts compared with its `submit_sm_resp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ReceiptIdFormat {
    /// The same id in both (any text; case and leading zeros do not matter).
    #[default]
    Same,
    /// `submit_sm_resp` in hex, the receipt in decimal.
    HexRespDecimalReceipt,
    /// `submit_sm_resp` in decimal, the receipt in hex.
    DecimalRespHexReceipt,
}

/// A receipt id that cannot be written the way its connector's format says it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("receipt id `{id}` is not {expected}")]
pub struct ReceiptIdMismatch {
    pub id: String,
    pub expected: &'static str,
}

impl ReceiptIdFormat {
    /// Every format, for listing them in error messages and tests.
    pub const ALL: [ReceiptIdFormat; 3] = [
        ReceiptIdFormat::Same,
        ReceiptIdFormat::HexRespDecimalReceipt,
        ReceiptIdFormat::DecimalRespHexReceipt,
    ];

    /// The configuration name of the format.
    pub fn name(self) -> &'static str {
        match self {
            ReceiptIdFormat::Same => "same",
            ReceiptIdFormat::HexRespDecimalReceipt => "hex_resp_decimal_receipt",
            ReceiptIdFormat::DecimalRespHexReceipt => "decimal_resp_hex_receipt",
        }
    }

    /// `receipt_id` as the normalised `submit_sm_resp` id of the same message, or why it
    /// cannot be one (a receipt id that is not a number in the base the format names).
    pub fn response_form(self, receipt_id: &str) -> Result<String, ReceiptIdMismatch> {
        let normalized = normalize_message_id(receipt_id);
        let converted = match self {
            ReceiptIdFormat::Same => return Ok(normalized),
            ReceiptIdFormat::HexRespDecimalReceipt => {
                as_number(&normalized, 10).map(|n| format!("{n:x}"))
            }
            ReceiptIdFormat::DecimalRespHexReceipt => {
                as_number(&normalized, 16).map(|n| n.to_string())
            }
        };
        converted.ok_or_else(|| ReceiptIdMismatch {
            id: receipt_id.to_owned(),
            expected: match self {
                ReceiptIdFormat::HexRespDecimalReceipt => "a decimal number of up to 38 digits",
                _ => "a hex number of up to 32 digits",
            },
        })
    }
}

impl fmt::Display for ReceiptIdFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ReceiptIdFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|format| format.name() == text)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|f| format!("\"{f}\"")).collect();
                format!(
                    "unknown receipt id format `{text}`: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// `id` (normalised) as a number in `radix`, if it is all digits of that radix and fits.
fn as_number(id: &str, radix: u32) -> Option<u128> {
    if id.is_empty() || !id.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u128::from_str_radix(id, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalize_message_id(" 00AbC1 "), "abc1");
        assert_eq!(normalize_message_id("000"), "0");
        assert_eq!(normalize_message_id(""), "");
    }

    #[test]
    fn same_format_ignores_case_and_leading_zeros_only() {
        let same = ReceiptIdFormat::Same;
        assert_eq!(same.response_form("000ab12CD").unwrap(), "ab12cd");
        assert_eq!(same.response_form("msg-7").unwrap(), "msg-7");
        // Never read in another base: "16" stays "16", not 0x16 or 16 -> "10".
        assert_eq!(same.response_form("16").unwrap(), "16");
    }

    #[test]
    fn hex_resp_decimal_receipt() {
        // 0x1A2B3C4D = 439041101
        let format = ReceiptIdFormat::HexRespDecimalReceipt;
        assert_eq!(format.response_form("0439041101").unwrap(), "1a2b3c4d");
        assert_eq!(format.response_form("0").unwrap(), "0");
        assert!(format.response_form("1a2b").is_err());
        assert!(format.response_form("").is_err());
        assert!(format.response_form(&"9".repeat(40)).is_err());
    }

    #[test]
    fn decimal_resp_hex_receipt() {
        let format = ReceiptIdFormat::DecimalRespHexReceipt;
        assert_eq!(format.response_form("1A2B3C4D").unwrap(), "439041101");
        assert_eq!(format.response_form("0010").unwrap(), "16");
        assert!(format.response_form("xyz").is_err());
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for format in ReceiptIdFormat::ALL {
            assert_eq!(format.name().parse::<ReceiptIdFormat>(), Ok(format));
        }
        let err = "hex".parse::<ReceiptIdFormat>().unwrap_err();
        assert!(err.contains("\"same\""), "{err}");
    }
}
