//! The gateway as a real process: killed with SIGKILL under SMPP load, every MT it had
//! acknowledged reaches the carrier after a restart and its receipt reaches the client;
//! stopped with SIGTERM, it unbinds its clients and exits 0.

mod gateway;

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::{stream::FuturesUnordered, StreamExt};
use gateway::*;
use smsgw::carrier_sim::CarrierSimConfig;
use smsgw_smpp::{encoding::receipt_from_deliver_sm, BindKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_mt_survives_kill_9() {
    let sim = start_sim(CarrierSimConfig {
        dr_delay: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("smsgw.toml");
    std::fs::write(&config, config_text(sim.local_addr(), dir.path(), "")).unwrap();

    let (mut child, addr) = spawn_gateway(&config).await;
    let (client, _none) = bind_to(addr, BindKind::Transmitter).await;
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let load = {
        let acked = acked.clone();
        tokio::spawn(async move {
            let mut in_flight = FuturesUnordered::new();
            for n in 0..5000 {
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
    while acked.lock().unwrap().len() < 1000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    load.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 1000 && acked.len() < 5000, "{}", acked.len());

    let (_restarted, addr) = spawn_gateway(&config).await;
    let (_receiver, mut incoming) = bind_to(addr, BindKind::Receiver).await;
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
    let duplicates = receipts.values().filter(|n| **n > 1).count();
    println!(
        "acknowledged {}, receipts for {}, duplicated receipts {duplicates}, carrier submits {}",
        acked.len(),
        receipts.len(),
        sim.stats().submits_accepted
    );
    assert!(
        missing.is_empty(),
        "{} acknowledged MTs never reached the client: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_unbinds_clients_and_exits_0() {
    let sim = start_sim(CarrierSimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("smsgw.toml");
    std::fs::write(&config, config_text(sim.local_addr(), dir.path(), "")).unwrap();
    let (mut child, addr) = spawn_gateway(&config).await;
    let (client, _incoming) = bind_to(addr, BindKind::Transceiver).await;
    client
        .submit(submit("447700900001", "before stop", false))
        .await
        .unwrap();

    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(20), client.closed())
        .await
        .expect("the gateway did not unbind its client");
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the gateway did not exit after SIGTERM")
        .unwrap();
    assert_eq!(exit.code(), Some(0), "{exit}");
}
