//! The NATS JetStream store against a real 3-server cluster (sites a, b, c) on free ports,
//! killed when done: the whole store contract (`store_suite`, primitives and flows) and what
//! one atomic batch and leases promise, each on a store of its own namespace in ONE shared
//! cluster (a cluster start costs seconds on a small machine); and, on a cluster of its own,
//! what R3 over three sites promises (commits go on without one site; without a quorum
//! nothing commits). The contract runs twice: on stores of one shard and of three (where
//! `sim` is in shard 1 and ids without a tag are looked for shard by shard), and what
//! crosses shards runs on stores of three shards ([`nats_shards`]).

mod nats_server;
#[macro_use]
mod store_suite;
mod nats_shards;

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
    store::{Change, ClaimSpace, Committed, MessageRecord, NatsStore, NatsTarget, Store, Write},
};
use store_suite::{mt, receipt, take_after_lease, Flows};

/// Leases of the tests that do not wait for one to run out.
const LONG_LEASE: Duration = Duration::from_secs(60);

impl NatsCluster {
    /// A store on this cluster under a namespace no other store of this process uses.
    async fn store(&self) -> Arc<NatsStore> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let namespace = format!("t{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.store_in(&namespace, LONG_LEASE).await
    }

    /// A store (a node) in `namespace`: stores of one namespace share everything.
    async fn store_in(&self, namespace: &str, lease: Duration) -> Arc<NatsStore> {
        self.sharded_in(namespace, lease, 1).await
    }

    /// A store of `shards` shards under a namespace of its own, connectors `a`, `b`, `c`
    /// pinned to shards 0, 1, 2 when there are three.
    async fn sharded(&self, shards: usize) -> Arc<NatsStore> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let namespace = format!("s{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.sharded_in(&namespace, LONG_LEASE, shards).await
    }

    async fn sharded_in(&self, namespace: &str, lease: Duration, shards: usize) -> Arc<NatsStore> {
        let pinned = match shards {
            3 => nats_shards::PINS.map(|(c, s)| (c.to_owned(), s)).into(),
            _ => Default::default(),
        };
        let target = NatsTarget {
            lease,
            shards,
            pinned,
            ..NatsTarget::new(self.urls(), namespace, 3)
        };
        NatsStore::connect(&target).await.unwrap()
    }
}

/// Runs each `test(args)` in a task of its own, so one that fails is reported by name and
/// the others still run.
macro_rules! run_each {
    ($failed:ident; $($test:ident($($arg:expr),*)),* $(,)?) => {$(
        eprintln!("nats store: {}", stringify!($test));
        if tokio::spawn($test($($arg),*)).await.is_err() {
            $failed.push(stringify!($test));
        }
    )*};
}

/// `run_contract`: every contract function (the list `store_contract!` gives), each on a
/// store of `shards` shards in a namespace of its own.
macro_rules! contract_on_one_cluster {
    ($($name:ident),* $(,)?) => {
        async fn run_contract(cluster: &NatsCluster, shards: usize, failed: &mut Vec<&'static str>) {
            use store_suite::*;
            run_each!(failed; $($name(cluster.sharded(shards).await)),*);
        }
    };
}
store_contract!(contract_on_one_cluster!());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_contract_and_batches_hold_on_a_three_site_cluster_in_one_and_three_shards() {
    let cluster = NatsCluster::start().await;
    let mut failed = Vec::new();
    run_contract(&cluster, 1, &mut failed).await;
    // Long enough that the first check runs within it on a slow, loaded box.
    let short = Duration::from_secs(3);
    run_each!(failed;
        a_change_is_one_batch_all_or_nothing(cluster.store().await),
        keys_with_subject_characters_are_separate_keys(cluster.store().await),
        guards_on_keys_the_change_does_not_write_hold_too(cluster.store().await),
        work_of_a_dead_node_is_taken_again_after_the_lease(
            cluster.store_in("lease", short).await,
            cluster.store_in("lease", short).await
        ),
        nodes_of_one_namespace_share_work_and_wake_each_other(
            cluster.store_in("shared", LONG_LEASE).await,
            cluster.store_in("shared", LONG_LEASE).await
        ),
    );
    // Again on three shards (same cluster), and what crosses them.
    run_contract(&cluster, 3, &mut failed).await;
    {
        use nats_shards::*;
        run_each!(failed;
            an_mt_falls_back_to_a_connector_of_another_shard(cluster.sharded(3).await),
            an_outbox_is_fed_by_every_shard(cluster.sharded(3).await),
            a_retry_routed_to_another_shard_is_a_new_message_there(cluster.sharded(3).await),
        );
        let half = cluster.sharded_in("half", LONG_LEASE, 3).await;
        let url = cluster.urls()[0].clone();
        run_each!(failed;
            a_half_done_move_is_completed_by_a_read_or_the_sweep(half, url, "half".to_owned()),
        );
        let spread = cluster.sharded_in("spread", LONG_LEASE, 3).await;
        run_each!(failed;
            shard_leaders_are_spread_over_the_servers(cluster.urls(), "spread".to_owned()),
        );
        drop(spread);
    }
    assert!(failed.is_empty(), "failed on NATS: {failed:?}");
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

async fn a_change_is_one_batch_all_or_nothing(store: Arc<dyn Store>) {
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

async fn keys_with_subject_characters_are_separate_keys(store: Arc<dyn Store>) {
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

/// A record version guard without the record's write, and a carrier-id guard without a
/// write of the slot: both ride on another message of the batch and still decide it.
async fn guards_on_keys_the_change_does_not_write_hold_too(store: Arc<dyn Store>) {
    use smsgw::store::{CarrierKey, Guard};
    let ids = IdGenerator::new("a", "n1");
    let message = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(message.clone(), None).await.unwrap();
    let found = store.record(&message.id).await.unwrap().unwrap();
    let claim_guarded = |version: u64, key: &str| {
        let mut change = Change::default();
        change
            .guard(Guard::RecordVersion {
                id: message.id.clone(),
                version,
            })
            .claim(ClaimSpace::MoDedupe, key, "v", Duration::from_secs(60));
        change
    };
    assert_eq!(
        store
            .commit(claim_guarded(found.version + 1, "g-1"))
            .await
            .unwrap(),
        Committed::Conflict
    );
    assert_eq!(
        store.claimed(&ClaimSpace::MoDedupe, "g-1").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .commit(claim_guarded(found.version, "g-1"))
            .await
            .unwrap(),
        Committed::Done
    );

    // Three guards on keys nobody writes, one message written: carriers take the rest.
    let key = CarrierKey {
        connector: "sim".into(),
        carrier_id: "nobody".into(),
    };
    let mut change = Change::default();
    change
        .guard(Guard::Unmapped(key.clone()))
        .guard(Guard::ParkedCount { key, count: 0 })
        .guard(Guard::RecordVersion {
            id: message.id.clone(),
            version: found.version,
        })
        .claim(ClaimSpace::MoDedupe, "g-2", "v", Duration::from_secs(60));
    assert_eq!(store.commit(change).await.unwrap(), Committed::Done);
    assert!(store
        .claimed(&ClaimSpace::MoDedupe, "g-2")
        .await
        .unwrap()
        .is_some());
}

/// Two nodes with a 3 s lease: what the first took and did not finish comes back to the
/// second once the lease runs out; what it finished does not.
async fn work_of_a_dead_node_is_taken_again_after_the_lease(
    dead: Arc<NatsStore>,
    other: Arc<NatsStore>,
) {
    let ids = IdGenerator::new("a", "n1");
    let queued = mt(&ids, Priority::Bulk, 1);
    let taken = mt(&ids, Priority::Interactive, 1);
    let submitted = mt(&ids, Priority::Bulk, 1);
    for m in [&queued, &taken, &submitted] {
        dead.accept_mt(m.clone(), None).await.unwrap();
    }
    assert_eq!(dead.take_mts("sim", 2).await.unwrap().len(), 2);
    assert_eq!(
        dead.take_mts("sim", 1).await.unwrap(),
        std::slice::from_ref(&submitted)
    );
    dead.mt_submitted(&submitted.id, "sim", vec!["c77".into()])
        .await
        .unwrap();
    drop(dead);
    assert!(
        other.take_mts("sim", 10).await.unwrap().is_empty(),
        "taken work handed out while its lease holds"
    );
    let mut again = take_after_lease(other.as_ref(), 300).await;
    if again.len() < 2 {
        again.extend(take_after_lease(other.as_ref(), 100).await);
    }
    again.sort();
    let mut expected = vec![taken.id.clone(), queued.id.clone()];
    expected.sort();
    assert_eq!(again, expected, "taken but unsubmitted MTs come back, once");
    other
        .carrier_receipt("sim", receipt("c77", MessageState::Delivered))
        .await
        .unwrap();
    let entries = other.take_outbox("acme", 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    // Taken by a node that dies: handed out again after the lease.
    let third = take_outbox_after_lease(other.as_ref(), 150).await;
    assert_eq!(third, 1);
}

async fn take_outbox_after_lease(store: &dyn Store, tries: usize) -> usize {
    for _ in 0..tries {
        let taken = store.take_outbox("acme", 10).await.unwrap();
        if !taken.is_empty() {
            return taken.len();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    0
}

/// One node's accepted MT wakes the other's waiter, which takes it; a release by the taker
/// queues it again for both.
async fn nodes_of_one_namespace_share_work_and_wake_each_other(
    one: Arc<NatsStore>,
    two: Arc<NatsStore>,
) {
    let ids = IdGenerator::new("a", "n1");
    assert!(two.take_mts("sim", 10).await.unwrap().is_empty());
    let waiter = {
        let two = two.clone();
        tokio::spawn(async move {
            two.wait_for_mts("sim", Duration::from_secs(60)).await;
            two.take_mts("sim", 10).await.unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let message = mt(&ids, Priority::Bulk, 1);
    one.accept_mt(message.clone(), None).await.unwrap();
    let taken = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the other node's waiter was not woken within 10 s (its timeout is 60 s)")
        .unwrap();
    assert_eq!(taken, std::slice::from_ref(&message));
    assert!(
        one.take_mts("sim", 10).await.unwrap().is_empty(),
        "taken twice"
    );
    two.release_mt(&message.id, "sim").await.unwrap();
    assert_eq!(one.take_mts("sim", 10).await.unwrap(), [message]);
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
    let mut cluster = NatsCluster::start().await;
    let store: Arc<dyn Store> = cluster.store().await;
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
    let Some(Write::Record(first)) = before.writes.first() else {
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
