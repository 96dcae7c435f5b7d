//! The store contract as tests, run against every `Store` implementation (the embedded one
//! here; the Redis one reuses these functions). Each function gets a fresh, empty store.
#![allow(dead_code)]

/// One `#[tokio::test]` per contract function for a store implementation; `$fresh` is an
/// `async fn() -> (guard, Arc<dyn Store>)` giving an empty store (the guard keeps its temp
/// dir or server alive for the test).
#[macro_export]
macro_rules! store_contract_tests {
    ($fresh:ident) => {
        $crate::store_contract!(store_contract_tests!(@each $fresh;));
    };
    (@each $fresh:ident; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let (_guard, store) = $fresh().await;
            store_suite::$name(store).await;
        }
    )*};
}

/// Calls `$callback!($($args)* name, name, ...)` with every contract function's name: the one
/// list of them.
#[macro_export]
macro_rules! store_contract {
    ($callback:ident ! ($($args:tt)*)) => {
        $callback!($($args)*
            full_cycle_accept_submit_receipt_outbox,
            idempotency_replays_the_first_answer_and_flags_a_different_body,
            concurrent_identical_requests_store_one_message,
            higher_priorities_are_taken_first_in_order,
            a_receipt_before_the_submit_resp_is_kept_and_applied,
            carrier_ids_match_on_case_and_zeros_never_across_bases,
            multipart_gives_one_final_receipt_with_the_worst_state,
            duplicate_receipts_are_applied_once,
            a_rejected_mt_gets_a_rejectd_receipt_with_result_code_1,
            an_mo_is_dropped_only_as_a_resend_or_by_carrier_id,
            outbox_retry_waits_and_expiry_removes,
            waiting_wakes_on_new_work,
            sweep_removes_expired_keys_and_old_final_messages,
            heartbeats_list_live_nodes_until_their_lease_ends,
            a_change_is_all_or_nothing,
            a_held_claim_refuses_the_change_until_it_expires,
            concurrent_record_updates_are_never_lost,
            carrier_id_guards_see_what_was_committed,
            a_cancelled_mt_is_deleted_with_its_receipt_and_never_taken,
            only_the_sender_sees_or_changes_its_mt,
            a_submitted_mt_is_too_late_to_cancel_or_replace,
            a_replaced_mt_is_taken_with_its_new_body,
            a_cancel_that_races_the_submit_keeps_the_mt_deleted,
            opt_outs_hold_until_lifted_per_account_and_sender,
            a_timer_is_taken_only_once_due_and_holds_back_no_earlier_one,
            a_scheduled_mt_is_held_until_its_release_and_queued_once,
            a_cancelled_scheduled_mt_is_never_released,
            an_mt_still_queued_when_its_validity_ends_expires_with_one_receipt,
            a_submitted_mt_does_not_expire,
            no_final_receipt_in_time_ends_the_mt_unknown_once_and_a_late_one_joins_its_history,
            a_final_receipt_in_time_leaves_the_dr_timeout_nothing_to_do,
            a_part_set_changes_only_at_the_version_read,
            mo_parts_are_kept_once_and_delivered_whole,
            the_last_parts_racing_make_one_whole_mo,
            an_incomplete_set_is_delivered_part_by_part_once,
            sweep_removes_part_sets_older_than_the_retention,
            every_state_change_of_an_mt_is_an_event_written_with_it,
            without_an_event_log_no_events_are_written_and_filters_keep_what_they_name,
            tokens_never_pass_the_limit_of_a_window_even_taken_at_once,
            places_are_held_by_at_most_max_claims_until_released_or_expired
        );
    };
}

mod events;
mod flows;
mod lifecycle;
mod limits;
mod opt_outs;
mod part_sets;
mod primitives;
mod timers;

use std::{sync::Arc, time::Duration};

#[allow(unused_imports)]
pub use events::*;
pub use flows::Flows;
#[allow(unused_imports)]
pub use lifecycle::*;
#[allow(unused_imports)]
pub use limits::*;
#[allow(unused_imports)]
pub use opt_outs::*;
#[allow(unused_imports)]
pub use part_sets::*;
#[allow(unused_imports)]
pub use primitives::*;
use smsgw::{
    ingest::{Acceptance, Idempotency},
    message::{
        now_ms, CarrierReceipt, IdGenerator, Interface, MessageId, MessageState, Mo, Mt,
        OutboxItem, Payload, Priority,
    },
    store::Store,
    upstream::{mo::MoIdentity, receipts::ReceiptOutcome},
};
#[allow(unused_imports)]
pub use timers::*;

pub fn mt(ids: &IdGenerator, priority: Priority, parts: u8) -> Mt {
    Mt {
        id: ids.next(),
        account: "acme".into(),
        client_message_id: None,
        source: "ACME".into(),
        destination: "447700900001".into(),
        payload: Payload::Text("hello".into()),
        priority,
        receipt: true,
        app_id: Some("app".into()),
        conversation_id: None,
        carrier: None,
        connectors: vec!["sim".into()],
        parts,
        interface: Interface::Http,
        answered_with_client_id: false,
        accepted_at_ms: now_ms(),
        timing: Default::default(),
    }
}

/// A carrier's receipt for `carrier_id` in `state` (error 000 when delivered, else 001).
pub fn receipt(carrier_id: &str, state: MessageState) -> CarrierReceipt {
    CarrierReceipt {
        carrier_id: carrier_id.into(),
        state,
        error: if state == MessageState::Delivered {
            "000"
        } else {
            "001"
        }
        .into(),
        at_ms: now_ms(),
    }
}

/// An idempotency claim of `key` for a request whose fingerprint is `body`.
pub fn claim(key: &str, body: &str) -> Option<Idempotency> {
    Some(Idempotency {
        key: key.into(),
        fingerprint: body.into(),
        ttl: Duration::from_secs(3600),
    })
}

/// The receipts an outbox take hands out now (nothing, where nothing is expected).
async fn receipts_in_outbox(
    store: &dyn Store,
    account: &str,
) -> Vec<(u64, smsgw::message::Receipt)> {
    store
        .take_outbox(account, 100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.item {
            OutboxItem::Receipt(r) => Some((e.seq, r)),
            OutboxItem::Mo(_) | OutboxItem::Timer(_) | OutboxItem::Events { .. } => None,
        })
        .collect()
}

/// What outbox takes hand out until `want` entries are taken, or 5 s pass. A replicated
/// store's consumer may apply a commit a moment after its quorum answered (NATS: a consumer
/// led by the replica outside the quorum), so an entry is taken by a later take, as a
/// delivery worker's next wake-up or poll would.
pub async fn outbox_arriving(
    store: &dyn Store,
    account: &str,
    want: usize,
) -> Vec<smsgw::store::OutboxEntry> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut taken = Vec::new();
    loop {
        taken.extend(store.take_outbox(account, 100).await.unwrap());
        if taken.len() >= want || tokio::time::Instant::now() >= deadline {
            return taken;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The receipts of the first outbox take that finds any, within 5 s (see [`outbox_arriving`]).
pub async fn receipts_arriving_in_outbox(
    store: &dyn Store,
    account: &str,
) -> Vec<(u64, smsgw::message::Receipt)> {
    outbox_arriving(store, account, 1)
        .await
        .into_iter()
        .filter_map(|e| match e.item {
            OutboxItem::Receipt(r) => Some((e.seq, r)),
            OutboxItem::Mo(_) | OutboxItem::Timer(_) | OutboxItem::Events { .. } => None,
        })
        .collect()
}

pub async fn full_cycle_accept_submit_receipt_outbox(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let message = mt(&ids, Priority::Bulk, 1);
    assert_eq!(
        store.accept_mt(message.clone(), None).await.unwrap(),
        Acceptance::Accepted
    );
    assert_eq!(
        store.queue_depths().await.unwrap(),
        vec![("sim".to_owned(), 1)]
    );
    let taken = store.take_mts("sim", 10).await.unwrap();
    assert_eq!(taken, vec![message.clone()]);
    assert!(
        store.take_mts("sim", 10).await.unwrap().is_empty(),
        "taken twice"
    );
    store
        .mt_submitted(&message.id, "sim", vec!["c-1".into()])
        .await
        .unwrap();
    let outcome = store
        .carrier_receipt("sim", receipt("c-1", MessageState::Delivered))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ReceiptOutcome::Applied {
            id: message.id.clone(),
            final_state: Some(MessageState::Delivered)
        }
    );
    let record = store.message(&message.id).await.unwrap().unwrap();
    assert_eq!(record.state, MessageState::Delivered);
    let states: Vec<_> = record.history.iter().map(|h| h.state).collect();
    assert_eq!(
        states,
        [
            MessageState::Accepted,
            MessageState::Enroute,
            MessageState::Delivered
        ]
    );

    let receipts = receipts_arriving_in_outbox(store.as_ref(), "acme").await;
    assert_eq!(receipts.len(), 1);
    let (seq, dr) = &receipts[0];
    assert_eq!(
        (dr.state, dr.result_code, &dr.message_id),
        (MessageState::Delivered, 0, &message.id)
    );
    assert!(
        store.take_outbox("acme", 10).await.unwrap().is_empty(),
        "outbox entry handed out twice"
    );
    store.outbox_done("acme", *seq).await.unwrap();
    assert!(store.outbox_depths().await.unwrap().is_empty());
}

pub async fn idempotency_replays_the_first_answer_and_flags_a_different_body(
    store: Arc<dyn Store>,
) {
    let ids = IdGenerator::new("a", "n1");
    let first = mt(&ids, Priority::Bulk, 1);
    assert_eq!(
        store
            .accept_mt(first.clone(), claim("k1", "body"))
            .await
            .unwrap(),
        Acceptance::Accepted
    );
    let again = mt(&ids, Priority::Bulk, 1);
    assert_eq!(
        store
            .accept_mt(again.clone(), claim("k1", "body"))
            .await
            .unwrap(),
        Acceptance::Replayed(first.id.clone())
    );
    assert_eq!(
        store
            .accept_mt(again, claim("k1", "other body"))
            .await
            .unwrap(),
        Acceptance::Conflict(first.id.clone())
    );
    assert_eq!(
        store.take_mts("sim", 10).await.unwrap().len(),
        1,
        "a replay was queued"
    );
    assert_eq!(
        store.message_by_client_id("acme", "k1").await.unwrap(),
        Some(first.id)
    );
    // A client id names a message of its own account only (the status API relies on it).
    assert_eq!(
        store.message_by_client_id("beta", "k1").await.unwrap(),
        None
    );
}

pub async fn concurrent_identical_requests_store_one_message(store: Arc<dyn Store>) {
    let ids = Arc::new(IdGenerator::new("a", "n1"));
    let attempts = (0..16).map(|_| {
        let store = store.clone();
        let message = mt(&ids, Priority::Bulk, 1);
        tokio::spawn(async move {
            store
                .accept_mt(message, claim("same", "body"))
                .await
                .unwrap()
        })
    });
    let outcomes: Vec<Acceptance> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Acceptance::Accepted)
            .count(),
        1
    );
    assert_eq!(store.take_mts("sim", 100).await.unwrap().len(), 1);
}

pub async fn higher_priorities_are_taken_first_in_order(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let bulk = [mt(&ids, Priority::Bulk, 1), mt(&ids, Priority::Bulk, 1)];
    let low = mt(&ids, Priority::BulkLow, 1);
    let urgent = mt(&ids, Priority::Interactive, 1);
    for m in [&bulk[0], &low, &bulk[1], &urgent] {
        store.accept_mt(m.clone(), None).await.unwrap();
    }
    let order: Vec<MessageId> = store
        .take_mts("sim", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        order,
        [
            urgent.id.clone(),
            bulk[0].id.clone(),
            bulk[1].id.clone(),
            low.id.clone()
        ]
    );
    // Released MTs go back ahead of their priority's queue, in the order released.
    let later = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(later.clone(), None).await.unwrap();
    store.release_mt(&bulk[1].id, "sim").await.unwrap();
    store.release_mt(&bulk[0].id, "sim").await.unwrap();
    let order: Vec<MessageId> = store
        .take_mts("sim", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(order, [bulk[1].id.clone(), bulk[0].id.clone(), later.id]);
}

pub async fn a_receipt_before_the_submit_resp_is_kept_and_applied(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let message = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(message.clone(), None).await.unwrap();
    store.take_mts("sim", 1).await.unwrap();
    assert_eq!(
        store
            .carrier_receipt("sim", receipt("77", MessageState::Delivered))
            .await
            .unwrap(),
        ReceiptOutcome::Parked
    );
    assert!(receipts_in_outbox(store.as_ref(), "acme").await.is_empty());
    store
        .mt_submitted(&message.id, "sim", vec!["77".into()])
        .await
        .unwrap();
    let receipts = receipts_arriving_in_outbox(store.as_ref(), "acme").await;
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].1.state, MessageState::Delivered);
}

pub async fn carrier_ids_match_on_case_and_zeros_never_across_bases(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let decimal = mt(&ids, Priority::Bulk, 1);
    let mixed = mt(&ids, Priority::Bulk, 1);
    for m in [&decimal, &mixed] {
        store.accept_mt(m.clone(), None).await.unwrap();
    }
    store.take_mts("sim", 10).await.unwrap();
    store
        .mt_submitted(&decimal.id, "sim", vec!["10".into()])
        .await
        .unwrap();
    store
        .mt_submitted(&mixed.id, "sim", vec!["AB12cd".into()])
        .await
        .unwrap();
    let outcome = |carrier_id: &'static str| {
        let store = store.clone();
        async move {
            store
                .carrier_receipt("sim", receipt(carrier_id, MessageState::Delivered))
                .await
                .unwrap()
        }
    };
    // "16" is 0x10 and "a" is 10 in the other base: each is some other message's receipt
    // whose submission is not recorded yet, never the receipt of "10".
    assert_eq!(outcome("16").await, ReceiptOutcome::Parked);
    assert_eq!(outcome("a").await, ReceiptOutcome::Parked);
    let applied = |outcome: ReceiptOutcome| match outcome {
        ReceiptOutcome::Applied { id, .. } => id,
        other => panic!("not correlated: {other:?}"),
    };
    assert_eq!(applied(outcome("000ab12CD").await), mixed.id);
    assert_eq!(applied(outcome("010").await), decimal.id);
}

pub async fn multipart_gives_one_final_receipt_with_the_worst_state(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let message = mt(&ids, Priority::Bulk, 3);
    store.accept_mt(message.clone(), None).await.unwrap();
    store.take_mts("sim", 1).await.unwrap();
    store
        .mt_submitted(
            &message.id,
            "sim",
            vec!["p1".into(), "p2".into(), "p3".into()],
        )
        .await
        .unwrap();
    // The carrier reports on any part, in any order; a failed part stays failed.
    store
        .carrier_receipt("sim", receipt("p2", MessageState::Undeliverable))
        .await
        .unwrap();
    store
        .carrier_receipt("sim", receipt("p2", MessageState::Delivered))
        .await
        .unwrap();
    store
        .carrier_receipt("sim", receipt("p3", MessageState::Delivered))
        .await
        .unwrap();
    assert!(
        receipts_in_outbox(store.as_ref(), "acme").await.is_empty(),
        "final before every part"
    );
    let last = store
        .carrier_receipt("sim", receipt("p1", MessageState::Delivered))
        .await
        .unwrap();
    assert_eq!(
        last,
        ReceiptOutcome::Applied {
            id: message.id.clone(),
            final_state: Some(MessageState::Undeliverable)
        }
    );
    let receipts = receipts_arriving_in_outbox(store.as_ref(), "acme").await;
    assert_eq!(receipts.len(), 1);
    assert_eq!(
        (receipts[0].1.state, receipts[0].1.result_code),
        (MessageState::Undeliverable, 1)
    );
}

pub async fn duplicate_receipts_are_applied_once(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let message = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(message.clone(), None).await.unwrap();
    store.take_mts("sim", 1).await.unwrap();
    store
        .mt_submitted(&message.id, "sim", vec!["d1".into()])
        .await
        .unwrap();
    store
        .carrier_receipt("sim", receipt("d1", MessageState::Delivered))
        .await
        .unwrap();
    assert_eq!(
        store
            .carrier_receipt("sim", receipt("d1", MessageState::Delivered))
            .await
            .unwrap(),
        ReceiptOutcome::Duplicate
    );
    assert_eq!(
        receipts_arriving_in_outbox(store.as_ref(), "acme")
            .await
            .len(),
        1
    );
}

pub async fn a_rejected_mt_gets_a_rejectd_receipt_with_result_code_1(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let message = mt(&ids, Priority::Bulk, 2);
    store.accept_mt(message.clone(), None).await.unwrap();
    store.take_mts("sim", 1).await.unwrap();
    store
        .mt_rejected(&message.id, "submit_sm_resp 0x45".into())
        .await
        .unwrap();
    let receipts = receipts_arriving_in_outbox(store.as_ref(), "acme").await;
    assert_eq!(receipts.len(), 1);
    assert_eq!(
        (receipts[0].1.state, receipts[0].1.result_code),
        (MessageState::Rejected, 1)
    );
    assert_eq!(
        store.message(&message.id).await.unwrap().unwrap().state,
        MessageState::Rejected
    );
}

/// An MO with the carrier's id, or the same PDU on the same bind (a resend after a lost
/// deliver_sm_resp), is one MO; the same text in another PDU (a second vote) is another.
pub async fn an_mo_is_dropped_only_as_a_resend_or_by_carrier_id(store: Arc<dyn Store>) {
    let mo = |id: &str| Mo {
        id: id.into(),
        account: "acme".into(),
        source: "447700900001".into(),
        destination: "12345".into(),
        text: "YES".into(),
        connector: "sim".into(),
        received_at_ms: now_ms(),
        segments: None,
    };
    let pdu = |sequence_number: u32| MoIdentity::Pdu {
        bind: "n1.7".into(),
        sequence_number,
        pdu_digest: format!("digest-{sequence_number}"),
    };
    let timeout = Duration::from_secs(10);
    let fresh = |identity: MoIdentity, id: &'static str| {
        let store = store.clone();
        async move { store.carrier_mo(&identity, timeout, mo(id)).await.unwrap() }
    };
    assert!(fresh(pdu(2), "mo-2").await, "the first YES");
    assert!(!fresh(pdu(2), "mo-2").await, "its resend");
    assert!(fresh(pdu(3), "mo-3").await, "the second YES, a new PDU");
    let carrier_id = || MoIdentity::CarrierId("c9".into());
    assert!(fresh(carrier_id(), "mo-c9").await);
    assert!(
        !fresh(carrier_id(), "mo-c9-again").await,
        "the carrier's id again"
    );
    let ids: Vec<String> = outbox_arriving(store.as_ref(), "acme", 3)
        .await
        .into_iter()
        .map(|entry| match entry.item {
            OutboxItem::Mo(mo) => mo.id,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, ["mo-2", "mo-3", "mo-c9"]);

    // The resend window ends (twice a 300 ms response timeout): the same PDU is news again.
    let short = Duration::from_millis(300);
    assert!(store.carrier_mo(&pdu(9), short, mo("mo-9")).await.unwrap());
    assert!(!store.carrier_mo(&pdu(9), short, mo("mo-9")).await.unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !store.carrier_mo(&pdu(9), short, mo("mo-9")).await.unwrap() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the resend window did not end"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn outbox_retry_waits_and_expiry_removes(store: Arc<dyn Store>) {
    let mo = |id: &str| Mo {
        id: id.into(),
        account: "acme".into(),
        source: "1".into(),
        destination: "2".into(),
        text: "x".into(),
        connector: "sim".into(),
        received_at_ms: now_ms(),
        segments: None,
    };
    store
        .carrier_mo(
            &MoIdentity::CarrierId("a".into()),
            Duration::from_secs(10),
            mo("a"),
        )
        .await
        .unwrap();
    let taken = outbox_arriving(store.as_ref(), "acme", 1).await;
    store
        .outbox_retry("acme", taken[0].seq, now_ms() + 60_000)
        .await
        .unwrap();
    assert!(
        store.take_outbox("acme", 10).await.unwrap().is_empty(),
        "retried before its time"
    );
    store
        .outbox_retry("acme", taken[0].seq, now_ms())
        .await
        .unwrap();
    let again = outbox_arriving(store.as_ref(), "acme", 1).await;
    assert_eq!(again[0].attempts, 2);
    store.outbox_retry("acme", again[0].seq, 0).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let expired = store
        .expire_outbox("acme", Duration::from_millis(10))
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);
    assert!(store.outbox_depths().await.unwrap().is_empty());
}

pub async fn waiting_wakes_on_new_work(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    // A wait long enough that only the new work can end it within this test's bound.
    let timeout = Duration::from_secs(60);
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move {
            store.wait_for_mts("sim", timeout).await;
            std::time::Instant::now()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !waiter.is_finished(),
        "wait_for_mts returned with nothing queued: it does not wait"
    );
    let accepting = std::time::Instant::now();
    store
        .accept_mt(mt(&ids, Priority::Bulk, 1), None)
        .await
        .unwrap();
    let woken = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the waiter was not woken within 10 s of new work (its own timeout is 60 s)")
        .unwrap();
    assert!(woken >= accepting, "woken before the work came");
}

pub async fn sweep_removes_expired_keys_and_old_final_messages(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let keyed = mt(&ids, Priority::Bulk, 1);
    let short_claim = Some(Idempotency {
        key: "short".into(),
        fingerprint: "body".into(),
        ttl: Duration::from_millis(1),
    });
    store.accept_mt(keyed.clone(), short_claim).await.unwrap();
    let pending = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(pending.clone(), None).await.unwrap();
    let taken = store.take_mts("sim", 1).await.unwrap();
    assert_eq!(taken[0].id, keyed.id);
    store
        .mt_submitted(&keyed.id, "sim", vec!["s1".into()])
        .await
        .unwrap();
    store
        .carrier_receipt("sim", receipt("s1", MessageState::Delivered))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    let swept = store.sweep(Duration::from_millis(10)).await.unwrap();
    assert_eq!(swept.idempotency_keys, 1);
    assert_eq!(swept.messages, 1, "{swept:?}");
    assert!(
        swept.carrier_ids >= 1 && swept.dedupe_claims == 0,
        "{swept:?}"
    );
    assert_eq!(store.message(&keyed.id).await.unwrap(), None);
    assert_eq!(
        store.message_by_client_id("acme", "short").await.unwrap(),
        None
    );
    // A message that is not final stays, however old.
    assert!(store.message(&pending.id).await.unwrap().is_some());
}

pub async fn heartbeats_list_live_nodes_until_their_lease_ends(store: Arc<dyn Store>) {
    let node = |id: &str, site: &str| smsgw::store::NodeInfo {
        node_id: id.into(),
        site: site.into(),
        started_ms: now_ms(),
        last_seen_ms: now_ms(),
        roles: vec!["http".into(), "smpp".into(), "carrier".into()],
        client_binds: vec![("acme".into(), 2)],
        carrier_binds: vec![("sim".into(), 1)],
    };
    store
        .heartbeat(&node("a1", "siteA"), Duration::from_secs(60))
        .await
        .unwrap();
    store
        .heartbeat(&node("b1", "siteB"), Duration::from_secs(1))
        .await
        .unwrap();
    let live: Vec<String> = store
        .nodes()
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.node_id)
        .collect();
    assert_eq!(live, ["a1", "b1"]);
    // b1's lease ends after 1 s; a1's (60 s) outlives the wait.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let live = loop {
        let live = store.nodes().await.unwrap();
        if live.len() < 2 {
            break live;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "b1 still listed 10 s after its 1 s lease: {live:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(
        (live[0].node_id.as_str(), live[0].client_binds[0].1),
        ("a1", 2)
    );
}

/// Polls `take_mts("sim")` until it returns something or `tries` run out (a lease must pass
/// first); the ids taken.
pub async fn take_after_lease(store: &dyn Store, tries: usize) -> Vec<MessageId> {
    for _ in 0..tries {
        let taken = store.take_mts("sim", 10).await.unwrap();
        if !taken.is_empty() {
            return taken.into_iter().map(|m| m.id).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Vec::new()
}
