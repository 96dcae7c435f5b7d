//! `FailoverClient` end to end against real sites on loopback addresses, with tokio's clock
//! paused: the switch after the retry window, exactly-once acceptance across sites, refusals
//! returned at once, Retry-After honoured, the return to the preferred site, and DNS answers
//! followed only after their TTL.

mod failover_support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use failover_support::dns::DnsResponder;
use failover_support::site::{Site, WRONG_PASSWORD};
use smsgw_http::api::{IdempotencyKey, SubmitBody};
use smsgw_http::failover::{EndpointSource, NameServers, Scheme};
use smsgw_http::{
    ApiError, Credentials, FailoverClient, FailoverConfig, FailoverError, Priority, ReceiverError,
    ReceiverRequest,
};
use tokio::time::Instant;

const SITE_A: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const SITE_B_V4: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const SITE_B: IpAddr = IpAddr::V4(SITE_B_V4);

fn message(n: usize) -> ReceiverRequest {
    ReceiverRequest {
        credentials: Credentials {
            login: "demo".into(),
            password: "demo1234".into(),
        },
        phone_number: "447700900123".into(),
        sender: "ACME".into(),
        carrier: None,
        message: format!("hello {n}"),
        message_id: format!("m-{n}"),
        receipt: false,
        app_id: None,
        conversation_id: None,
        priority: Priority::Bulk,
        send_at: None,
        validity: None,
    }
}

fn client_for(sites: &[&Site], window: Duration, back_after: Option<Duration>) -> FailoverClient {
    let endpoints = sites
        .iter()
        .map(|site| EndpointSource::BaseUrl(site.url()))
        .collect();
    let mut config = FailoverConfig::new(endpoints);
    config.retry_window = window;
    config.return_to_preferred_after = back_after;
    FailoverClient::new(config).expect("client")
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| format!("m-{n}")).collect()
}

#[tokio::test(start_paused = true)]
async fn a_killed_preferred_site_is_left_only_after_the_window_and_each_message_is_taken_once() {
    let mut a = Site::start(SITE_A, 0).await;
    let b = Site::start(SITE_A, 0).await;
    let window = Duration::from_secs(5);
    let client = client_for(&[&a, &b], window, None);

    for n in 0..3 {
        let delivery = client.send_genesys(&message(n)).await.expect("sent");
        assert_eq!(delivery.endpoint.base(), &a.url());
        assert_eq!(delivery.answer.message_id, format!("m-{n}"));
        assert_eq!(delivery.attempts, 1);
    }

    a.kill().await;
    let started = Instant::now();
    let delivery = client.send_genesys(&message(3)).await.expect("sent");
    let took = started.elapsed();
    assert_eq!(delivery.endpoint.base(), &b.url());
    assert!(
        took >= window,
        "switched after {took:?}, before the {window:?} window"
    );
    assert!(
        took < window + Duration::from_secs(1),
        "switched late: {took:?}"
    );
    assert!(delivery.attempts >= 4, "{} attempts", delivery.attempts);

    for n in 4..6 {
        let started = Instant::now();
        let delivery = client.send_genesys(&message(n)).await.expect("sent");
        assert_eq!(
            delivery.endpoint.base(),
            &b.url(),
            "sticks to the working site"
        );
        assert_eq!(delivery.attempts, 1);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    assert_eq!(a.ledger.genesys_ids(), ids(0..3));
    assert_eq!(b.ledger.genesys_ids(), ids(3..6));
    assert_eq!(
        b.ledger.requests(),
        3,
        "no message sent twice to the second site"
    );
}

#[tokio::test(start_paused = true)]
async fn a_401_returns_at_once_with_the_result_code_and_no_switch() {
    let a = Site::start(SITE_A, 0).await;
    let b = Site::start(SITE_A, 0).await;
    let client = client_for(&[&a, &b], Duration::from_secs(30), None);
    let mut request = message(1);
    request.credentials.password = WRONG_PASSWORD.into();

    let started = Instant::now();
    let error = client.send_genesys(&request).await.expect_err("refused");
    assert!(started.elapsed() < Duration::from_millis(100));
    match error {
        FailoverError::Refused(refusal) => {
            assert_eq!(refusal.endpoint.base(), &a.url());
            assert_eq!(refusal.status, 401);
            assert_eq!(refusal.result_code, Some(2));
            assert_eq!(refusal.description, "authentication failed");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(a.ledger.requests(), 1);
    assert_eq!(b.ledger.requests(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_429_is_retried_on_the_same_site_after_its_retry_after() {
    let a = Site::start(SITE_A, 0).await;
    let b = Site::start(SITE_A, 0).await;
    a.ledger
        .receiver_script
        .lock()
        .unwrap()
        .push_back(ReceiverError::throttled(Duration::from_secs(7)));
    let client = client_for(&[&a, &b], Duration::from_secs(30), None);

    let started = Instant::now();
    let delivery = client.send_genesys(&message(1)).await.expect("sent");
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(7), "retried after {took:?}");
    assert!(took < Duration::from_secs(8), "retried late: {took:?}");
    assert_eq!(delivery.endpoint.base(), &a.url());
    assert_eq!(delivery.attempts, 2);
    assert_eq!(a.ledger.genesys_ids(), ids(1..2));
    assert_eq!(b.ledger.requests(), 0);
}

fn demo_credentials() -> Credentials {
    Credentials {
        login: "demo".into(),
        password: "demo1234".into(),
    }
}

fn json_body() -> SubmitBody {
    SubmitBody {
        to: "447700900123".into(),
        from: "ACME".into(),
        text: "hello".into(),
        carrier: None,
        receipt: false,
        priority: Priority::Bulk,
        app_id: None,
        conversation_id: None,
        client_message_id: None,
        send_at: None,
        validity: None,
    }
}

#[tokio::test(start_paused = true)]
async fn json_retries_a_503_with_the_same_idempotency_key() {
    let a = Site::start(SITE_A, 0).await;
    a.ledger
        .api_script
        .lock()
        .unwrap()
        .push_back(ApiError::internal());
    let client = client_for(&[&a], Duration::from_secs(30), None);
    let key = IdempotencyKey::parse("key-1").unwrap();

    let delivery = client
        .submit_json(&demo_credentials(), &key, &json_body())
        .await
        .expect("sent");
    assert_eq!(delivery.attempts, 2);
    assert_eq!(delivery.answer.id, "S-1");
    assert_eq!(*a.ledger.keys_seen.lock().unwrap(), ["key-1", "key-1"]);
    assert_eq!(a.ledger.json.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn status_is_read_through_the_surviving_site_and_an_unknown_id_is_refused() {
    let mut a = Site::start(SITE_A, 0).await;
    let b = Site::start(SITE_A, 0).await;
    a.kill().await;
    let client = client_for(&[&a, &b], Duration::from_secs(2), None);
    let key = IdempotencyKey::parse("key-s").unwrap();
    let taken = client
        .submit_json(&demo_credentials(), &key, &json_body())
        .await
        .expect("sent");
    assert_eq!(taken.endpoint.base(), &b.url());

    let status = client
        .status(&demo_credentials(), &taken.answer.id)
        .await
        .expect("status");
    assert_eq!(status.endpoint.base(), &b.url());
    assert_eq!(status.answer.id, taken.answer.id);
    assert_eq!(status.attempts, 1, "sticks to the site that answered");

    match client.status(&demo_credentials(), "S-404").await {
        Err(FailoverError::Refused(refusal)) => assert_eq!(refusal.status, 404),
        other => panic!("expected a 404 refusal, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_client_goes_back_to_the_preferred_site_once_its_healthz_answers() {
    let mut a = Site::start(SITE_A, 0).await;
    let b = Site::start(SITE_A, 0).await;
    let cool_down = Duration::from_secs(60);
    let client = client_for(&[&a, &b], Duration::from_secs(2), Some(cool_down));

    a.kill().await;
    let delivery = client.send_genesys(&message(1)).await.expect("sent");
    assert_eq!(delivery.endpoint.base(), &b.url());

    // After the cool-down with the preferred site still down: the probe fails, stay on B
    // at once (no retry window spent on A).
    tokio::time::sleep(cool_down).await;
    let started = Instant::now();
    let delivery = client.send_genesys(&message(2)).await.expect("sent");
    assert_eq!(delivery.endpoint.base(), &b.url());
    assert!(started.elapsed() < Duration::from_secs(1));

    // Back up, but the failed probe restarted the cool-down.
    a.restart().await;
    let delivery = client.send_genesys(&message(3)).await.expect("sent");
    assert_eq!(delivery.endpoint.base(), &b.url());

    tokio::time::sleep(cool_down).await;
    let delivery = client.send_genesys(&message(4)).await.expect("sent");
    assert_eq!(delivery.endpoint.base(), &a.url());
    assert_eq!(client.current_endpoint(), Some(delivery.endpoint));

    assert_eq!(a.ledger.genesys_ids(), ids(4..5));
    assert_eq!(b.ledger.genesys_ids(), ids(1..4));
}

/// Sites on 127.0.0.1 and 127.0.0.2 with the same port (Linux routes all of 127/8 to lo).
async fn sites_on_one_port() -> (Site, Site) {
    for _ in 0..20 {
        let a = Site::start(SITE_A, 0).await;
        if tokio::net::TcpListener::bind((SITE_B, a.addr.port()))
            .await
            .is_ok()
        {
            let b = Site::start(SITE_B, a.addr.port()).await;
            return (a, b);
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

fn resolved_client(dns: &DnsResponder, port: u16, window: Duration) -> FailoverClient {
    let mut config = FailoverConfig::new(vec![EndpointSource::Resolved {
        scheme: Scheme::Http,
        host: "smsgw.test".into(),
        port,
    }]);
    config.name_servers = NameServers::Udp(vec![dns.addr]);
    config.retry_window = window;
    config.return_to_preferred_after = None;
    FailoverClient::new(config).expect("client")
}

#[tokio::test(start_paused = true)]
async fn a_changed_dns_answer_is_followed_only_after_its_ttl() {
    let (a, b) = sites_on_one_port().await;
    let ttl = 60;
    let dns = DnsResponder::start(vec![Ipv4Addr::LOCALHOST], ttl).await;
    let client = resolved_client(&dns, a.addr.port(), Duration::from_secs(30));

    let delivery = client.send_genesys(&message(1)).await.expect("sent");
    assert_eq!(delivery.endpoint.address(), Some(SITE_A));
    assert_eq!(delivery.endpoint.base().host_str(), Some("smsgw.test"));
    assert_eq!(dns.a_questions(), 1);

    dns.set_addresses(vec![SITE_B_V4]);
    tokio::time::sleep(Duration::from_secs(u64::from(ttl) - 1)).await;
    let delivery = client.send_genesys(&message(2)).await.expect("sent");
    assert_eq!(
        delivery.endpoint.address(),
        Some(SITE_A),
        "followed before the TTL"
    );
    assert_eq!(dns.a_questions(), 1, "asked again before the TTL");

    tokio::time::sleep(Duration::from_secs(2)).await;
    let delivery = client.send_genesys(&message(3)).await.expect("sent");
    assert_eq!(delivery.endpoint.address(), Some(SITE_B));
    assert_eq!(dns.a_questions(), 2);

    assert_eq!(a.ledger.genesys_ids(), ids(1..3));
    assert_eq!(b.ledger.genesys_ids(), ids(3..4));
}

#[tokio::test(start_paused = true)]
async fn every_address_of_the_name_is_tried_after_the_window() {
    let (mut a, b) = sites_on_one_port().await;
    a.kill().await;
    let dns = DnsResponder::start(vec![Ipv4Addr::LOCALHOST, SITE_B_V4], 300).await;
    let window = Duration::from_secs(3);
    let client = resolved_client(&dns, b.addr.port(), window);

    let started = Instant::now();
    let delivery = client.send_genesys(&message(1)).await.expect("sent");
    assert!(started.elapsed() >= window);
    assert_eq!(delivery.endpoint.address(), Some(SITE_B));
    assert_eq!(b.ledger.genesys_ids(), ids(1..2));
}
