//! Two sites on the NATS JetStream store, as a deployment runs them: three nats-server
//! processes tagged sites a, b and c (the tie-breaker), two smsgw nodes in site A and two in
//! site B, each site's haproxy in front of its nodes, a carrier simulator that outlives them,
//! SMPP and HTTP load through both sites' balancers and a client with a receiver bound at each
//! site.
//!
//! - Site A lost whole (both nodes, its balancer and its store server, SIGKILL, as a power
//!   loss): site B
//!   accepts again with no manual step (the gap is measured and printed), no acknowledged MT
//!   is lost, every receipt reaches the client's bind at site B, duplicates only within the
//!   deliver_sm window of the bind that died and the MTs in flight to the carrier from the
//!   dead nodes (sent again after their lease); site A restarted rejoins and delivers nothing
//!   a second time.
//! - Site A cut off but alive (the other two store servers paused with SIGSTOP, so site A's
//!   server has no quorum): what its node acknowledged is all on the majority, which is shown
//!   by killing site A's server before the others resume (what it acknowledged alone would be
//!   gone); after the heal nothing acknowledged is lost or delivered twice.

mod gateway;
mod haproxy;
mod nats_server;

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use gateway::*;
use haproxy::Haproxy;
use nats_server::NatsCluster;
use smsgw::{
    carrier_sim::{CarrierSim, CarrierSimConfig},
    message::MessageId,
    store::{MessageRecord, NatsStore, NatsTarget, Store},
};
use smsgw_smpp::{client::IncomingDeliver, BindKind};

/// The deliver_sm window of a client bind (the account default): receipts in flight on a
/// bind whose node dies may be delivered again on another bind.
const BIND_WINDOW: usize = 64;
/// A liveness bound, not a speed claim: site B must accept again well within it.
const STUCK_AFTER: Duration = Duration::from_secs(60);

/// A `[store]` table on `servers` of `cluster` (their sites, in this order), with a 15 s
/// lease: a dead node's work moves on within the test, and a live node's does not while it
/// waits out a leader election (store requests time out after 5 s) or a deliver_sm response
/// (10 s); a shorter lease would deliver such work twice.
fn store_toml(cluster: &NatsCluster, sites: &[&str], namespace: &str) -> String {
    let servers: Vec<String> = sites
        .iter()
        .map(|site| format!("\"{}\"", cluster.url(site)))
        .collect();
    format!(
        "\n[store]\nkind = \"nats\"\n\n[store.nats]\nservers = [{}]\nnamespace = \"{namespace}\"\n\
         replicas = 3\nlease = \"15s\"\n",
        servers.join(", ")
    )
}

/// A node of the test: its process and the config it was started with (to restart it).
struct Node {
    process: GatewayProcess,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn spawn_node(sim: &CarrierSim, name: &str, site: &str, store: &str) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let config = node_config_file(sim.local_addr(), dir.path(), name, site, store);
    Node {
        process: spawn_gateway_process(&config).await,
        config,
        _dir: dir,
    }
}

impl Node {
    async fn kill(&mut self) {
        let _ = self.process.child.start_kill();
        let _ = self.process.child.wait().await;
    }

    async fn restart(&mut self) {
        self.kill().await;
        self.process = spawn_gateway_process(&self.config).await;
    }
}

/// Where a site's clients connect: its balancer's SMPP and HTTP addresses.
struct Front {
    smpp: SocketAddr,
    http: SocketAddr,
}

impl Front {
    fn new() -> Self {
        let address = || SocketAddr::from(([127, 0, 0, 1], haproxy::free_port()));
        Self {
            smpp: address(),
            http: address(),
        }
    }

    /// The site's balancer (haproxy) in front of `nodes`.
    async fn balance(&self, nodes: &[&Node]) -> Haproxy {
        let addresses: Vec<_> = nodes
            .iter()
            .map(|node| (node.process.smpp, node.process.http))
            .collect();
        Haproxy::site(self.smpp, self.http, &addresses).await
    }
}

/// The store as the surviving sites see it, read through the servers of `sites` (reads are
/// retried while the streams elect new leaders).
struct StoreView(Arc<NatsStore>);

impl StoreView {
    async fn connect(cluster: &NatsCluster, sites: &[&str], namespace: &str) -> Self {
        let urls = sites.iter().map(|site| cluster.url(site)).collect();
        let store = NatsStore::connect(&NatsTarget::new(urls, namespace, 3))
            .await
            .unwrap();
        Self(store)
    }

    async fn record(&self, id: &str) -> Option<MessageRecord> {
        let deadline = Instant::now() + STUCK_AFTER;
        let id = MessageId(id.to_owned());
        loop {
            match self.0.message(&id).await {
                Ok(found) => return found,
                Err(error) => {
                    assert!(Instant::now() < deadline, "store unreadable: {error}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Acknowledged ids with no record.
    async fn missing(&self, ids: &HashSet<String>) -> usize {
        let mut missing = 0;
        for id in ids {
            missing += usize::from(self.record(id).await.is_none());
        }
        missing
    }

    /// Where the messages of `ids` are (by state), with the queue depths: printed when
    /// receipts are missing, to tell stuck work from lost work.
    async fn explain(&self, ids: impl Iterator<Item = &String>) -> String {
        let mut states = std::collections::BTreeMap::new();
        for id in ids {
            let state = match self.record(id).await {
                Some(record) => format!("{:?} on {:?}", record.state, record.connector),
                None => "no record".to_owned(),
            };
            *states.entry(state).or_insert(0) += 1;
        }
        let queues = self.0.queue_depths().await;
        format!("states {states:?}; queue depths {queues:?}")
    }
}

/// Waits until `acked` grows past `from`; how long that took.
async fn next_ack_after(acked: &Acked, from: usize) -> Duration {
    let started = Instant::now();
    while acked.lock().unwrap().len() <= from {
        assert!(
            started.elapsed() < STUCK_AFTER,
            "nothing acknowledged for {STUCK_AFTER:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

fn union(sets: &[&Acked]) -> HashSet<String> {
    sets.iter()
        .flat_map(|set| set.lock().unwrap().clone())
        .collect()
}

/// Receipts per message id, counted as they arrive on the client's receiver binds: the
/// client answers each deliver_sm at once, as a live application does (one that stops reading
/// gets its unanswered receipts again, which is not what these tests measure).
#[derive(Clone, Default)]
struct Receipts(Arc<Mutex<HashMap<String, usize>>>);

impl Receipts {
    /// Counts what arrives on `incoming` from now on.
    fn count_from(&self, mut incoming: tokio::sync::mpsc::Receiver<IncomingDeliver>) {
        let counts = self.0.clone();
        tokio::spawn(async move {
            while let Some(deliver) = incoming.recv().await {
                if let Ok(receipt) = smsgw_smpp::encoding::receipt_from_deliver_sm(deliver.pdu()) {
                    *counts.lock().unwrap().entry(receipt.id).or_default() += 1;
                }
                deliver.accept();
            }
        });
    }

    fn counts(&self) -> HashMap<String, usize> {
        self.0.lock().unwrap().clone()
    }

    /// The counts once every id in `ids` has a receipt, or `limit` has passed.
    async fn once_all_of(&self, ids: &HashSet<String>, limit: Duration) -> HashMap<String, usize> {
        let deadline = Instant::now() + limit;
        loop {
            let counts = self.counts();
            if Instant::now() >= deadline || ids.iter().all(|id| counts.contains_key(id)) {
                return counts;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Of `ids`, how many have no receipt in `counts`, and how many got more than one.
fn missing_and_duplicated(
    ids: &HashSet<String>,
    counts: &HashMap<String, usize>,
) -> (usize, usize) {
    let missing = ids.iter().filter(|id| !counts.contains_key(*id)).count();
    let duplicated = ids
        .iter()
        .filter(|id| counts.get(*id).is_some_and(|n| *n > 1))
        .count();
    (missing, duplicated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_site_a_whole_site_b_goes_on_and_nothing_acknowledged_is_lost() {
    let mut cluster = NatsCluster::start().await;
    let namespace = "sitelost";
    // Receipts come 1.5 s after each submit: many are still due when site A goes.
    let sim = start_sim(CarrierSimConfig {
        dr_delay: Duration::from_millis(1500),
        ..Default::default()
    })
    .await;
    let site_a = store_toml(&cluster, &["a", "b", "c"], namespace);
    let site_b = store_toml(&cluster, &["b", "c", "a"], namespace);
    let mut a1 = spawn_node(&sim, "a1", "siteA", &site_a).await;
    let mut a2 = spawn_node(&sim, "a2", "siteA", &site_a).await;
    let b1 = spawn_node(&sim, "b1", "siteB", &site_b).await;
    let b2 = spawn_node(&sim, "b2", "siteB", &site_b).await;
    // Each site's balancer, as clients reach it: SMPP and HTTP round-robin over its nodes.
    let site_a_front = Front::new();
    let site_b_front = Front::new();
    let mut balancer_a = site_a_front.balance(&[&a1, &a2]).await;
    let _balancer_b = site_b_front.balance(&[&b1, &b2]).await;

    let (_receiver_a, incoming_a) = bind_to(site_a_front.smpp, BindKind::Receiver).await;
    let (_receiver_b, incoming_b) = bind_to(site_b_front.smpp, BindKind::Receiver).await;
    let receipts = Receipts::default();
    receipts.count_from(incoming_a);
    receipts.count_from(incoming_b);
    let (via_a, _none) = bind_to(site_a_front.smpp, BindKind::Transmitter).await;
    let (via_b, _none) = bind_to(site_b_front.smpp, BindKind::Transmitter).await;
    let (load_a, acked_a) = submit_load(via_a, 3000, 16);
    let (load_b, acked_b) = submit_load_past_errors(via_b, 3000, 16, Duration::from_millis(100));
    let (http_a, acked_http_a) = http_load(site_a_front.http, 1000, 8);
    let (http_b, acked_http_b) = http_load(site_b_front.http, 1000, 8);

    wait_for_acked(&acked_b, 300, STUCK_AFTER).await;
    // Site A goes at once: its nodes, its balancer and its store server.
    let (_, _, ()) = tokio::join!(a1.kill(), a2.kill(), async {
        balancer_a.kill();
        cluster.kill("a");
    });
    let acked_at_loss = acked_b.lock().unwrap().len();
    let gap = next_ack_after(&acked_b, acked_at_loss + 16).await;
    eprintln!(
        "site A lost after {acked_at_loss} MTs through site B's SMPP; it acknowledged again \
         after {gap:?}"
    );

    for load in [load_a, load_b, http_a, http_b] {
        tokio::time::timeout(Duration::from_secs(180), load)
            .await
            .expect("load finished")
            .unwrap();
    }
    let acked = union(&[&acked_a, &acked_b, &acked_http_a, &acked_http_b]);
    let survivors = StoreView::connect(&cluster, &["b", "c"], namespace).await;
    let missing = survivors.missing(&acked).await;
    let counts = receipts.once_all_of(&acked, Duration::from_secs(90)).await;
    let (missing_receipts, duplicated) = missing_and_duplicated(&acked, &counts);
    if missing_receipts > 0 {
        let without = acked.iter().filter(|id| !counts.contains_key(*id));
        eprintln!(
            "MTs without a receipt: {}",
            survivors.explain(without).await
        );
    }
    eprintln!(
        "acknowledged {} (SMPP via A {}, via B {}, HTTP via A {}, via B {}); records missing \
         {missing}, \
         receipts missing {missing_receipts}, duplicated {duplicated}; carrier submits {}",
        acked.len(),
        acked_a.lock().unwrap().len(),
        acked_b.lock().unwrap().len(),
        acked_http_a.lock().unwrap().len(),
        acked_http_b.lock().unwrap().len(),
        sim.stats().submits_accepted
    );
    assert_eq!(missing, 0, "acknowledged MTs lost with site A");
    assert_eq!(missing_receipts, 0, "receipts never delivered at site B");
    // A receipt comes twice when it was in flight on the dead site's bind, or when its MT was
    // in flight to the carrier from a dead node (sent again by site B after the lease: the
    // carrier counts one submit more than the MTs acknowledged).
    let extra_submits = (sim.stats().submits_accepted as usize).saturating_sub(acked.len());
    assert!(
        duplicated <= BIND_WINDOW + extra_submits,
        "{duplicated} receipts delivered twice, more than the dead bind's window \
         ({BIND_WINDOW}) and the carrier's extra submits ({extra_submits})"
    );

    // Site A comes back: its server rejoins the cluster, its nodes start again and bind.
    cluster.restart("a");
    a1.restart().await;
    a2.restart().await;
    let _balancer_a = site_a_front.balance(&[&a1, &a2]).await;
    let (_receiver_a, incoming_a) = bind_to(site_a_front.smpp, BindKind::Receiver).await;
    receipts.count_from(incoming_a);
    // Every receipt has arrived; none may come again now that site A is back.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let again = receipts
        .counts()
        .iter()
        .filter(|(id, n)| counts.get(*id).is_some_and(|before| *n > before))
        .count();
    assert_eq!(again, 0, "receipts delivered again after site A rejoined");
    let (via_a, _none) = bind_to(site_a_front.smpp, BindKind::Transmitter).await;
    let (load, acked_after) = submit_load_past_errors(via_a, 50, 8, Duration::from_millis(200));
    load.await.unwrap();
    let acked_after = acked_after.lock().unwrap().clone();
    assert_eq!(
        acked_after.len(),
        50,
        "site A does not accept after rejoining"
    );
    let counts = receipts
        .once_all_of(&acked_after, Duration::from_secs(30))
        .await;
    assert_eq!(
        missing_and_duplicated(&acked_after, &counts),
        (0, 0),
        "receipts for MTs sent after the rejoin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_cut_off_acknowledges_nothing_it_could_not_commit_with_a_quorum() {
    let mut cluster = NatsCluster::start().await;
    let namespace = "cutoff";
    let sim = start_sim(CarrierSimConfig {
        dr_delay: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    // Site A's nodes reach only site A's store server: cut off with it.
    let a1 = spawn_node(
        &sim,
        "a1",
        "siteA",
        &store_toml(&cluster, &["a"], namespace),
    )
    .await;
    let (_receiver, incoming) = bind_to(a1.process.smpp, BindKind::Receiver).await;
    let receipts = Receipts::default();
    receipts.count_from(incoming);
    let (client, _none) = bind_to(a1.process.smpp, BindKind::Transmitter).await;
    let (load, acked) = submit_load_past_errors(client, 2000, 16, Duration::from_millis(100));
    wait_for_acked(&acked, 200, STUCK_AFTER).await;

    cluster.pause("b");
    cluster.pause("c");
    let at_cut = acked.lock().unwrap().len();
    // Long enough for every submit in flight at the cut to be answered (the store's request
    // timeout is 5 s) and for new ones to be refused.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let during_cut = acked.lock().unwrap().clone();
    // The cut-off server goes for good before the others come back: whatever it acknowledged
    // without a quorum would now be lost, and the majority alone must have every MT a1
    // acknowledged.
    cluster.kill("a");
    cluster.resume("b");
    cluster.resume("c");
    eprintln!(
        "acknowledged {at_cut} before the cut, {} while cut off",
        during_cut.len() - at_cut
    );
    let missing = StoreView::connect(&cluster, &["b", "c"], namespace)
        .await
        .missing(&during_cut)
        .await;
    assert_eq!(
        missing, 0,
        "acknowledged by the cut-off site without a quorum"
    );

    // Site A's server back: a1 accepts again, and everything it acknowledged arrives.
    cluster.restart("a");
    tokio::time::timeout(Duration::from_secs(180), load)
        .await
        .expect("load finished")
        .unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > during_cut.len(),
        "nothing accepted after the heal"
    );
    let survivors = StoreView::connect(&cluster, &["b", "c"], namespace).await;
    let missing = survivors.missing(&acked).await;
    assert_eq!(missing, 0, "acknowledged MTs the majority does not have");
    let counts = receipts.once_all_of(&acked, Duration::from_secs(60)).await;
    let (missing_receipts, duplicated) = missing_and_duplicated(&acked, &counts);
    if missing_receipts > 0 {
        let without = acked.iter().filter(|id| !counts.contains_key(*id));
        eprintln!(
            "MTs without a receipt: {}",
            survivors.explain(without).await
        );
    }
    eprintln!(
        "acknowledged {}; receipts missing {missing_receipts}, duplicated {duplicated}",
        acked.len()
    );
    assert_eq!(missing_receipts, 0);
    assert_eq!(duplicated, 0, "receipts delivered twice after the heal");
}
