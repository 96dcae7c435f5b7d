//! The store contract against the embedded (redb) store, plus what only it promises:
//! everything survives a restart, and work taken by a dead process is handed out again.

#[macro_use]
mod store_suite;

use std::sync::Arc;

use smsgw::{
    message::{IdGenerator, MessageState, Priority},
    store::{EmbeddedStore, Store},
};
use store_suite::*;

async fn fresh() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("smsgw.redb")).unwrap();
    (dir, store)
}

store_contract_tests!(fresh);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_and_taken_work_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smsgw.redb");
    let ids = IdGenerator::new("a", "n1");
    let queued = mt(&ids, Priority::Bulk, 1);
    let taken = mt(&ids, Priority::Interactive, 1);
    let submitted = mt(&ids, Priority::Bulk, 1);
    {
        let store = EmbeddedStore::open(&path).unwrap();
        for m in [&queued, &taken, &submitted] {
            store.accept_mt(m.clone(), None).await.unwrap();
        }
        // Takes `taken` (interactive) and `queued`, submits nothing of them.
        assert_eq!(store.take_mts("sim", 2).await.unwrap().len(), 2);
        store.take_mts("sim", 1).await.unwrap();
        store
            .mt_submitted(&submitted.id, "sim", vec!["c77".into()])
            .await
            .unwrap();
    }
    let store = EmbeddedStore::open(&path).unwrap();
    let again: Vec<_> = store
        .take_mts("sim", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        again,
        [taken.id.clone(), queued.id.clone()],
        "taken but unsubmitted MTs come back"
    );
    // The carrier-id map survived: a receipt after the restart is correlated.
    store
        .carrier_receipt("sim", receipt("c77", MessageState::Delivered))
        .await
        .unwrap();
    let entries = store.take_outbox("acme", 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    drop(store);
    // An outbox entry taken but not done is handed out again after a restart.
    let store = EmbeddedStore::open(&path).unwrap();
    assert_eq!(store.take_outbox("acme", 10).await.unwrap().len(), 1);
}
