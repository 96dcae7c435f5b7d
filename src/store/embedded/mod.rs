//! The embedded store: one node, state in a redb file, queues and outbox indexes in memory.
//!
//! Records live in redb (see [`kv`]); what must be fast to find lives in memory and is
//! rebuilt from the file at start: the queued MT ids per connector and priority, the outbox
//! index per account. Work taken by a deliverer or an upstream worker is only marked in
//! memory, so a restart hands it out again: nothing acknowledged waits on a dead process.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use async_trait::async_trait;
use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::Notify;

mod commit;
use commit::{carrier_key, part_set_key, ClaimRecord, StoredPartSet};
pub mod kv;
mod maintenance;
mod opt_outs;
pub mod outbox_index;
pub mod rank_queue;

use self::{
    kv::{durable, Batch, Kv, Table},
    outbox_index::OutboxIndex,
    rank_queue::RankQueue,
};
use super::{
    limits::LocalLimits, CarrierIdRecord, CarrierKey, Change, ClaimSpace, Committed, HeldSlot,
    MessageRecord, NodeInfo, OptOut, OutboxEntry, OutboxRecord, PartSet, PartSetKey, Store,
    StoreError, SweepStats, TokenWindow, Versioned,
};
use crate::message::{
    now_ms, queue_rank, CarrierReceipt, MessageId, MessageState, Mt, OutboxItem, Priority,
};

fn versioned(record: MessageRecord) -> Versioned<MessageRecord> {
    let version = record.version;
    Versioned {
        value: record,
        version,
    }
}

type Queues = [RankQueue; 4];

#[derive(Default)]
struct Index {
    queues: HashMap<String, Queues>,
    taken: HashSet<MessageId>,
    outbox: HashMap<String, OutboxIndex>,
    next_outbox_seq: u64,
    signals: HashMap<String, Arc<Notify>>,
    /// Receipts parked before their submit was recorded; while none are, submits skip the
    /// lookup.
    parked: usize,
    /// Heartbeats with their expiry: one node, so memory is the right place.
    nodes: HashMap<String, (NodeInfo, u64)>,
}

/// Most records kept decoded in memory.
const RECORD_CACHE_MAX: usize = 100_000;

impl Index {
    fn remove_outbox_entry(&mut self, account: &str, seq: u64) {
        if let Some(entries) = self.outbox.get_mut(account) {
            entries.remove(seq);
            if entries.is_empty() {
                self.outbox.remove(account);
            }
        }
    }

    fn signal(&mut self, name: &str) -> Arc<Notify> {
        self.signals.entry(name.to_owned()).or_default().clone()
    }

    fn enqueue(&mut self, connector: &str, priority: Priority, id: MessageId, released: bool) {
        let queue = &mut self.queues.entry(connector.to_owned()).or_default()[queue_rank(priority)];
        if released {
            queue.push_released(id);
        } else {
            queue.push(id);
        }
        self.signal(connector).notify_one();
    }
}

/// The embedded store. See the module documentation.
pub struct EmbeddedStore {
    kv: Kv,
    index: Mutex<Index>,
    /// Decoded records of messages not yet final, so the hot path (take, submitted, receipt)
    /// does not read and parse them from the file each time. Bounded; a miss reads the file.
    /// Its own lock, so reads do not wait behind queue and outbox work; written only by
    /// holders of the index lock.
    records: Mutex<RecordCache>,
    events: super::EventSwitch,
    /// Cluster-wide limits: this node is the cluster.
    limits: LocalLimits,
}

type RecordCache = HashMap<MessageId, MessageRecord>;

fn key2(a: &str, b: &str) -> String {
    let mut key = String::with_capacity(a.len() + b.len() + 1);
    key.push_str(a);
    key.push('\0');
    key.push_str(b);
    key
}

fn outbox_key(account: &str, seq: u64) -> String {
    key2(account, &format!("{seq:020}"))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: key.replace('\0', "/"),
        error: e.to_string(),
    })
}

impl EmbeddedStore {
    /// Opens the store file (created if missing) and rebuilds the in-memory indexes.
    pub fn open(path: &Path) -> Result<Arc<Self>, StoreError> {
        let kv = Kv::open(path)?;
        let mut index = Index::default();

        let mut queued: Vec<(u64, String, Priority, MessageId)> = Vec::new();
        for (key, value) in kv.scan(Table::Messages)? {
            let record: MessageRecord = decode(&key, &value)?;
            if record.state == MessageState::Accepted {
                let connector = record
                    .connector
                    .clone()
                    .or_else(|| record.mt.connectors.first().cloned())
                    .unwrap_or_default();
                queued.push((
                    record.mt.accepted_at_ms,
                    connector,
                    record.mt.priority,
                    record.mt.id,
                ));
            }
        }
        queued.sort_by(|a, b| (a.0, &a.3).cmp(&(b.0, &b.3)));
        for (_, connector, priority, id) in queued {
            index.enqueue(&connector, priority, id, false);
        }

        for (key, value) in kv.scan(Table::ParkedReceipts)? {
            let parked: Vec<CarrierReceipt> = decode(&key, &value)?;
            index.parked += parked.len();
        }

        for (key, value) in kv.scan(Table::Outbox)? {
            let record: OutboxRecord = decode(&key, &value)?;
            let Some((account, seq)) = key.split_once('\0') else {
                continue;
            };
            let seq: u64 = seq.parse().unwrap_or(0);
            index.next_outbox_seq = index.next_outbox_seq.max(seq + 1);
            index.outbox.entry(account.to_owned()).or_default().insert(
                seq,
                record.created_ms,
                record.not_before_ms,
            );
        }
        Ok(Arc::new(Self {
            events: super::EventSwitch::default(),
            kv,
            index: Mutex::new(index),
            records: Mutex::default(),
            limits: LocalLimits::default(),
        }))
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>, StoreError> {
        self.kv
            .get(table, key)?
            .map(|bytes| decode(key, &bytes))
            .transpose()
    }

    fn records(&self) -> MutexGuard<'_, RecordCache> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, id: &MessageId) -> Result<Option<MessageRecord>, StoreError> {
        if let Some(record) = self.records().get(id) {
            return Ok(Some(record.clone()));
        }
        self.get(Table::Messages, id.as_str())
    }

    fn existing_record(&self, id: &MessageId) -> Result<MessageRecord, StoreError> {
        self.record(id)?.ok_or_else(|| StoreError::Corrupt {
            key: id.to_string(),
            error: "message record missing".into(),
        })
    }

    /// Writes a record, keeping the decoded copy while the message is not final.
    /// Callers hold the index lock, so a cached record changes only under it.
    fn put_record(&self, record: MessageRecord, batch: &mut Batch) {
        batch.put(Table::Messages, record.mt.id.as_str(), encode(&record));
        let mut records = self.records();
        if record.receipt_queued {
            records.remove(&record.mt.id);
        } else if records.len() < RECORD_CACHE_MAX || records.contains_key(&record.mt.id) {
            records.insert(record.mt.id.clone(), record);
        }
    }

    fn append_outbox(&self, index: &mut Index, item: OutboxItem, batch: &mut Batch) {
        let account = item.account().to_owned();
        let seq = index.next_outbox_seq;
        index.next_outbox_seq += 1;
        let now = now_ms();
        let record = OutboxRecord::new(item, now);
        let due_ms = record.not_before_ms;
        batch.put(Table::Outbox, outbox_key(&account, seq), encode(&record));
        index
            .outbox
            .entry(account.clone())
            .or_default()
            .insert(seq, now, due_ms);
        index.signal(&account).notify_one();
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn record(&self, id: &MessageId) -> Result<Option<Versioned<MessageRecord>>, StoreError> {
        let record = self.record(id)?;
        Ok(record.map(versioned))
    }

    async fn carrier_target(
        &self,
        key: &CarrierKey,
    ) -> Result<Option<(CarrierIdRecord, Versioned<MessageRecord>)>, StoreError> {
        let Some(mapping) = self.get::<CarrierIdRecord>(Table::CarrierIds, &carrier_key(key))?
        else {
            return Ok(None);
        };
        let record = self.existing_record(&mapping.message_id)?;
        Ok(Some((mapping, versioned(record))))
    }

    async fn record_with_parked(
        &self,
        id: &MessageId,
        keys: &[CarrierKey],
    ) -> Result<(Versioned<MessageRecord>, Vec<Vec<CarrierReceipt>>), StoreError> {
        let index = self.index();
        let record = self.existing_record(id)?;
        let parked = keys
            .iter()
            .map(|key| self.parked(&index, key))
            .collect::<Result<_, _>>()?;
        Ok((versioned(record), parked))
    }

    async fn part_set(&self, key: &PartSetKey) -> Result<Versioned<Option<PartSet>>, StoreError> {
        let stored = self.get::<StoredPartSet>(Table::PartSets, &part_set_key(key))?;
        Ok(match stored {
            Some(stored) => Versioned {
                value: Some(stored.set),
                version: stored.version,
            },
            None => Versioned {
                value: None,
                version: 0,
            },
        })
    }

    async fn claimed(&self, space: &ClaimSpace, key: &str) -> Result<Option<String>, StoreError> {
        let (table, key) = Self::claim_slot(space, key);
        Ok(self.live_claim(table, &key)?.map(|claim| claim.value))
    }

    fn events(&self) -> &super::EventSwitch {
        &self.events
    }

    async fn commit_sealed(&self, change: Change) -> Result<Committed, StoreError> {
        self.commit_change(change).await
    }

    async fn take_mts(&self, connector: &str, max: usize) -> Result<Vec<Mt>, StoreError> {
        let mut index = self.index();
        let mut ids = Vec::new();
        if let Some(queues) = index.queues.get_mut(connector) {
            for queue in queues.iter_mut() {
                while ids.len() < max {
                    match queue.pop() {
                        Some(id) => ids.push(id),
                        None => break,
                    }
                }
            }
        }
        let mut mts = Vec::with_capacity(ids.len());
        for id in ids {
            let record = self.existing_record(&id)?;
            if record.state != MessageState::Accepted {
                // Left the queue while queued (cancelled by its client): its entry is done.
                continue;
            }
            index.taken.insert(id);
            mts.push(record.mt);
        }
        Ok(mts)
    }

    async fn wait_for_mts(&self, connector: &str, timeout: Duration) {
        let signal = {
            let mut index = self.index();
            let queued = index
                .queues
                .get(connector)
                .is_some_and(|q| q.iter().any(|q| !q.is_empty()));
            if queued {
                return;
            }
            index.signal(connector)
        };
        let _ = tokio::time::timeout(timeout, signal.notified()).await;
    }

    async fn release_mt(&self, id: &MessageId, connector: &str) -> Result<(), StoreError> {
        let written = {
            let mut index = self.index();
            let mut record = self.existing_record(id)?;
            let mut batch = Batch::default();
            let priority = record.mt.priority;
            if record.connector.as_deref() != Some(connector) {
                record.connector = Some(connector.to_owned());
                // A new version, so a change built on the old one conflicts.
                record.version += 1;
                self.put_record(record, &mut batch);
            }
            index.taken.remove(id);
            index.enqueue(connector, priority, id.clone(), true);
            self.kv.write(batch)
        };
        durable(written).await
    }

    async fn take_outbox(&self, account: &str, max: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let seqs = match self.index().outbox.get_mut(account) {
            Some(entries) => entries.take_due(now_ms(), max),
            None => return Ok(Vec::new()),
        };
        let mut taken = Vec::with_capacity(seqs.len());
        for seq in seqs {
            let key = outbox_key(account, seq);
            if let Some(record) = self.get::<OutboxRecord>(Table::Outbox, &key)? {
                taken.push(OutboxEntry {
                    account: account.to_owned(),
                    seq,
                    item: record.item,
                    attempts: record.attempts,
                });
            }
        }
        Ok(taken)
    }

    async fn wait_for_outbox(&self, account: &str, timeout: Duration) {
        let (signal, wait) = {
            let mut index = self.index();
            let now = now_ms();
            let next_due = index.outbox.get(account).and_then(OutboxIndex::next_due);
            match next_due {
                Some(due) if due <= now => return,
                Some(due) => (
                    index.signal(account),
                    timeout.min(Duration::from_millis(due - now)),
                ),
                None => (index.signal(account), timeout),
            }
        };
        let _ = tokio::time::timeout(wait, signal.notified()).await;
    }

    async fn outbox_done(&self, account: &str, seq: u64) -> Result<(), StoreError> {
        let written = {
            self.index().remove_outbox_entry(account, seq);
            let mut batch = Batch::default();
            batch.delete(Table::Outbox, outbox_key(account, seq));
            self.kv.write(batch)
        };
        durable(written).await
    }

    async fn outbox_done_many(&self, account: &str, seqs: &[u64]) -> Result<(), StoreError> {
        let written = {
            let mut index = self.index();
            let mut batch = Batch::default();
            for seq in seqs {
                index.remove_outbox_entry(account, *seq);
                batch.delete(Table::Outbox, outbox_key(account, *seq));
            }
            self.kv.write(batch)
        };
        durable(written).await
    }

    async fn outbox_retry(
        &self,
        account: &str,
        seq: u64,
        retry_at_ms: u64,
    ) -> Result<(), StoreError> {
        let written = {
            let mut index = self.index();
            let key = outbox_key(account, seq);
            let Some(mut record) = self.get::<OutboxRecord>(Table::Outbox, &key)? else {
                return Ok(());
            };
            record.attempts += 1;
            record.not_before_ms = retry_at_ms;
            if let Some(entries) = index.outbox.get_mut(account) {
                entries.release(seq, retry_at_ms);
            }
            let mut batch = Batch::default();
            batch.put(Table::Outbox, key, encode(&record));
            index.signal(account).notify_one();
            self.kv.write(batch)
        };
        durable(written).await
    }

    async fn expire_outbox(
        &self,
        account: &str,
        ttl: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let (expired, written) = {
            let mut index = self.index();
            let cutoff = now_ms().saturating_sub(ttl.as_millis() as u64);
            let seqs = index
                .outbox
                .get(account)
                .map(|entries| entries.created_before(cutoff))
                .unwrap_or_default();
            let mut batch = Batch::default();
            let mut expired = Vec::new();
            for seq in seqs {
                let key = outbox_key(account, seq);
                if let Some(record) = self.get::<OutboxRecord>(Table::Outbox, &key)? {
                    expired.push(OutboxEntry {
                        account: account.to_owned(),
                        seq,
                        item: record.item,
                        attempts: record.attempts,
                    });
                }
                batch.delete(Table::Outbox, key);
                index.remove_outbox_entry(account, seq);
            }
            (expired, self.kv.write(batch))
        };
        durable(written).await?;
        Ok(expired)
    }

    async fn outbox_depths(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let index = self.index();
        let mut depths: Vec<_> = index
            .outbox
            .iter()
            .map(|(account, entries)| (account.clone(), entries.len()))
            .collect();
        depths.sort();
        Ok(depths)
    }

    async fn queue_depths(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let index = self.index();
        let mut depths: Vec<_> = index
            .queues
            .iter()
            .map(|(connector, queues)| (connector.clone(), queues.iter().map(RankQueue::len).sum()))
            .collect();
        depths.sort();
        Ok(depths)
    }

    async fn sweep(&self, retention: Duration) -> Result<SweepStats, StoreError> {
        self.remove_old(retention).await
    }

    async fn heartbeat(&self, node: &NodeInfo, lease: Duration) -> Result<(), StoreError> {
        let expires = now_ms() + lease.as_millis() as u64;
        self.index()
            .nodes
            .insert(node.node_id.clone(), (node.clone(), expires));
        Ok(())
    }

    async fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        let now = now_ms();
        let mut index = self.index();
        index.nodes.retain(|_, (_, expires)| *expires > now);
        let mut nodes: Vec<NodeInfo> = index.nodes.values().map(|(n, _)| n.clone()).collect();
        nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        Ok(nodes)
    }

    async fn opt_out(
        &self,
        account: &str,
        sender: &str,
        number: &str,
    ) -> Result<Option<OptOut>, StoreError> {
        self.read_opt_out(account, sender, number)
    }

    async fn opt_outs(&self, account: &str) -> Result<Vec<OptOut>, StoreError> {
        self.read_opt_outs(account)
    }

    async fn put_opt_out(&self, account: &str, opt_out: &OptOut) -> Result<(), StoreError> {
        self.write_opt_out(account, opt_out).await
    }

    async fn remove_opt_out(
        &self,
        account: &str,
        sender: &str,
        number: &str,
    ) -> Result<bool, StoreError> {
        self.lift_opt_out(account, sender, number).await
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        let probe = ClaimRecord {
            value: String::new(),
            expires_ms: now_ms(),
        };
        batch.put(Table::Dedupe, "health\0check", encode(&probe));
        durable(self.kv.write(batch)).await
    }

    async fn take_tokens(&self, counter: &TokenWindow<'_>, want: u32) -> Result<u32, StoreError> {
        Ok(self.limits.take_tokens(counter, want))
    }

    async fn claim_slot(
        &self,
        key: &str,
        max: u32,
        lease: Duration,
    ) -> Result<Option<HeldSlot>, StoreError> {
        Ok(self.limits.claim_slot(key, max, lease))
    }

    async fn renew_slot(&self, slot: &mut HeldSlot, lease: Duration) -> Result<bool, StoreError> {
        Ok(self.limits.renew_slot(slot, lease))
    }

    async fn release_slot(&self, slot: &HeldSlot) -> Result<(), StoreError> {
        self.limits.release_slot(slot);
        Ok(())
    }
}
