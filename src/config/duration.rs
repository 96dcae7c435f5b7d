//! Durations written as strings: `50ms`, `30s`, `10m`, `72h`, `1d`, or sums like `1h30m`.
//!
//! Our own parser rather than `humantime`: five units cover the config, and we want error
//! messages that say what to write instead.

use std::time::Duration;

const UNITS: &str = "ms, s, m, h or d";

/// Parses a duration such as `"30s"` or `"1h30m"`. The error says what is wrong and what
/// would be accepted.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!(
            "empty duration: write a number and a unit ({UNITS}), e.g. \"30s\""
        ));
    }
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits_end == 0 {
            return Err(format!(
                "invalid duration \"{text}\": expected a number before `{rest}` \
                 (e.g. \"30s\", \"1h30m\")"
            ));
        }
        let number: u64 = rest[..digits_end]
            .parse()
            .map_err(|_| format!("invalid duration \"{text}\": number too large"))?;
        rest = &rest[digits_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let part = match unit {
            "ms" => Some(Duration::from_millis(number)),
            "s" => Some(Duration::from_secs(number)),
            "m" => number.checked_mul(60).map(Duration::from_secs),
            "h" => number.checked_mul(3_600).map(Duration::from_secs),
            "d" => number.checked_mul(86_400).map(Duration::from_secs),
            "" => {
                return Err(format!(
                    "invalid duration \"{text}\": missing unit after {number} \
                     (use {UNITS}, e.g. \"{number}s\")"
                ))
            }
            other => {
                return Err(format!(
                    "invalid duration \"{text}\": unknown unit `{other}` (use {UNITS})"
                ))
            }
        };
        total = part
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("invalid duration \"{text}\": too long"))?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_units() {
        assert_eq!(parse_duration("50ms"), Ok(Duration::from_millis(50)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("72h"), Ok(Duration::from_secs(72 * 3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
    }

    #[test]
    fn sums_of_units() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1_500)));
    }

    #[test]
    fn errors_say_what_to_write() {
        let missing = parse_duration("30").unwrap_err();
        assert!(
            missing.contains("missing unit") && missing.contains("\"30s\""),
            "{missing}"
        );
        let unknown = parse_duration("3 weeks").unwrap_err();
        assert!(unknown.contains("unknown unit ` weeks`"), "{unknown}");
        assert!(parse_duration("s")
            .unwrap_err()
            .contains("expected a number"));
        assert!(parse_duration("").unwrap_err().contains("empty duration"));
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("99999999999999999999999s")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_duration("999999999999999999d")
            .unwrap_err()
            .contains("too long"));
    }
}
