//! The contract of the `lifecycle` flows (query_sm, cancel_sm, replace_sm) on every store:
//! only the sender sees or changes its MT, only while it is queued, and a queue taker on
//! every backend passes over an MT that was cancelled while queued.

use std::sync::Arc;

use smsgw::{
    lifecycle::{LifecycleError, NewBody},
    message::{IdGenerator, MessageId, MessageState, Mt, Payload, Priority},
    store::Store,
};

use super::{mt, receipt, receipts_in_outbox, Flows};

/// An MT as a submit_sm brings it: its body passed through.
fn smpp_mt(ids: &IdGenerator, text: &str) -> Mt {
    let mut message = mt(ids, Priority::Bulk, 1);
    message.payload = Payload::Pdu {
        data_coding: 0,
        esm_class: 0,
        short_message: text.as_bytes().to_vec(),
        message_payload: None,
        sar: None,
    };
    message
}

fn new_text(text: &str) -> NewBody {
    NewBody {
        short_message: text.as_bytes().to_vec(),
        message_payload: None,
    }
}

fn short_message(mt: &Mt) -> &[u8] {
    match &mt.payload {
        Payload::Pdu { short_message, .. } => short_message,
        Payload::Text(_) => panic!("not an SMPP MT"),
    }
}

pub async fn a_cancelled_mt_is_deleted_with_its_receipt_and_never_taken(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let cancelled = mt(&ids, Priority::Bulk, 2);
    let next = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(cancelled.clone(), None).await.unwrap();
    store.accept_mt(next.clone(), None).await.unwrap();

    store.cancel_mt("acme", &cancelled.id).await.unwrap();

    let record = store.message(&cancelled.id).await.unwrap().unwrap();
    assert_eq!(record.state, MessageState::Deleted);
    assert!(record
        .parts
        .iter()
        .all(|p| p.state == Some(MessageState::Deleted)));
    let receipts = receipts_in_outbox(store.as_ref(), "acme").await;
    assert_eq!(receipts.len(), 1, "one receipt for a cancelled MT");
    let dr = &receipts[0].1;
    assert_eq!(
        (&dr.message_id, dr.state, dr.result_code),
        (&cancelled.id, MessageState::Deleted, 1)
    );
    let taken: Vec<MessageId> = store
        .take_mts("sim", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(taken, [next.id], "a cancelled MT was handed out");
    assert!(store.take_mts("sim", 10).await.unwrap().is_empty());
    assert!(matches!(
        store.cancel_mt("acme", &cancelled.id).await,
        Err(LifecycleError::TooLate {
            state: MessageState::Deleted,
            ..
        })
    ));
    let status = store.query_mt("acme", &cancelled.id).await.unwrap();
    assert_eq!(status.state, MessageState::Deleted);
    assert!(status.final_at_ms.is_some());
}

pub async fn only_the_sender_sees_or_changes_its_mt(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let message = smpp_mt(&ids, "hello");
    store.accept_mt(message.clone(), None).await.unwrap();

    let own = store.query_mt("acme", &message.id).await.unwrap();
    assert_eq!(
        (own.state, own.final_at_ms, own.error.as_str()),
        (MessageState::Accepted, None, "")
    );
    let unknown = MessageId("a-n1-0-zzz".into());
    let empty = MessageId(String::new());
    for id in [&message.id, &unknown, &empty] {
        let account = if id == &message.id { "other" } else { "acme" };
        assert!(matches!(
            store.query_mt(account, id).await,
            Err(LifecycleError::NotFound(_))
        ));
        assert!(matches!(
            store.cancel_mt(account, id).await,
            Err(LifecycleError::NotFound(_))
        ));
        assert!(matches!(
            store.replace_mt(account, id, new_text("mine now")).await,
            Err(LifecycleError::NotFound(_))
        ));
    }
    let taken = store.take_mts("sim", 10).await.unwrap();
    assert_eq!(taken, [message], "another account changed the MT");
}

pub async fn a_submitted_mt_is_too_late_to_cancel_or_replace(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let message = smpp_mt(&ids, "hello");
    store.accept_mt(message.clone(), None).await.unwrap();
    store.take_mts("sim", 1).await.unwrap();
    store
        .mt_submitted(&message.id, "sim", vec!["c-9".into()])
        .await
        .unwrap();
    assert!(matches!(
        store.cancel_mt("acme", &message.id).await,
        Err(LifecycleError::TooLate {
            state: MessageState::Enroute,
            ..
        })
    ));
    assert!(matches!(
        store
            .replace_mt("acme", &message.id, new_text("late"))
            .await,
        Err(LifecycleError::TooLate { .. })
    ));
    assert_eq!(
        store.query_mt("acme", &message.id).await.unwrap().state,
        MessageState::Enroute
    );
    store
        .carrier_receipt("sim", receipt("c-9", MessageState::Undeliverable))
        .await
        .unwrap();
    let status = store.query_mt("acme", &message.id).await.unwrap();
    assert_eq!(
        (status.state, status.error.as_str()),
        (MessageState::Undeliverable, "001")
    );
    assert!(status.final_at_ms.is_some());
    assert!(matches!(
        store.cancel_mt("acme", &message.id).await,
        Err(LifecycleError::TooLate { .. })
    ));
}

pub async fn a_replaced_mt_is_taken_with_its_new_body(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let message = smpp_mt(&ids, "first text");
    store.accept_mt(message.clone(), None).await.unwrap();
    store
        .replace_mt("acme", &message.id, new_text("second text"))
        .await
        .unwrap();
    let taken = store.take_mts("sim", 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(short_message(&taken[0]), b"second text");
    assert_eq!(
        (&taken[0].destination, taken[0].receipt),
        (&message.destination, message.receipt),
        "only the body changes"
    );

    let from_http = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(from_http.clone(), None).await.unwrap();
    assert!(matches!(
        store.replace_mt("acme", &from_http.id, new_text("x")).await,
        Err(LifecycleError::NotReplaceable(_))
    ));
}

pub async fn a_cancel_that_races_the_submit_keeps_the_mt_deleted(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let message = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(message.clone(), None).await.unwrap();
    // Taken by a worker, cancelled before the worker's submit is recorded.
    assert_eq!(store.take_mts("sim", 1).await.unwrap().len(), 1);
    store.cancel_mt("acme", &message.id).await.unwrap();
    store
        .mt_submitted(&message.id, "sim", vec!["c-7".into()])
        .await
        .unwrap();
    let record = store.message(&message.id).await.unwrap().unwrap();
    assert_eq!(
        record.state,
        MessageState::Deleted,
        "the client was told DELETED"
    );
    store
        .carrier_receipt("sim", receipt("c-7", MessageState::Delivered))
        .await
        .unwrap();
    let receipts = receipts_in_outbox(store.as_ref(), "acme").await;
    assert_eq!(receipts.len(), 1, "a second receipt for a cancelled MT");
    assert_eq!(receipts[0].1.state, MessageState::Deleted);
}
