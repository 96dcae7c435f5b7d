//! The gateway's SMPP listener behind a balancer and against greedy clients, over real
//! sockets: 127.0.0.1 is the trusted balancer sending PROXY v2 headers, 127.0.0.2 and
//! 127.0.0.3 clients connecting directly (Linux routes all of 127/8 to loopback).

mod gateway;
mod loopback;

use std::{sync::Arc, time::Duration};

use gateway::{submit, ConfigExtra, TestGateway, LOCK_AFTER_ONE_FAILURE, PASSWORD};
use loopback::{connect_from, proxy_v2, BALANCER, CLIENT, OTHER_CLIENT};
use smsgw_smpp::{
    client::{ConnectError, DeliverStream},
    BindKind, BindRequest, Client, ClientConfig,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const LISTENERS: &str = r#"
trusted_proxies = ["127.0.0.1/32"]
proxy_protocol = ["smpp"]
max_unauthenticated_per_address = 2
"#;

async fn start() -> TestGateway {
    let sim = gateway::start_sim(Default::default()).await;
    let extra = ConfigExtra {
        listeners: LISTENERS,
        tables: LOCK_AFTER_ONE_FAILURE,
        ..ConfigExtra::default()
    };
    TestGateway::start_in(sim, tempfile::tempdir().unwrap(), extra).await
}

/// Binds `acme` with `password` over `stream` after writing `preface` on it.
async fn bind_over(
    mut stream: TcpStream,
    preface: &[u8],
    password: &str,
) -> Result<Client, ConnectError> {
    stream.write_all(preface).await.unwrap();
    let (handler, _incoming) = DeliverStream::new(16);
    let config = ClientConfig::new(BindRequest::new(BindKind::Transceiver, "acme", password));
    let peer = stream.peer_addr().ok();
    tokio::time::timeout(
        Duration::from_secs(20),
        Client::bind_over(stream, peer, config, Arc::new(handler)),
    )
    .await
    .expect("no answer to the bind")
}

/// A bind through the balancer for `client` (a PROXY v2 header naming it).
async fn bind_via_balancer(
    test: &TestGateway,
    client: &str,
    password: &str,
) -> Result<Client, ConnectError> {
    let stream = connect_from(BALANCER, test.gateway.smpp_addr()).await;
    bind_over(stream, &proxy_v2(client), password).await
}

fn bind_failed(result: Result<Client, ConnectError>) -> bool {
    match result {
        Err(ConnectError::Rejected(_)) => true,
        Err(other) => panic!("not a bind refusal: {other}"),
        Ok(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_balancers_proxy_header_decides_whose_failed_binds_are_locked_out() {
    let test = start().await;
    // A failed bind locks out (client address, system_id) for 30 s ...
    assert!(bind_failed(
        bind_via_balancer(&test, "203.0.113.7:4000", "wrongpw").await
    ));
    assert!(bind_failed(
        bind_via_balancer(&test, "203.0.113.7:4001", PASSWORD).await
    ));
    // ... and that address is the header's: another customer behind the same balancer binds.
    let other = bind_via_balancer(&test, "203.0.113.8:4000", PASSWORD)
        .await
        .expect("a different client behind the balancer was locked out");
    other
        .submit(submit("447700900001", "via the balancer", false))
        .await
        .unwrap();
    // So does a client connecting directly.
    let direct = connect_from(CLIENT, test.gateway.smpp_addr()).await;
    bind_over(direct, b"", PASSWORD).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_header_from_a_client_is_not_honoured() {
    let test = start().await;
    // The header is the start of an SMPP stream here: a malformed PDU, no bind.
    let stream = connect_from(CLIENT, test.gateway.smpp_addr()).await;
    let result = bind_over(stream, &proxy_v2("203.0.113.9:4000"), PASSWORD).await;
    assert!(
        result.is_err(),
        "a bind after a forged PROXY header went through"
    );
    // The failed attempt did not lock out the address it named, nor the client.
    bind_via_balancer(&test, "203.0.113.9:4000", PASSWORD)
        .await
        .unwrap();
}

/// Whether the gateway closed `stream` (within 10 s) without sending anything.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_balancer_without_a_valid_header_is_closed() {
    let test = start().await;
    let mut none = connect_from(BALANCER, test.gateway.smpp_addr()).await;
    // An enquire_link with no header first: the balancer must always send one.
    let mut enquire_link = Vec::new();
    for word in [16u32, 0x15, 0, 1] {
        enquire_link.extend_from_slice(&word.to_be_bytes());
    }
    none.write_all(&enquire_link).await.unwrap();
    assert!(closed_by_server(&mut none).await);
    let mut oversized = proxy_v2("203.0.113.7:1");
    oversized[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
    let mut stream = connect_from(BALANCER, test.gateway.smpp_addr()).await;
    stream.write_all(&oversized).await.unwrap();
    assert!(closed_by_server(&mut stream).await);
    // The listener goes on.
    bind_via_balancer(&test, "203.0.113.7:2", PASSWORD)
        .await
        .unwrap();
    let refusals = r#"edge_proxy_header_refused_total{listener="smpp",reason="malformed"}"#;
    let metrics = gateway::metrics_text(test.gateway.admin_addr()).await;
    assert!(metrics.contains(refusals), "{metrics}");
}

/// An enquire_link (sequence 1) as raw bytes.
fn enquire_link() -> Vec<u8> {
    [16u32, 0x15, 0, 1]
        .iter()
        .flat_map(|word| word.to_be_bytes())
        .collect()
}

/// A connection from `source` (after `preface`, e.g. a PROXY header) that the gateway has
/// admitted: it answered an enquire_link on it.
async fn admitted(source: &str, smpp: std::net::SocketAddr, preface: &[u8]) -> TcpStream {
    let mut stream = connect_from(source, smpp).await;
    stream
        .write_all(&[preface, &enquire_link()].concat())
        .await
        .unwrap();
    let mut response = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut response))
        .await
        .expect("no enquire_link_resp")
        .expect("the connection was not admitted");
    assert_eq!(response[4..8], 0x8000_0015u32.to_be_bytes());
    stream
}

/// Whether `stream` is still open (no close within 300 ms).
async fn still_open(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_millis(300), stream.read(&mut byte))
        .await
        .is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_a_bounded_number_of_unbound_connections_and_bound_ones_go_on() {
    let test = start().await;
    let smpp = test.gateway.smpp_addr();
    let bound = bind_over(connect_from(CLIENT, smpp).await, b"", PASSWORD)
        .await
        .unwrap();
    // Two unbound connections from the client's address (max_unauthenticated_per_address).
    let first = admitted(CLIENT, smpp, b"").await;
    let mut second = admitted(CLIENT, smpp, b"").await;
    let mut third = connect_from(CLIENT, smpp).await;
    assert!(closed_by_server(&mut third).await);
    assert!(still_open(&mut second).await);
    // The cap is per client address as the balancer names it, too.
    let mut behind_balancer = Vec::new();
    for port in 1..=2 {
        let header = proxy_v2(&format!("203.0.113.5:{port}"));
        behind_balancer.push(admitted(BALANCER, smpp, &header).await);
    }
    let mut third_behind_balancer = connect_from(BALANCER, smpp).await;
    third_behind_balancer
        .write_all(&proxy_v2("203.0.113.5:3"))
        .await
        .unwrap();
    assert!(closed_by_server(&mut third_behind_balancer).await);
    // Other addresses connect and bind; the bound client goes on submitting.
    bind_over(connect_from(OTHER_CLIENT, smpp).await, b"", PASSWORD)
        .await
        .unwrap();
    bound
        .submit(submit("447700900001", "still bound", false))
        .await
        .unwrap();
    // An unbound connection that goes away frees its place.
    drop(first);
    let freed = async {
        loop {
            let stream = connect_from(CLIENT, smpp).await;
            if bind_over(stream, b"", PASSWORD).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), freed)
        .await
        .expect("the closed connection's place never came back");
    let metrics = gateway::metrics_text(test.gateway.admin_addr()).await;
    assert!(
        metrics.contains("smpp_unbound_per_address_refused_total"),
        "{metrics}"
    );
}
