//! A [`Change`] in the NATS store: its guards and writes turned into the messages of ONE
//! atomic batch on the shard's stream (`Nats-Batch-Id` / `-Sequence` / `-Commit`). Each
//! guard is the `Nats-Expected-Last-Subject-Sequence` of a message in the batch: a claim is a
//! publish expecting 0 with a `Nats-TTL`, a record at version v a publish expecting v. The
//! commit's ack is the quorum-committed answer; a failed expectation stores none of the batch
//! (error 10071, or 10164 while another write of the subject is in flight; neither says
//! which subject), so the claims are read to tell
//! [`Committed::Claimed`] from [`Committed::Conflict`].

use std::{collections::HashMap, time::Duration};

use async_nats::HeaderMap;
use bytes::Bytes;
use serde::Deserialize;

use super::{api, NatsStore};
use crate::{
    message::queue_rank,
    store::{Change, Committed, Guard, StoreError, Write},
};

/// One message of a batch.
#[derive(Debug)]
struct Entry {
    subject: String,
    payload: Bytes,
    /// The subject's last sequence the change was built on (0: no message).
    expected: Option<u64>,
    ttl: Option<Duration>,
}

/// `Nats-TTL` takes whole seconds; a claim never lasts less than it asked for.
fn ttl_header(ttl: Duration) -> String {
    let seconds = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    format!("{}s", seconds.max(1))
}

#[derive(Debug, Deserialize)]
struct BatchAck {
    #[allow(dead_code)]
    seq: u64,
}

fn not_implemented_error(what: &str) -> StoreError {
    StoreError::Backend(format!("nats store: {what} not implemented yet"))
}

impl NatsStore {
    /// The batch of `change`: guards become expectations on the messages they guard.
    fn batch_of(&self, change: &Change) -> Result<Vec<Entry>, StoreError> {
        let mut entries = Vec::new();
        let mut record_versions = HashMap::new();
        for guard in &change.guards {
            match guard {
                Guard::Claim(claim) => entries.push(Entry {
                    subject: self.subjects.claim(&claim.space, &claim.key),
                    payload: Bytes::from(claim.value.clone()),
                    expected: Some(0),
                    ttl: Some(claim.ttl),
                }),
                Guard::RecordVersion { id, version } => {
                    record_versions.insert(id.as_str().to_owned(), *version);
                }
                Guard::Unmapped(_) => return Err(not_implemented_error("Guard::Unmapped")),
                Guard::ParkedCount { .. } => {
                    return Err(not_implemented_error("Guard::ParkedCount"))
                }
            }
        }
        for write in &change.writes {
            match write {
                Write::Record(record) => {
                    let id = record.mt.id.as_str();
                    let payload = serde_json::to_vec(record).map_err(StoreError::backend)?;
                    entries.push(Entry {
                        subject: self.subjects.record(id),
                        payload: Bytes::from(payload),
                        expected: record_versions.remove(id),
                        ttl: None,
                    });
                }
                Write::Enqueue {
                    connector,
                    priority,
                    id,
                    released: false,
                } => entries.push(Entry {
                    subject: self
                        .subjects
                        .queued(connector, queue_rank(*priority), id.as_str()),
                    payload: Bytes::from(id.as_str().to_owned()),
                    expected: None,
                    ttl: None,
                }),
                Write::Enqueue { released: true, .. } => {
                    return Err(not_implemented_error("Write::Enqueue of a released MT"))
                }
                Write::MapCarrierId { .. } => {
                    return Err(not_implemented_error("Write::MapCarrierId"))
                }
                Write::Park { .. } => return Err(not_implemented_error("Write::Park")),
                Write::Unpark(_) => return Err(not_implemented_error("Write::Unpark")),
                Write::Outbox(_) => return Err(not_implemented_error("Write::Outbox")),
                Write::EndLease(_) => return Err(not_implemented_error("Write::EndLease")),
            }
        }
        if let Some(id) = record_versions.keys().next() {
            // Every record guard so far comes with its write (`Change::put_record`); a guard
            // alone would need a message of its own on the record's subject.
            return Err(not_implemented_error(&format!(
                "a record version guard without its write ({id})"
            )));
        }
        Ok(entries)
    }

    pub(super) async fn commit_change(&self, change: Change) -> Result<Committed, StoreError> {
        let entries = self.batch_of(&change)?;
        let Some(last) = entries.len().checked_sub(1) else {
            return Ok(Committed::Done);
        };
        let batch_id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let mut commit = None;
        for (number, entry) in entries.into_iter().enumerate() {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Batch-Id", batch_id.as_str());
            headers.insert("Nats-Batch-Sequence", (number + 1).to_string().as_str());
            if let Some(expected) = entry.expected {
                headers.insert(
                    "Nats-Expected-Last-Subject-Sequence",
                    expected.to_string().as_str(),
                );
            }
            if let Some(ttl) = entry.ttl {
                headers.insert("Nats-TTL", ttl_header(ttl).as_str());
            }
            if number == last {
                headers.insert("Nats-Batch-Commit", "1");
                commit = Some((entry.subject, headers, entry.payload));
            } else {
                // Published on the same connection as the commit, so they reach the server
                // before it; the commit's answer covers them all.
                self.client
                    .publish_with_headers(entry.subject, headers, entry.payload)
                    .await
                    .map_err(StoreError::backend)?;
            }
        }
        let (subject, headers, payload) = commit.expect("the last entry is the commit");
        let answer = self
            .client
            .request_with_headers(subject.clone(), headers, payload)
            .await
            .map_err(|error| StoreError::Backend(format!("commit on {subject}: {error}")))?;
        match api::decode::<BatchAck>(&subject, &answer.payload)? {
            Ok(_) => Ok(Committed::Done),
            Err(error) if api::WRONG_LAST_SEQUENCE.contains(&error.err_code) => {
                self.why_refused(&change).await
            }
            Err(error) => Err(StoreError::Backend(format!("commit: {error}"))),
        }
    }

    /// A batch whose expectation failed: [`Committed::Claimed`] if one of its claims is held
    /// (the server does not say which message failed), else [`Committed::Conflict`].
    async fn why_refused(&self, change: &Change) -> Result<Committed, StoreError> {
        for guard in &change.guards {
            if let Guard::Claim(claim) = guard {
                let subject = self.subjects.claim(&claim.space, &claim.key);
                if self.last(&subject).await?.is_some() {
                    return Ok(Committed::Claimed);
                }
            }
        }
        Ok(Committed::Conflict)
    }
}

#[cfg(test)]
mod tests {
    use super::ttl_header;
    use std::time::Duration;

    #[test]
    fn claims_last_at_least_their_ttl_in_whole_seconds() {
        assert_eq!(ttl_header(Duration::from_millis(300)), "1s");
        assert_eq!(ttl_header(Duration::from_secs(60)), "60s");
        assert_eq!(ttl_header(Duration::from_millis(1500)), "2s");
        assert_eq!(ttl_header(Duration::ZERO), "1s");
    }
}
