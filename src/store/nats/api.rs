//! The JetStream API requests the store makes by hand, over plain NATS requests with JSON
//! bodies: creating a shard's stream, and reading the answers to publishes and batches
//! (async-nats has no call for atomic batches, so their acks are decoded here too).

use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use crate::store::StoreError;

/// A JetStream API error (`err_code` is the JetStream one, e.g. 10071).
#[derive(Debug, Clone, Deserialize)]
pub struct ApiError {
    pub code: u16,
    #[serde(default)]
    pub err_code: u32,
    #[serde(default)]
    pub description: String,
}

/// An expected last subject sequence did not hold: "wrong last sequence: N"
/// (JSStreamWrongLastSequenceError) when the stored sequence differs, and the same words
/// without N (JSStreamWrongLastSequenceConstantError, 10164) when a clustered leader finds
/// the subject in a proposal still in flight: under concurrent updates of one key on R3.
pub const WRONG_LAST_SEQUENCE: [u32; 2] = [10071, 10164];
/// Refusals of a whole batch that stored none of it and hold a moment later: too many
/// atomic batches open on the stream (10210; 50 by default), and a batch the server did not
/// get whole (10176: its first messages were dropped while the stream had too many open,
/// seen with three busy connectors on one shard).
pub const BATCH_NOT_TAKEN: [u32; 2] = [10210, 10176];

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "JetStream error {} ({}): {}",
            self.err_code, self.code, self.description
        )
    }
}

#[derive(Debug, Deserialize)]
struct Answer<T> {
    error: Option<ApiError>,
    #[serde(flatten)]
    body: Option<T>,
}

/// The answer to a JetStream request: its body, or the API's error.
pub async fn request<T: for<'de> Deserialize<'de>>(
    client: &async_nats::Client,
    subject: String,
    body: Bytes,
) -> Result<Result<T, ApiError>, StoreError> {
    let answer = client
        .request(subject.clone(), body)
        .await
        .map_err(|error| StoreError::Backend(format!("{subject}: {error}")))?;
    decode(&subject, &answer.payload)
}

/// Decodes a JetStream API answer.
pub fn decode<T: for<'de> Deserialize<'de>>(
    subject: &str,
    payload: &[u8],
) -> Result<Result<T, ApiError>, StoreError> {
    let answer: Answer<T> = serde_json::from_slice(payload)
        .map_err(|error| StoreError::Backend(format!("{subject}: bad answer: {error}")))?;
    match (answer.error, answer.body) {
        (Some(error), _) => Ok(Err(error)),
        (None, Some(body)) => Ok(Ok(body)),
        (None, None) => Err(StoreError::Backend(format!("{subject}: empty answer"))),
    }
}

/// How a shard's stream is made.
pub struct StreamSpec<'a> {
    pub name: &'a str,
    pub subjects: Vec<String>,
    pub replicas: usize,
}

#[derive(Debug, Deserialize)]
struct Created {
    #[allow(dead_code)]
    config: serde_json::Value,
}

/// Creates the stream (creating it again with the same config is a no-op). A cluster still
/// electing its meta leader, or not yet knowing enough peers for the replicas, refuses for a
/// moment: tried again until `patience` passes.
pub async fn ensure_stream(
    client: &async_nats::Client,
    spec: &StreamSpec<'_>,
    patience: Duration,
) -> Result<(), StoreError> {
    // One message per subject (a key's current value), atomic batches (a change), per-message
    // TTLs (claims, heartbeats), file storage replicated over the sites.
    let config = json!({
        "name": spec.name,
        "subjects": spec.subjects,
        "retention": "limits",
        "storage": "file",
        "num_replicas": spec.replicas,
        "max_msgs_per_subject": 1,
        "discard": "old",
        "allow_atomic": true,
        "allow_msg_ttl": true,
    });
    let subject = format!("$JS.API.STREAM.CREATE.{}", spec.name);
    let body = Bytes::from(config.to_string());
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let outcome = match request::<Created>(client, subject.clone(), body.clone()).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(error)) => StoreError::Backend(error.to_string()),
            Err(error) => error,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(outcome);
        }
        tracing::debug!(stream = spec.name, %outcome, "stream not created yet; trying again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[derive(Debug, Deserialize)]
struct Deleted {
    success: bool,
}

/// Removes the message at `seq` from `stream` without erasing it: a secure erase (the
/// API's default, and async-nats's `delete_message`) rewrites the message's whole block
/// file on every server, which cost ~9 ms of server CPU per MT when queue and outbox
/// entries were removed that way.
pub async fn delete_message(
    client: &async_nats::Client,
    stream: &str,
    seq: u64,
) -> Result<Result<bool, ApiError>, StoreError> {
    let subject = format!("$JS.API.STREAM.MSG.DELETE.{stream}");
    let body = json!({ "seq": seq, "no_erase": true });
    Ok(
        request::<Deleted>(client, subject, Bytes::from(body.to_string()))
            .await?
            .map(|deleted| deleted.success),
    )
}
