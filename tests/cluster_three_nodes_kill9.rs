//! Three gateway processes in two sites (a1, a2 in site A; b1 in site B) on one Redis. Node
//! a1 takes SMPP and HTTP load and is killed with SIGKILL mid-load; the client's receiver
//! binds are on a2 and b1. Every MT a1 acknowledged (over either interface) reaches the
//! carrier through the others after the lease, and its receipt reaches the client; duplicated
//! receipts and extra carrier submits are counted and printed.

mod gateway;
mod redis_server;

use std::time::Duration;

use gateway::*;
use redis_server::{
    leases::{mts_leased_to, until_holding},
    RedisServer,
};
use smsgw::carrier_sim::CarrierSimConfig;
use smsgw_smpp::BindKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_three_nodes_mid_load_loses_no_acknowledged_mt() {
    let redis = RedisServer::start().await;
    let sim = start_sim(CarrierSimConfig {
        dr_delay: Duration::from_millis(20),
        // A carrier that takes its time to answer, so a1 always has MTs taken and not yet
        // submitted when it is killed, however fast this machine is.
        submit_resp_delay: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    let store = redis_store_toml(&redis.url, "three-nodes:");
    let names = [("a1", "siteA"), ("a2", "siteA"), ("b1", "siteB")];
    let (_dirs, mut nodes) = spawn_nodes(sim.local_addr(), &store, &names).await;
    let (_on_a2, incoming_a2) = bind_to(nodes[1].smpp, BindKind::Receiver).await;
    let (_on_b1, incoming_b1) = bind_to(nodes[2].smpp, BindKind::Receiver).await;
    let mut incoming = merge_incoming(vec![incoming_a2, incoming_b1]);
    let (client, _none) = bind_to(nodes[0].smpp, BindKind::Transmitter).await;

    let (smpp_load, smpp_acked) = submit_load(client, 3000, 64);
    let (http_load, http_acked) = http_load(nodes[0].http, 1000, 16);
    wait_for_acked(&smpp_acked, 500, Duration::from_secs(60)).await;
    let a1 = &mut nodes[0].child;
    let pid_a1 = a1.id().unwrap();
    // Killed while it holds MTs it took (the carrier answers after 50 ms), so the kill always
    // leaves work the others must take over.
    until_holding(&mut redis.connection().await, "three-nodes:", pid_a1, 8).await;
    a1.start_kill().unwrap();
    a1.wait().await.unwrap();
    // Read before a1's lease (2 s) runs out and the others claim what it held.
    let leased = mts_leased_to(&mut redis.connection().await, "three-nodes:", pid_a1).await;
    for load in [smpp_load, http_load] {
        tokio::time::timeout(Duration::from_secs(30), load)
            .await
            .expect("a load did not end after a1 died")
            .unwrap();
    }
    let smpp_acked = smpp_acked.lock().unwrap().clone();
    let http_acked = http_acked.lock().unwrap().clone();
    assert!(smpp_acked.len() < 3000, "a1 was killed after all its load");
    assert!(
        leased > 0,
        "a1 held no MT it had taken and not submitted at the kill: nothing to take over"
    );
    let acked: std::collections::HashSet<String> = smpp_acked.union(&http_acked).cloned().collect();

    let receipts = collect_receipts(&mut incoming, &acked, Duration::from_secs(40)).await;
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !receipts.contains_key(*id))
        .collect();
    eprintln!(
        "acknowledged by a1: {} over SMPP, {} over HTTP; leased to a1 at the kill {leased}; \
         receipts {}, duplicated receipts {}, carrier submits {}",
        smpp_acked.len(),
        http_acked.len(),
        receipts.len(),
        receipts.values().filter(|n| **n > 1).count(),
        sim.stats().submits_accepted
    );
    assert!(!http_acked.is_empty(), "no HTTP MT was acknowledged");
    assert!(
        missing.is_empty(),
        "{} acknowledged MTs without a receipt: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}
