//! Two gateway processes in two sites on one Redis. Node A takes SMPP load and is killed with
//! SIGKILL mid-load, while it holds MTs it took and had not submitted; node B carries on:
//! every MT that A acknowledged reaches the carrier (B takes over A's leased work after the
//! lease) and its receipt reaches the client's bind on B.

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

fn node_config(
    sim: std::net::SocketAddr,
    redis: &str,
    node: &str,
    site: &str,
    dir: &std::path::Path,
) -> std::path::PathBuf {
    node_config_file(sim, dir, node, site, &redis_store_toml(redis, "kill9:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_load_loses_no_acknowledged_mt() {
    let redis = RedisServer::start().await;
    let sim = start_sim(CarrierSimConfig {
        dr_delay: Duration::from_millis(20),
        // A carrier that takes its time to answer, so A always holds MTs it took and has not
        // submitted when it is killed, however fast this machine is.
        submit_resp_delay: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut node_a, addr_a) = spawn_gateway(&node_config(
        sim.local_addr(),
        &redis.url,
        "a1",
        "siteA",
        dir_a.path(),
    ))
    .await;
    let (_node_b, addr_b) = spawn_gateway(&node_config(
        sim.local_addr(),
        &redis.url,
        "b1",
        "siteB",
        dir_b.path(),
    ))
    .await;
    let (_receiver, mut incoming) = bind_to(addr_b, BindKind::Receiver).await;
    let (client, _none) = bind_to(addr_a, BindKind::Transmitter).await;

    let (load, acked) = submit_load(client, 3000, 64);
    wait_for_acked(&acked, 500, Duration::from_secs(60)).await;
    let pid_a = node_a.id().unwrap();
    until_holding(&mut redis.connection().await, "kill9:", pid_a, 8).await;
    node_a.start_kill().unwrap();
    node_a.wait().await.unwrap();
    // Read before A's lease (2 s) runs out and B claims what A held.
    let leased = mts_leased_to(&mut redis.connection().await, "kill9:", pid_a).await;
    tokio::time::timeout(Duration::from_secs(30), load)
        .await
        .expect("the load did not end after A died")
        .unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 500 && acked.len() < 3000, "{}", acked.len());
    assert!(
        leased > 0,
        "A held no MT it had taken and not submitted at the kill: nothing for B to take over"
    );

    let receipts = collect_receipts(&mut incoming, &acked, Duration::from_secs(120)).await;
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !receipts.contains_key(*id))
        .collect();
    println!(
        "acknowledged by A {}, leased to A at the kill {leased}, receipts {}, \
         duplicated receipts {}, carrier submits {}",
        acked.len(),
        receipts.len(),
        receipts.values().filter(|n| **n > 1).count(),
        sim.stats().submits_accepted
    );
    assert!(
        missing.is_empty(),
        "{} acknowledged MTs lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}
