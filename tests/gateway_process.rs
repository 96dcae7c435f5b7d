//! The gateway as a real process: killed with SIGKILL under SMPP load with acknowledged MTs
//! not yet sent, every MT it had acknowledged reaches the carrier after a restart and its
//! receipt reaches the client;
//! stopped with SIGTERM while client submits are in flight and a slow carrier holds its
//! answers, it answers each client submit, unbinds its clients before closing them, exits 0,
//! and after a restart every MT it accepted is delivered and none is sent to the carrier twice.

mod gateway;

use std::time::Duration;

use gateway::*;
use smsgw::carrier_sim::CarrierSimConfig;
use smsgw_smpp::{rusmpp::CommandStatus, BindKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_mt_survives_kill_9() {
    let sim = start_sim(CarrierSimConfig {
        dr_delay: Duration::from_millis(20),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("smsgw.toml");
    // Until the kill the connector sends 100 MTs a second, far fewer than are acknowledged,
    // so acknowledged MTs are still unsent when the process dies; the restart sends at will.
    let slow = ConfigExtra {
        connector: "throughput = 100",
        ..ConfigExtra::default()
    };
    std::fs::write(
        &config,
        config_text_with(sim.local_addr(), dir.path(), slow),
    )
    .unwrap();

    let (mut child, addr) = spawn_gateway(&config).await;
    let (client, _none) = bind_to(addr, BindKind::Transmitter).await;
    let (load, acked) = submit_load(client, 5000, 64);
    wait_for_acked(&acked, 1000, Duration::from_secs(60)).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), load)
        .await
        .expect("the load did not end after the kill")
        .unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 1000 && acked.len() < 5000, "{}", acked.len());
    // What the dead gateway wrote is read once its bind to the carrier has closed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sim.stats().bound_sessions > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the carrier still sees the killed gateway's bind after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent_before_kill = sim.stats().submits_accepted as usize;
    assert!(
        sent_before_kill < acked.len(),
        "every acknowledged MT ({}) had reached the carrier ({sent_before_kill}) before the \
         kill: the restart has nothing to prove",
        acked.len()
    );

    std::fs::write(&config, config_text(sim.local_addr(), dir.path(), "")).unwrap();
    let (_restarted, addr) = spawn_gateway(&config).await;
    let (_receiver, mut incoming) = bind_to(addr, BindKind::Receiver).await;
    let receipts = collect_receipts(&mut incoming, &acked, Duration::from_secs(120)).await;
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !receipts.contains_key(*id))
        .collect();
    let duplicates = receipts.values().filter(|n| **n > 1).count();
    println!(
        "acknowledged {}, sent before the kill {sent_before_kill}, receipts for {}, \
         duplicated receipts {duplicates}, carrier submits {}",
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
async fn sigterm_answers_submits_in_flight_unbinds_clients_and_exits_0() {
    // A carrier slow to answer: the gateway has submits out to it at the signal too.
    let sim = start_sim(CarrierSimConfig {
        dr_delay: Duration::from_millis(20),
        submit_resp_delay: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("smsgw.toml");
    std::fs::write(&config, config_text(sim.local_addr(), dir.path(), "")).unwrap();
    let (mut child, addr) = spawn_gateway(&config).await;

    // The client keeps a window of submits outstanding, so some are in flight at the signal.
    let pid = child.id().unwrap().to_string();
    let terminate = move || {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    };
    let session = tokio::time::timeout(
        Duration::from_secs(60),
        raw_esme::submit_through_a_signal(addr, 200, terminate),
    )
    .await
    .expect("the gateway kept the client's connection open 60 s after SIGTERM");
    let accepted: std::collections::HashSet<String> = session
        .answers
        .values()
        .filter(|(status, _)| *status == CommandStatus::EsmeRok)
        .filter_map(|(_, id)| id.clone())
        .collect();
    let in_flight_accepted = session
        .in_flight_at_signal
        .iter()
        .filter(|sequence| {
            matches!(
                session.answers.get(sequence),
                Some((CommandStatus::EsmeRok, _))
            )
        })
        .count();
    println!(
        "in flight at the signal {}, of which accepted {in_flight_accepted}; answers {}, \
         accepted {}, answered after the unbind {}",
        session.in_flight_at_signal.len(),
        session.answers.len(),
        accepted.len(),
        session.answered_after_unbind,
    );
    assert!(
        !session.in_flight_at_signal.is_empty(),
        "no submit was in flight at the signal"
    );
    assert!(
        session.unbound_by_gateway,
        "the gateway closed the connection without an unbind"
    );
    assert!(
        session.unanswered.is_empty(),
        "{} submits were never answered before the close: {:?}",
        session.unanswered.len(),
        session.unanswered
    );
    assert!(
        session.answered_twice.is_empty(),
        "submits answered twice: {:?}",
        session.answered_twice
    );
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the gateway did not exit after SIGTERM")
        .unwrap();
    assert_eq!(exit.code(), Some(0), "{exit}");

    // An answer is a promise: every MT accepted up to the shutdown reaches the carrier and
    // its receipt the client, from the restarted gateway.
    let (_restarted, addr) = spawn_gateway(&config).await;
    let (_receiver, mut incoming) = bind_to(addr, BindKind::Receiver).await;
    let receipts = collect_receipts(&mut incoming, &accepted, Duration::from_secs(60)).await;
    let missing: Vec<&String> = accepted
        .iter()
        .filter(|id| !receipts.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} MTs accepted before the shutdown never reached the client: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // A graceful stop waits for the carrier's answers to what it sent, so the restarted
    // gateway sends nothing a second time (a kill -9 may).
    let expected = accepted.len() as u64;
    assert_eq!(
        carrier_submits_settled(&sim, expected).await,
        expected,
        "MTs sent to the carrier twice across the SIGTERM restart"
    );
}
