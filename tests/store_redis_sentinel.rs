//! The Redis store behind Redis Sentinel, on real processes (a primary, a replica, three
//! Sentinels): it follows a failover after the primary is killed with SIGKILL, and a manual
//! failover that demotes the primary under it (`READONLY`), keeping every MT it acknowledged
//! with `wait_replicas = 1`; the first also with every server and Sentinel TLS-only and the
//! data servers password-protected.

mod redis_server;
mod sentinel_set;
mod store_suite;

use std::{sync::Arc, time::Duration};

use redis_server::{tls::TestPki, Access};
use sentinel_set::{SentinelSet, MASTER_NAME};
use smsgw::{
    message::{IdGenerator, MessageId, Priority},
    store::{RedisStore, Store},
};
use store_suite::{mt, Flows};

/// How long accepts may keep failing after a failover before the test calls the store stuck:
/// a liveness bound, not a speed claim. With `wait_replicas = 1` a write succeeds only once
/// the new primary has a replica in sync again, which (a demoted primary turned replica by the
/// Sentinels, then a resync) took over 15 s when three Sentinel sets ran side by side on a
/// loaded 2-core machine.
const STUCK_AFTER: Duration = Duration::from_secs(60);

/// Accepts an MT, retrying until the store takes one (a failover is under way) or `limit`
/// passes; returns its id and how many attempts failed. Each attempt is a new MT, as a new
/// submit_sm after an error would be: a failed attempt may still have been stored.
async fn accept_retrying(
    store: &RedisStore,
    ids: &IdGenerator,
    limit: Duration,
) -> (MessageId, usize) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut failed = 0;
    loop {
        let message = mt(ids, Priority::Bulk, 1);
        match store.accept_mt(message.clone(), None).await {
            Ok(_) => return (message.id, failed),
            Err(error) => {
                failed += 1;
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "store still failing after {limit:?}: {error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Every acknowledged id is stored and queued. Attempts that failed may be queued too
/// (stored, then the connection broke or WAIT fell short): they are counted.
async fn assert_all_kept(store: &Arc<RedisStore>, acknowledged: &[MessageId]) {
    let taken: Vec<MessageId> = store
        .take_mts("sim", 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|mt| mt.id)
        .collect();
    let lost: Vec<&MessageId> = acknowledged
        .iter()
        .filter(|id| !taken.contains(id))
        .collect();
    eprintln!(
        "acknowledged {}, queued {}, lost {}, stored without acknowledgement {}",
        acknowledged.len(),
        taken.len(),
        lost.len(),
        taken.len() + lost.len() - acknowledged.len()
    );
    assert!(lost.is_empty(), "acknowledged MTs lost: {lost:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_follows_a_failover_after_the_primary_is_killed() {
    follows_a_failover_after_the_primary_is_killed(SentinelSet::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_a_password_the_store_follows_a_failover_after_the_primary_is_killed() {
    let access = Access {
        tls: Some((Arc::new(TestPki::new()), false)),
        password: Some("st0re-Pa55".into()),
    };
    follows_a_failover_after_the_primary_is_killed(SentinelSet::start_secured(access).await).await;
}

async fn follows_a_failover_after_the_primary_is_killed(mut set: SentinelSet) {
    let store = RedisStore::connect(set.target(), "sentinel-kill:", 1)
        .await
        .unwrap();
    let ids = IdGenerator::new("a", "n1");
    let mut accepted = Vec::new();
    for _ in 0..20 {
        accepted.push(accept_retrying(&store, &ids, Duration::ZERO).await.0);
    }

    let old = set.primary_port().await.unwrap();
    set.server(old).kill();
    let took = set.wait_for_failover(old, Duration::from_secs(20)).await;
    // With wait_replicas = 1 the new primary needs a replica: the old one, restarted, which
    // the Sentinels turn into one.
    set.server(old).restart().await;
    set.wait_until_replicated(Duration::from_secs(20)).await;
    let mut failed = 0;
    for _ in 0..20 {
        let (id, failures) = accept_retrying(&store, &ids, STUCK_AFTER).await;
        accepted.push(id);
        failed += failures;
    }
    eprintln!("failover took {took:?}; {failed} accepts failed and were retried");
    assert_ne!(set.primary_port().await.unwrap(), old);
    assert_all_kept(&store, &accepted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_failover_demoting_the_primary_loses_no_acknowledged_mt() {
    let set = SentinelSet::start().await;
    let store = RedisStore::connect(set.target(), "sentinel-manual:", 1)
        .await
        .unwrap();
    let ids = IdGenerator::new("a", "n1");
    let old = set.primary_port().await.unwrap();

    // Writes keep coming while the Sentinels swap the roles: the store's connections still
    // point at the old primary, now a replica, until it answers READONLY.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut accepted = Vec::new();
            let mut failed = 0;
            for _ in 0..200 {
                let (id, failures) = accept_retrying(&store, &ids, STUCK_AFTER).await;
                accepted.push(id);
                failed += failures;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (accepted, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut sentinel = set.sentinels[0].connection().await;
    let _: () = redis::cmd("SENTINEL")
        .arg("FAILOVER")
        .arg(MASTER_NAME)
        .query_async(&mut sentinel)
        .await
        .unwrap();
    let took = set.wait_for_failover(old, Duration::from_secs(20)).await;
    let (accepted, failed) = writer.await.unwrap();
    eprintln!("manual failover took {took:?}; {failed} accepts failed and were retried");
    assert_all_kept(&store, &accepted).await;
}
