//! Cancel and replace reach an MT queued by another node: two gateway nodes share one real
//! Redis, a client submits on node A and cancels or replaces on node B, and the carrier gets
//! only what should go out. Timers too: an MT scheduled, or given a validity, through a node
//! that then stops is sent, or expired, by the other.

mod gateway;
mod redis_server;

use std::time::{Duration, Instant};

use gateway::{
    bind_to, config_text_with,
    deliveries::{deliveries_until, has_receipt, mo_texts, receipt_state},
    hand_pdus::{timed_submit_body, HandEsme, BIND_TRANSMITTER, SUBMIT_SM},
    start_bound_but, start_sim, ConfigExtra, PASSWORD,
};
use redis_server::RedisServer;
use smsgw::{
    carrier_sim::{CarrierSim, CarrierSimConfig},
    node::Gateway,
};
use smsgw_smpp::{
    client::{Client, IncomingDeliver},
    BindKind,
};
use tokio::sync::mpsc::Receiver;

const DELIVERED: u8 = 2;
const EXPIRED: u8 = 3;
const DELETED: u8 = 4;
/// A destination the `down` connector owns (it never binds): MTs to it stay queued.
const STUCK: &str = "447700900500";

/// A node whose `sim` connector sends one MT a second with one in flight, on the shared Redis.
async fn node(
    sim: std::net::SocketAddr,
    redis: &str,
    node: &str,
    dir: &std::path::Path,
) -> Gateway {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let down = format!(
        "\n[[connectors]]\nname = \"down\"\nendpoints = [\"{closed}\"]\nsystem_id = \"gw\"\n\
         password = \"pw\"\n\n[[routes]]\nprefix = \"{STUCK}\"\nconnectors = [\"down\"]\n"
    );
    let extra = ConfigExtra {
        connector: "throughput = 1\nwindow = 1",
        tables: &down,
        ..ConfigExtra::default()
    };
    let text = config_text_with(sim, dir, extra).replace("node_id = \"n1\"", &format!("node_id = \"{node}\""))
        + &format!(
            "\n[store]\nkind = \"redis\"\n\n[store.redis]\nurl = \"{redis}\"\nkey_prefix = \"lifecycle:\"\n"
        );
    start_bound_but(&text, &["down"]).await
}

/// Nodes A and B on one real Redis, the simulator both send to, and a client's receiver bind
/// on node B.
struct TwoNodes {
    _redis: RedisServer,
    sim: CarrierSim,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    a: Gateway,
    b: Gateway,
    _receiver: Client,
    incoming: Receiver<IncomingDeliver>,
}

impl TwoNodes {
    async fn start() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let redis = RedisServer::start().await;
        let sim = start_sim(CarrierSimConfig {
            dr_delay: Duration::from_millis(10),
            ..CarrierSimConfig::default()
        })
        .await;
        let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = node(sim.local_addr(), &redis.url, "a1", dirs.0.path()).await;
        let b = node(sim.local_addr(), &redis.url, "b1", dirs.1.path()).await;
        let (receiver, incoming) = bind_to(b.smpp_addr(), BindKind::Receiver).await;
        Self {
            _redis: redis,
            sim,
            _dirs: dirs,
            a,
            b,
            _receiver: receiver,
            incoming,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mt_queued_through_one_node_is_cancelled_or_replaced_through_the_other() {
    let mut nodes = TwoNodes::start().await;
    let mut on_a = HandEsme::bind(nodes.a.smpp_addr(), BIND_TRANSMITTER, "acme", PASSWORD).await;
    let mut on_b = HandEsme::bind(nodes.b.smpp_addr(), BIND_TRANSMITTER, "acme", PASSWORD).await;
    // Four ahead: the two nodes send two MTs a second between them.
    let mut ahead = Vec::new();
    for n in 1..=4 {
        ahead.push(on_a.submit(&format!("44770090000{n}"), "ahead", true).await);
    }
    let cancelled = on_a.submit("999000001", "cancel me", true).await;
    let replaced = on_a.submit("999000002", "old text", true).await;
    let after = on_a.submit("447700900009", "after", true).await;
    assert_eq!(on_b.cancel(&cancelled).await, 0);
    assert_eq!(on_b.replace(&replaced, "new text").await, 0);
    let seen = deliveries_until(&mut nodes.incoming, |seen| {
        ahead
            .iter()
            .chain([&replaced, &after])
            .all(|id| has_receipt(seen, id))
            && has_receipt(seen, &cancelled)
            && !mo_texts(seen).is_empty()
    })
    .await;
    assert_eq!(receipt_state(&seen, &cancelled), Some(DELETED), "{seen:?}");
    assert_eq!(mo_texts(&seen), ["new text"], "what the handsets got");
    assert_eq!(
        nodes.sim.stats().submits_accepted,
        6,
        "the carrier got the cancelled MT"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_mt_accepted_by_a_node_that_stopped_is_sent_by_the_other_when_due() {
    let mut nodes = TwoNodes::start().await;
    let mut on_a = HandEsme::bind(nodes.a.smpp_addr(), BIND_TRANSMITTER, "acme", PASSWORD).await;
    let submitted = Instant::now();
    // Four seconds from now; and one that expires in two, for a connector that never binds.
    let scheduled = on_a
        .request(
            SUBMIT_SM,
            &timed_submit_body("447700900001", "later", "000000000004000R", ""),
        )
        .await;
    assert_eq!(scheduled.status, 0);
    let scheduled = scheduled.c_strings(1).remove(0);
    let expiring = on_a
        .request(
            SUBMIT_SM,
            &timed_submit_body(STUCK, "stuck", "", "000000000002000R"),
        )
        .await;
    assert_eq!(expiring.status, 0);
    let expiring = expiring.c_strings(1).remove(0);
    drop(on_a);
    nodes.a.shutdown().await;

    let seen = deliveries_until(&mut nodes.incoming, |seen| {
        has_receipt(seen, &scheduled) && has_receipt(seen, &expiring)
    })
    .await;
    assert_eq!(
        receipt_state(&seen, &scheduled),
        Some(DELIVERED),
        "{seen:?}"
    );
    assert_eq!(receipt_state(&seen, &expiring), Some(EXPIRED), "{seen:?}");
    assert!(
        submitted.elapsed() >= Duration::from_secs(4),
        "the scheduled MT went out before its time"
    );
    assert_eq!(
        nodes.sim.stats().submits_accepted,
        1,
        "the carrier got it once"
    );
    nodes.b.shutdown().await;
}
