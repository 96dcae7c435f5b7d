//! Client side of MO and delivery-receipt pushes from the gateway to application URLs.
//!
//! One [`PushClient::send`] is one attempt; the gateway's outbox consumer calls it until
//! [`PushOutcome::Delivered`], sleeping [`backoff`] between attempts, and stops for
//! [`PushOutcome::Gone`].
//!
//! Pushes connect only to addresses the client's [`AddressPolicy`] allows (public ones unless
//! allow-listed), checked on every address connected to, see [`AddressPolicy`].
//!
//! Bodies ([`PushMessage`]):
//! - form (Genesys): MO `type=MO&message_id=..&shortcode=..&phone_number=..&carrier=..&message=..`,
//!   receipt `type=receipt&message_id=..&message_state=..&result_code=..&app_id=..&conversation_id=..`;
//! - JSON: the same field names, e.g.
//!   `{"type":"receipt","message_id":"c-1","message_state":2,"state":"DELIVERED","result_code":0,"app_id":null,"conversation_id":null}`.
//!
//! Headers (Standard Webhooks): `webhook-id` always (the same on every retry, see
//! [`PushMessage::event_id`]); with a signing secret also `webhook-timestamp` (Unix seconds)
//! and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.

mod address_policy;
mod backoff;
mod client;
mod message;
mod outcome;
mod parse;
mod resolver;
mod target;

pub use address_policy::{forbidden_range, AddressPolicy, ForbiddenAddress};
pub use backoff::{backoff, backoff_with, FIRST_DELAY, MAX_DELAY, PUSH_BACKOFF};
pub use client::{PushClient, PushClientError, PushConfig};
pub use message::PushMessage;
pub use outcome::PushOutcome;
pub use parse::PushParseError;
pub use resolver::RefusedHost;
pub use target::{PushFormat, PushTarget, PushTargetError};
