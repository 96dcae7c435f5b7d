//! The event log's contract on every store: each state change's events are written in the
//! change that makes it (so they exist exactly when the state does), once per change, as
//! the node's filter says; none at all without an event log.

use std::{collections::HashSet, sync::Arc, time::Duration};

use smsgw::{
    event::{Event, EventFilter, EventKind, EVENTS_ACCOUNT},
    message::{now_ms, IdGenerator, MessageState, Mo, OutboxItem, Priority},
    store::Store,
    upstream::mo::MoIdentity,
};

use super::{mt, receipt, Flows};

/// The events waiting in the store, in the order written, until `want` came or `within`.
async fn events_arriving(store: &dyn Store, want: usize, within: Duration) -> Vec<Event> {
    let deadline = tokio::time::Instant::now() + within;
    let mut events = Vec::new();
    while events.len() < want && tokio::time::Instant::now() < deadline {
        let entries = store.take_outbox(EVENTS_ACCOUNT, 100).await.unwrap();
        if entries.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for entry in &entries {
            let OutboxItem::Events { events: written } = &entry.item else {
                panic!("not events: {entry:?}");
            };
            events.extend(written.iter().cloned());
        }
        // As the logger does: a batch done at once.
        let seqs: Vec<u64> = entries.iter().map(|entry| entry.seq).collect();
        store.outbox_done_many(EVENTS_ACCOUNT, &seqs).await.unwrap();
    }
    events
}

fn mo(id: &str) -> Mo {
    Mo {
        id: id.into(),
        account: "acme".into(),
        source: "447700900001".into(),
        destination: "12345".into(),
        text: "YES".into(),
        connector: "sim".into(),
        received_at_ms: now_ms(),
        segments: None,
    }
}

pub async fn every_state_change_of_an_mt_is_an_event_written_with_it(store: Arc<dyn Store>) {
    store.events().set(EventFilter::all());
    let ids = IdGenerator::new("a", "n1");
    let two_parts = mt(&ids, Priority::Bulk, 2);
    store.accept_mt(two_parts.clone(), None).await.unwrap();
    store.take_mts("sim", 1).await.unwrap();
    store
        .mt_submitted(&two_parts.id, "sim", vec!["c1".into(), "c2".into()])
        .await
        .unwrap();
    store
        .carrier_receipt("sim", receipt("c1", MessageState::Delivered))
        .await
        .unwrap();
    // A carrier resending a receipt is deduped: no second event.
    store
        .carrier_receipt("sim", receipt("c1", MessageState::Delivered))
        .await
        .unwrap();
    store
        .carrier_receipt("sim", receipt("c2", MessageState::Undeliverable))
        .await
        .unwrap();
    let identity = MoIdentity::CarrierId("m1".into());
    store
        .carrier_mo(&identity, Duration::from_secs(10), mo("mo-1"))
        .await
        .unwrap();
    store
        .carrier_mo(&identity, Duration::from_secs(10), mo("mo-1"))
        .await
        .unwrap();

    let events = events_arriving(store.as_ref(), 7, Duration::from_secs(10)).await;
    let kinds: Vec<(EventKind, Option<u8>)> = events.iter().map(|e| (e.kind, e.part)).collect();
    assert_eq!(
        kinds,
        [
            (EventKind::Accepted, None),
            (EventKind::Submitted, Some(1)),
            (EventKind::Submitted, Some(2)),
            (EventKind::Receipt, Some(1)),
            (EventKind::Receipt, Some(2)),
            (EventKind::Final, None),
            (EventKind::Mo, None),
        ],
        "{events:#?}"
    );
    let unique: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(unique.len(), events.len(), "event ids are unique");
    let id = two_parts.id.as_str();
    for event in &events[..6] {
        assert_eq!(event.message_id.as_deref(), Some(id));
        assert_eq!(event.account, "acme");
        assert_eq!(event.parts, Some(2), "{event:?}");
        assert_eq!(event.data_coding, Some(0), "GSM 7-bit: {event:?}");
    }
    let carrier_ids: Vec<Option<&str>> = events[1..5]
        .iter()
        .map(|e| e.carrier_id.as_deref())
        .collect();
    assert_eq!(
        carrier_ids,
        [Some("c1"), Some("c2"), Some("c1"), Some("c2")]
    );
    assert_eq!(events[1].connector.as_deref(), Some("sim"));
    assert_eq!(events[4].state, Some(MessageState::Undeliverable));
    assert_eq!(
        events[5].state,
        Some(MessageState::Undeliverable),
        "the worst part's state is the MT's"
    );
    assert_eq!(events[6].message_id.as_deref(), Some("mo-1"));
    let more = events_arriving(store.as_ref(), 1, Duration::from_secs(1)).await;
    assert!(more.is_empty(), "{more:?}");
    let left: Vec<(String, usize)> = store
        .outbox_depths()
        .await
        .unwrap()
        .into_iter()
        .filter(|(account, depth)| account == EVENTS_ACCOUNT && *depth > 0)
        .collect();
    assert!(left.is_empty(), "a batch done at once is gone: {left:?}");
}

pub async fn without_an_event_log_no_events_are_written_and_filters_keep_what_they_name(
    store: Arc<dyn Store>,
) {
    let ids = IdGenerator::new("a", "n1");
    let unlogged = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(unlogged, None).await.unwrap();
    store.events().set(EventFilter {
        kinds: Some([EventKind::Accepted].into()),
        accounts: Some(["other".to_owned()].into()),
    });
    let not_other = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(not_other, None).await.unwrap();
    let mut others = mt(&ids, Priority::Bulk, 1);
    others.account = "other".into();
    store.accept_mt(others.clone(), None).await.unwrap();
    store.take_mts("sim", 3).await.unwrap();
    store
        .mt_submitted(&others.id, "sim", vec!["c5".into()])
        .await
        .unwrap();
    let events = events_arriving(store.as_ref(), 1, Duration::from_secs(10)).await;
    let more = events_arriving(store.as_ref(), 1, Duration::from_secs(1)).await;
    assert!(more.is_empty(), "{more:?}");
    let kept: Vec<(EventKind, &str)> = events
        .iter()
        .map(|e| (e.kind, e.message_id.as_deref().unwrap_or_default()))
        .collect();
    assert_eq!(kept, [(EventKind::Accepted, others.id.as_str())]);
}
