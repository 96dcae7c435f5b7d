//! Two gateway processes in two sites on one Redis. Node A takes SMPP load and is killed with
//! SIGKILL mid-load; node B carries on: every MT that A acknowledged reaches the carrier (B
//! takes over A's leased work after the lease) and its receipt reaches the client's bind on B.

mod gateway;
mod redis_server;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::{stream::FuturesUnordered, StreamExt};
use gateway::*;
use redis_server::RedisServer;
use smsgw::carrier_sim::CarrierSimConfig;
use smsgw_smpp::{encoding::receipt_from_deliver_sm, BindKind};

fn node_config(
    sim: std::net::SocketAddr,
    redis: &str,
    node: &str,
    site: &str,
    dir: &std::path::Path,
) -> std::path::PathBuf {
    let text = config_text(sim, dir, "")
        .replace("node_id = \"n1\"", &format!("node_id = \"{node}\""))
        .replace("site = \"test\"", &format!("site = \"{site}\""))
        + &format!(
            "\n[store]\nkind = \"redis\"\n\n[store.redis]\nurl = \"{redis}\"\nkey_prefix = \"kill9:\"\nlease = \"2s\"\n"
        );
    let path = dir.join("smsgw.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_load_loses_no_acknowledged_mt() {
    let redis = RedisServer::start().await;
    let sim = start_sim(CarrierSimConfig {
        dr_delay: Duration::from_millis(20),
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

    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let load = {
        let acked = acked.clone();
        tokio::spawn(async move {
            let mut in_flight = FuturesUnordered::new();
            for n in 0..3000 {
                let client = client.clone();
                in_flight.push(async move {
                    client
                        .submit(submit("447700900001", &format!("load {n}"), true))
                        .await
                });
                if in_flight.len() >= 64 {
                    match in_flight.next().await {
                        Some(Ok(id)) => {
                            acked.lock().unwrap().insert(id);
                        }
                        Some(Err(_)) => break,
                        None => {}
                    }
                }
            }
            while let Some(result) = in_flight.next().await {
                if let Ok(id) = result {
                    acked.lock().unwrap().insert(id);
                }
            }
        })
    };
    while acked.lock().unwrap().len() < 500 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node_a.start_kill().unwrap();
    node_a.wait().await.unwrap();
    load.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 500 && acked.len() < 3000, "{}", acked.len());

    let mut receipts: HashMap<String, usize> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !acked.iter().all(|id| receipts.contains_key(id)) {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Ok(Some(deliver)) = tokio::time::timeout(remaining, incoming.recv()).await else {
            break;
        };
        if let Ok(receipt) = receipt_from_deliver_sm(deliver.pdu()) {
            *receipts.entry(receipt.id).or_default() += 1;
        }
        deliver.accept();
    }
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !receipts.contains_key(*id))
        .collect();
    println!(
        "acknowledged by A {}, receipts {}, duplicated receipts {}, carrier submits {}",
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
