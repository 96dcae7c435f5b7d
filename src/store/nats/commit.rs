//! A [`Change`] in the NATS store: its guards and writes turned into the messages of ONE
//! atomic batch on the shard's stream (`Nats-Batch-Id` / `-Sequence` / `-Commit`; a change of
//! one message is a plain publish), one message per subject. Each guard is an expected last
//! subject sequence:
//!
//! - a claim is a publish expecting 0 (or the sequence of an expired claim still there);
//! - a record at version v is a write of the record expecting v;
//! - `Unmapped` and `ParkedCount` are checked on the carrier id's slot as read at commit,
//!   and the slot's write (or, if the change does not write it, another message of the
//!   batch, through `Nats-Expected-Last-Subject-Sequence-Subject`) expects the sequence read.
//!   Every slot write expects it too, so a park is never lost to a concurrent one.
//!
//! The commit's ack is the quorum-committed answer. A failed expectation stores none of the
//! batch, and the server does not say which one failed (10071, or 10164 while another write
//! of the subject is in flight), so the subjects are read again: a live claim is
//! [`Committed::Claimed`], another changed subject [`Committed::Conflict`]; when everything
//! still looks as expected the refusal was a write in flight, and the batch is sent again.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use async_nats::HeaderMap;
use bytes::Bytes;
use serde::Deserialize;

use super::{
    api, consumers,
    subjects::Topic,
    values::{self, ClaimValue, Slot},
    Shard,
};
use crate::{
    message::{now_ms, queue_rank, MessageId},
    store::{Change, Committed, Guard, OutboxRecord, StoreError, Write},
};

/// How long a claim's message outlives the claim: the server removes it then, unless the
/// sweep (every 10 minutes) did first. The claim's own expiry is in its value.
const CLAIM_GRACE: Duration = Duration::from_secs(15 * 60);

/// How long the tombstone of a finished queue entry stays (takers skip it meanwhile).
pub(super) const TOMBSTONE_TTL: Duration = Duration::from_secs(1);

/// How long a refused batch is sent again while its guards still look as expected (a write
/// of one of its subjects was in flight), or the stream had too many batches open. Counted
/// in time, not tries: under load a proposal stays in flight for longer than 20 quick
/// resends (seen: an MT whose submit could not be recorded and waited for its lease).
const RESEND_PATIENCE: Duration = Duration::from_secs(10);

/// The pause between such resends: short at first, since an in-flight write is usually
/// applied within a replication round trip.
const RESEND_PAUSE: smsgw_backoff::Backoff =
    smsgw_backoff::Backoff::new(Duration::from_millis(1), Duration::from_millis(100))
        .with_upward_jitter(1.0);

/// Paces the resends of one refused batch (see [`RESEND_PATIENCE`]).
pub(super) struct Resends {
    deadline: tokio::time::Instant,
    sent_again: u32,
}

impl Resends {
    pub fn new() -> Self {
        Self {
            deadline: tokio::time::Instant::now() + RESEND_PATIENCE,
            sent_again: 0,
        }
    }

    /// Waits before the next resend; `false` once the patience is spent.
    pub async fn pause(&mut self) -> bool {
        if tokio::time::Instant::now() >= self.deadline {
            return false;
        }
        tokio::time::sleep(RESEND_PAUSE.delay(self.sent_again)).await;
        self.sent_again += 1;
        true
    }

    /// Why the batch was given up on.
    pub fn spent(&self, what: &str) -> StoreError {
        StoreError::Backend(format!(
            "{what}: refused for {RESEND_PATIENCE:?} ({} tries) while its guards held \
             (writes of its keys in flight)",
            self.sent_again + 1
        ))
    }
}

/// One message of a batch.
#[derive(Debug)]
pub(super) struct Entry {
    pub subject: String,
    pub payload: Bytes,
    /// The last sequence of `guarded` (or of `subject`) the change was built on.
    pub expected: Option<u64>,
    /// Another subject whose last sequence `expected` is.
    pub guarded: Option<String>,
    pub ttl: Option<Duration>,
    /// A header of the store's own (a record that moved names its new shard).
    pub mark: Option<(&'static str, String)>,
}

impl Entry {
    pub fn new(subject: String, payload: Bytes) -> Self {
        Self {
            subject,
            payload,
            expected: None,
            guarded: None,
            ttl: None,
            mark: None,
        }
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(expected) = self.expected {
            headers.insert(
                "Nats-Expected-Last-Subject-Sequence",
                expected.to_string().as_str(),
            );
        }
        if let Some(guarded) = &self.guarded {
            headers.insert(
                "Nats-Expected-Last-Subject-Sequence-Subject",
                guarded.as_str(),
            );
        }
        if let Some(ttl) = self.ttl {
            headers.insert("Nats-TTL", ttl_header(ttl).as_str());
        }
        if let Some((name, value)) = &self.mark {
            headers.insert(*name, value.as_str());
        }
        headers
    }
}

/// `Nats-TTL` takes whole seconds; a message never lasts less than it asked for.
fn ttl_header(ttl: Duration) -> String {
    let seconds = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    format!("{}s", seconds.max(1))
}

/// The messages of a change, and what to do once it is committed.
#[derive(Debug, Default)]
struct Batch {
    entries: Vec<Entry>,
    by_subject: HashMap<String, usize>,
    /// Every expectation: subject and the last sequence it must have.
    expected: Vec<(String, u64)>,
    /// The claims' subjects, in the change's order.
    claims: Vec<String>,
    wakes: HashSet<Topic>,
    /// MTs whose lease the change ends.
    ended: Vec<MessageId>,
}

impl Batch {
    /// Writes `payload` on `subject`; a later write of the same subject replaces it.
    fn put(&mut self, subject: String, payload: Bytes, ttl: Option<Duration>) {
        match self.by_subject.get(&subject) {
            Some(&index) => {
                self.entries[index].payload = payload;
                self.entries[index].ttl = ttl;
            }
            None => {
                self.by_subject.insert(subject.clone(), self.entries.len());
                let mut entry = Entry::new(subject, payload);
                entry.ttl = ttl;
                self.entries.push(entry);
            }
        }
    }

    /// The change holds only if `subject`'s last sequence is `seq`.
    fn expect(&mut self, subject: String, seq: u64) {
        self.expected.push((subject, seq));
    }

    /// Puts each expectation on a message: the one writing its subject, else one that expects
    /// nothing of its own, else a guard carrier. `None` if two expectations of one subject
    /// differ (both cannot hold).
    fn place_expectations(&mut self, carrier: impl Fn(usize) -> String) -> Option<()> {
        let mut seen: HashMap<&str, u64> = HashMap::new();
        for (subject, seq) in &self.expected {
            if *seen.entry(subject).or_insert(*seq) != *seq {
                return None;
            }
        }
        let mut foreign = Vec::new();
        let mut placed = HashSet::new();
        for (subject, seq) in &self.expected {
            if !placed.insert(subject.clone()) {
                continue;
            }
            match self.by_subject.get(subject) {
                Some(&index) => self.entries[index].expected = Some(*seq),
                None => foreign.push((subject.clone(), *seq)),
            }
        }
        for (subject, seq) in foreign {
            let free = self
                .entries
                .iter_mut()
                .find(|entry| entry.expected.is_none() && entry.guarded.is_none());
            let entry = match free {
                Some(entry) => entry,
                None => {
                    let mut entry = Entry::new(carrier(self.entries.len()), Bytes::new());
                    entry.ttl = Some(TOMBSTONE_TTL);
                    self.entries.push(entry);
                    self.entries.last_mut().expect("just pushed")
                }
            };
            entry.expected = Some(seq);
            entry.guarded = Some(subject);
        }
        Some(())
    }
}

#[derive(Debug, Deserialize)]
struct PubAck {
    seq: u64,
}

/// Why a batch was refused, as the subjects read afterwards tell.
enum Refusal {
    Claimed,
    Conflict,
    /// Nothing it expected has changed (or an expired claim is now expected): send again.
    Resend,
}

impl Shard {
    /// The batch of `change`, or `None` if a guard on a slot fails already as read.
    /// `claims_at` names expired claims still in the stream, by subject and sequence.
    async fn batch_of(
        &self,
        change: &Change,
        claims_at: &HashMap<String, u64>,
    ) -> Result<Option<Batch>, StoreError> {
        let mut slots = self.slots_of(change).await?;
        let mut batch = Batch::default();
        let now = now_ms();
        for guard in &change.guards {
            match guard {
                Guard::Claim(claim) => {
                    let subject = self.subjects.claim(&claim.space, &claim.key);
                    let value = ClaimValue {
                        value: claim.value.clone(),
                        expires_ms: now.saturating_add(claim.ttl.as_millis() as u64),
                    };
                    let at = claims_at.get(&subject).copied().unwrap_or(0);
                    batch.put(
                        subject.clone(),
                        values::encode(&value)?,
                        Some(claim.ttl.saturating_add(CLAIM_GRACE)),
                    );
                    batch.expect(subject.clone(), at);
                    batch.claims.push(subject);
                }
                Guard::RecordVersion { id, version } => {
                    batch.expect(self.subjects.record(id.as_str()), *version);
                }
                Guard::Unmapped(key) => {
                    let subject = self.subjects.slot(&key.connector, &key.carrier_id);
                    let (seq, slot) = &slots[&subject];
                    if slot.mapping.is_some() {
                        return Ok(None);
                    }
                    batch.expect(subject, *seq);
                }
                Guard::ParkedCount { key, count } => {
                    let subject = self.subjects.slot(&key.connector, &key.carrier_id);
                    let (seq, slot) = &slots[&subject];
                    if slot.parked.len() != *count {
                        return Ok(None);
                    }
                    batch.expect(subject, *seq);
                }
                Guard::PartSetVersion { key, version } => {
                    batch.expect(self.part_set_subject(key), *version);
                }
            }
        }
        let mut touched = Vec::new();
        let mut tombstones = Vec::new();
        for write in &change.writes {
            match write {
                Write::Record(record) => batch.put(
                    self.subjects.record(record.mt.id.as_str()),
                    values::encode(record)?,
                    None,
                ),
                Write::MapCarrierId { key, mapping } => {
                    let subject = self.subjects.slot(&key.connector, &key.carrier_id);
                    slots.get_mut(&subject).expect("read").1.mapping = Some(mapping.clone());
                    touched.push(subject);
                }
                Write::Park { key, receipt } => {
                    let subject = self.subjects.slot(&key.connector, &key.carrier_id);
                    slots
                        .get_mut(&subject)
                        .expect("read")
                        .1
                        .parked
                        .push(receipt.clone());
                    touched.push(subject);
                }
                Write::Unpark(key) => {
                    let subject = self.subjects.slot(&key.connector, &key.carrier_id);
                    slots.get_mut(&subject).expect("read").1.parked.clear();
                    touched.push(subject);
                }
                Write::Outbox(item) => {
                    // A random seq: two new entries colliding would be refused (expects 0).
                    let seq = fastrand::u64(1..i64::MAX as u64);
                    let subject = self.subjects.outbox(item.account(), seq);
                    let record = OutboxRecord::new(item.clone(), now);
                    batch.put(subject.clone(), values::encode(&record)?, None);
                    batch.expect(subject, 0);
                    batch.wakes.insert(Topic::Outbox(item.account().to_owned()));
                }
                Write::Enqueue {
                    connector,
                    priority,
                    id,
                    released,
                } => {
                    let slot = super::subjects::queue_slot(queue_rank(*priority), *released);
                    let subject = self.subjects.queued(connector, slot, id.as_str());
                    batch.put(subject, Bytes::from(id.as_str().to_owned()), None);
                    batch.wakes.insert(Topic::Queue(connector.clone()));
                }
                Write::EndLease(id) => {
                    // An MT this store does not hold is someone else's now (its lease ran
                    // out): their entry stays; a taker drops it once the record moved on.
                    if let Some(held) = self.held_mts.get(id) {
                        tombstones.push(held.subject);
                    }
                    batch.ended.push(id.clone());
                }
                Write::PartSet { key, set, .. } => {
                    batch.put(self.part_set_subject(key), values::encode(set)?, None);
                }
                Write::RemovePartSet(key) => batch.put(
                    self.part_set_subject(key),
                    Bytes::new(),
                    Some(super::part_sets::REMOVED_SET_TTL),
                ),
            }
        }
        for subject in tombstones {
            // An MT queued again on the very subject it was taken from keeps its new entry.
            if !batch.by_subject.contains_key(&subject) {
                batch.put(subject, Bytes::new(), Some(TOMBSTONE_TTL));
            }
        }
        for subject in touched {
            if !batch.by_subject.contains_key(&subject) {
                let (seq, slot) = &slots[&subject];
                batch.put(subject.clone(), values::encode(slot)?, None);
                batch.expect(subject, *seq);
            }
        }
        // A subject of its own: another batch's write of it would block this one's check.
        let carrier =
            |_: usize| format!("{}.{:x}", self.subjects.guard_carrier(), fastrand::u64(..));
        Ok(batch.place_expectations(carrier).map(|()| batch))
    }

    /// The carrier-id slots `change` guards or writes, as they are now, with their sequences.
    async fn slots_of(&self, change: &Change) -> Result<HashMap<String, (u64, Slot)>, StoreError> {
        let guarded = change.guards.iter().filter_map(|guard| match guard {
            Guard::Unmapped(key) | Guard::ParkedCount { key, .. } => Some(key),
            _ => None,
        });
        let written = change.writes.iter().filter_map(|write| match write {
            Write::MapCarrierId { key, .. } | Write::Park { key, .. } | Write::Unpark(key) => {
                Some(key)
            }
            _ => None,
        });
        let subjects: HashSet<String> = guarded
            .chain(written)
            .map(|key| self.subjects.slot(&key.connector, &key.carrier_id))
            .collect();
        let reads = subjects.into_iter().map(|subject: String| async move {
            let slot = self.read_slot(&subject).await?;
            Ok::<_, StoreError>((subject, slot))
        });
        Ok(futures_util::future::try_join_all(reads)
            .await?
            .into_iter()
            .collect())
    }

    pub(super) async fn commit_change(&self, change: Change) -> Result<Committed, StoreError> {
        let mut claims_at = HashMap::new();
        let mut resends = Resends::new();
        loop {
            let Some(batch) = self.batch_of(&change, &claims_at).await? else {
                return Ok(Committed::Conflict);
            };
            let refused = match self.send(&batch.entries).await? {
                Ok(_) => {
                    self.finish(batch).await;
                    return Ok(Committed::Done);
                }
                Err(refused) => refused,
            };
            if api::WRONG_LAST_SEQUENCE.contains(&refused.err_code) {
                match self.why_refused(&batch, &mut claims_at).await? {
                    Refusal::Claimed => return Ok(Committed::Claimed),
                    Refusal::Conflict => return Ok(Committed::Conflict),
                    Refusal::Resend => {}
                }
            } else if !api::BATCH_NOT_TAKEN.contains(&refused.err_code) {
                return Err(StoreError::Backend(format!("commit: {refused}")));
            }
            if !resends.pause().await {
                return Err(resends.spent("commit"));
            }
        }
    }

    /// After a commit: the ended leases' deliveries are acknowledged, waiters woken.
    async fn finish(&self, batch: Batch) {
        for id in &batch.ended {
            if let Some(held) = self.held_mts.release(id) {
                consumers::acknowledge(&self.client, held.ack.as_deref()).await;
            }
        }
        for topic in &batch.wakes {
            self.wake(topic).await;
        }
    }

    /// Publishes `entries` as one atomic batch (one entry: a plain publish), and returns the
    /// last one's stream sequence, or the server's refusal.
    pub(super) async fn send(
        &self,
        entries: &[Entry],
    ) -> Result<Result<u64, api::ApiError>, StoreError> {
        let Some((last, before)) = entries.split_last() else {
            return Err(StoreError::Backend("an empty batch".into()));
        };
        let mut commit = last.headers();
        // Held until the batch's answer: this node keeps fewer batches open on the stream
        // than the server allows, so its batches are not dropped half way.
        let _open = if before.is_empty() {
            None
        } else {
            Some(
                self.open_batches
                    .acquire()
                    .await
                    .map_err(StoreError::backend)?,
            )
        };
        if !before.is_empty() {
            let batch_id = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
            for (number, entry) in before.iter().enumerate() {
                let mut headers = entry.headers();
                headers.insert("Nats-Batch-Id", batch_id.as_str());
                headers.insert("Nats-Batch-Sequence", (number + 1).to_string().as_str());
                // On the connection the commit goes on, so they reach the server before it;
                // the commit's answer covers them all.
                self.client
                    .publish_with_headers(entry.subject.clone(), headers, entry.payload.clone())
                    .await
                    .map_err(StoreError::backend)?;
            }
            commit.insert("Nats-Batch-Id", batch_id.as_str());
            commit.insert("Nats-Batch-Sequence", entries.len().to_string().as_str());
            commit.insert("Nats-Batch-Commit", "1");
        }
        let answer = self
            .client
            .request_with_headers(last.subject.clone(), commit, last.payload.clone())
            .await
            .map_err(|error| StoreError::Backend(format!("commit on {}: {error}", last.subject)))?;
        Ok(api::decode::<PubAck>(&last.subject, &answer.payload)?.map(|ack| ack.seq))
    }

    /// Reads what a refused batch expected. See the module documentation.
    async fn why_refused(
        &self,
        batch: &Batch,
        claims_at: &mut HashMap<String, u64>,
    ) -> Result<Refusal, StoreError> {
        let now = now_ms();
        for subject in &batch.claims {
            let expected = claims_at.get(subject).copied().unwrap_or(0);
            match self.last(subject).await? {
                Some(found) if found.sequence != expected => {
                    let claim: ClaimValue = values::decode(subject, &found.payload)?;
                    if claim.live(now) {
                        return Ok(Refusal::Claimed);
                    }
                    claims_at.insert(subject.clone(), found.sequence);
                }
                None if expected != 0 => {
                    claims_at.remove(subject);
                }
                _ => {}
            }
        }
        let claims: HashSet<&String> = batch.claims.iter().collect();
        for (subject, expected) in &batch.expected {
            if claims.contains(subject) {
                continue;
            }
            let current = self.last(subject).await?.map_or(0, |found| found.sequence);
            if current != *expected {
                return Ok(Refusal::Conflict);
            }
        }
        Ok(Refusal::Resend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_last_at_least_their_ttl_in_whole_seconds() {
        assert_eq!(ttl_header(Duration::from_millis(300)), "1s");
        assert_eq!(ttl_header(Duration::from_secs(60)), "60s");
        assert_eq!(ttl_header(Duration::from_millis(1500)), "2s");
        assert_eq!(ttl_header(Duration::ZERO), "1s");
    }

    fn batch(subjects: &[&str]) -> Batch {
        let mut batch = Batch::default();
        for subject in subjects {
            batch.put((*subject).to_owned(), Bytes::from_static(b"x"), None);
        }
        batch
    }

    #[test]
    fn expectations_go_on_their_subject_then_on_free_messages_then_on_carriers() {
        let mut batch = batch(&["a", "b"]);
        batch.expect("a".into(), 3);
        batch.expect("x".into(), 7);
        batch.expect("y".into(), 0);
        batch.place_expectations(|n| format!("g{n}")).unwrap();
        let placed: Vec<_> = batch
            .entries
            .iter()
            .map(|e| (e.subject.as_str(), e.expected, e.guarded.as_deref()))
            .collect();
        assert_eq!(
            placed,
            [
                ("a", Some(3), None),
                ("b", Some(7), Some("x")),
                ("g2", Some(0), Some("y")),
            ]
        );
    }

    #[test]
    fn two_different_expectations_of_one_subject_cannot_both_hold() {
        let mut batch = batch(&["a"]);
        batch.expect("a".into(), 3);
        batch.expect("a".into(), 4);
        assert!(batch.place_expectations(|n| format!("g{n}")).is_none());
        let mut same = self::batch(&["a"]);
        same.expect("a".into(), 3);
        same.expect("a".into(), 3);
        assert!(same.place_expectations(|n| format!("g{n}")).is_some());
    }

    #[test]
    fn a_later_write_of_a_subject_replaces_the_earlier_one() {
        let mut batch = batch(&["a"]);
        batch.put(
            "a".into(),
            Bytes::from_static(b"y"),
            Some(Duration::from_secs(1)),
        );
        assert_eq!(batch.entries.len(), 1);
        assert_eq!(batch.entries[0].payload, Bytes::from_static(b"y"));
    }
}
