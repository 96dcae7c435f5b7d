//! `ReceiverRequest`: the parameters of `/httpapi/receiver`, parsed and validated.

use crate::credentials::Credentials;
use crate::limits;
use crate::priority::Priority;
use crate::validate;

use super::ReceiverError;

/// A validated MT request from the Genesys-compatible receiver. Every field obeys the rules in
/// [`crate::validate`]; credentials are not yet checked (that is the gateway's job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverRequest {
    /// `login` and `password`.
    pub credentials: Credentials,
    /// `phone_number`: destination, digits only, international format.
    pub phone_number: String,
    /// `sender`: numeric (<= 15 digits) or alphanumeric (<= 11 characters).
    pub sender: String,
    /// `carrier`: the client's routing hint; `None` when absent or empty.
    pub carrier: Option<String>,
    /// `message`: the text, any Unicode.
    pub message: String,
    /// `message_id`: the client's id, unique per account; the idempotency key.
    pub message_id: String,
    /// `receipt`: whether the client wants delivery receipts (default `false`, as Genesys).
    pub receipt: bool,
    /// `app_id`: echoed back in receipts.
    pub app_id: Option<String>,
    /// `conversation_id`: echoed back in receipts.
    pub conversation_id: Option<String>,
    /// `priority`: default `BULK`.
    pub priority: Priority,
    /// `send_at`: not sent before this time (RFC 3339); an extension of the Genesys profile.
    pub send_at: Option<std::time::SystemTime>,
    /// `validity`: seconds from acceptance after which the message is not sent but EXPIRED;
    /// an extension of the Genesys profile.
    pub validity: Option<std::time::Duration>,
}

/// Parameters this endpoint reads; any other parameter is ignored (clients add their own).
const KNOWN: [&str; 13] = [
    "login",
    "password",
    "phone_number",
    "sender",
    "carrier",
    "message",
    "message_id",
    "receipt",
    "app_id",
    "conversation_id",
    "priority",
    "send_at",
    "validity",
];

/// Parameters that must be present and non-empty.
const REQUIRED: [&str; 6] = [
    "login",
    "password",
    "phone_number",
    "sender",
    "message",
    "message_id",
];

impl ReceiverRequest {
    /// Validates decoded form pairs. A known parameter given twice is refused (which one would
    /// the client mean?); all missing required parameters are listed in one answer.
    pub fn from_pairs<N, V>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<ReceiverRequest, ReceiverError>
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        // One slot per known parameter, in `KNOWN` order.
        let mut params: [Option<V>; KNOWN.len()] = Default::default();
        for (name, value) in pairs {
            let Some(slot) = KNOWN.iter().position(|k| *k == name.as_ref()) else {
                continue;
            };
            if params[slot].replace(value).is_some() {
                return Err(ReceiverError::invalid(KNOWN[slot], "given more than once"));
            }
        }
        let optional = |name: &str| {
            let slot = KNOWN.iter().position(|k| *k == name)?;
            params[slot].as_ref().map(AsRef::as_ref)
        };
        let get = |name: &str| optional(name).unwrap_or_default();
        let missing: Vec<&str> = REQUIRED
            .into_iter()
            .filter(|name| get(name).is_empty())
            .collect();
        if !missing.is_empty() {
            return Err(ReceiverError::missing(&missing));
        }

        Ok(ReceiverRequest {
            credentials: Credentials {
                login: validate::secret_part("login", get("login"), limits::MAX_LOGIN_CHARS)?,
                password: validate::secret_part(
                    "password",
                    get("password"),
                    limits::MAX_PASSWORD_CHARS,
                )?,
            },
            phone_number: validate::phone_number("phone_number", get("phone_number"))?,
            sender: validate::sender("sender", get("sender"))?,
            carrier: validate::optional_label(
                "carrier",
                optional("carrier"),
                limits::MAX_CARRIER_CHARS,
            )?,
            message: validate::text("message", get("message"))?,
            message_id: validate::client_id("message_id", get("message_id"))?,
            receipt: parse_receipt(optional("receipt"))?,
            app_id: validate::optional_label(
                "app_id",
                optional("app_id"),
                limits::MAX_CORRELATION_CHARS,
            )?,
            conversation_id: validate::optional_label(
                "conversation_id",
                optional("conversation_id"),
                limits::MAX_CORRELATION_CHARS,
            )?,
            priority: match optional("priority").filter(|v| !v.is_empty()) {
                None => Priority::default(),
                Some(value) => value
                    .parse()
                    .map_err(|e| ReceiverError::invalid("priority", &format!("{e}")))?,
            },
            send_at: validate::optional_time("send_at", optional("send_at"))?,
            validity: validate::optional_validity("validity", optional("validity"))?,
        })
    }
}

/// `TRUE`/`FALSE` in any case; absent or empty means `FALSE` (the Genesys default).
fn parse_receipt(value: Option<&str>) -> Result<bool, ReceiverError> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ReceiverError::invalid("receipt", "must be TRUE or FALSE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(extra: &[(&str, &str)], without: &[&str]) -> Vec<(String, String)> {
        let base = [
            ("login", "demo"),
            ("password", "demo1234"),
            ("phone_number", "447700900123"),
            ("sender", "ACME"),
            ("message", "hello"),
            ("message_id", "m-1"),
        ];
        base.iter()
            .filter(|(k, _)| !without.contains(k))
            .chain(extra.iter())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_when_optional_parameters_are_absent_or_empty() {
        let r =
            ReceiverRequest::from_pairs(pairs(&[("carrier", ""), ("receipt", "")], &[])).unwrap();
        assert!(!r.receipt);
        assert_eq!(r.priority, Priority::Bulk);
        assert_eq!(r.carrier, None);
        assert_eq!(r.app_id, None);
    }

    #[test]
    fn receipt_and_priority_are_case_insensitive() {
        let r = ReceiverRequest::from_pairs(pairs(
            &[("receipt", "true"), ("priority", "interactive")],
            &[],
        ))
        .unwrap();
        assert!(r.receipt);
        assert_eq!(r.priority, Priority::Interactive);
        let r = ReceiverRequest::from_pairs(pairs(&[("receipt", "FALSE")], &[])).unwrap();
        assert!(!r.receipt);
    }

    #[test]
    fn every_missing_required_parameter_is_listed() {
        let e =
            ReceiverRequest::from_pairs(pairs(&[("message", "")], &["login", "message", "sender"]))
                .unwrap_err();
        assert_eq!(e.code(), 1);
        assert_eq!(
            e.description(),
            "missing parameter(s): login, sender, message"
        );
    }

    #[test]
    fn a_known_parameter_twice_is_refused_but_unknown_ones_are_ignored() {
        let e = ReceiverRequest::from_pairs(pairs(&[("sender", "OTHER")], &[])).unwrap_err();
        assert!(e.description().contains("sender"), "{e}");
        let r = ReceiverRequest::from_pairs(pairs(&[("foo", "1"), ("foo", "2")], &[]));
        assert!(r.is_ok());
    }

    #[test]
    fn bad_receipt_and_priority_name_the_parameter() {
        let e = ReceiverRequest::from_pairs(pairs(&[("receipt", "yes")], &[])).unwrap_err();
        assert!(e.description().contains("receipt"));
        let e = ReceiverRequest::from_pairs(pairs(&[("priority", "HIGH")], &[])).unwrap_err();
        assert!(e.description().contains("priority"));
    }
}
