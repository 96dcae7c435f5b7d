//! HTTP edge of smsgw. It knows nothing of the gateway (no stores, routing or config): each
//! endpoint validates its input into typed requests and calls a handler trait that the gateway
//! implements; the push client only talks HTTP.
//!
//! Server side:
//! - [`receiver`]: Genesys-compatible `GET|POST /httpapi/receiver` ([`ReceiverHandler`],
//!   [`ReceiverRequest`], [`ReceiverError`]).
//! - [`api`]: JSON `POST /v1/messages` and `GET /v1/messages/{id}` ([`MessageApi`],
//!   [`SubmitRequest`], [`SubmitAccepted`], [`MessageStatus`], [`ApiError`]).
//! - [`opt_outs`]: JSON `GET /v1/opt-outs`, `PUT|DELETE /v1/opt-outs/{number}` ([`OptOutApi`]).
//! - [`ops`]: `/healthz`, `/readyz` ([`Readiness`]); `/metrics` ([`MetricsSource`]) as a
//!   router of its own, for the embedder's operators' listener.
//! - [`app`]: every public router above merged into one (not `/metrics`), and the JSON 404.
//! - [`client_addr`]: [`ClientAddr`], the client's address as the accepting server found it.
//!
//! Client side:
//! - [`push`]: MO and receipt pushes to application URLs ([`PushClient`], [`PushTarget`],
//!   [`PushMessage`], [`PushOutcome`], [`backoff`]).
//!
//! - [`failover`]: for applications, sending to smsgw across sites ([`FailoverClient`]): retry
//!   with the same message_id / Idempotency-Key, switch endpoint after a window, DNS TTL.
//!
//! - [`inbox`]: for applications, a route receiving those pushes ([`inbox::PushHandler`]):
//!   both formats, signature check, dedupe window, 2xx only after the callback succeeded.
//!
//! Shared: [`credentials`], [`priority`], [`state`] ([`MessageState`]), [`submit_refusal`]
//! ([`SubmitRefusal`], what a handler of either API refuses), [`validate`] (the field rules of
//! both APIs), [`form`] (strict UTF-8 form decoding), [`limits`], [`result_code`],
//! [`retry_after`], [`rfc3339`], [`redact`] (URLs without their secrets, for logs).
//!
//! Clients built with reqwest need a rustls crypto provider: [`PushClient::new`] installs ring
//! if none is installed.

pub mod api;
pub mod app;
pub mod client_addr;
pub mod credentials;
pub mod failover;
pub mod form;
pub mod inbox;
pub mod limits;
pub mod ops;
pub mod opt_outs;
pub mod priority;
pub mod push;
pub mod receiver;
pub mod redact;
pub mod result_code;
pub mod retry_after;
pub mod rfc3339;
pub mod state;
pub mod submit_refusal;
pub mod validate;

pub use api::{
    ApiError, IdempotencyKey, MessageApi, MessageStatus, StatusEvent, SubmitAccepted, SubmitRequest,
};
pub use client_addr::ClientAddr;
pub use credentials::Credentials;
pub use failover::{FailoverClient, FailoverConfig, FailoverError};
pub use ops::{MetricsSource, Readiness};
pub use opt_outs::{OptOutApi, OptOutEntry, OptOutKey, OptOutList};
pub use priority::Priority;
pub use push::{
    backoff, AddressPolicy, ForbiddenAddress, PushClient, PushConfig, PushFormat, PushMessage,
    PushOutcome, PushTarget,
};
pub use receiver::{ReceiverError, ReceiverHandler, ReceiverRequest};
pub use redact::{redact_url, RedactedUrl};
pub use state::MessageState;
pub use submit_refusal::{SubmitField, SubmitRefusal};
