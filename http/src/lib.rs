//! HTTP edge of smsgw. It knows nothing of the gateway: each endpoint validates its input into
//! typed requests and calls a handler trait that the gateway implements.
//!
//! - [`receiver`]: Genesys-compatible `GET|POST /httpapi/receiver` ([`ReceiverHandler`]).
//! - [`credentials`], [`priority`], [`validate`], [`form`], [`limits`], [`result_code`]: shared
//!   input types and rules.

pub mod api;
pub mod app;
pub mod credentials;
pub mod form;
pub mod limits;
pub mod ops;
pub mod priority;
pub mod push;
pub mod receiver;
pub mod result_code;
pub mod retry_after;
pub mod rfc3339;
pub mod state;
pub mod validate;

pub use api::{
    ApiError, IdempotencyKey, MessageApi, MessageStatus, StatusEvent, SubmitAccepted, SubmitRequest,
};
pub use credentials::Credentials;
pub use ops::{MetricsSource, Readiness};
pub use priority::Priority;
pub use push::{backoff, PushClient, PushConfig, PushFormat, PushMessage, PushOutcome, PushTarget};
pub use receiver::{ReceiverError, ReceiverHandler, ReceiverRequest};
pub use state::MessageState;
