//! The contract of durable timers on every store: an outbox entry written with a due time is
//! not taken before it, does not hold back one due earlier, and is taken once due.

use std::{sync::Arc, time::Duration};

use smsgw::{
    message::{now_ms, MessageId, OutboxItem, Timer, TimerKind},
    store::{Change, Committed, Store, Write},
};

async fn write_timer(store: &dyn Store, timer: Timer) {
    let mut change = Change::default();
    change.write(Write::Outbox(OutboxItem::Timer(timer)));
    assert_eq!(store.commit(change).await.unwrap(), Committed::Done);
}

pub async fn a_timer_is_taken_only_once_due_and_holds_back_no_earlier_one(store: Arc<dyn Store>) {
    let later = Timer::new(
        TimerKind::DrTimeout,
        MessageId("later".into()),
        now_ms() + 2_000,
    );
    let account = later.account.clone();
    let due_at = later.due_ms;
    write_timer(store.as_ref(), later).await;
    // Written after it, due at once, in the same timer account.
    let mut sooner = Timer::new(TimerKind::Expire, MessageId("sooner".into()), now_ms());
    sooner.account = account.clone();
    write_timer(store.as_ref(), sooner).await;

    let mut taken = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        for entry in store.take_outbox(&account, 10).await.unwrap() {
            let OutboxItem::Timer(timer) = &entry.item else {
                panic!("not a timer: {entry:?}");
            };
            taken.push((timer.message_id.to_string(), now_ms()));
            store.outbox_done(&account, entry.seq).await.unwrap();
        }
        if taken.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let order: Vec<&str> = taken.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(order, ["sooner", "later"], "taken: {taken:?}");
    assert!(
        taken[1].1 >= due_at,
        "taken {} ms before it was due",
        due_at - taken[1].1
    );
    assert!(store.take_outbox(&account, 10).await.unwrap().is_empty());
}
