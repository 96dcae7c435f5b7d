//! HTTP push end to end, over real sockets: targets that resolve to internal addresses are
//! refused, counted and kept (and delivered once allowed), each account's concurrency is the
//! most its receiver sees at once, and a stalled receiver holds up only its own account.

mod gateway;

use std::sync::atomic::Ordering;
use std::time::Duration;

use gateway::push_receiver::{wait_until, Answer, PushReceiver};
use gateway::{http_load, http_load_as, metrics_text, ConfigExtra, TestGateway, PASSWORD};
use smsgw::carrier_sim::CarrierSimConfig;
use smsgw::credentials::hash_password;

async fn outbox_depth(test: &TestGateway, account: &str) -> usize {
    gateway::outbox_depth(test.gateway.store().as_ref(), account).await
}

/// A gateway whose `acme` account has `account` lines and `accounts` more account tables.
async fn start(account: &str, accounts: &str) -> TestGateway {
    let sim = gateway::start_sim(CarrierSimConfig {
        dr_delay: Duration::from_millis(10),
        ..CarrierSimConfig::default()
    })
    .await;
    let extra = ConfigExtra {
        account,
        tables: accounts,
        ..ConfigExtra::default()
    };
    TestGateway::start_in(sim, tempfile::tempdir().unwrap(), extra).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_host_resolving_to_loopback_is_refused_counted_kept_and_sent_once_allowed() {
    let receiver = PushReceiver::start(Answer::Status(200)).await;
    let url = format!("http://localhost:{}/push", receiver.port);
    let test = start(&format!("push = {{ url = \"{url}\" }}"), "").await;
    let (load, acked) = http_load(test.gateway.http_addr(), 1, 1);
    load.await.unwrap();
    assert_eq!(acked.lock().unwrap().len(), 1);

    let refused = "delivery_push_refused_total{account=\"acme\",range=\"loopback\"}";
    let mut counted = String::new();
    for _ in 0..100 {
        counted = metrics_text(test.gateway.admin_addr()).await;
        if counted.contains(refused) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(counted.contains(refused), "{counted}");
    assert_eq!(receiver.seen.requests.load(Ordering::SeqCst), 0);
    assert_eq!(outbox_depth(&test, "acme").await, 1, "the receipt is kept");

    // The same store with the range allowed: the kept receipt goes out.
    let TestGateway { gateway, sim, dir } = test;
    gateway.shutdown().await;
    let allowed = format!("push = {{ url = \"{url}\", allow_private_targets = [\"127.0.0.1\"] }}");
    let extra = ConfigExtra {
        account: &allowed,
        ..ConfigExtra::default()
    };
    let test = TestGateway::start_in(sim, dir, extra).await;
    assert!(
        wait_until(Duration::from_secs(20), || !receiver
            .seen
            .bodies()
            .is_empty())
        .await,
        "the kept receipt was not pushed once allowed"
    );
    assert!(receiver.seen.bodies()[0].contains("type=receipt"));
    test.gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_never_sees_more_pushes_at_once_than_the_accounts_concurrency() {
    const CONCURRENCY: usize = 3;
    const MTS: usize = 15;
    let receiver = PushReceiver::start(Answer::WhenInFlight(CONCURRENCY)).await;
    let push = format!(
        "push = {{ url = \"{}\", concurrency = {CONCURRENCY}, allow_private_targets = [\"127.0.0.1\"] }}",
        receiver.url()
    );
    let test = start(&push, "").await;
    let (load, acked) = http_load(test.gateway.http_addr(), MTS, 8);
    load.await.unwrap();
    assert_eq!(acked.lock().unwrap().len(), MTS);
    assert!(
        wait_until(Duration::from_secs(30), || receiver.seen.bodies().len()
            >= MTS)
        .await,
        "pushed {} of {MTS}",
        receiver.seen.bodies().len()
    );
    assert_eq!(
        receiver.seen.max_in_flight.load(Ordering::SeqCst),
        CONCURRENCY,
        "at most the concurrency, and all of it used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_receiver_holds_up_only_its_own_accounts_pushes() {
    let stalled = PushReceiver::start(Answer::Stall).await;
    let fast = PushReceiver::start(Answer::Status(200)).await;
    let allow = "allow_private_targets = [\"127.0.0.1\"]";
    let acme = format!(
        "push = {{ url = \"{}\", concurrency = 2, timeout = \"120s\", {allow} }}",
        stalled.url()
    );
    let beta = format!(
        "[[accounts]]\nsystem_id = \"beta\"\npassword_hash = \"{}\"\n\
         push = {{ url = \"{}\", concurrency = 2, {allow} }}\n",
        hash_password(PASSWORD),
        fast.url()
    );
    let test = start(&acme, &beta).await;

    let (load, acked) = http_load(test.gateway.http_addr(), 6, 6);
    load.await.unwrap();
    assert_eq!(acked.lock().unwrap().len(), 6);
    assert!(
        wait_until(Duration::from_secs(10), || stalled.seen.in_flight() == 2).await,
        "acme's receiver should hold its two pushes"
    );

    let (load, acked) = http_load_as(test.gateway.http_addr(), "beta", 20, 8);
    load.await.unwrap();
    assert_eq!(acked.lock().unwrap().len(), 20);
    assert!(
        wait_until(Duration::from_secs(20), || fast.seen.bodies().len() >= 20).await,
        "beta pushed {} of 20 while acme's receiver stalled",
        fast.seen.bodies().len()
    );
    assert_eq!(
        stalled.seen.in_flight(),
        2,
        "acme still waits, within its limit"
    );
    assert_eq!(stalled.seen.requests.load(Ordering::SeqCst), 2);
}
