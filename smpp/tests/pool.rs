//! BindPool against real servers on 127.0.0.1, with tokio's paused clock for the rebind floor.

mod common;

use std::{sync::atomic::Ordering, sync::Arc, time::Duration};

use common::*;
use smsgw_smpp::{
    client::AcceptAll,
    pool::{rebind_delay, BindPool, Endpoint, PoolConfig, PoolError, Strategy},
    rusmpp::CommandStatus,
    BindKind,
};
use tokio::time::Instant;

fn pool_config(addrs: &[std::net::SocketAddr]) -> PoolConfig {
    let endpoints = addrs.iter().map(|a| Endpoint::tcp(a.to_string())).collect();
    PoolConfig::new(endpoints, demo_client(BindKind::Transceiver))
}

fn attempts(smsc: &TestSmsc) -> Vec<Instant> {
    smsc.bind_attempts
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| *t)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_refused_bind_is_not_retried_before_30_s() {
    let (_server, smsc, addr) = start_server(Default::default()).await;
    smsc.refuse_binds.store(true, Ordering::SeqCst);
    let start = Instant::now();
    let pool = BindPool::start(pool_config(&[addr]), Arc::new(AcceptAll));

    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(attempts(&smsc).len(), 1, "retried before the 30 s floor");
    let status = &pool.status()[0];
    assert!(!status.up);
    assert_eq!(status.last_refusal, Some(CommandStatus::EsmeRbindfail));
    assert!(status.next_attempt.unwrap() >= start + Duration::from_secs(30));

    smsc.refuse_binds.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let seen = attempts(&smsc);
    assert_eq!(seen.len(), 2);
    assert!(seen[1] - seen[0] >= Duration::from_secs(30));
    pool.wait_for_active(1).await;
}

#[tokio::test(start_paused = true)]
async fn repeated_failures_back_off_exponentially_above_the_floor() {
    let (_server, smsc, addr) = start_server(Default::default()).await;
    smsc.refuse_binds.store(true, Ordering::SeqCst);
    let _pool = BindPool::start(pool_config(&[addr]), Arc::new(AcceptAll));
    tokio::time::sleep(Duration::from_secs(400)).await;
    let seen = attempts(&smsc);
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.len() >= 3, "{gaps:?}");
    for (i, gap) in gaps.iter().enumerate() {
        let base = Duration::from_secs(30 << i);
        assert!(
            *gap >= base && *gap <= base.mul_f64(1.1) + Duration::from_millis(50),
            "gap {i}: {gap:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn repeated_failures_stop_growing_at_the_ceiling_plus_its_jitter() {
    let (_server, smsc, addr) = start_server(Default::default()).await;
    smsc.refuse_binds.store(true, Ordering::SeqCst);
    let mut config = pool_config(&[addr]);
    config.max_rebind_delay = Duration::from_secs(60);
    let _pool = BindPool::start(config, Arc::new(AcceptAll));
    tokio::time::sleep(Duration::from_secs(400)).await;
    let seen = attempts(&smsc);
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.len() >= 5, "{gaps:?}");
    let slack = Duration::from_millis(50);
    assert!(gaps[0] >= Duration::from_secs(30) && gaps[0] <= Duration::from_secs(33) + slack);
    for gap in &gaps[1..] {
        assert!(
            *gap >= Duration::from_secs(60) && *gap <= Duration::from_secs(66) + slack,
            "{gaps:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_bind_dropped_right_after_bind_resp_waits_30_s_while_other_binds_carry_traffic() {
    let (_good_server, good, good_addr) = start_server(Default::default()).await;
    let (_flaky_server, flaky, flaky_addr) = start_server(Default::default()).await;
    flaky.drop_after_bind.store(true, Ordering::SeqCst);
    let pool = BindPool::start(pool_config(&[good_addr, flaky_addr]), Arc::new(AcceptAll));
    pool.wait_for_active(1).await;

    // Keep submitting for 29 s of virtual time: every submit lands on the good SMSC.
    for second in 0..29 {
        let submitted = pool.submit(submit_to("447700900001", "hi")).await.unwrap();
        assert_eq!(submitted.endpoint, good_addr.to_string(), "at {second} s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(attempts(&flaky).len(), 1, "flaky SMSC rebound before 30 s");
    assert_eq!(good.submits.lock().unwrap().len(), 29);

    tokio::time::sleep(Duration::from_secs(5)).await;
    let seen = attempts(&flaky);
    assert_eq!(seen.len(), 2);
    assert!(seen[1] - seen[0] >= Duration::from_secs(30));
}

#[tokio::test]
async fn submits_spread_over_binds_and_skip_none() {
    let (_s1, one, a1) = start_server(Default::default()).await;
    let (_s2, two, a2) = start_server(Default::default()).await;
    let mut config = pool_config(&[a1, a2]);
    config.binds_per_endpoint = 2;
    let pool = BindPool::start(config, Arc::new(AcceptAll));
    pool.wait_for_active(4).await;
    for _ in 0..40 {
        pool.submit(submit_to("447700900001", "x")).await.unwrap();
    }
    assert_eq!(one.submits.lock().unwrap().len(), 20);
    assert_eq!(two.submits.lock().unwrap().len(), 20);
    assert!(pool.status().iter().all(|s| s.up));
    let refused = pool.submit(submit_to("99930001", "x")).await.unwrap_err();
    assert!(refused.is_refusal(), "{refused:?}");
    pool.shutdown().await;
    assert!(pool.active().is_empty());
    let none_bound = pool.submit(submit_to("1", "x")).await.unwrap_err();
    assert_eq!(none_bound, PoolError::NoActiveBind);
    assert!(
        !none_bound.is_refusal(),
        "no bind up is worth another attempt"
    );
}

#[tokio::test]
async fn least_outstanding_strategy_uses_an_idle_bind() {
    let (_s, smsc, addr) = start_server(Default::default()).await;
    let mut config = pool_config(&[addr]);
    config.binds_per_endpoint = 3;
    config.strategy = Strategy::LeastOutstanding;
    let pool = BindPool::start(config, Arc::new(AcceptAll));
    pool.wait_for_active(3).await;
    let submits = (0..30).map(|_| pool.submit(submit_to("447700900001", "x")));
    let results = futures_util::future::join_all(submits).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(smsc.submits.lock().unwrap().len(), 30);
}

#[test]
fn rebind_delay_never_goes_below_the_floor_even_if_configured_lower() {
    let mut config = pool_config(&[]);
    config.rebind_delay = Duration::from_secs(1);
    for failures in 1..20 {
        let delay = rebind_delay(&config, failures);
        assert!(delay >= Duration::from_secs(30));
        assert!(delay <= config.max_rebind_delay.mul_f64(1.1));
    }
}

#[tokio::test]
async fn dropping_the_pool_unbinds_its_binds() {
    let (server, _smsc, addr) = start_server(Default::default()).await;
    let pool = BindPool::start(pool_config(&[addr]), Arc::new(AcceptAll));
    pool.wait_for_active(1).await;
    let session = server.registry().sessions("demo").pop().unwrap();
    drop(pool);
    tokio::time::timeout(Duration::from_secs(5), session.closed())
        .await
        .expect("the bind outlived its pool");
}
