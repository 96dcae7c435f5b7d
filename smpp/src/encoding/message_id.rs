//! Matching a carrier's message id from `submit_sm_resp` with the id in its delivery receipt.
//!
//! Carriers are known to answer `submit_sm` with an id in hex and report it in the receipt in
//! decimal (or the reverse), with or without leading zeros, in either case. The rules:
//!
//! - [`normalize_message_id`]: trim, lowercase ASCII, strip leading zeros (all zeros → "0").
//!   Two ids in the same base match exactly when their normalised forms are equal.
//! - [`correlation_keys`]: the normalised form first, then, when the id reads as a number, the
//!   same number in the other base: decimal of it read as hex, hex of it read as decimal.
//!   Store a submission under all its keys and look a receipt up by its normalised id.
//! - [`carrier_ids_match`]: the same rule as a predicate.
//!
//! The alternative keys can collide: resp id "10" (decimal) gets the alternative key "a", which
//! is the exact key of a submission whose resp id was "a". A store should prefer a hit on an
//! exact key over a hit on an alternative. Ids longer than 128 bits get no alternatives.

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

/// Every key `id` may be found under: normalised first, then the other-base readings.
pub fn correlation_keys(id: &str) -> Vec<String> {
    let normalized = normalize_message_id(id);
    let mut keys = vec![normalized.clone()];
    let alternatives = [
        as_hex(&normalized).map(|n| n.to_string()),
        as_decimal(&normalized).map(|n| format!("{n:x}")),
    ];
    for key in alternatives.into_iter().flatten() {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// Whether the id from `submit_sm_resp` and the id from a receipt name the same message.
pub fn carrier_ids_match(resp_id: &str, dr_id: &str) -> bool {
    let (resp, dr) = (normalize_message_id(resp_id), normalize_message_id(dr_id));
    if resp.is_empty() || dr.is_empty() {
        return false;
    }
    resp == dr
        || matches!((as_hex(&resp), as_decimal(&dr)), (Some(a), Some(b)) if a == b)
        || matches!((as_decimal(&resp), as_hex(&dr)), (Some(a), Some(b)) if a == b)
}

fn as_hex(id: &str) -> Option<u128> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(id, 16).ok()
}

fn as_decimal(id: &str) -> Option<u128> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok()
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
    fn hex_resp_decimal_receipt() {
        // 0x1A2B3C4D = 439041101
        assert!(carrier_ids_match("1A2B3C4D", "439041101"));
        assert!(carrier_ids_match("001a2b3c4d", "0439041101"));
        assert!(carrier_ids_match("439041101", "1a2b3c4d"));
        assert!(carrier_ids_match("ABCDEF", "abcdef"));
        assert!(!carrier_ids_match("1A2B3C4D", "439041102"));
        assert!(!carrier_ids_match("", ""));
    }

    #[test]
    fn keys_cover_both_bases() {
        assert_eq!(correlation_keys("001A2B3C4D"), ["1a2b3c4d", "439041101"]);
        // All-decimal ids are also valid hex: both readings are offered.
        assert_eq!(correlation_keys("10"), ["10", "16", "a"]);
        assert_eq!(correlation_keys("msg-7"), ["msg-7"]);
        let dr = normalize_message_id("0439041101");
        assert!(correlation_keys("1A2B3C4D").contains(&dr));
    }

    #[test]
    fn huge_ids_get_no_alternatives() {
        let id = "f".repeat(40);
        assert_eq!(correlation_keys(&id), vec![id]);
    }
}
