//! Heartbeats, the write check and the sweep of the NATS store.
//!
//! The sweep walks each kind of key in stream order (the order of last writes), from the
//! leader: claims up to the first still live (within a space, claims share a TTL, so they
//! expire in the order they were written); records and carrier-id slots up to the first
//! written after the retention cutoff. A record not final yet is kept, and the next sweep
//! starts after it: it moves past that point when it is written again.

use std::{pin::pin, time::Duration};

use futures_util::TryStreamExt;

use super::{
    commit::Entry,
    subjects::CLAIM_SPACES,
    values::{self, ClaimValue, Heartbeat, Slot},
    written_ms, Shard,
};
use crate::{
    message::now_ms,
    store::{MessageRecord, NodeInfo, StoreError, SweepStats},
};

/// How long the write check's message stays.
const CHECK_TTL: Duration = Duration::from_secs(60);

impl Shard {
    /// Publishes one message and fails unless the stream stored it.
    pub(super) async fn put_one(&self, entry: Entry) -> Result<(), StoreError> {
        self.send(std::slice::from_ref(&entry))
            .await?
            .map(|_| ())
            .map_err(|refused| StoreError::Backend(format!("{}: {refused}", entry.subject)))
    }

    pub(super) async fn beat(&self, node: &NodeInfo, lease: Duration) -> Result<(), StoreError> {
        let heartbeat = Heartbeat {
            node: node.clone(),
            expires_ms: now_ms().saturating_add(lease.as_millis() as u64),
        };
        let mut entry = Entry::new(
            self.subjects.node(&node.node_id),
            values::encode(&heartbeat)?,
        );
        entry.ttl = Some(lease);
        self.put_one(entry).await
    }

    pub(super) async fn live_nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        let now = now_ms();
        let filter = self.subjects.nodes();
        let mut nodes = Vec::new();
        let mut beats = pin!(self.scan(&filter, 1));
        while let Some(found) = beats.try_next().await? {
            let heartbeat: Heartbeat = values::decode(&found.subject, &found.payload)?;
            if heartbeat.expires_ms > now {
                nodes.push(heartbeat.node);
            }
        }
        nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        Ok(nodes)
    }

    pub(super) async fn write_check(&self) -> Result<(), StoreError> {
        let mut entry = Entry::new(self.subjects.health(), now_ms().to_string().into());
        entry.ttl = Some(CHECK_TTL);
        self.put_one(entry).await
    }

    pub(super) async fn remove_old(&self, retention: Duration) -> Result<SweepStats, StoreError> {
        let mut stats = SweepStats::default();
        for space in CLAIM_SPACES {
            let removed = self.remove_expired_claims(space).await?;
            match space {
                'i' => stats.idempotency_keys += removed,
                _ => stats.dedupe_claims += removed,
            }
        }
        let cutoff = now_ms().saturating_sub(retention.as_millis() as u64);
        stats.messages = self.remove_final_records(cutoff).await?;
        self.remove_old_slots(cutoff, &mut stats).await?;
        Ok(stats)
    }

    /// Claims of `space` whose expiry passed (the server would remove them later).
    async fn remove_expired_claims(&self, space: char) -> Result<usize, StoreError> {
        let now = now_ms();
        let filter = self.subjects.claims_of(space);
        let mut removed = 0;
        let mut claims = pin!(self.scan(&filter, 1));
        while let Some(found) = claims.try_next().await? {
            let claim: ClaimValue = values::decode(&found.subject, &found.payload)?;
            if claim.live(now) {
                break;
            }
            removed += usize::from(self.delete(found.sequence).await?);
        }
        Ok(removed)
    }

    fn sweep_start(&self, kind: &'static str) -> u64 {
        let from = self.sweep_from.lock().unwrap_or_else(|p| p.into_inner());
        from.get(kind).copied().unwrap_or(1)
    }

    fn sweep_continues(&self, kind: &'static str, from: u64) {
        let mut starts = self.sweep_from.lock().unwrap_or_else(|p| p.into_inner());
        starts.insert(kind, from);
    }

    /// Final records last written at or before `cutoff`.
    async fn remove_final_records(&self, cutoff: u64) -> Result<usize, StoreError> {
        let filter = self.subjects.records();
        let mut from = self.sweep_start("r");
        let mut removed = 0;
        let mut records = pin!(self.scan(&filter, from));
        while let Some(found) = records.try_next().await? {
            if written_ms(&found) > cutoff {
                break;
            }
            from = found.sequence + 1;
            let record: MessageRecord = values::decode(&found.subject, &found.payload)?;
            if record.receipt_queued {
                removed += usize::from(self.delete(found.sequence).await?);
            }
        }
        // What is before `from` is gone or not final: it moves past `from` once written.
        self.sweep_continues("r", from);
        Ok(removed)
    }

    /// Carrier-id slots and multipart MO part sets last written at or before `cutoff` (a
    /// part set is written when it begins and with each part).
    async fn remove_old_slots(
        &self,
        cutoff: u64,
        stats: &mut SweepStats,
    ) -> Result<(), StoreError> {
        let filter = self.subjects.slots();
        let mut slots = pin!(self.scan(&filter, 1));
        while let Some(found) = slots.try_next().await? {
            if written_ms(&found) > cutoff {
                break;
            }
            if self.subjects.is_part_set(&found.subject) {
                // A removed set's empty message expires on its own.
                if !found.payload.is_empty() && self.delete(found.sequence).await? {
                    stats.part_sets += 1;
                }
                continue;
            }
            let slot: Slot = values::decode(&found.subject, &found.payload)?;
            if self.delete(found.sequence).await? {
                stats.carrier_ids += usize::from(slot.mapping.is_some());
                stats.parked_receipts += slot.parked.len();
            }
        }
        Ok(())
    }
}
