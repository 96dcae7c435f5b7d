//! The embedded store: one node, state in a redb file, queues and outbox indexes in memory.
//!
//! Records live in redb (see [`super::kv`]); what must be fast to find lives in memory and is
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
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::sync::Notify;

use super::{
    kv::{durable, Batch, Kv, Table},
    outbox_index::OutboxIndex,
    rank_queue::RankQueue,
    CarrierIdRecord, CarrierKey, Change, ClaimSpace, Committed, Guard, MessageRecord, NodeInfo,
    OutboxEntry, Store, StoreError, SweepStats, Versioned, Write,
};
use crate::message::{now_ms, CarrierReceipt, MessageId, MessageState, Mt, OutboxItem, Priority};

/// A claim (idempotency key, dedupe key) and until when it holds.
#[derive(Debug, Serialize, Deserialize)]
struct ClaimRecord {
    value: String,
    expires_ms: u64,
}

/// An MT to queue once its change is durable: connector, priority, id, released.
type Enqueue = (String, Priority, MessageId, bool);

fn versioned(record: MessageRecord) -> Versioned<MessageRecord> {
    let version = record.version;
    Versioned {
        value: record,
        version,
    }
}

fn carrier_key(key: &CarrierKey) -> String {
    key2(&key.connector, &key.carrier_id)
}

#[derive(Debug, Serialize, Deserialize)]
struct OutboxRecord {
    item: OutboxItem,
    attempts: u32,
    not_before_ms: u64,
    created_ms: u64,
}

type Queues = [RankQueue; 4];

#[derive(Default)]
struct Index {
    queues: HashMap<String, Queues>,
    taken: HashSet<MessageId>,
    outbox: HashMap<String, OutboxIndex>,
    next_outbox_seq: u64,
    signals: HashMap<String, Arc<Notify>>,
    /// Decoded records of messages not yet final, so the hot path (take, submitted, receipt)
    /// does not read and parse them from the file each time. Bounded; a miss reads the file.
    records: HashMap<MessageId, MessageRecord>,
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
        let queue = &mut self.queues.entry(connector.to_owned()).or_default()[priority.rank()];
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
}

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
            kv,
            index: Mutex::new(index),
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

    fn record(&self, index: &Index, id: &MessageId) -> Result<Option<MessageRecord>, StoreError> {
        if let Some(record) = index.records.get(id) {
            return Ok(Some(record.clone()));
        }
        self.get(Table::Messages, id.as_str())
    }

    fn existing_record(&self, index: &Index, id: &MessageId) -> Result<MessageRecord, StoreError> {
        self.record(index, id)?.ok_or_else(|| StoreError::Corrupt {
            key: id.to_string(),
            error: "message record missing".into(),
        })
    }

    /// Writes a record, keeping the decoded copy while the message is not final.
    fn put_record(&self, index: &mut Index, record: MessageRecord, batch: &mut Batch) {
        batch.put(Table::Messages, record.mt.id.as_str(), encode(&record));
        if record.receipt_queued {
            index.records.remove(&record.mt.id);
        } else if index.records.len() < RECORD_CACHE_MAX
            || index.records.contains_key(&record.mt.id)
        {
            index.records.insert(record.mt.id.clone(), record);
        }
    }

    fn append_outbox(&self, index: &mut Index, item: OutboxItem, batch: &mut Batch) {
        let account = item.account().to_owned();
        let seq = index.next_outbox_seq;
        index.next_outbox_seq += 1;
        let now = now_ms();
        let record = OutboxRecord {
            item,
            attempts: 0,
            not_before_ms: 0,
            created_ms: now,
        };
        batch.put(Table::Outbox, outbox_key(&account, seq), encode(&record));
        index
            .outbox
            .entry(account.clone())
            .or_default()
            .insert(seq, now, 0);
        index.signal(&account).notify_one();
    }

    /// Where a claim of `space` lives.
    fn claim_slot(space: &ClaimSpace, key: &str) -> (Table, String) {
        match space {
            ClaimSpace::Idempotency { account } => (Table::Idempotency, key2(account, key)),
            ClaimSpace::ReceiptDedupe => (Table::Dedupe, key2("dr", key)),
            ClaimSpace::MoDedupe => (Table::Dedupe, key2("mo", key)),
        }
    }

    fn live_claim(&self, table: Table, key: &str) -> Result<Option<ClaimRecord>, StoreError> {
        Ok(self
            .get::<ClaimRecord>(table, key)?
            .filter(|claim| claim.expires_ms > now_ms()))
    }

    fn parked(&self, index: &Index, key: &CarrierKey) -> Result<Vec<CarrierReceipt>, StoreError> {
        if index.parked == 0 {
            return Ok(Vec::new());
        }
        Ok(self
            .get(Table::ParkedReceipts, &carrier_key(key))?
            .unwrap_or_default())
    }

    /// The first guard of `guards` that fails, if any; claims that hold are added to `batch`.
    fn check(
        &self,
        index: &Index,
        guards: &[Guard],
        batch: &mut Batch,
    ) -> Result<Option<Committed>, StoreError> {
        for guard in guards {
            let failed = match guard {
                Guard::Claim {
                    space,
                    key,
                    value,
                    ttl,
                } => {
                    let (table, key) = Self::claim_slot(space, key);
                    match self.live_claim(table, &key)? {
                        Some(held) => {
                            // Only this is written: again, so the answer based on it waits
                            // until the first write is durable too.
                            *batch = Batch::default();
                            batch.put(table, key, encode(&held));
                            Some(Committed::Claimed)
                        }
                        None => {
                            let claim = ClaimRecord {
                                value: value.clone(),
                                expires_ms: now_ms() + ttl.as_millis() as u64,
                            };
                            batch.put(table, key, encode(&claim));
                            None
                        }
                    }
                }
                Guard::RecordVersion { id, version } => {
                    let current = self.record(index, id)?.map_or(0, |r| r.version);
                    (current != *version).then_some(Committed::Conflict)
                }
                Guard::Unmapped(key) => self
                    .kv
                    .get(Table::CarrierIds, &carrier_key(key))?
                    .map(|_| Committed::Conflict),
                Guard::ParkedCount { key, count } => {
                    (self.parked(index, key)?.len() != *count).then_some(Committed::Conflict)
                }
            };
            if failed.is_some() {
                return Ok(failed);
            }
        }
        Ok(None)
    }

    /// Adds the writes of a change whose guards hold to `batch` and the index; returns the MTs
    /// to queue once the batch is durable.
    fn apply(
        &self,
        index: &mut Index,
        writes: Vec<Write>,
        batch: &mut Batch,
    ) -> Result<Vec<Enqueue>, StoreError> {
        let mut enqueue = Vec::new();
        for write in writes {
            match write {
                Write::Record(record) => self.put_record(index, record, batch),
                Write::MapCarrierId { key, mapping } => {
                    batch.put(Table::CarrierIds, carrier_key(&key), encode(&mapping));
                }
                Write::Park { key, receipt } => {
                    let mut parked = self.parked(index, &key)?;
                    parked.push(receipt);
                    index.parked += 1;
                    batch.put(Table::ParkedReceipts, carrier_key(&key), encode(&parked));
                }
                Write::Unpark(key) => {
                    let parked = self.parked(index, &key)?;
                    index.parked = index.parked.saturating_sub(parked.len());
                    batch.delete(Table::ParkedReceipts, carrier_key(&key));
                }
                Write::Outbox(item) => self.append_outbox(index, item, batch),
                Write::Enqueue {
                    connector,
                    priority,
                    id,
                    released,
                } => enqueue.push((connector, priority, id, released)),
                Write::EndLease(id) => {
                    index.taken.remove(&id);
                }
            }
        }
        Ok(enqueue)
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn record(&self, id: &MessageId) -> Result<Option<Versioned<MessageRecord>>, StoreError> {
        let record = self.record(&self.index(), id)?;
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
        let record = self.existing_record(&self.index(), &mapping.message_id)?;
        Ok(Some((mapping, versioned(record))))
    }

    async fn record_with_parked(
        &self,
        id: &MessageId,
        keys: &[CarrierKey],
    ) -> Result<(Versioned<MessageRecord>, Vec<Vec<CarrierReceipt>>), StoreError> {
        let index = self.index();
        let record = self.existing_record(&index, id)?;
        let parked = keys
            .iter()
            .map(|key| self.parked(&index, key))
            .collect::<Result<_, _>>()?;
        Ok((versioned(record), parked))
    }

    async fn claimed(&self, space: &ClaimSpace, key: &str) -> Result<Option<String>, StoreError> {
        let (table, key) = Self::claim_slot(space, key);
        Ok(self.live_claim(table, &key)?.map(|claim| claim.value))
    }

    async fn commit(&self, change: Change) -> Result<Committed, StoreError> {
        let (outcome, enqueue, written) = {
            let mut index = self.index();
            let mut batch = Batch::default();
            match self.check(&index, &change.guards, &mut batch)? {
                Some(Committed::Conflict) => return Ok(Committed::Conflict),
                // The claim found held is written again (see `check`).
                Some(failed) => (failed, Vec::new(), self.kv.write(batch)),
                None => {
                    let enqueue = self.apply(&mut index, change.writes, &mut batch)?;
                    (Committed::Done, enqueue, self.kv.write(batch))
                }
            }
        };
        durable(written).await?;
        if !enqueue.is_empty() {
            // Queued only once durable: a worker never sends what a crash could forget.
            let mut index = self.index();
            for (connector, priority, id, released) in enqueue {
                index.enqueue(&connector, priority, id, released);
            }
        }
        Ok(outcome)
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
            let record = self.existing_record(&index, &id)?;
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
            let mut record = self.existing_record(&index, id)?;
            let mut batch = Batch::default();
            let priority = record.mt.priority;
            if record.connector.as_deref() != Some(connector) {
                record.connector = Some(connector.to_owned());
                // A new version, so a change built on the old one conflicts.
                record.version += 1;
                self.put_record(&mut index, record, &mut batch);
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
        let now = now_ms();
        let cutoff = now.saturating_sub(retention.as_millis() as u64);
        let mut stats = SweepStats::default();
        let mut batch = Batch::default();
        // Scanned from committed data without the index lock; deletes go through the
        // committer like every write, so a concurrent update is never lost (it is newer).
        for (key, value) in self.kv.scan(Table::Idempotency)? {
            let claim: ClaimRecord = decode(&key, &value)?;
            if claim.expires_ms <= now {
                batch.delete(Table::Idempotency, key);
                stats.idempotency_keys += 1;
            }
        }
        for (key, value) in self.kv.scan(Table::Dedupe)? {
            let claim: ClaimRecord = decode(&key, &value)?;
            if claim.expires_ms <= now {
                batch.delete(Table::Dedupe, key);
                stats.dedupe_claims += 1;
            }
        }
        for (key, value) in self.kv.scan(Table::CarrierIds)? {
            let record: CarrierIdRecord = decode(&key, &value)?;
            if record.created_ms < cutoff {
                batch.delete(Table::CarrierIds, key);
                stats.carrier_ids += 1;
            }
        }
        for (key, value) in self.kv.scan(Table::ParkedReceipts)? {
            let parked: Vec<CarrierReceipt> = decode(&key, &value)?;
            if parked.iter().all(|r| r.at_ms < cutoff) {
                batch.delete(Table::ParkedReceipts, key);
                let mut index = self.index();
                index.parked = index.parked.saturating_sub(parked.len());
                stats.parked_receipts += parked.len();
            }
        }
        for (key, value) in self.kv.scan(Table::Messages)? {
            let record: MessageRecord = decode(&key, &value)?;
            let last = record.history.last().map_or(0, |h| h.at_ms);
            if record.receipt_queued && last < cutoff {
                batch.delete(Table::Messages, key);
                stats.messages += 1;
            }
        }
        durable(self.kv.write(batch)).await?;
        Ok(stats)
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

    async fn check_writable(&self) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        let probe = ClaimRecord {
            value: String::new(),
            expires_ms: now_ms(),
        };
        batch.put(Table::Dedupe, "health\0check", encode(&probe));
        durable(self.kv.write(batch)).await
    }
}
