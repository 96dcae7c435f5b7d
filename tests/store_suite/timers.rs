//! The contract of durable timers on every store: an outbox entry written with a due time is
//! not taken before it, does not hold back one due earlier, and is taken once due; and the
//! flows timers run (release, expire, DR timeout) apply once, whatever fires them.

use std::{sync::Arc, time::Duration};

use smsgw::{
    lifecycle::{dr_timed_out, expire_mt, release_scheduled},
    message::{
        now_ms, timer_account, IdGenerator, MessageId, MessageState, OutboxItem, Priority, Timer,
        TimerAction,
    },
    store::{Change, Committed, Store, Write},
    upstream::receipts::{self, ReceiptOutcome},
};

use super::{mt, receipt, receipts_arriving_in_outbox, Flows};

async fn write_timer(store: &dyn Store, timer: Timer) {
    let mut change = Change::default();
    change.write(Write::Outbox(OutboxItem::Timer(timer)));
    assert_eq!(store.commit(change).await.unwrap(), Committed::Done);
}

pub async fn a_timer_is_taken_only_once_due_and_holds_back_no_earlier_one(store: Arc<dyn Store>) {
    let later = Timer::new(
        TimerAction::DrTimeout(MessageId("later".into())),
        now_ms() + 2_000,
    );
    let account = later.account.clone();
    let due_at = later.due_ms;
    write_timer(store.as_ref(), later).await;
    // Written after it, due at once, in the same timer account.
    let mut sooner = Timer::new(TimerAction::Expire(MessageId("sooner".into())), now_ms());
    sooner.account = account.clone();
    write_timer(store.as_ref(), sooner).await;

    let mut taken = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        for entry in store.take_outbox(&account, 10).await.unwrap() {
            let OutboxItem::Timer(timer) = &entry.item else {
                panic!("not a timer: {entry:?}");
            };
            taken.push((timer.action.clone(), now_ms()));
            store.outbox_done(&account, entry.seq).await.unwrap();
        }
        if taken.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let order: Vec<&TimerAction> = taken.iter().map(|(action, _)| action).collect();
    assert_eq!(
        order,
        [
            &TimerAction::Expire(MessageId("sooner".into())),
            &TimerAction::DrTimeout(MessageId("later".into()))
        ],
        "taken: {taken:?}"
    );
    assert!(
        taken[1].1 >= due_at,
        "taken {} ms before it was due",
        due_at - taken[1].1
    );
    assert!(store.take_outbox(&account, 10).await.unwrap().is_empty());
}

/// The timers the store hands out for `account` within 10 s.
async fn timers_arriving(store: &dyn Store, account: &str, want: usize) -> Vec<TimerAction> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut taken = Vec::new();
    while taken.len() < want && tokio::time::Instant::now() < deadline {
        for entry in store.take_outbox(account, 10).await.unwrap() {
            if let OutboxItem::Timer(timer) = entry.item {
                taken.push(timer.action);
            }
            store.outbox_done(account, entry.seq).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    taken
}

pub async fn a_scheduled_mt_is_held_until_its_release_and_queued_once(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let mut scheduled = mt(&ids, Priority::Bulk, 1);
    let send_at = now_ms() + 1_500;
    scheduled.timing.send_at_ms = Some(send_at);
    store.accept_mt(scheduled.clone(), None).await.unwrap();
    let record = store.message(&scheduled.id).await.unwrap().unwrap();
    assert!(record.held);
    assert_eq!(record.state, MessageState::Accepted);
    assert!(
        store.take_mts("sim", 10).await.unwrap().is_empty(),
        "a scheduled MT was queued before its time"
    );
    // The accept wrote its release timer, due at send_at.
    let timers = timers_arriving(store.as_ref(), &timer_account(send_at), 1).await;
    assert_eq!(timers, [TimerAction::Release(scheduled.id.clone())]);
    assert!(now_ms() >= send_at, "release timer handed out early");

    assert!(release_scheduled(store.as_ref(), &scheduled.id)
        .await
        .unwrap());
    assert!(
        !release_scheduled(store.as_ref(), &scheduled.id)
            .await
            .unwrap(),
        "released twice"
    );
    let taken: Vec<MessageId> = take_mts_arriving(store.as_ref()).await;
    assert_eq!(taken, [scheduled.id.clone()]);
    assert!(store.take_mts("sim", 10).await.unwrap().is_empty());
}

pub async fn a_cancelled_scheduled_mt_is_never_released(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let mut scheduled = mt(&ids, Priority::Bulk, 1);
    scheduled.timing.send_at_ms = Some(now_ms() + 3_600_000);
    store.accept_mt(scheduled.clone(), None).await.unwrap();
    store.cancel_mt("acme", &scheduled.id).await.unwrap();
    assert!(!release_scheduled(store.as_ref(), &scheduled.id)
        .await
        .unwrap());
    assert!(store.take_mts("sim", 10).await.unwrap().is_empty());
    let record = store.message(&scheduled.id).await.unwrap().unwrap();
    assert_eq!((record.state, record.held), (MessageState::Deleted, false));
}

pub async fn an_mt_still_queued_when_its_validity_ends_expires_with_one_receipt(
    store: Arc<dyn Store>,
) {
    let ids = IdGenerator::new("a", "n1");
    let mut short_lived = mt(&ids, Priority::Bulk, 2);
    let valid_until = now_ms() + 1_000;
    short_lived.timing.valid_until_ms = Some(valid_until);
    store.accept_mt(short_lived.clone(), None).await.unwrap();
    let timers = timers_arriving(store.as_ref(), &timer_account(valid_until), 1).await;
    assert_eq!(timers, [TimerAction::Expire(short_lived.id.clone())]);

    assert!(expire_mt(store.as_ref(), &short_lived.id, false)
        .await
        .unwrap());
    assert!(
        !expire_mt(store.as_ref(), &short_lived.id, false)
            .await
            .unwrap(),
        "expired twice"
    );
    let record = store.message(&short_lived.id).await.unwrap().unwrap();
    assert_eq!(record.state, MessageState::Expired);
    assert!(record
        .parts
        .iter()
        .all(|p| p.state == Some(MessageState::Expired)));
    let receipts = receipts_arriving_in_outbox(store.as_ref(), "acme").await;
    let states: Vec<_> = receipts
        .iter()
        .map(|(_, r)| (r.state, r.result_code))
        .collect();
    assert_eq!(states, [(MessageState::Expired, 1)]);
    assert!(
        store.take_mts("sim", 10).await.unwrap().is_empty(),
        "an expired MT was handed out"
    );
}

pub async fn a_submitted_mt_does_not_expire(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let mut message = mt(&ids, Priority::Bulk, 1);
    message.timing.valid_until_ms = Some(now_ms() + 3_600_000);
    store.accept_mt(message.clone(), None).await.unwrap();
    take_mts_arriving(store.as_ref()).await;
    store
        .mt_submitted(&message.id, "sim", vec!["c-9".into()])
        .await
        .unwrap();
    assert!(!expire_mt(store.as_ref(), &message.id, false).await.unwrap());
    let record = store.message(&message.id).await.unwrap().unwrap();
    assert_eq!(record.state, MessageState::Enroute);
}

pub async fn no_final_receipt_in_time_ends_the_mt_unknown_once_and_a_late_one_joins_its_history(
    store: Arc<dyn Store>,
) {
    let ids = IdGenerator::new("a", "n1");
    let message = mt(&ids, Priority::Bulk, 2);
    store.accept_mt(message.clone(), None).await.unwrap();
    take_mts_arriving(store.as_ref()).await;
    let submitted_at = now_ms();
    receipts::mt_submitted(
        store.as_ref(),
        &message.id,
        "sim",
        vec!["c-1".into(), "c-2".into()],
        Some(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    // One part's receipt came; the other's never does.
    store
        .carrier_receipt("sim", receipt("c-1", MessageState::Delivered))
        .await
        .unwrap();
    let timers = timers_arriving(store.as_ref(), &timer_account(submitted_at + 1_000), 1).await;
    assert_eq!(timers, [TimerAction::DrTimeout(message.id.clone())]);

    assert!(dr_timed_out(store.as_ref(), &message.id).await.unwrap());
    assert!(
        !dr_timed_out(store.as_ref(), &message.id).await.unwrap(),
        "timed out twice"
    );
    let record = store.message(&message.id).await.unwrap().unwrap();
    assert_eq!(record.state, MessageState::Unknown);
    assert_eq!(record.parts[0].state, Some(MessageState::Delivered));
    assert_eq!(record.parts[1].state, Some(MessageState::Unknown));

    let late = store
        .carrier_receipt("sim", receipt("c-2", MessageState::Delivered))
        .await
        .unwrap();
    assert_eq!(
        late,
        ReceiptOutcome::Applied {
            id: message.id.clone(),
            final_state: None
        }
    );
    let record = store.message(&message.id).await.unwrap().unwrap();
    assert_eq!(
        record.state,
        MessageState::Unknown,
        "a late receipt changed the final state"
    );
    let delivered = record
        .history
        .iter()
        .filter(|h| h.state == MessageState::Delivered)
        .count();
    assert_eq!(delivered, 2, "the late receipt is in the history");
    let receipts = receipts_arriving_in_outbox(store.as_ref(), "acme").await;
    let states: Vec<_> = receipts.iter().map(|(_, r)| r.state).collect();
    assert_eq!(states, [MessageState::Unknown], "one final receipt");
    assert!(store.take_outbox("acme", 10).await.unwrap().is_empty());
}

pub async fn a_final_receipt_in_time_leaves_the_dr_timeout_nothing_to_do(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let message = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(message.clone(), None).await.unwrap();
    take_mts_arriving(store.as_ref()).await;
    receipts::mt_submitted(
        store.as_ref(),
        &message.id,
        "sim",
        vec!["c-5".into()],
        Some(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    store
        .carrier_receipt("sim", receipt("c-5", MessageState::Delivered))
        .await
        .unwrap();
    assert!(!dr_timed_out(store.as_ref(), &message.id).await.unwrap());
    let record = store.message(&message.id).await.unwrap().unwrap();
    assert_eq!(record.state, MessageState::Delivered);
}

/// The MTs a take hands out within 5 s (a replicated store may apply a commit a moment later).
async fn take_mts_arriving(store: &dyn Store) -> Vec<MessageId> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let taken = store.take_mts("sim", 10).await.unwrap();
        if !taken.is_empty() || tokio::time::Instant::now() >= deadline {
            return taken.into_iter().map(|m| m.id).collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
