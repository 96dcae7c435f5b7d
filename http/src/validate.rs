//! Field rules shared by `/httpapi/receiver` and `/v1/messages`, so both edges accept exactly
//! the same numbers, senders and ids.
//!
//! The rules, strict on purpose (a message the carrier would reject is better refused at once):
//! - phone number: international format without `+` or leading `0`, digits only, 7 to 15 digits
//!   (E.164 allows at most 15; no country has shorter complete numbers than 7).
//! - sender: either 1 to 15 digits (a number or short code) or 1 to 11 ASCII letters, digits and
//!   spaces with at least one letter (an alphanumeric sender id, GSM limit 11).
//! - message id / idempotency key: 1 to 64 printable ASCII characters (space to `~`), with no
//!   leading or trailing space.
//! - text: non-empty, at most [`MAX_TEXT_CHARS`](crate::limits::MAX_TEXT_CHARS) characters.
//! - carrier, app_id, conversation_id: optional, no control characters, bounded length.
//! - send_at: optional, an RFC 3339 timestamp with its offset (`2026-12-01T10:30:00Z`).
//! - validity: optional, whole seconds from acceptance, 1 to
//!   [`MAX_VALIDITY_SECONDS`](crate::limits::MAX_VALIDITY_SECONDS).

use crate::limits;

/// One field broke a rule; `field` is the parameter name the client used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    /// The parameter as the client named it (`phone_number`, `to`, ...).
    pub field: &'static str,
    /// What is wrong, for a developer reading the response.
    pub reason: String,
}

impl FieldError {
    /// A rule on `field` was broken for `reason`.
    pub fn new(field: &'static str, reason: impl Into<String>) -> FieldError {
        FieldError {
            field,
            reason: reason.into(),
        }
    }
}

/// A destination number: digits only, international format, 7..=15 digits.
pub fn phone_number(field: &'static str, value: &str) -> Result<String, FieldError> {
    if value.starts_with('+') {
        return Err(FieldError::new(
            field,
            "international format without '+', e.g. 447700900123",
        ));
    }
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FieldError::new(field, "must contain digits only"));
    }
    if value.starts_with('0') {
        return Err(FieldError::new(
            field,
            "must start with the country code, not 0",
        ));
    }
    if !(7..=15).contains(&value.len()) {
        return Err(FieldError::new(field, "must have 7 to 15 digits"));
    }
    Ok(value.to_owned())
}

/// A sender: 1..=15 digits, or 1..=11 ASCII letters/digits/spaces with at least one letter.
pub fn sender(field: &'static str, value: &str) -> Result<String, FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        if value.len() > 15 {
            return Err(FieldError::new(
                field,
                "a numeric sender has at most 15 digits",
            ));
        }
        return Ok(value.to_owned());
    }
    let allowed = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b' ');
    if !allowed || value.starts_with(' ') || value.ends_with(' ') {
        return Err(FieldError::new(
            field,
            "an alphanumeric sender uses only ASCII letters, digits and inner spaces",
        ));
    }
    if value.len() > 11 {
        return Err(FieldError::new(
            field,
            "an alphanumeric sender has at most 11 characters",
        ));
    }
    Ok(value.to_owned())
}

/// A client message id or idempotency key: 1..=64 printable ASCII, no edge spaces.
pub fn client_id(field: &'static str, value: &str) -> Result<String, FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.len() > limits::MAX_ID_CHARS {
        return Err(FieldError::new(
            field,
            format!("at most {} characters", limits::MAX_ID_CHARS),
        ));
    }
    if !value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(FieldError::new(
            field,
            "printable ASCII characters only (space to '~')",
        ));
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err(FieldError::new(field, "no leading or trailing spaces"));
    }
    Ok(value.to_owned())
}

/// Message text: non-empty, bounded. Any Unicode is allowed; encoding is the gateway's job.
pub fn text(field: &'static str, value: &str) -> Result<String, FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().count() > limits::MAX_TEXT_CHARS {
        return Err(FieldError::new(
            field,
            format!("at most {} characters", limits::MAX_TEXT_CHARS),
        ));
    }
    Ok(value.to_owned())
}

/// An optional free-form label (carrier, app_id, conversation_id). Empty means absent, because
/// form clients commonly send `carrier=` for "none".
pub fn optional_label(
    field: &'static str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, FieldError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("at most {max_chars} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(value.to_owned()))
}

/// An optional point in time (RFC 3339 with an offset); empty means absent.
pub fn optional_time(
    field: &'static str,
    value: Option<&str>,
) -> Result<Option<std::time::SystemTime>, FieldError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    use time::{format_description::well_known::Rfc3339, OffsetDateTime};
    OffsetDateTime::parse(value, &Rfc3339)
        .ok()
        .filter(|at| at.unix_timestamp() >= 0)
        .map(|at| Some(std::time::SystemTime::from(at)))
        .ok_or_else(|| {
            FieldError::new(
                field,
                "an RFC 3339 time with its offset, like 2026-12-01T10:30:00Z",
            )
        })
}

/// An optional validity in whole seconds; empty means absent.
pub fn optional_validity(
    field: &'static str,
    value: Option<&str>,
) -> Result<Option<std::time::Duration>, FieldError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match value.parse::<u64>() {
        Ok(seconds) if (1..=limits::MAX_VALIDITY_SECONDS).contains(&seconds) => {
            Ok(Some(std::time::Duration::from_secs(seconds)))
        }
        _ => Err(FieldError::new(
            field,
            format!(
                "whole seconds, 1 to {} ({} days)",
                limits::MAX_VALIDITY_SECONDS,
                limits::MAX_VALIDITY_SECONDS / 86_400
            ),
        )),
    }
}

/// A login or password: non-empty, bounded, no control characters.
pub fn secret_part(
    field: &'static str,
    value: &str,
    max_chars: usize,
) -> Result<String, FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            format!("at most {max_chars} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers() {
        assert!(phone_number("p", "447700900123").is_ok());
        assert!(phone_number("p", "1234567").is_ok());
        assert!(phone_number("p", "123456789012345").is_ok());
        for bad in [
            "",
            "+447700900123",
            "07700900123",
            "123456",
            "1234567890123456",
            "4477 009",
            "44a7700900",
        ] {
            assert!(phone_number("p", bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn senders() {
        for good in [
            "ACME",
            "Acme Ltd",
            "12345",
            "123456789012345",
            "A1234567890",
        ] {
            assert!(sender("s", good).is_ok(), "{good:?} should be accepted");
        }
        for bad in [
            "",
            "1234567890123456",
            "TooLongName1",
            "ACME!",
            " ACME",
            "ÄCME",
        ] {
            assert!(sender("s", bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn client_ids() {
        assert!(client_id("m", "abc-123_X.y").is_ok());
        assert!(client_id("m", "a b").is_ok());
        assert!(client_id("m", &"x".repeat(64)).is_ok());
        for bad in [
            String::new(),
            "x".repeat(65),
            "tab\there".into(),
            " lead".into(),
            "é".into(),
        ] {
            assert!(client_id("m", &bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn texts_and_labels() {
        assert!(text("t", "").is_err());
        assert!(text("t", "héllo 👋").is_ok());
        assert!(text("t", &"x".repeat(limits::MAX_TEXT_CHARS + 1)).is_err());
        assert_eq!(optional_label("c", Some(""), 8), Ok(None));
        assert_eq!(optional_label("c", None, 8), Ok(None));
        assert_eq!(
            optional_label("c", Some("vodafone"), 8),
            Ok(Some("vodafone".into()))
        );
        assert!(optional_label("c", Some("vodafone1"), 8).is_err());
        assert!(optional_label("c", Some("a\nb"), 8).is_err());
    }
}
