//! The gateway as a real process: killed with SIGKILL under SMPP load, every MT it had
//! acknowledged reaches the carrier after a restart and its receipt reaches the client;
//! stopped with SIGTERM, it unbinds its clients and exits 0.

mod gateway;

use std::time::Duration;

use gateway::*;
use smsgw::carrier_sim::CarrierSimConfig;
use smsgw_smpp::BindKind;

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
    let (load, acked) = submit_load(client, 5000, 64);
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
    let receipts = collect_receipts(&mut incoming, &acked, Duration::from_secs(120)).await;
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
