//! Multipart MO part sets: the primitive (a set read with its version, written and removed
//! by changes guarded by it, swept by retention) and the flow on it (`upstream::mo_parts`):
//! each place stored once, one whole MO however the last parts race, an incomplete set
//! delivered part by part once.

use std::{sync::Arc, time::Duration};

use smsgw::{
    message::{now_ms, timer_account, MoPart, MoSegments, OutboxItem, TimerAction},
    store::{Change, Committed, PartSet, PartSetKey, Store},
    upstream::{
        mo::MoIdentity,
        mo_parts::{
            carrier_mo_part, deliver_incomplete, IncompleteOutcome, IncompleteSet, PartOutcome,
            ReceivedPart,
        },
    },
};

use super::outbox_arriving;

const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a set waits for its missing parts in these tests.
const INCOMPLETE_AFTER: Duration = Duration::from_millis(1500);

fn key(reference: u16, total: u8) -> PartSetKey {
    PartSetKey {
        connector: "sim".into(),
        source: "447700900001".into(),
        destination: "12345".into(),
        reference,
        total,
    }
}

/// Part `seq` of the set `key`, with `text` as its (GSM default alphabet, one octet a
/// character) user data and an 8-bit concatenation UDH.
fn part(key: &PartSetKey, seq: u8, text: &str) -> ReceivedPart {
    ReceivedPart {
        key: key.clone(),
        account: "acme".into(),
        data_coding: 0,
        sar: false,
        part: MoPart {
            seq,
            udh: vec![5, 0, 3, key.reference as u8, key.total, seq],
            payload: text.as_bytes().to_vec(),
            id: format!("mo-{}-{seq}-{text}", key.reference),
            received_at_ms: now_ms(),
        },
    }
}

fn pdu(n: u32) -> MoIdentity {
    MoIdentity::Pdu {
        bind: "n1.7".into(),
        sequence_number: n,
        pdu_digest: format!("digest-{n}"),
    }
}

async fn add(store: &dyn Store, identity: MoIdentity, part: &ReceivedPart) -> PartOutcome {
    carrier_mo_part(store, &identity, TIMEOUT, INCOMPLETE_AFTER, part)
        .await
        .unwrap()
}

fn set(key: &PartSetKey, seqs: &[u8]) -> PartSet {
    PartSet {
        account: "acme".into(),
        segments: MoSegments {
            data_coding: 0,
            reference: key.reference,
            total: key.total,
            sar: false,
            parts: seqs.iter().map(|&seq| part(key, seq, "x").part).collect(),
        },
        started_ms: now_ms(),
    }
}

pub async fn a_part_set_changes_only_at_the_version_read(store: Arc<dyn Store>) {
    let key = key(1, 3);
    let read = store.part_set(&key).await.unwrap();
    assert_eq!(read.value, None);
    let write = |seqs: &[u8], version: u64| {
        let mut change = Change::default();
        change.put_part_set(key.clone(), set(&key, seqs), version);
        change
    };
    assert_eq!(
        store.commit(write(&[1], read.version)).await.unwrap(),
        Committed::Done
    );
    // Another node that read "no set" too is refused: it reads again.
    assert_eq!(
        store.commit(write(&[2], read.version)).await.unwrap(),
        Committed::Conflict
    );
    let one = store.part_set(&key).await.unwrap();
    let held = one.value.as_ref().unwrap();
    let seqs: Vec<u8> = held.segments.parts.iter().map(|part| part.seq).collect();
    assert_eq!((seqs, held.account.as_str()), (vec![1], "acme"));
    assert_eq!(
        store.commit(write(&[1, 2], one.version)).await.unwrap(),
        Committed::Done
    );
    let two = store.part_set(&key).await.unwrap();
    assert_ne!(two.version, one.version);
    let mut stale_remove = Change::default();
    stale_remove.remove_part_set(key.clone(), one.version);
    assert_eq!(
        store.commit(stale_remove).await.unwrap(),
        Committed::Conflict
    );
    let mut remove = Change::default();
    remove.remove_part_set(key.clone(), two.version);
    assert_eq!(store.commit(remove).await.unwrap(), Committed::Done);
    let gone = store.part_set(&key).await.unwrap();
    assert_eq!(gone.value, None);
    // A reader of the removed set cannot write it back.
    assert_eq!(
        store.commit(write(&[1, 2, 3], two.version)).await.unwrap(),
        Committed::Conflict
    );
    // Another set (other reference, other total) was never touched.
    assert_eq!(store.part_set(&self::key(1, 4)).await.unwrap().value, None);
    // The key begins a new set.
    let again = store.part_set(&key).await.unwrap();
    assert_eq!(
        store.commit(write(&[3], again.version)).await.unwrap(),
        Committed::Done
    );
    assert!(store.part_set(&key).await.unwrap().value.is_some());
}

pub async fn mo_parts_are_kept_once_and_delivered_whole(store: Arc<dyn Store>) {
    let key = key(7, 3);
    let (third, first, second) = (
        part(&key, 3, "!"),
        part(&key, 1, "Hello"),
        part(&key, 2, ", world"),
    );
    // Out of order; the first to come begins the set (its timer is armed from it).
    match add(&*store, pdu(1), &third).await {
        PartOutcome::Waiting {
            received: 1,
            began: Some(began),
        } => assert_eq!(began.key, key),
        other => panic!("{other:?}"),
    }
    // The carrier resends that PDU (our answer lost): nothing changes.
    assert_eq!(add(&*store, pdu(1), &third).await, PartOutcome::Duplicate);
    assert_eq!(
        add(&*store, pdu(2), &first).await,
        PartOutcome::Waiting {
            received: 2,
            began: None
        }
    );
    // Another PDU for place 1 (a resend on a new bind): the first is kept.
    let mut again = part(&key, 1, "HELLO");
    again.part.id = "mo-other".into();
    assert_eq!(add(&*store, pdu(3), &again).await, PartOutcome::AlreadyHeld);
    assert_eq!(add(&*store, pdu(3), &again).await, PartOutcome::Duplicate);
    let whole = match add(&*store, pdu(4), &second).await {
        PartOutcome::Complete(mo) => mo,
        other => panic!("{other:?}"),
    };
    assert_eq!(whole.text, "Hello, world!");
    assert_eq!(store.part_set(&key).await.unwrap().value, None);
    let entries = outbox_arriving(store.as_ref(), "acme", 1).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    let OutboxItem::Mo(mo) = &entries[0].item else {
        panic!("{entries:?}")
    };
    assert_eq!(mo, &whole);
    let segments = mo.segments.as_ref().unwrap();
    assert_eq!(
        segments.parts.iter().map(|p| p.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(segments.parts[0].udh, [5, 0, 3, 7, 3, 1]);
    assert_eq!(segments.parts[0].payload, b"Hello");
    // The last part resent after the set is gone: still a duplicate, no new set.
    assert_eq!(add(&*store, pdu(4), &second).await, PartOutcome::Duplicate);
    assert_eq!(store.part_set(&key).await.unwrap().value, None);
}

pub async fn the_last_parts_racing_make_one_whole_mo(store: Arc<dyn Store>) {
    for reference in 0..5u16 {
        let key = key(100 + reference, 3);
        add(
            &*store,
            pdu(1000 + u32::from(reference)),
            &part(&key, 1, "a"),
        )
        .await;
        let racing = [2u8, 3].map(|seq| {
            let (store, key) = (store.clone(), key.clone());
            tokio::spawn(async move {
                let identity = pdu(2000 + u32::from(reference) * 10 + u32::from(seq));
                add(&*store, identity, &part(&key, seq, "b")).await
            })
        });
        let mut whole = 0;
        for handle in racing {
            if let PartOutcome::Complete(_) = handle.await.unwrap() {
                whole += 1;
            }
        }
        assert_eq!(whole, 1, "set {reference}");
    }
    let entries = outbox_arriving(store.as_ref(), "acme", 5).await;
    assert_eq!(entries.len(), 5, "{entries:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(store.take_outbox("acme", 100).await.unwrap().is_empty());
}

pub async fn an_incomplete_set_is_delivered_part_by_part_once(store: Arc<dyn Store>) {
    let key = key(9, 3);
    let began = match add(&*store, pdu(1), &part(&key, 3, "three")).await {
        PartOutcome::Waiting {
            began: Some(began), ..
        } => began,
        other => panic!("{other:?}"),
    };
    add(&*store, pdu(2), &part(&key, 1, "one")).await;
    // The part that began the set wrote its timeout, due INCOMPLETE_AFTER later.
    let due_ms = began.started_ms + INCOMPLETE_AFTER.as_millis() as u64;
    let timers = outbox_arriving(store.as_ref(), &timer_account(due_ms), 1).await;
    let actions: Vec<&TimerAction> = timers
        .iter()
        .filter_map(|entry| match &entry.item {
            OutboxItem::Timer(timer) => Some(&timer.action),
            _ => None,
        })
        .collect();
    assert_eq!(actions, [&TimerAction::MoIncomplete(began.clone())]);
    assert!(now_ms() >= due_ms, "the set's timer was handed out early");
    // A timer of an older set under the same key finds another set: nothing.
    let older = IncompleteSet {
        started_ms: began.started_ms - 1,
        ..began.clone()
    };
    assert_eq!(
        deliver_incomplete(&*store, &older).await.unwrap(),
        IncompleteOutcome::Gone
    );
    assert_eq!(
        deliver_incomplete(&*store, &began).await.unwrap(),
        IncompleteOutcome::Delivered(2)
    );
    // Fired again (two nodes, or a retry): once.
    assert_eq!(
        deliver_incomplete(&*store, &began).await.unwrap(),
        IncompleteOutcome::Gone
    );
    let entries = outbox_arriving(store.as_ref(), "acme", 2).await;
    let parts: Vec<(String, u8, Vec<u8>)> = entries
        .iter()
        .map(|entry| match &entry.item {
            OutboxItem::Mo(mo) => {
                let segments = mo.segments.as_ref().unwrap();
                assert_eq!((segments.total, segments.parts.len()), (3, 1));
                (
                    mo.text.clone(),
                    segments.parts[0].seq,
                    segments.parts[0].udh.clone(),
                )
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        parts,
        [
            ("one".to_owned(), 1, vec![5, 0, 3, 9, 3, 1]),
            ("three".to_owned(), 3, vec![5, 0, 3, 9, 3, 3])
        ]
    );
    // A late part begins a new set rather than completing the delivered one.
    assert!(matches!(
        add(&*store, pdu(3), &part(&key, 2, "two")).await,
        PartOutcome::Waiting {
            received: 1,
            began: Some(_)
        }
    ));

    // A set completed before its timer fires: the timer does nothing.
    let done = self::key(10, 2);
    let timer = match add(&*store, pdu(10), &part(&done, 1, "a")).await {
        PartOutcome::Waiting {
            began: Some(began), ..
        } => began,
        other => panic!("{other:?}"),
    };
    add(&*store, pdu(11), &part(&done, 2, "b")).await;
    assert_eq!(
        deliver_incomplete(&*store, &timer).await.unwrap(),
        IncompleteOutcome::Gone
    );
}

pub async fn sweep_removes_part_sets_older_than_the_retention(store: Arc<dyn Store>) {
    let old = key(20, 2);
    add(&*store, pdu(1), &part(&old, 1, "old")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fresh = key(21, 2);
    add(&*store, pdu(2), &part(&fresh, 1, "new")).await;
    let swept = store.sweep(Duration::from_secs(1)).await.unwrap();
    assert_eq!(swept.part_sets, 1, "{swept:?}");
    assert_eq!(store.part_set(&old).await.unwrap().value, None);
    assert!(store.part_set(&fresh).await.unwrap().value.is_some());
}
