//! An account's limits hold for the account across the cluster, not per node: two gateway
//! nodes share one real Redis; `max_binds` counts binds on both (raw SMPP binds), and
//! `throughput` counts MTs accepted by both (Genesys receiver over HTTP); without the store,
//! each node counts its own binds rather than refusing them all.

mod gateway;
mod redis_server;

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use gateway::{
    config_text_with, genesys_form, hand_pdus::HandEsme, http, redis_store_toml, start_bound,
    start_sim, ConfigExtra, PASSWORD,
};
use redis_server::RedisServer;
use smsgw::{carrier_sim::CarrierSim, node::Gateway};

const BIND_TRANSCEIVER: u32 = 0x0000_0009;
const ESME_RBINDFAIL: u32 = 0x0000_000D;
/// The account's `throughput`, MT/s for the whole cluster.
const RATE: usize = 20;

/// Nodes A and B of account `acme` (`account` TOML added) on one Redis and one simulator.
struct TwoNodes {
    redis: RedisServer,
    _sim: CarrierSim,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    a: Gateway,
    b: Gateway,
}

impl TwoNodes {
    async fn start(account: &str) -> Self {
        let redis = RedisServer::start().await;
        let sim = start_sim(Default::default()).await;
        let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let node = |name: &str, dir: &std::path::Path| {
            let extra = ConfigExtra {
                account,
                ..ConfigExtra::default()
            };
            config_text_with(sim.local_addr(), dir, extra)
                .replace("node_id = \"n1\"", &format!("node_id = \"{name}\""))
                + &redis_store_toml(&redis.url, "limits:")
        };
        let a = start_bound(&node("a1", dirs.0.path())).await;
        let b = start_bound(&node("b1", dirs.1.path())).await;
        Self {
            redis,
            _sim: sim,
            _dirs: dirs,
            a,
            b,
        }
    }
}

async fn bind(at: SocketAddr) -> Result<HandEsme, u32> {
    HandEsme::try_bind(at, BIND_TRANSCEIVER, "acme", PASSWORD).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_binds_counts_the_binds_of_every_node() {
    let nodes = TwoNodes::start("max_binds = 2").await;
    let (a, b) = (nodes.a.smpp_addr(), nodes.b.smpp_addr());
    let on_a = bind(a).await.expect("first bind, on A");
    let _on_b = bind(b).await.expect("second bind, on B");
    assert_eq!(bind(a).await.err(), Some(ESME_RBINDFAIL), "third, on A");
    assert_eq!(bind(b).await.err(), Some(ESME_RBINDFAIL), "third, on B");

    // The bind on A ends: its place is given back, and a bind on B takes it.
    drop(on_a);
    let deadline = Instant::now() + Duration::from_secs(10);
    let _again = loop {
        match bind(b).await {
            Ok(esme) => break esme,
            Err(status) => assert_eq!(status, ESME_RBINDFAIL),
        }
        assert!(
            Instant::now() < deadline,
            "the closed bind's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(bind(a).await.err(), Some(ESME_RBINDFAIL), "full again");
}

/// Posts MTs to `at` one after another until `until`; counts those accepted (200) and checks
/// that every other one was throttled (429).
async fn send_until(at: SocketAddr, tag: &str, until: Instant) -> usize {
    let client = http();
    let mut accepted = 0;
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let form = genesys_form("acme", &format!("{tag}-{n}"), "ACME", "x");
        let response = client
            .post(format!("http://{at}/httpapi/receiver"))
            .form(&form)
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => accepted += 1,
            429 => {}
            other => panic!("answer {other}: {}", response.text().await.unwrap()),
        }
    }
    accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_counts_the_mts_of_every_node() {
    let nodes = TwoNodes::start(&format!("throughput = {RATE}")).await;
    let (a, b) = (nodes.a.http_addr(), nodes.b.http_addr());
    let started = Instant::now();
    let until = started + Duration::from_secs(3);
    let senders = [(a, "a1"), (a, "a2"), (b, "b1"), (b, "b2")]
        .map(|(at, tag)| tokio::spawn(send_until(at, tag, until)));
    let mut accepted = 0;
    for sender in senders {
        accepted += sender.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The sending touched at most ceil(elapsed) + 1 one-second windows, each of RATE MTs for
    // both nodes together; per node, each would have taken RATE a second (and a burst) alone.
    let windows = elapsed.ceil() as usize + 1;
    assert!(
        accepted <= RATE * windows,
        "{accepted} MTs accepted in {elapsed:.1} s: more than {RATE}/s over both nodes"
    );
    assert!(
        accepted >= RATE,
        "{accepted} MTs accepted in {elapsed:.1} s: the limit refused more than it should"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_store_each_node_counts_its_own_binds() {
    let mut nodes = TwoNodes::start("max_binds = 1").await;
    nodes.redis.kill();
    let (a, b) = (nodes.a.smpp_addr(), nodes.b.smpp_addr());
    let _on_a = bind(a).await.expect("a bind on A, counted by A alone");
    assert_eq!(bind(a).await.err(), Some(ESME_RBINDFAIL), "A's own limit");
    let _on_b = bind(b).await.expect("a bind on B, counted by B alone");
}
