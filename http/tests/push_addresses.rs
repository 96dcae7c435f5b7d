//! Which addresses pushes reach, over real sockets: loopback, private and unique-local targets
//! (as IP literals in any spelling, or behind a name) are refused without a connection unless
//! allow-listed; and idle connections are reused as configured.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use axum::serve::ListenerExt;
use axum::Router;
use smsgw_http::{
    AddressPolicy, ForbiddenAddress, PushClient, PushConfig, PushFormat, PushMessage, PushOutcome,
    PushTarget,
};

/// A receiver on 127.0.0.1 answering 200, and the number of TCP connections it accepted.
async fn receiver() -> (u16, Arc<AtomicUsize>) {
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let listener = listener.tap_io(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let app = Router::new().route("/x", post(|| async { "ok" })).route(
        "/wordy",
        post(|| async { "a receiver that says a lot. ".repeat(2_000) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, connections)
}

fn mo() -> PushMessage {
    PushMessage::Mo {
        message_id: "MO-1".into(),
        shortcode: "12345".into(),
        phone_number: "447700900123".into(),
        carrier: None,
        message: "hi".into(),
    }
}

fn client(addresses: AddressPolicy) -> PushClient {
    PushClient::new(PushConfig {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        addresses,
        ..PushConfig::default()
    })
    .unwrap()
}

async fn push(client: &PushClient, url: &str) -> PushOutcome {
    let target = PushTarget::new(url, PushFormat::Form, None).unwrap();
    client.send(&target, &mo()).await
}

fn refused(address: &str, range: &'static str) -> PushOutcome {
    PushOutcome::Refused(ForbiddenAddress {
        address: address.parse().unwrap(),
        range,
    })
}

#[tokio::test]
async fn loopback_and_internal_targets_are_refused_without_connecting() {
    let (port, connections) = receiver().await;
    let default = client(AddressPolicy::default());
    for (url, address, range) in [
        (
            format!("http://127.0.0.1:{port}/x"),
            "127.0.0.1",
            "loopback",
        ),
        // The URL parser reads other spellings of 127.0.0.1 as that address.
        (
            format!("http://2130706433:{port}/x"),
            "127.0.0.1",
            "loopback",
        ),
        (format!("http://0x7f.1:{port}/x"), "127.0.0.1", "loopback"),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/x"),
            "::ffff:127.0.0.1",
            "loopback",
        ),
        (format!("http://[::1]:{port}/x"), "::1", "loopback"),
        (
            format!("http://[fd00::1]:{port}/x"),
            "fd00::1",
            "unique local",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "169.254.169.254",
            "link-local",
        ),
        ("http://10.11.12.13/x".to_owned(), "10.11.12.13", "private"),
    ] {
        assert_eq!(push(&default, &url).await, refused(address, range), "{url}");
    }
    // A name is checked on what it resolves to.
    match push(&default, &format!("http://localhost:{port}/x")).await {
        PushOutcome::Refused(forbidden) => assert_eq!(forbidden.range, "loopback"),
        other => panic!("localhost was not refused: {other:?}"),
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn allow_listed_ranges_are_reached_by_literal_and_by_name() {
    let (port, connections) = receiver().await;
    let allowing = client(AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]));
    assert_eq!(
        push(&allowing, &format!("http://127.0.0.1:{port}/x")).await,
        PushOutcome::Delivered
    );
    // localhost may also resolve to ::1, which stays refused: the push uses 127.0.0.1.
    assert_eq!(
        push(&allowing, &format!("http://localhost:{port}/x")).await,
        PushOutcome::Delivered
    );
    assert!(connections.load(Ordering::SeqCst) >= 1);
    // Only what is listed: another private range stays refused.
    assert_eq!(
        push(&allowing, "http://192.168.0.1/x").await,
        refused("192.168.0.1", "private")
    );
}

#[tokio::test]
async fn idle_connections_are_reused_up_to_the_configured_number() {
    let (port, connections) = receiver().await;
    let url = format!("http://127.0.0.1:{port}/x");
    let reusing = common::loopback_push_config();
    let reusing = PushClient::new(reusing).unwrap();
    for _ in 0..5 {
        assert_eq!(push(&reusing, &url).await, PushOutcome::Delivered);
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "one kept-alive connection"
    );
    // A body of some length (56 kB here) is read to its end, so the connection is kept too.
    let wordy = format!("http://127.0.0.1:{port}/wordy");
    for _ in 0..3 {
        assert_eq!(push(&reusing, &wordy).await, PushOutcome::Delivered);
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "still one connection"
    );

    let (port, connections) = receiver().await;
    let url = format!("http://127.0.0.1:{port}/x");
    let not_keeping = PushClient::new(PushConfig {
        max_idle_connections: 0,
        ..common::loopback_push_config()
    })
    .unwrap();
    for _ in 0..3 {
        assert_eq!(push(&not_keeping, &url).await, PushOutcome::Delivered);
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        3,
        "a connection per push"
    );
}
