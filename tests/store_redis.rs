//! The store contract against the Redis store, on a real `redis-server` each test starts on
//! a free port (without persistence, in a temp dir) and kills when done; plus what leases
//! promise: work taken by a node that died is taken again by another after the lease.

mod redis_server;
#[macro_use]
mod store_suite;

use redis_server::RedisServer;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use smsgw::{
    message::{
        now_ms, IdGenerator, MessageId, MessageState, OutboxItem, Priority, Timer, TimerAction,
    },
    store::{Change, Committed, RedisStore, Store, Write},
};
use store_suite::*;

impl RedisServer {
    /// A store on this server under a prefix no other store of this process uses.
    async fn store(&self, lease: Duration) -> Arc<RedisStore> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!("t{}:", NEXT.fetch_add(1, Ordering::Relaxed));
        self.store_with_prefix(&prefix, lease).await
    }

    async fn store_with_prefix(&self, prefix: &str, lease: Duration) -> Arc<RedisStore> {
        RedisStore::connect_with_lease(&self.url, prefix, 0, lease)
            .await
            .unwrap()
    }
}

async fn fresh() -> (RedisServer, Arc<dyn Store>) {
    let server = RedisServer::start().await;
    let store: Arc<dyn Store> = server.store(Duration::from_secs(60)).await;
    (server, store)
}

store_contract_tests!(fresh);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_of_a_dead_node_is_taken_again_after_the_lease() {
    let server = RedisServer::start().await;
    // Long enough that the check below runs within it on a slow, loaded box (a few round
    // trips after the take); the wait after it is polled.
    let lease = Duration::from_secs(1);
    let ids = IdGenerator::new("a", "n1");
    let queued = mt(&ids, Priority::Bulk, 1);
    let taken = mt(&ids, Priority::Interactive, 1);
    let submitted = mt(&ids, Priority::Bulk, 1);
    {
        let dead = server.store_with_prefix("lease:", lease).await;
        for m in [&queued, &taken, &submitted] {
            dead.accept_mt(m.clone(), None).await.unwrap();
        }
        // Takes `taken` (interactive) and `queued`, then `submitted`, and submits only it.
        assert_eq!(dead.take_mts("sim", 2).await.unwrap().len(), 2);
        dead.take_mts("sim", 1).await.unwrap();
        dead.mt_submitted(&submitted.id, "sim", vec!["c77".into()])
            .await
            .unwrap();
    }
    let other = server.store_with_prefix("lease:", lease).await;
    assert!(
        other.take_mts("sim", 10).await.unwrap().is_empty(),
        "taken work handed out while its lease holds"
    );
    let again = take_after_lease(other.as_ref(), 200).await;
    assert_eq!(
        again,
        [taken.id.clone(), queued.id.clone()],
        "taken but unsubmitted MTs come back, highest priority first"
    );
    // The carrier-id map is shared: a receipt at the other node is correlated.
    other
        .carrier_receipt("sim", receipt("c77", MessageState::Delivered))
        .await
        .unwrap();
    assert_eq!(other.take_outbox("acme", 10).await.unwrap().len(), 1);
    // An outbox entry taken but not done is handed out again after the lease.
    let third = server.store_with_prefix("lease:", lease).await;
    let mut entries = Vec::new();
    for _ in 0..200 {
        entries = third.take_outbox("acme", 10).await.unwrap();
        if !entries.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(entries.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_after_the_lease_expired_does_not_queue_twice() {
    let server = RedisServer::start().await;
    let store = server.store(Duration::from_millis(100)).await;
    let ids = IdGenerator::new("a", "n1");
    let message = mt(&ids, Priority::Bulk, 1);
    store.accept_mt(message.clone(), None).await.unwrap();
    store.take_mts("sim", 1).await.unwrap();
    // The lease runs out and another node takes the MT...
    let retaken = take_after_lease(store.as_ref(), 200).await;
    assert_eq!(retaken, std::slice::from_ref(&message.id));
    // ...then it is released twice (by the slow first taker, then the new one).
    store.release_mt(&message.id, "sim").await.unwrap();
    store.release_mt(&message.id, "sim").await.unwrap();
    assert_eq!(
        store.queue_depths().await.unwrap(),
        vec![("sim".to_owned(), 1)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_with_different_prefixes_share_nothing() {
    let server = RedisServer::start().await;
    let one = server.store(Duration::from_secs(60)).await;
    let two = server.store(Duration::from_secs(60)).await;
    let ids = IdGenerator::new("a", "n1");
    one.accept_mt(mt(&ids, Priority::Bulk, 1), None)
        .await
        .unwrap();
    assert!(two.take_mts("sim", 10).await.unwrap().is_empty());
    assert_eq!(one.take_mts("sim", 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_replica_that_does_not_exist_fails_the_write() {
    let server = RedisServer::start().await;
    let store = RedisStore::connect(&server.url, "wait:", 1).await.unwrap();
    let ids = IdGenerator::new("a", "n1");
    let error = store
        .accept_mt(mt(&ids, Priority::Bulk, 1), None)
        .await
        .expect_err("acknowledged without a replica");
    assert!(error.to_string().contains("replicas"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn receipts_for_every_part_at_once_on_two_nodes_give_one_final_receipt() {
    let server = RedisServer::start().await;
    let nodes = [
        server
            .store_with_prefix("race:", Duration::from_secs(60))
            .await,
        server
            .store_with_prefix("race:", Duration::from_secs(60))
            .await,
    ];
    let ids = IdGenerator::new("a", "n1");
    let parts = 8u8;
    let message = mt(&ids, Priority::Bulk, parts);
    nodes[0].accept_mt(message.clone(), None).await.unwrap();
    nodes[0].take_mts("sim", 1).await.unwrap();
    let carrier_ids: Vec<String> = (0..parts).map(|p| format!("r{p}")).collect();
    nodes[0]
        .mt_submitted(&message.id, "sim", carrier_ids.clone())
        .await
        .unwrap();
    let racing = carrier_ids.into_iter().enumerate().map(|(i, carrier_id)| {
        let node = nodes[i % 2].clone();
        tokio::spawn(async move {
            node.carrier_receipt("sim", receipt(&carrier_id, MessageState::Delivered))
                .await
                .unwrap()
        })
    });
    for outcome in futures_util::future::join_all(racing).await {
        assert!(matches!(
            outcome.unwrap(),
            smsgw::upstream::receipts::ReceiptOutcome::Applied { .. }
        ));
    }
    let record = nodes[1].message(&message.id).await.unwrap().unwrap();
    assert_eq!(record.state, MessageState::Delivered);
    assert!(
        record
            .parts
            .iter()
            .all(|p| p.state == Some(MessageState::Delivered)),
        "a part's receipt was lost: {:?}",
        record.parts
    );
    assert_eq!(nodes[1].take_outbox("acme", 100).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_removes_consumers_of_nodes_gone_for_ten_leases() {
    let server = RedisServer::start().await;
    // Ten leases (2.5 s) is the margin of the first sweep below, which runs right after the
    // node's last read; the second waits eleven.
    let lease = Duration::from_millis(250);
    let gone = server.store_with_prefix("consumers:", lease).await;
    let ids = IdGenerator::new("a", "n1");
    let first = mt(&ids, Priority::Bulk, 1);
    gone.accept_mt(first.clone(), None).await.unwrap();
    assert_eq!(gone.take_mts("sim", 1).await.unwrap().len(), 1);
    gone.mt_submitted(&first.id, "sim", vec!["c1".into()])
        .await
        .unwrap();

    let sweeper = server.store_with_prefix("consumers:", lease).await;
    let stats = sweeper.sweep(Duration::from_secs(3600)).await.unwrap();
    assert_eq!(
        stats.idle_consumers, 0,
        "removed while still within ten leases"
    );
    tokio::time::sleep(lease * 11).await;
    // One per stream the node read from (each priority's queues, up to the one it took from).
    let stats = sweeper.sweep(Duration::from_secs(3600)).await.unwrap();
    assert!(stats.idle_consumers > 0);
    let stats = sweeper.sweep(Duration::from_secs(3600)).await.unwrap();
    assert_eq!(stats.idle_consumers, 0, "removed twice");

    // A node that was merely quiet reads again as a new consumer.
    let second = mt(&ids, Priority::Bulk, 1);
    gone.accept_mt(second.clone(), None).await.unwrap();
    let taken = gone.take_mts("sim", 1).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, second.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_work_is_announced_once_per_batch_and_wakes_local_waiters() {
    use futures_util::StreamExt;
    use smsgw::store::redis::{keys::Keys, wakeups};

    let server = RedisServer::start().await;
    let channel = Keys::new("wake:").wake_channel();
    let mut subscriber = redis::Client::open(server.url.as_str())
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    subscriber.subscribe(&channel).await.unwrap();
    let mut messages = subscriber.into_on_message();

    // An accepted MT announces its connector's queue, an MO the account's outbox.
    let store = server
        .store_with_prefix("wake:", Duration::from_secs(60))
        .await;
    let ids = IdGenerator::new("a", "n1");
    store
        .accept_mt(mt(&ids, Priority::Bulk, 1), None)
        .await
        .unwrap();
    let mo = smsgw::message::Mo {
        id: "mo1".into(),
        account: "acme".into(),
        source: "1".into(),
        destination: "2".into(),
        text: "x".into(),
        connector: "sim".into(),
        received_at_ms: smsgw::message::now_ms(),
        segments: None,
    };
    store
        .carrier_mo(
            &smsgw::upstream::mo::MoIdentity::CarrierId("mo1".into()),
            Duration::from_secs(10),
            mo,
        )
        .await
        .unwrap();
    let mut topics = Vec::new();
    for _ in 0..2 {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .expect("a wake-up")
            .unwrap();
        topics.push(message.get_payload::<String>().unwrap());
    }
    assert_eq!(
        topics,
        [wakeups::mts_topic("sim"), wakeups::outbox_topic("acme")]
    );

    // A waiter of another store is woken by a message on the channel.
    let waiting = wakeups::Wakeups::start(server.url.as_str().into(), channel.clone());
    let notify = waiting.notify_for(&wakeups::mts_topic("sim"));
    let woken = notify.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let mut publisher = server.connection().await;
    let mut tries = 0;
    loop {
        // Until the subscription is up, a message can go unheard: publish again.
        let _: u32 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(wakeups::mts_topic("sim"))
            .query_async(&mut publisher)
            .await
            .unwrap();
        if tokio::time::timeout(Duration::from_millis(100), woken.as_mut())
            .await
            .is_ok()
        {
            break;
        }
        tries += 1;
        assert!(tries < 100, "the waiter was never woken");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_forgets_timer_accounts_of_past_hours_once_empty() {
    let (_server, store) = fresh().await;
    let now = now_ms();
    let spent = Timer::new(
        TimerAction::Expire(MessageId("old".into())),
        now - 7_200_000,
    );
    let waiting = Timer::new(
        TimerAction::Expire(MessageId("new".into())),
        now + 3_600_000,
    );
    let (spent_account, waiting_account) = (spent.account.clone(), waiting.account.clone());
    for timer in [spent, waiting] {
        let mut change = Change::default();
        change.write(Write::Outbox(OutboxItem::Timer(timer)));
        assert_eq!(store.commit(change).await.unwrap(), Committed::Done);
    }
    // Nothing is forgotten while it has an entry.
    assert_eq!(
        store
            .sweep(Duration::from_secs(3600))
            .await
            .unwrap()
            .spent_timer_outboxes,
        0
    );
    let taken = outbox_arriving(store.as_ref(), &spent_account, 1).await;
    store
        .outbox_done(&spent_account, taken[0].seq)
        .await
        .unwrap();

    let swept = store.sweep(Duration::from_secs(3600)).await.unwrap();
    assert_eq!(swept.spent_timer_outboxes, 1);
    let accounts: Vec<String> = store
        .outbox_depths()
        .await
        .unwrap()
        .into_iter()
        .map(|(account, _)| account)
        .collect();
    assert_eq!(accounts, [waiting_account], "the future hour's timer stays");
}
