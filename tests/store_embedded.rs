//! The store contract against the embedded (redb) store, plus what only it promises:
//! everything survives a restart, and work taken by a dead process is handed out again.

mod store_suite;

use std::sync::Arc;

use smsgw::{
    message::{IdGenerator, MessageState, Priority},
    store::{EmbeddedStore, Store},
};
use store_suite::*;

fn fresh() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("smsgw.redb")).unwrap();
    (dir, store)
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let (_dir, store) = fresh();
            store_suite::$name(store).await;
        }
    )*};
}

suite!(
    full_cycle_accept_submit_receipt_outbox,
    idempotency_replays_the_first_answer_and_flags_a_different_body,
    concurrent_identical_requests_store_one_message,
    higher_priorities_are_taken_first_in_order,
    a_receipt_before_the_submit_resp_is_kept_and_applied,
    carrier_ids_match_across_hex_decimal_case_and_zeros,
    multipart_gives_one_final_receipt_with_the_worst_state,
    duplicate_receipts_are_applied_once,
    a_rejected_mt_gets_a_rejectd_receipt_with_result_code_1,
    mos_are_deduped_and_queued,
    outbox_retry_waits_and_expiry_removes,
    waiting_wakes_on_new_work,
    sweep_removes_expired_keys_and_old_final_messages,
    heartbeats_list_live_nodes_until_their_lease_ends,
);

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
        .carrier_receipt(
            "sim",
            smsgw::message::CarrierReceipt {
                carrier_id: "c77".into(),
                state: MessageState::Delivered,
                error: "000".into(),
                at_ms: 1,
            },
        )
        .await
        .unwrap();
    let entries = store.take_outbox("acme", 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    drop(store);
    // An outbox entry taken but not done is handed out again after a restart.
    let store = EmbeddedStore::open(&path).unwrap();
    assert_eq!(store.take_outbox("acme", 10).await.unwrap().len(), 1);
}
