//! The body of `POST /v1/messages` and the optional `Idempotency-Key`, parsed and validated.

use serde::{Deserialize, Serialize};

use crate::limits;
use crate::priority::Priority;
use crate::validate::{self, FieldError};

/// The JSON body as sent. Unknown fields are refused so that a typo (`"reciept"`) is an error,
/// not a silently ignored option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    /// Destination, digits only, international format without `+`.
    pub to: String,
    /// Sender: numeric (<= 15 digits) or alphanumeric (<= 11 characters).
    pub from: String,
    /// The text, any Unicode.
    pub text: String,
    /// Optional carrier hint.
    #[serde(default)]
    pub carrier: Option<String>,
    /// Whether to push delivery receipts; default `false`.
    #[serde(default)]
    pub receipt: bool,
    /// Default `BULK`.
    #[serde(default)]
    pub priority: Priority,
    /// Echoed back in receipts.
    #[serde(default)]
    pub app_id: Option<String>,
    /// Echoed back in receipts.
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// The client's own id, echoed back as `message_id` in receipts.
    #[serde(default)]
    pub client_message_id: Option<String>,
    /// Not sent before this time: RFC 3339 with its offset.
    #[serde(default)]
    pub send_at: Option<String>,
    /// Seconds from acceptance after which the message is not sent but EXPIRED.
    #[serde(default)]
    pub validity: Option<u64>,
}

/// A validated `POST /v1/messages` request (same field rules as the receiver).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubmitRequest {
    /// Destination number.
    pub to: String,
    /// Sender.
    pub from: String,
    /// The text.
    pub text: String,
    /// Carrier hint.
    pub carrier: Option<String>,
    /// Push delivery receipts.
    pub receipt: bool,
    /// Queue priority.
    pub priority: Priority,
    /// Echoed in receipts.
    pub app_id: Option<String>,
    /// Echoed in receipts.
    pub conversation_id: Option<String>,
    /// The client's id for receipts.
    pub client_message_id: Option<String>,
    /// Not sent before this time.
    pub send_at: Option<std::time::SystemTime>,
    /// Not sent later than this long after acceptance.
    pub validity: Option<std::time::Duration>,
}

impl TryFrom<SubmitBody> for SubmitRequest {
    type Error = FieldError;

    fn try_from(body: SubmitBody) -> Result<Self, Self::Error> {
        Ok(SubmitRequest {
            to: validate::phone_number("to", &body.to)?,
            from: validate::sender("from", &body.from)?,
            text: validate::text("text", &body.text)?,
            carrier: validate::optional_label(
                "carrier",
                body.carrier.as_deref(),
                limits::MAX_CARRIER_CHARS,
            )?,
            receipt: body.receipt,
            priority: body.priority,
            app_id: validate::optional_label(
                "app_id",
                body.app_id.as_deref(),
                limits::MAX_CORRELATION_CHARS,
            )?,
            conversation_id: validate::optional_label(
                "conversation_id",
                body.conversation_id.as_deref(),
                limits::MAX_CORRELATION_CHARS,
            )?,
            client_message_id: match body.client_message_id.as_deref() {
                None => None,
                Some(id) => Some(validate::client_id("client_message_id", id)?),
            },
            send_at: validate::optional_time("send_at", body.send_at.as_deref())?,
            validity: validate::optional_validity(
                "validity",
                body.validity.map(|s| s.to_string()).as_deref(),
            )?,
        })
    }
}

/// The `Idempotency-Key` header: optional but recommended. 1..=64 printable ASCII characters
/// (a UUID fits). The gateway remembers it per account: the same key with the same body gets
/// the first answer again; with another body, [`ApiError::idempotency_mismatch`].
///
/// [`ApiError::idempotency_mismatch`]: super::ApiError::idempotency_mismatch
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The header name.
    pub const HEADER: &'static str = "idempotency-key";

    /// Validates a header value.
    pub fn parse(value: &str) -> Result<IdempotencyKey, FieldError> {
        validate::client_id("Idempotency-Key", value).map(IdempotencyKey)
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
