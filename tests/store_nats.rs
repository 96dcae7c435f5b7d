//! The NATS JetStream store against a real 3-server cluster (sites a, b, c) each test starts
//! on free ports and kills when done: the contract functions its primitives already allow,
//! what one atomic batch promises (all or nothing, claims before records), and what R3 over
//! three sites promises (commits go on without one site; without a quorum nothing commits).

mod nats_server;
#[macro_use]
mod store_suite;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use nats_server::NatsCluster;
use smsgw::{
    message::{IdGenerator, MessageState, Priority},
    store::{Change, ClaimSpace, Committed, MessageRecord, NatsStore, NatsTarget, Store},
};
use store_suite::{mt, Flows};

impl NatsCluster {
    /// A store on this cluster under a namespace no other store of this process uses.
    async fn store(&self) -> Arc<NatsStore> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let namespace = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
        NatsStore::connect(&NatsTarget::new(self.urls(), &namespace, 3))
            .await
            .unwrap()
    }
}

async fn fresh() -> (NatsCluster, Arc<dyn Store>) {
    let cluster = NatsCluster::start().await;
    let store: Arc<dyn Store> = cluster.store().await;
    (cluster, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_claim_refuses_the_change_until_it_expires() {
    let (_cluster, store) = fresh().await;
    store_suite::a_held_claim_refuses_the_change_until_it_expires(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_record_updates_are_never_lost() {
    let (_cluster, store) = fresh().await;
    store_suite::concurrent_record_updates_are_never_lost(store).await;
}

/// A change with a claim and a record update, built on `version`.
fn claim_and_update(record: &MessageRecord, version: u64, claim_key: &str) -> Change {
    let mut updated = record.clone();
    updated.state = MessageState::Enroute;
    let mut change = Change::acknowledged();
    change
        .claim(
            ClaimSpace::ReceiptDedupe,
            claim_key,
            "mine",
            Duration::from_secs(60),
        )
        .put_record(updated, version);
    change
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_is_one_batch_all_or_nothing() {
    let (_cluster, store) = fresh().await;
    let ids = IdGenerator::new("a", "n1");
    let message = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(message.clone(), None).await.unwrap();
    let found = store.record(&message.id).await.unwrap().unwrap();
    assert!(found.version > 0, "a stored record has a version");

    // A stale record version: the claim in the same batch is not taken either.
    let stale = claim_and_update(&found.value, found.version + 7, "dr-1");
    assert_eq!(store.commit(stale).await.unwrap(), Committed::Conflict);
    assert_eq!(
        store
            .claimed(&ClaimSpace::ReceiptDedupe, "dr-1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.record(&message.id).await.unwrap().unwrap(), found);

    // A held claim: the record is not written, and the answer says it was the claim.
    let mut other = Change::default();
    other.claim(
        ClaimSpace::ReceiptDedupe,
        "dr-2",
        "theirs",
        Duration::from_secs(60),
    );
    assert_eq!(store.commit(other).await.unwrap(), Committed::Done);
    let claimed = claim_and_update(&found.value, found.version, "dr-2");
    assert_eq!(store.commit(claimed).await.unwrap(), Committed::Claimed);
    assert_eq!(store.record(&message.id).await.unwrap().unwrap(), found);
    assert_eq!(
        store
            .claimed(&ClaimSpace::ReceiptDedupe, "dr-2")
            .await
            .unwrap()
            .as_deref(),
        Some("theirs")
    );

    // Both guards hold: both land, and the record's version moves on.
    let fresh = claim_and_update(&found.value, found.version, "dr-1");
    assert_eq!(store.commit(fresh).await.unwrap(), Committed::Done);
    let after = store.record(&message.id).await.unwrap().unwrap();
    assert_eq!(after.value.state, MessageState::Enroute);
    assert_ne!(after.version, found.version);
    assert_eq!(
        store
            .claimed(&ClaimSpace::ReceiptDedupe, "dr-1")
            .await
            .unwrap()
            .as_deref(),
        Some("mine")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_subject_characters_are_separate_keys() {
    let (_cluster, store) = fresh().await;
    let space = ClaimSpace::Idempotency {
        account: "acme.eu".into(),
    };
    for key in ["a.b", "a", "*", ">", "a b", ""] {
        let mut change = Change::default();
        change.claim(space.clone(), key, key, Duration::from_secs(60));
        assert_eq!(
            store.commit(change).await.unwrap(),
            Committed::Done,
            "{key:?}"
        );
    }
    for key in ["a.b", "a", "*", ">", "a b", ""] {
        assert_eq!(
            store.claimed(&space, key).await.unwrap().as_deref(),
            Some(key)
        );
    }
    let other = ClaimSpace::Idempotency {
        account: "acme".into(),
    };
    assert_eq!(store.claimed(&other, "eu.a").await.unwrap(), None);
}

/// Commits `change` until it is answered (a leader election refuses for a few seconds).
async fn commit_within(store: &dyn Store, change: Change, patience: Duration) -> Committed {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match store.commit(change.clone()).await {
            Ok(committed) => return committed,
            Err(error) if tokio::time::Instant::now() < deadline => {
                eprintln!("commit refused while the cluster recovers: {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("no commit within {patience:?}: {error}"),
        }
    }
}

fn new_record(ids: &IdGenerator) -> Change {
    let mut change = Change::acknowledged();
    change.put_record(MessageRecord::accepted(&mt(ids, Priority::Bulk, 1)), 0);
    change
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_go_on_without_one_site_and_stop_without_a_quorum() {
    let (mut cluster, store) = fresh().await;
    let ids = IdGenerator::new("a", "n1");
    let before = new_record(&ids);
    assert_eq!(store.commit(before.clone()).await.unwrap(), Committed::Done);

    cluster.kill("a");
    let during = new_record(&ids);
    assert_eq!(
        commit_within(store.as_ref(), during, Duration::from_secs(10)).await,
        Committed::Done
    );
    // What was committed before the loss is still there.
    let Some(smsgw::store::Write::Record(first)) = before.writes.first() else {
        unreachable!("new_record writes a record")
    };
    assert!(store.record(&first.mt.id).await.unwrap().is_some());

    // With a second site paused, the last one must not acknowledge a commit alone (the
    // outcome is unknown to the caller, as with any error: the flows retry).
    cluster.pause("b");
    assert!(
        store.commit(new_record(&ids)).await.is_err(),
        "acknowledged without a quorum"
    );
    cluster.resume("b");
    cluster.restart("a");
    let after = new_record(&ids);
    assert_eq!(
        commit_within(store.as_ref(), after, Duration::from_secs(15)).await,
        Committed::Done,
        "commits again once the sites are back"
    );
}
