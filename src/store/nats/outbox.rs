//! Account outboxes in the NATS store: an entry is `o.<account>.<seq>` (its [`OutboxRecord`]),
//! read through the account's consumer, oldest write first. A retry writes the entry again
//! with one attempt more and its due time; a take that finds an entry not yet due gives it
//! back to the consumer with that delay (NAK), so it comes back when due. Delivered and
//! expired entries are deleted by stream sequence, so a newer write of the entry survives.

use std::{collections::BTreeMap, pin::pin, time::Duration};

use async_nats::jetstream::{self, AckKind};
use futures_util::TryStreamExt;

use super::{
    commit::Entry,
    consumers::{self, fetch},
    held::Held,
    subjects::Topic,
    values, Shard,
};
use crate::{
    message::{now_ms, timer_account_hour},
    store::{OutboxEntry, OutboxRecord, StoreError},
};

/// How long a timer account's consumer lives unread before the server deletes it.
const TIMER_CONSUMER_IDLE: Duration = Duration::from_secs(3600);

impl Shard {
    fn outbox_seq(&self, subject: &str) -> Result<u64, StoreError> {
        subject
            .rsplit('.')
            .next()
            .and_then(|seq| seq.parse().ok())
            .ok_or_else(|| StoreError::Corrupt {
                key: subject.to_owned(),
                error: "not an outbox entry's subject".into(),
            })
    }

    pub(super) async fn take_due(
        &self,
        account: &str,
        max: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        self.wakeups.taking(&Topic::Outbox(account.to_owned()));
        let consumer = self
            .consumers
            .get_forgotten_after(
                &self.subjects.outbox_consumer(account),
                &self.subjects.outbox_filter(account),
                // An hour's timer account is read for about an hour: its consumer is not
                // kept for ever (one a day per hour would pile up).
                timer_account_hour(account).map(|_| TIMER_CONSUMER_IDLE),
            )
            .await?;
        let mut taken = Vec::new();
        while taken.len() < max {
            let want = max - taken.len();
            let fetched = fetch(&consumer, want).await?;
            let drained = fetched.len() < want;
            for message in fetched {
                if let Some(entry) = self.due(account, message).await? {
                    taken.push(entry);
                }
            }
            if drained {
                break;
            }
        }
        Ok(taken)
    }

    /// A fetched entry, now held by this store if due; one not yet due goes back until it is.
    async fn due(
        &self,
        account: &str,
        message: jetstream::Message,
    ) -> Result<Option<OutboxEntry>, StoreError> {
        let subject = message.subject.to_string();
        let record: OutboxRecord = values::decode(&subject, &message.payload)?;
        let now = now_ms();
        if record.not_before_ms > now {
            let delay = Duration::from_millis(record.not_before_ms - now);
            if let Err(error) = message.ack_with(AckKind::Nak(Some(delay))).await {
                tracing::debug!(%error, "nats: giving back an outbox entry not yet due failed");
            }
            return Ok(None);
        }
        let seq = self.outbox_seq(&subject)?;
        self.held_outbox.hold(
            (account.to_owned(), seq),
            Held {
                stream_seq: message.info().map_or(0, |info| info.stream_sequence),
                ack: consumers::ack_subject(&message),
                subject,
            },
        );
        Ok(Some(OutboxEntry {
            account: account.to_owned(),
            seq,
            item: record.item,
            attempts: record.attempts,
        }))
    }

    pub(super) async fn done(&self, account: &str, seq: u64) -> Result<(), StoreError> {
        let held = self.held_outbox.release(&(account.to_owned(), seq));
        let stream_seq = match &held {
            Some(held) => held.stream_seq,
            None => match self.last(&self.subjects.outbox(account, seq)).await? {
                Some(found) => found.sequence,
                None => return Ok(()),
            },
        };
        self.delete(stream_seq).await?;
        if let Some(held) = held {
            consumers::acknowledge(&self.client, held.ack.as_deref()).await;
        }
        Ok(())
    }

    /// Written again, one attempt more, due at `retry_at_ms`. An entry gone meanwhile
    /// (expired) or written by someone else is left as it is.
    pub(super) async fn retry(
        &self,
        account: &str,
        seq: u64,
        retry_at_ms: u64,
    ) -> Result<(), StoreError> {
        let subject = self.subjects.outbox(account, seq);
        let held = self.held_outbox.release(&(account.to_owned(), seq));
        if let Some(found) = self.last(&subject).await? {
            let mut record: OutboxRecord = values::decode(&subject, &found.payload)?;
            record.attempts += 1;
            record.not_before_ms = retry_at_ms;
            let mut entry = Entry::new(subject, values::encode(&record)?);
            entry.expected = Some(found.sequence);
            if let Err(refused) = self.send(std::slice::from_ref(&entry)).await? {
                tracing::debug!(%refused, "nats: outbox entry changed before its retry");
            }
        }
        // Its delivery is over: the message it was is replaced.
        if let Some(held) = held {
            consumers::acknowledge(&self.client, held.ack.as_deref()).await;
        }
        if retry_at_ms <= now_ms() {
            self.wake(&Topic::Outbox(account.to_owned())).await;
        }
        Ok(())
    }

    /// Removes the account's entries created more than `ttl` ago. Looks at every entry (a
    /// retried entry is written again, so the stream's order is not the entries' age).
    pub(super) async fn expire(
        &self,
        account: &str,
        ttl: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let cutoff = now_ms().saturating_sub(ttl.as_millis() as u64);
        let filter = self.subjects.outbox_filter(account);
        let mut expired = Vec::new();
        let mut entries = pin!(self.scan(&filter, 1));
        while let Some(found) = entries.try_next().await? {
            let subject = found.subject.to_string();
            let record: OutboxRecord = values::decode(&subject, &found.payload)?;
            if record.created_ms > cutoff || !self.delete(found.sequence).await? {
                continue;
            }
            let seq = self.outbox_seq(&subject)?;
            if let Some(held) = self.held_outbox.release(&(account.to_owned(), seq)) {
                consumers::acknowledge(&self.client, held.ack.as_deref()).await;
            }
            expired.push(OutboxEntry {
                account: account.to_owned(),
                seq,
                item: record.item,
                attempts: record.attempts,
            });
        }
        Ok(expired)
    }

    /// Entries (taken or not) per account that has some.
    pub(super) async fn outbox_sizes(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let mut depths: BTreeMap<String, usize> = BTreeMap::new();
        for (subject, count) in self.subject_counts(&self.subjects.outboxes()).await? {
            if let Some(account) = self.subjects.outbox_account(&subject) {
                *depths.entry(account).or_default() += count;
            }
        }
        Ok(depths.into_iter().filter(|(_, n)| *n > 0).collect())
    }
}
