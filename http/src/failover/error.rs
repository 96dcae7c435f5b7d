//! `FailoverError`: why a message was not taken by any endpoint.

use super::{DnsError, Endpoint};

/// Why [`FailoverClient`](super::FailoverClient) could not deliver a message.
#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    /// The gateway refused the message with an error a retry cannot fix (4xx other than 429,
    /// or an answer that is not smsgw's). Returned at once, without trying other endpoints.
    #[error("{0}")]
    Refused(Box<Refusal>),
    /// Every endpoint was retried for the whole window and none took the message.
    #[error("no endpoint took the message (tried {tried:?}); last error: {last_error}")]
    Unavailable {
        /// The endpoints tried, in order.
        tried: Vec<Endpoint>,
        /// The last failure seen.
        last_error: String,
    },
    /// No endpoint is configured, or every hostname failed to resolve.
    #[error("no endpoint to send to: {0}")]
    NoEndpoint(String),
    /// The JSON body could not be encoded.
    #[error("cannot encode the body: {0}")]
    Body(#[from] serde_json::Error),
    /// The DNS resolver could not be set up.
    #[error(transparent)]
    Dns(#[from] DnsError),
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A refusal a retry cannot fix, as the gateway gave it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{endpoint} refused the message: HTTP {status}, result_code {result_code:?}: {description}"
)]
pub struct Refusal {
    /// The endpoint that answered.
    pub endpoint: Endpoint,
    /// The HTTP status.
    pub status: u16,
    /// The gateway's result code (see [`crate::result_code`]); `None` if the answer did not
    /// carry one (e.g. a proxy's error page).
    pub result_code: Option<u16>,
    /// The gateway's description, or the start of the body.
    pub description: String,
}
