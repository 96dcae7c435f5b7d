//! A whole site goes down: nodes a1 and a2 (site A) and b1 (site B) on one Redis; a client
//! bound to both sites (receivers on a1 and b1) sends MTs through a1; once they have left for
//! the carrier, every node of site A is killed before the carrier's receipts come back. Site
//! B carries on: it accepts new MTs, and the receipts for the MTs that left through A reach
//! the client on its site-B bind.

mod gateway;
mod redis_server;

use std::time::Duration;

use gateway::*;
use redis_server::RedisServer;
use smsgw::carrier_sim::CarrierSimConfig;
use smsgw_smpp::BindKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_b_carries_on_and_delivers_receipts_for_mts_that_left_through_site_a() {
    let redis = RedisServer::start().await;
    let sim = start_sim(CarrierSimConfig {
        dr_delay: Duration::from_millis(1500),
        ..Default::default()
    })
    .await;
    let store = redis_store_toml(&redis.url, "site-down:");
    let names = [("a1", "siteA"), ("a2", "siteA"), ("b1", "siteB")];
    let (_dirs, mut nodes) = spawn_nodes(sim.local_addr(), &store, &names).await;
    let (_on_a1, incoming_a1) = bind_to(nodes[0].smpp, BindKind::Receiver).await;
    let (_on_b1, incoming_b1) = bind_to(nodes[2].smpp, BindKind::Receiver).await;
    let mut incoming = merge_incoming(vec![incoming_a1, incoming_b1]);

    let (via_a, _none) = bind_to(nodes[0].smpp, BindKind::Transmitter).await;
    let (load, acked_via_a) = submit_load(via_a, 100, 16);
    load.await.unwrap();
    let acked_via_a = acked_via_a.lock().unwrap().clone();
    assert_eq!(acked_via_a.len(), 100);
    // Every MT has left for the carrier (through a1 or a2, the nodes with the carrier binds
    // that took them) before site A goes down; their receipts come 1.5 s later.
    tokio::time::timeout(Duration::from_secs(10), async {
        while sim.stats().submits_accepted < 100 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the MTs left for the carrier");
    for node in &mut nodes[..2] {
        node.child.start_kill().unwrap();
        node.child.wait().await.unwrap();
    }

    let (via_b, _none) = bind_to(nodes[2].smpp, BindKind::Transmitter).await;
    let (load, acked_via_b) = submit_load(via_b, 100, 16);
    load.await.unwrap();
    let acked_via_b = acked_via_b.lock().unwrap().clone();
    assert_eq!(acked_via_b.len(), 100, "site B refused MTs");

    let acked: std::collections::HashSet<String> =
        acked_via_a.union(&acked_via_b).cloned().collect();
    let receipts = collect_receipts(&mut incoming, &acked, Duration::from_secs(30)).await;
    let missing_a = acked_via_a
        .iter()
        .filter(|id| !receipts.contains_key(*id))
        .count();
    let missing_b = acked_via_b
        .iter()
        .filter(|id| !receipts.contains_key(*id))
        .count();
    eprintln!(
        "receipts {} of {}, duplicated {}, carrier submits {}",
        receipts.len(),
        acked.len(),
        receipts.values().filter(|n| **n > 1).count(),
        sim.stats().submits_accepted
    );
    assert_eq!(
        (missing_a, missing_b),
        (0, 0),
        "receipts missing for MTs via site A / site B"
    );
}
