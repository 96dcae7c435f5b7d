//! `FailoverClient`: for applications sending to smsgw across sites (ARCHITECTURE.md,
//! "Multi-site"). It knows only HTTP and smsgw's two submit APIs.
//!
//! - Endpoints ([`FailoverConfig::endpoints`]), most preferred first: base URLs, and/or a
//!   hostname whose every A/AAAA address is an endpoint, resolved with hickory and re-resolved
//!   only after the records' TTL ([`EndpointSource::Resolved`]).
//! - Sending: [`FailoverClient::send_genesys`] posts the Genesys form to `/httpapi/receiver`,
//!   [`FailoverClient::submit_json`] posts JSON to `/v1/messages`. Every attempt carries the
//!   same body, so the same message_id / Idempotency-Key: the gateway answers a repeat with
//!   the first answer and never sends a second SMS. [`FailoverClient::status`] reads
//!   `GET /v1/messages/{id}` the same way.
//! - On a connect error, time-out, 5xx, 429 or 409 "still in flight" the same endpoint is
//!   retried with [`crate::push::backoff`] (a `Retry-After` is waited in full) for
//!   [`FailoverConfig::retry_window`]; then the next endpoint gets its own window. The
//!   endpoint that took a message is used first for the next one (sticky).
//! - Any other refusal (4xx) returns at once as [`FailoverError::Refused`] ([`Refusal`]), with the
//!   gateway's result_code and description, and no other endpoint is tried.
//! - Back to the preferred endpoint: after [`FailoverConfig::return_to_preferred_after`] on
//!   another one, the next request first probes `GET /healthz` on the preferred one and goes
//!   back to it if it answers 2xx (no background task).
//! - All waiting uses tokio's clock (`tokio::time::{sleep, Instant}`), so tests run it paused.

mod answer;
mod client;
mod config;
mod deliver;
mod dns;
mod endpoint;
mod error;
mod outbound;

pub use answer::GenesysAccepted;
pub use client::{Delivery, FailoverClient};
pub use config::{EndpointSource, FailoverConfig, NameServers, Scheme};
pub use dns::DnsError;
pub use endpoint::Endpoint;
pub use error::{FailoverError, Refusal};
