//! What the JSON API answers on success: `SubmitAccepted` (202) and `MessageStatus` (200).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::state::MessageState;

/// The answer to an accepted `POST /v1/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitAccepted {
    /// Our message id (carries the site, at most 64 characters); use it with
    /// `GET /v1/messages/{id}`.
    pub id: String,
    /// Normally `ACCEPTED`; a replayed Idempotency-Key may report a later state.
    pub state: MessageState,
    /// Number of SMS segments the text needs.
    pub parts: u32,
}

/// The answer to `GET /v1/messages/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageStatus {
    /// Our message id.
    pub id: String,
    /// The current state.
    pub state: MessageState,
    /// Destination number.
    pub to: String,
    /// Sender.
    pub from: String,
    /// When the gateway accepted it (RFC 3339, UTC).
    #[serde(with = "crate::rfc3339")]
    pub created_at: SystemTime,
    /// Number of SMS segments.
    pub parts: u32,
    /// Every state change, oldest first.
    pub history: Vec<StatusEvent>,
}

/// One state change of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusEvent {
    /// The state entered.
    pub state: MessageState,
    /// The carrier's error code (`err:` of the receipt) or our result code, when there is one.
    pub code: Option<u32>,
    /// When it happened (RFC 3339, UTC).
    #[serde(with = "crate::rfc3339")]
    pub at: SystemTime,
}
