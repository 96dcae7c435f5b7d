//! What crosses shards in the NATS store (docs/design/multi-site-store.md, "Sharding"), on
//! a store of three shards with connectors `a`, `b`, `c` pinned to shards 0, 1, 2: an MT
//! released from a connector of one shard to one of another moves with its record and is
//! submitted, receipted and read by id from there; an account's outbox gets entries of
//! every shard; an idempotency claim lives in its MT's first connector's shard, so a retry
//! routed to a connector of another shard is a new message there (as documented); the
//! shards' leaders are on three different servers; a move left half done by a dead node is
//! completed by the next read or sweep.

use std::{sync::Arc, time::Duration};

use smsgw::{
    ingest::Acceptance,
    message::{IdGenerator, MessageState, Priority},
    store::Store,
};

use crate::store_suite::{claim, mt, outbox_arriving, receipt, Flows};

/// The pins the store of these tests is made with.
pub const PINS: [(&str, usize); 3] = [("a", 0), ("b", 1), ("c", 2)];

/// An MT of `connectors` with the id the ingest would give it (tagged by the store).
fn routed(store: &dyn Store, ids: &IdGenerator, connectors: &[&str]) -> smsgw::message::Mt {
    let mut message = mt(ids, Priority::Bulk, 1);
    message.connectors = connectors.iter().map(|c| (*c).to_owned()).collect();
    message.id = ids.next_tagged(store.id_tag(connectors[0]).as_deref());
    message
}

/// `a` falls back to `b` (another shard): the MT moves, is taken there and only there, its
/// submit, receipt and client receipt happen in `b`'s shard, and a read by its id (which
/// names `a`'s shard) finds it; a release back to `a` moves it again.
pub async fn an_mt_falls_back_to_a_connector_of_another_shard(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let message = routed(store.as_ref(), &ids, &["a", "b"]);
    assert!(message.id.as_str().ends_with("-s0"), "{}", message.id);
    store.accept_mt(message.clone(), None).await.unwrap();
    assert_eq!(
        store.take_mts("a", 10).await.unwrap(),
        std::slice::from_ref(&message)
    );

    store.release_mt(&message.id, "b").await.unwrap();
    let moved = store.record(&message.id).await.unwrap().unwrap();
    assert_eq!(moved.value.connector.as_deref(), Some("b"));
    assert_eq!(moved.value.state, MessageState::Accepted);
    assert!(store.take_mts("a", 10).await.unwrap().is_empty(), "left a");
    assert_eq!(
        store.queue_depths().await.unwrap(),
        [("a".to_owned(), 0), ("b".to_owned(), 1)]
    );

    // And back again: a record moves as often as its MT does.
    assert_eq!(
        store.take_mts("b", 10).await.unwrap(),
        std::slice::from_ref(&message)
    );
    store.release_mt(&message.id, "a").await.unwrap();
    assert_eq!(
        store.take_mts("a", 10).await.unwrap(),
        std::slice::from_ref(&message)
    );
    store.release_mt(&message.id, "b").await.unwrap();
    assert!(store.take_mts("a", 10).await.unwrap().is_empty());
    assert_eq!(
        store.take_mts("b", 10).await.unwrap(),
        std::slice::from_ref(&message)
    );

    store
        .mt_submitted(&message.id, "b", vec!["cb-1".into()])
        .await
        .unwrap();
    store
        .carrier_receipt("b", receipt("cb-1", MessageState::Delivered))
        .await
        .unwrap();
    let record = store.message(&message.id).await.unwrap().unwrap();
    assert_eq!(record.state, MessageState::Delivered);
    assert_eq!(record.connector.as_deref(), Some("b"));
    let outbox = outbox_arriving(store.as_ref(), "acme", 1).await;
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    store.outbox_done("acme", outbox[0].seq).await.unwrap();
    assert!(store.outbox_depths().await.unwrap().is_empty());
}

/// Receipts of MTs on connectors of three shards all reach the account's one outbox, and a
/// deliverer acknowledges each where it came from.
pub async fn an_outbox_is_fed_by_every_shard(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    for (n, connector) in ["a", "b", "c"].into_iter().enumerate() {
        let message = routed(store.as_ref(), &ids, &[connector]);
        store.accept_mt(message.clone(), None).await.unwrap();
        assert_eq!(
            store.take_mts(connector, 10).await.unwrap(),
            std::slice::from_ref(&message)
        );
        let carrier_id = format!("x{n}");
        store
            .mt_submitted(&message.id, connector, vec![carrier_id.clone()])
            .await
            .unwrap();
        store
            .carrier_receipt(connector, receipt(&carrier_id, MessageState::Delivered))
            .await
            .unwrap();
    }
    assert_eq!(
        store.outbox_depths().await.unwrap(),
        [("acme".to_owned(), 3)]
    );
    // One at a time: each take starts at the next shard. (A take may miss an entry its
    // consumer has not applied yet: see `outbox_arriving`.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut taken = Vec::new();
    while taken.len() < 3 && tokio::time::Instant::now() < deadline {
        taken.extend(store.take_outbox("acme", 1).await.unwrap());
    }
    assert_eq!(taken.len(), 3, "{taken:?}");
    for entry in &taken {
        store.outbox_done("acme", entry.seq).await.unwrap();
    }
    assert!(store.outbox_depths().await.unwrap().is_empty());
    assert!(store.take_outbox("acme", 10).await.unwrap().is_empty());
}

/// The claim is the first connector's shard's: a retry routed the same way replays; one
/// whose first connector is in another shard (the routes changed in between) is not seen
/// by that claim and is accepted there as a new message, and a lookup by client id finds the
/// one in the lower shard.
pub async fn a_retry_routed_to_another_shard_is_a_new_message_there(store: Arc<dyn Store>) {
    let ids = IdGenerator::new("a", "n1");
    let first = routed(store.as_ref(), &ids, &["a"]);
    let same_route = routed(store.as_ref(), &ids, &["a"]);
    let rerouted = routed(store.as_ref(), &ids, &["c"]);
    let accept = |message| store.accept_mt(message, claim("k1", "body"));
    let replayed = Acceptance::Replayed(first.id.clone());
    assert_eq!(accept(first.clone()).await.unwrap(), Acceptance::Accepted);
    assert_eq!(accept(same_route).await.unwrap(), replayed);
    let retried = accept(rerouted.clone()).await.unwrap();
    assert_eq!(retried, Acceptance::Accepted, "another shard's claim");
    assert_eq!(store.take_mts("c", 10).await.unwrap(), [rerouted]);
    assert_eq!(
        store.message_by_client_id("acme", "k1").await.unwrap(),
        Some(first.id)
    );
}

/// Each shard's stream has its own leader, on a server of its own (the store spreads them
/// when it connects).
pub async fn shard_leaders_are_spread_over_the_servers(urls: Vec<String>, namespace: String) {
    let client = async_nats::connect(urls[0].as_str()).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let mut leaders = std::collections::BTreeSet::new();
    for shard in 0..3 {
        let name = format!("SMSGW_{namespace}_{shard}");
        let mut stream = jetstream.get_stream(&name).await.unwrap();
        let info = stream.info().await.unwrap();
        let leader = info.cluster.as_ref().and_then(|c| c.leader.clone());
        leaders.insert(leader.unwrap_or_else(|| panic!("{name} has no leader")));
    }
    assert_eq!(leaders.len(), 3, "leaders: {leaders:?}");
}

/// Step 1 of a move as a mover that died right after it leaves it (the record a pointer,
/// a journal entry), written by hand on shard 0 of `namespace`.
async fn half_moved(
    jetstream: &async_nats::jetstream::Context,
    namespace: &str,
    record: &smsgw::store::MessageRecord,
    to_connector: &str,
) {
    use smsgw::store::nats::subjects::Subjects;
    let shard0 = Subjects::for_shard(namespace, 0);
    let mut moved = record.clone();
    moved.connector = Some(to_connector.to_owned());
    let id = record.mt.id.as_str();
    let pointer = serde_json::json!({ "to": 1, "expect": 0, "record": moved });
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Smsgw-Moved-To", "1");
    for (subject, headers, payload) in [
        (shard0.record(id), headers, pointer.to_string()),
        (
            shard0.move_journal(id),
            async_nats::HeaderMap::new(),
            serde_json::json!({ "to": 1, "expect": 0 }).to_string(),
        ),
    ] {
        let ack = jetstream
            .publish_with_headers(subject, headers, payload.into())
            .await
            .unwrap();
        ack.await.unwrap();
    }
}

/// A move whose mover died after its first step: the next read of the message completes it,
/// or, if nobody reads it, the sweep does (through the journal); either way the MT is queued
/// once on the new connector and the entry it left behind is dropped.
pub async fn a_half_done_move_is_completed_by_a_read_or_the_sweep(
    store: Arc<dyn Store>,
    url: String,
    namespace: String,
) {
    let client = async_nats::connect(url.as_str()).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let ids = IdGenerator::new("a", "n1");
    let read = routed(store.as_ref(), &ids, &["a", "b"]);
    let swept = routed(store.as_ref(), &ids, &["a", "b"]);
    for message in [&read, &swept] {
        store.accept_mt(message.clone(), None).await.unwrap();
        let record = store.message(&message.id).await.unwrap().unwrap();
        half_moved(&jetstream, &namespace, &record, "b").await;
    }
    assert!(
        store.take_mts("a", 10).await.unwrap().is_empty(),
        "the old entries are the old shard's: dropped"
    );
    assert!(store.take_mts("b", 10).await.unwrap().is_empty(), "not yet");

    let found = store.message(&read.id).await.unwrap().unwrap();
    assert_eq!(found.connector.as_deref(), Some("b"));
    assert_eq!(
        store.take_mts("b", 10).await.unwrap(),
        std::slice::from_ref(&read)
    );
    store.sweep(Duration::from_secs(3600)).await.unwrap();
    assert_eq!(
        store.take_mts("b", 10).await.unwrap(),
        std::slice::from_ref(&swept),
        "the sweep completes the move nobody read (and the read one only once)"
    );
    store.sweep(Duration::from_secs(3600)).await.unwrap();
    assert!(store.take_mts("b", 10).await.unwrap().is_empty());
}
