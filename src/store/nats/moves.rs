//! Records that change shard: an MT released to a connector of another shard (a fallback, or
//! a connector with no bind) moves with it, in two steps, each one atomic batch in one shard:
//!
//! 1. **In the shard it leaves** (the commit point): the record becomes a *pointer* (header
//!    `Smsgw-Moved-To`, payload: the target shard, the sequence the target's record subject
//!    had when read, and the record as it will be there), its queue entry a tombstone, and a
//!    journal entry `h.m.<id>` notes the move; guarded by the record's version, so a node
//!    whose lease ran out cannot move an MT another node took.
//! 2. **In the target shard**: the record and its queue entry, expecting the sequence the
//!    pointer names. Whoever finds a pointer whose target still has that sequence completes
//!    step 2 (the mover, a reader, the sweep); a write that finds the sequence moved on was
//!    done already, so step 2 happens once however many try. Then the journal entry goes.
//!
//! Between the steps the MT is in no queue, so it is submitted at most once; a mover that
//! died between them leaves the journal entry, and the next sweep (or a read of the message)
//! completes the move. A read by id starts in the shard the id names and follows pointers.

use bytes::Bytes;
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};

use super::{
    api,
    commit::{Entry, Resends, TOMBSTONE_TTL},
    consumers,
    subjects::{queue_slot, Topic},
    values, NatsStore, Shard,
};
use crate::{
    message::{queue_rank, MessageId},
    store::{change::commit_with_retries, MessageRecord, StoreError, Versioned},
};

/// The header of a pointer (a record that moved); its value is the target shard.
const MOVED_TO: &str = "Smsgw-Moved-To";

/// What a record that moved leaves behind. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pointer {
    pub to: usize,
    /// The last sequence of the record's subject in the target shard before the move.
    pub expect: u64,
    /// The record as it is written in the target shard.
    pub record: MessageRecord,
}

/// What a shard has under a message id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Absent,
    Here(Versioned<MessageRecord>),
    Moved(Pointer),
}

/// The journal entry of a move: which pointer it completes.
#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    to: usize,
    expect: u64,
}

impl Shard {
    /// What this shard has under `id`, with the sequence of its record subject (0: never
    /// written).
    pub(super) async fn location(&self, id: &MessageId) -> Result<(u64, Location), StoreError> {
        let subject = self.subjects.record(id.as_str());
        let Some(found) = self.last(&subject).await? else {
            return Ok((0, Location::Absent));
        };
        let moved = found.headers.get(MOVED_TO).is_some();
        if moved {
            let pointer: Pointer = values::decode(&subject, &found.payload)?;
            return Ok((found.sequence, Location::Moved(pointer)));
        }
        let mut value: MessageRecord = values::decode(&subject, &found.payload)?;
        // A version is the stream sequence of the record's last write: opaque, not a count.
        value.version = found.sequence;
        let version = found.sequence;
        Ok((version, Location::Here(Versioned { value, version })))
    }
}

impl NatsStore {
    /// The record of `id` and the shard it is in: from the shard the id names (any shard, in
    /// order, for an id without a tag), following pointers and completing a move whose second
    /// step is missing.
    pub(super) async fn locate(
        &self,
        id: &MessageId,
    ) -> Result<Option<(usize, Versioned<MessageRecord>)>, StoreError> {
        let starts: Vec<usize> = match self.placement.of_id(id.as_str()) {
            Some(shard) => vec![shard],
            None => (0..self.shards.len()).collect(),
        };
        for start in starts {
            if let Some(found) = self.follow(start, id).await? {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// `None` if shard `start` has nothing under `id`; else where the pointers lead.
    async fn follow(
        &self,
        start: usize,
        id: &MessageId,
    ) -> Result<Option<Option<(usize, Versioned<MessageRecord>)>>, StoreError> {
        let mut shard = start;
        let (_, mut location) = self.shards[shard].location(id).await?;
        if location == Location::Absent {
            return Ok(None);
        }
        // A move visits each shard at most once between two records, and completing one
        // ends a cycle: more hops than this is a broken store.
        for _ in 0..=2 * self.shards.len() {
            match location {
                Location::Absent => return Ok(Some(None)),
                Location::Here(found) => return Ok(Some(Some((shard, found)))),
                Location::Moved(pointer) => {
                    let target = self.shard(pointer.to)?;
                    let (seq, there) = target.location(id).await?;
                    location = if seq == pointer.expect {
                        self.complete_move(shard, id, &pointer).await?;
                        target.location(id).await?.1
                    } else {
                        there
                    };
                    shard = pointer.to;
                }
            }
        }
        Err(StoreError::Corrupt {
            key: id.to_string(),
            error: "the record's pointers go round in circles".into(),
        })
    }

    fn shard(&self, index: usize) -> Result<&Shard, StoreError> {
        self.shards.get(index).ok_or_else(|| {
            StoreError::Backend(format!(
                "a record moved to shard {index}, but this store has {} shards",
                self.shards.len()
            ))
        })
    }

    /// Moves a held MT from shard `from` to `connector` of shard `to`. A no-op when this node
    /// does not hold it any more (its lease ran out and another node took it).
    pub(super) async fn move_released(
        &self,
        from: usize,
        to: usize,
        id: &MessageId,
        connector: &str,
    ) -> Result<(), StoreError> {
        let source = &self.shards[from];
        let target = self.shard(to)?;
        let moved = commit_with_retries("release_mt to another shard", || async {
            let Some(held) = source.held_mts.get(id) else {
                return Ok(Some(None));
            };
            let (version, Location::Here(Versioned { mut value, .. })) =
                source.location(id).await?
            else {
                return Ok(Some(None));
            };
            let (expect, _) = target.location(id).await?;
            value.connector = Some(connector.to_owned());
            let pointer = Pointer {
                to,
                expect,
                record: value,
            };
            let mut record = Entry::new(
                source.subjects.record(id.as_str()),
                values::encode(&pointer)?,
            );
            record.expected = Some(version);
            record.mark = Some((MOVED_TO, to.to_string()));
            let journal = Entry::new(
                source.subjects.move_journal(id.as_str()),
                values::encode(&Journal { to, expect })?,
            );
            let mut tombstone = Entry::new(held.subject.clone(), Bytes::new());
            tombstone.ttl = Some(TOMBSTONE_TTL);
            match source.send(&[record, journal, tombstone]).await? {
                Ok(_) => Ok(Some(Some(pointer))),
                Err(refused) if api::WRONG_LAST_SEQUENCE.contains(&refused.err_code) => Ok(None),
                Err(refused) => Err(StoreError::Backend(format!("release_mt: {refused}"))),
            }
        })
        .await?;
        let Some(pointer) = moved else {
            return Ok(());
        };
        if let Some(held) = source.held_mts.release(id) {
            consumers::acknowledge(&source.client, held.ack.as_deref()).await;
        }
        self.complete_move(from, id, &pointer).await
    }

    /// Step 2 of a move: the record and its queue entry in the target shard, once; then the
    /// journal entry in shard `from` goes.
    async fn complete_move(
        &self,
        from: usize,
        id: &MessageId,
        pointer: &Pointer,
    ) -> Result<(), StoreError> {
        let target = self.shard(pointer.to)?;
        let connector = pointer.record.connector.clone().unwrap_or_default();
        let slot = queue_slot(queue_rank(pointer.record.mt.priority), true);
        let mut record = Entry::new(
            target.subjects.record(id.as_str()),
            values::encode(&pointer.record)?,
        );
        record.expected = Some(pointer.expect);
        let queued = Entry::new(
            target.subjects.queued(&connector, slot, id.as_str()),
            Bytes::from(id.as_str().to_owned()),
        );
        let entries = [record, queued];
        let mut resends = Resends::new();
        loop {
            match target.send(&entries).await? {
                Ok(_) => {
                    target.wake(&Topic::Queue(connector.clone())).await;
                    break;
                }
                Err(refused) if api::WRONG_LAST_SEQUENCE.contains(&refused.err_code) => {
                    let (seq, _) = target.location(id).await?;
                    if seq != pointer.expect {
                        break; // done already
                    }
                    // The journal stays until step 2 is done: the sweep completes it.
                    if !resends.pause().await {
                        return Err(resends.spent("move"));
                    }
                }
                Err(refused) => return Err(StoreError::Backend(format!("move: {refused}"))),
            }
        }
        let source = self.shard(from)?;
        let subject = source.subjects.move_journal(id.as_str());
        if let Some(found) = source.last(&subject).await? {
            let journal: Journal = values::decode(&subject, &found.payload)?;
            // Another move's entry (a later one of the same MT) is left for its own end.
            if journal.to == pointer.to && journal.expect == pointer.expect {
                source.delete(found.sequence).await?;
            }
        }
        Ok(())
    }

    /// Completes the moves whose second step a dead node left undone; returns how many
    /// journal entries were cleared.
    pub(super) async fn complete_moves(&self) -> Result<usize, StoreError> {
        let mut cleared = 0;
        for shard in self.shards.iter() {
            let filter = shard.subjects.move_journals();
            let mut journals = std::pin::pin!(shard.scan(&filter, 1));
            while let Some(found) = journals.try_next().await? {
                let token = found.subject.rsplit('.').next().unwrap_or_default();
                let Some(id) = super::subjects::key_of(token).map(MessageId) else {
                    continue;
                };
                let journal: Journal = values::decode(&found.subject, &found.payload)?;
                match shard.location(&id).await?.1 {
                    Location::Moved(pointer)
                        if pointer.to == journal.to && pointer.expect == journal.expect =>
                    {
                        self.complete_move(shard.index, &id, &pointer).await?;
                    }
                    // Moved on since (a later move has its own entry).
                    _ => {
                        shard.delete(found.sequence).await?;
                    }
                }
                cleared += 1;
            }
        }
        Ok(cleared)
    }
}
