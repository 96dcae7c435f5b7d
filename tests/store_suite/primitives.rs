//! The store's primitives, once per backend: a change is all or nothing, a held claim refuses
//! it until the claim expires, a record's version guard makes concurrent read-modify-write
//! lose nothing, and the carrier-id guards see what was committed.

use std::{sync::Arc, time::Duration};

use smsgw::{
    message::{IdGenerator, MessageState, OutboxItem, Priority},
    store::{
        CarrierIdRecord, CarrierKey, Change, ClaimSpace, Committed, Guard, HistoryEntry,
        MessageRecord, Store, Write,
    },
    upstream::receipts::client_receipt,
};

use super::{mt, receipt, Flows};

fn key(carrier_id: &str) -> CarrierKey {
    CarrierKey {
        connector: "sim".into(),
        carrier_id: carrier_id.into(),
    }
}

pub async fn a_change_is_all_or_nothing(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let message = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(message.clone(), None).await.unwrap();
    let found = store.record(&message.id).await.unwrap().unwrap();
    assert!(found.version > 0, "a stored record has a version");

    // Built on a version that is not the current one: nothing of it may land.
    let mut stale = found.value.clone();
    stale.state = MessageState::Delivered;
    let mut change = Change::default();
    change
        .put_record(stale, found.version + 7)
        .write(Write::Outbox(OutboxItem::Receipt(client_receipt(
            &found.value,
            MessageState::Delivered,
            String::new(),
            1,
        ))))
        .write(Write::MapCarrierId {
            key: key("x-1"),
            mapping: CarrierIdRecord {
                message_id: message.id.clone(),
                part: 0,
                created_ms: 1,
            },
        });
    assert_eq!(store.commit(change).await.unwrap(), Committed::Conflict);
    let after = store.record(&message.id).await.unwrap().unwrap();
    assert_eq!(after, found, "the record is untouched");
    assert!(
        store.outbox_depths().await.unwrap().is_empty(),
        "no outbox entry"
    );
    assert!(store.carrier_target(&key("x-1")).await.unwrap().is_none());

    // The same change on the version read lands whole, and bumps the version.
    let mut fresh = found.value.clone();
    fresh.state = MessageState::Enroute;
    let mut change = Change::default();
    change
        .put_record(fresh, found.version)
        .write(Write::MapCarrierId {
            key: key("x-1"),
            mapping: CarrierIdRecord {
                message_id: message.id.clone(),
                part: 0,
                created_ms: 1,
            },
        });
    assert_eq!(store.commit(change).await.unwrap(), Committed::Done);
    let (mapping, target) = store.carrier_target(&key("x-1")).await.unwrap().unwrap();
    assert_eq!(mapping.message_id, message.id);
    assert_eq!(target.value.state, MessageState::Enroute);
    // Opaque, but it moves on with every write (NATS: the stream sequence, not a count).
    assert!(
        target.version > found.version,
        "{} then {}",
        found.version,
        target.version
    );
}

pub async fn a_held_claim_refuses_the_change_until_it_expires(store: Arc<dyn Store>) {
    let space = ClaimSpace::MoDedupe;
    let claim = |value: &str, ttl: Duration| {
        let mut change = Change::acknowledged();
        change.claim(space.clone(), "k-1", value, ttl);
        change
    };
    assert_eq!(
        store
            .commit(claim("first", Duration::from_millis(300)))
            .await
            .unwrap(),
        Committed::Done
    );
    assert_eq!(
        store.claimed(&space, "k-1").await.unwrap().as_deref(),
        Some("first")
    );
    assert_eq!(
        store
            .commit(claim("second", Duration::from_secs(60)))
            .await
            .unwrap(),
        Committed::Claimed
    );
    assert_eq!(
        store.claimed(&space, "k-1").await.unwrap().as_deref(),
        Some("first"),
        "a refused claim does not replace the holder's value"
    );
    // Another space is another key.
    assert_eq!(
        store
            .claimed(&ClaimSpace::ReceiptDedupe, "k-1")
            .await
            .unwrap(),
        None
    );
    // Only "at least 300 ms later" matters here, so a slow machine cannot break it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(store.claimed(&space, "k-1").await.unwrap(), None, "expired");
    assert_eq!(
        store
            .commit(claim("third", Duration::from_secs(60)))
            .await
            .unwrap(),
        Committed::Done
    );
}

pub async fn concurrent_record_updates_are_never_lost(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let message = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(message.clone(), None).await.unwrap();
    let writers = 16;
    // Every writer reads before any commits, so all but one first attempt are built on a
    // version that is gone by their commit.
    let all_read = Arc::new(tokio::sync::Barrier::new(writers as usize));
    let tasks: Vec<_> = (0..writers)
        .map(|n| {
            let store = store.clone();
            let id = message.id.clone();
            let all_read = all_read.clone();
            tokio::spawn(async move {
                let mut conflicts = 0;
                loop {
                    let found = store.record(&id).await.unwrap().unwrap();
                    if conflicts == 0 {
                        all_read.wait().await;
                    }
                    let mut record: MessageRecord = found.value;
                    record.history.push(HistoryEntry {
                        state: MessageState::Enroute,
                        error: format!("writer {n}"),
                        at_ms: n,
                        part: None,
                    });
                    let mut change = Change::default();
                    change.put_record(record, found.version);
                    match store.commit(change).await.unwrap() {
                        Committed::Done => return conflicts,
                        Committed::Conflict => conflicts += 1,
                        Committed::Claimed => panic!("no claim in this change"),
                    }
                }
            })
        })
        .collect();
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.unwrap();
    }
    assert!(conflicts >= writers - 1, "only {conflicts} conflicts");
    let record = store.message(&message.id).await.unwrap().unwrap();
    for n in 0..writers {
        assert!(
            record
                .history
                .iter()
                .any(|h| h.error == format!("writer {n}")),
            "writer {n}'s update was lost: {:?}",
            record.history
        );
    }
}

pub async fn carrier_id_guards_see_what_was_committed(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let message = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(message.clone(), None).await.unwrap();
    let park = |carrier_id: &str| {
        let mut change = Change::default();
        change
            .guard(Guard::Unmapped(key(carrier_id)))
            .write(Write::Park {
                key: key(carrier_id),
                receipt: receipt(carrier_id, MessageState::Delivered),
            });
        change
    };
    assert_eq!(store.commit(park("p-1")).await.unwrap(), Committed::Done);
    assert_eq!(store.commit(park("p-1")).await.unwrap(), Committed::Done);
    let (_, parked) = store
        .record_with_parked(&message.id, &[key("p-1"), key("p-2")])
        .await
        .unwrap();
    assert_eq!(parked.iter().map(Vec::len).collect::<Vec<_>>(), [2, 0]);

    // A count that is not the committed one is a conflict.
    let mut change = Change::default();
    change
        .guard(Guard::ParkedCount {
            key: key("p-1"),
            count: 1,
        })
        .write(Write::Unpark(key("p-1")));
    assert_eq!(store.commit(change).await.unwrap(), Committed::Conflict);

    // Once mapped, parking under the id conflicts.
    let mut change = Change::default();
    change
        .guard(Guard::ParkedCount {
            key: key("p-1"),
            count: 2,
        })
        .write(Write::Unpark(key("p-1")))
        .write(Write::MapCarrierId {
            key: key("p-1"),
            mapping: CarrierIdRecord {
                message_id: message.id.clone(),
                part: 0,
                created_ms: 1,
            },
        });
    assert_eq!(store.commit(change).await.unwrap(), Committed::Done);
    assert_eq!(
        store.commit(park("p-1")).await.unwrap(),
        Committed::Conflict
    );
    let (_, parked) = store
        .record_with_parked(&message.id, &[key("p-1")])
        .await
        .unwrap();
    assert_eq!(parked, [Vec::new()]);
}
