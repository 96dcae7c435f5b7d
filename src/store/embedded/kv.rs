//! A durable key-value layer over redb with group commit, for the embedded store.
//!
//! Writers hand a batch to one committer thread and wait; the committer takes every batch
//! waiting at that moment, writes them in one redb transaction and fsyncs once, then answers
//! them all: many acknowledgements share one fsync. Until its batch is committed a write is
//! visible to readers through an in-memory overlay, so read-modify-write sequences see their
//! own writes. Reads of committed data go through a snapshot of the tables that the
//! committer renews after each group commit, so a lookup does not open a read transaction and
//! its tables each time.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, trace};

use crate::store::StoreError;

/// The tables of the embedded store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Messages,
    Idempotency,
    CarrierIds,
    ParkedReceipts,
    Dedupe,
    Outbox,
    OptOuts,
    PartSets,
}

impl Table {
    const ALL: [Table; 8] = [
        Table::Messages,
        Table::Idempotency,
        Table::CarrierIds,
        Table::ParkedReceipts,
        Table::Dedupe,
        Table::Outbox,
        Table::OptOuts,
        Table::PartSets,
    ];

    fn definition(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        TableDefinition::new(match self {
            Table::Messages => "messages",
            Table::Idempotency => "idempotency",
            Table::CarrierIds => "carrier_ids",
            Table::ParkedReceipts => "parked_receipts",
            Table::Dedupe => "dedupe",
            Table::Outbox => "outbox",
            Table::OptOuts => "opt_outs",
            Table::PartSets => "mo_part_sets",
        })
    }
}

/// One write of a batch: the value, or `None` to delete. Values are shared, not copied,
/// between the batch and the overlay that makes them visible until committed.
type Write = (Table, String, Option<Bytes>);

/// Writes that become durable together.
#[derive(Debug, Default)]
pub struct Batch {
    writes: Vec<Write>,
}

impl Batch {
    pub fn put(&mut self, table: Table, key: impl Into<String>, value: Vec<u8>) {
        self.writes
            .push((table, key.into(), Some(Bytes::from(value))));
    }

    pub fn delete(&mut self, table: Table, key: impl Into<String>) {
        self.writes.push((table, key.into(), None));
    }

    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

struct Submitted {
    version: u64,
    writes: Vec<Write>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// A write not yet committed: the batch version that wrote it and the value (None = deleted).
type PendingWrite = (u64, Option<Bytes>);

/// Writes not yet committed, per table so a lookup by `&str` needs no owned key, and the
/// snapshot of what is committed. Both change together under one lock (the committer renews
/// the snapshot before it drops the writes it made durable), so a lookup that misses the
/// pending writes finds them in the snapshot.
struct Overlay {
    next_version: u64,
    pending: HashMap<Table, HashMap<String, PendingWrite>>,
    committed: Arc<Snapshot>,
}

/// The tables as of one commit, open for reading.
struct Snapshot {
    tables: Vec<ReadOnlyTable<&'static str, &'static [u8]>>,
}

impl Snapshot {
    fn of(db: &Database) -> Result<Arc<Snapshot>, StoreError> {
        let txn = db.begin_read().map_err(StoreError::backend)?;
        let tables = Table::ALL
            .iter()
            .map(|table| txn.open_table(table.definition()))
            .collect::<Result<_, _>>()
            .map_err(StoreError::backend)?;
        Ok(Arc::new(Snapshot { tables }))
    }

    /// `tables` is in the order of `Table::ALL`, which is the declaration order.
    fn table(&self, table: Table) -> &ReadOnlyTable<&'static str, &'static [u8]> {
        &self.tables[table as usize]
    }
}

/// The durable key-value layer. Cheap to share behind an `Arc`.
pub struct Kv {
    db: Arc<Database>,
    overlay: Arc<Mutex<Overlay>>,
    /// `None` only while dropping.
    commits: Option<mpsc::UnboundedSender<Submitted>>,
    committer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Kv {
    /// Lets the committer finish what was submitted and release the file, so the store can be
    /// opened again right away (a restart in tests, a reload in production).
    fn drop(&mut self) {
        self.commits.take();
        if let Some(committer) = self.committer.take() {
            let _ = committer.join();
        }
    }
}

/// redb's page cache (its default is 1 GiB): hot records are decoded in memory anyway, so a
/// smaller cache keeps the gateway's memory bounded without slowing the hot path.
const PAGE_CACHE_BYTES: usize = 128 * 1024 * 1024;

/// Resolves when a batch is durable.
pub type Durable = oneshot::Receiver<Result<(), StoreError>>;

impl Kv {
    /// Opens (or creates) the database file and starts the committer thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io(path, e))?;
        }
        let db = redb::Builder::new()
            .set_cache_size(PAGE_CACHE_BYTES)
            .create(path)
            .map_err(StoreError::backend)?;
        let txn = db.begin_write().map_err(StoreError::backend)?;
        for table in Table::ALL {
            txn.open_table(table.definition())
                .map_err(StoreError::backend)?;
        }
        txn.commit().map_err(StoreError::backend)?;
        let overlay = Arc::new(Mutex::new(Overlay {
            next_version: 0,
            pending: HashMap::new(),
            committed: Snapshot::of(&db)?,
        }));
        let db = Arc::new(db);
        let (commits, queue) = mpsc::unbounded_channel();
        let committer_db = db.clone();
        let committer_overlay = overlay.clone();
        let committer = std::thread::Builder::new()
            .name("smsgw-commit".into())
            .spawn(move || run_committer(committer_db, committer_overlay, queue))
            .map_err(|e| StoreError::io(path, e))?;
        Ok(Self {
            db,
            overlay,
            commits: Some(commits),
            committer: Some(committer),
        })
    }

    fn overlay(&self) -> std::sync::MutexGuard<'_, Overlay> {
        self.overlay.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current value: the newest pending write, else what is committed.
    pub fn get(&self, table: Table, key: &str) -> Result<Option<Bytes>, StoreError> {
        let committed = {
            let overlay = self.overlay();
            let pending = overlay
                .pending
                .get(&table)
                .and_then(|writes| writes.get(key));
            if let Some((_, value)) = pending {
                return Ok(value.clone());
            }
            overlay.committed.clone()
        };
        let value = committed
            .table(table)
            .get(key)
            .map_err(StoreError::backend)?;
        Ok(value.map(|v| Bytes::copy_from_slice(v.value())))
    }

    /// Every committed entry of a table (for rebuilding indexes at start, before any write).
    pub fn scan(&self, table: Table) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(StoreError::backend)?;
        let read = txn
            .open_table(table.definition())
            .map_err(StoreError::backend)?;
        let mut entries = Vec::new();
        for entry in read.iter().map_err(StoreError::backend)? {
            let (key, value) = entry.map_err(StoreError::backend)?;
            entries.push((key.value().to_owned(), value.value().to_vec()));
        }
        Ok(entries)
    }

    /// Makes the batch visible at once and durable soon; await the result before
    /// acknowledging anything that depends on it.
    pub fn write(&self, batch: Batch) -> Durable {
        let (done, durable) = oneshot::channel();
        if batch.is_empty() {
            let _ = done.send(Ok(()));
            return durable;
        }
        let bytes: usize = batch
            .writes
            .iter()
            .map(|(_, key, value)| key.len() + value.as_ref().map_or(0, Bytes::len))
            .sum();
        metrics::counter!("store_bytes_written_total").increment(bytes as u64);
        let mut overlay = self.overlay();
        overlay.next_version += 1;
        let version = overlay.next_version;
        for (table, key, value) in &batch.writes {
            overlay
                .pending
                .entry(*table)
                .or_default()
                .insert(key.clone(), (version, value.clone()));
        }
        // Sent under the overlay lock so the committer sees batches in version order.
        let submitted = Submitted {
            version,
            writes: batch.writes,
            done,
        };
        let sent = match &self.commits {
            Some(commits) => commits.send(submitted).map_err(|e| e.0),
            None => Err(submitted),
        };
        if let Err(lost) = sent {
            let _ = lost.done.send(Err(StoreError::Closed));
        }
        durable
    }
}

/// Target of the TRACE event the committer emits after each group commit returned (redb's
/// default durability: the data is fsynced) and before it answers the group's writers. Its
/// field `messages` lists the Messages keys (message ids) written, `batches` the group size.
/// Tests subscribe to it to show that no MT is acknowledged before its record is durable;
/// disabled, it costs one callsite check per group.
pub const COMMITTED_TRACE_TARGET: &str = "smsgw::store::committed";

/// The Messages keys of a group, space-separated, formatted only if the event is enabled.
struct MessageKeys<'a>(&'a [Submitted]);

impl std::fmt::Display for MessageKeys<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.0.iter().flat_map(|submitted| &submitted.writes);
        for (_, key, _) in keys.filter(|(table, ..)| *table == Table::Messages) {
            write!(f, "{key} ")?;
        }
        Ok(())
    }
}

/// Awaits durability of a batch.
pub async fn durable(durable: Durable) -> Result<(), StoreError> {
    durable.await.unwrap_or(Err(StoreError::Closed))
}

fn run_committer(
    db: Arc<Database>,
    overlay: Arc<Mutex<Overlay>>,
    mut queue: mpsc::UnboundedReceiver<Submitted>,
) {
    while let Some(first) = queue.blocking_recv() {
        let mut group = vec![first];
        while let Ok(next) = queue.try_recv() {
            group.push(next);
            if group.len() >= 4096 {
                break;
            }
        }
        let result = commit_group(&db, &group).and_then(|()| Snapshot::of(&db));
        metrics::histogram!("store_group_commit_batches").record(group.len() as f64);
        let newest = group.last().map_or(0, |s| s.version);
        if result.is_ok() {
            trace!(
                target: COMMITTED_TRACE_TARGET,
                batches = group.len(),
                messages = %MessageKeys(&group),
                "group committed"
            );
        }
        let result = result.map(|snapshot| {
            let mut overlay = overlay.lock().unwrap_or_else(|e| e.into_inner());
            overlay.committed = snapshot;
            for writes in overlay.pending.values_mut() {
                writes.retain(|_, (version, _)| *version > newest);
            }
        });
        for submitted in group {
            let _ = submitted.done.send(result.clone());
        }
    }
}

fn commit_group(db: &Database, group: &[Submitted]) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(StoreError::backend)?;
    {
        let mut tables = HashMap::new();
        for submitted in group {
            for (table, key, value) in &submitted.writes {
                let open = match tables.entry(*table) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => e.insert(
                        txn.open_table(table.definition())
                            .map_err(StoreError::backend)?,
                    ),
                };
                match value {
                    Some(value) => {
                        open.insert(key.as_str(), value.as_ref())
                            .map_err(StoreError::backend)?;
                    }
                    None => {
                        open.remove(key.as_str()).map_err(StoreError::backend)?;
                    }
                }
            }
        }
    }
    txn.commit().map_err(|e| {
        error!(%e, "store commit failed");
        StoreError::backend(e)
    })
}
