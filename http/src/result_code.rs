//! Result codes shared by the Genesys-compatible receiver and the JSON API.
//!
//! Codes 0..=98 follow the Genesys SMS Aggregation HTTP API. Genesys documents no code for a
//! malformed or missing parameter, so we use 1 ("invalid parameter") and name the parameter in
//! the description. Codes from 100 up are ours, for situations the Genesys profile does not
//! have; only [`OPTED_OUT`] appears on `/httpapi/receiver` too (Genesys has no code for it).

/// The request was accepted.
pub const OK: u16 = 0;
/// A parameter is missing, repeated or malformed (ours: Genesys documents no code for this).
pub const INVALID_PARAMETER: u16 = 1;
/// Login or password wrong, or the account may not send.
pub const AUTHENTICATION_FAILED: u16 = 2;
/// The `carrier` given is not known to the gateway.
pub const UNKNOWN_CARRIER: u16 = 3;
/// Too many requests: slow down and retry after the `Retry-After` delay.
pub const THROTTLED: u16 = 6;
/// The client's message id (or Idempotency-Key) was used before for a different message.
pub const DUPLICATE_MESSAGE_ID: u16 = 7;
/// The text needs more segments than the account may send.
pub const MESSAGE_TOO_LONG: u16 = 8;
/// A temporary failure inside the gateway: retry later.
pub const INTERNAL: u16 = 98;
/// JSON API only: no message with that id for this account.
pub const NOT_FOUND: u16 = 104;
/// JSON API only: the same Idempotency-Key is still being processed; retry later.
pub const IN_FLIGHT: u16 = 109;
/// The destination opted out (STOP) of the account's messages: do not retry (HTTP 403).
pub const OPTED_OUT: u16 = 110;
