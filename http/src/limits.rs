//! Bounds on what a client may send, shared by every endpoint of the edge.
//!
//! Every size is bounded so that a hostile or buggy client cannot make the gateway allocate
//! without limit; the values are generous for SMS traffic.

/// Largest request body (form or JSON) accepted, in bytes. Larger bodies get a 413 answer.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest query string accepted on `/httpapi/receiver`, in bytes (same bound as a body).
pub const MAX_QUERY_BYTES: usize = MAX_BODY_BYTES;
/// Longest client message id / Idempotency-Key / our message id, in characters.
pub const MAX_ID_CHARS: usize = 64;
/// Longest login, in characters.
pub const MAX_LOGIN_CHARS: usize = 64;
/// Longest password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Longest carrier name, in characters.
pub const MAX_CARRIER_CHARS: usize = 64;
/// Longest `app_id` / `conversation_id`, in characters (they are echoed back in receipts).
pub const MAX_CORRELATION_CHARS: usize = 128;
/// Longest message text, in characters. Segment limits are the gateway's business (it answers
/// "too long" with the account's own limit); this bound only caps memory.
pub const MAX_TEXT_CHARS: usize = 16 * 1024;

/// Longest `validity` an MT may ask for, in seconds: 30 days, more than any carrier keeps a
/// message.
pub const MAX_VALIDITY_SECONDS: u64 = 30 * 86_400;
