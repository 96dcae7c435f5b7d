//! The HTTP listener against hostile and proxied clients, over real sockets on loopback:
//! 127.0.0.1 plays the trusted balancer, 127.0.0.2 and 127.0.0.3 untrusted clients (Linux
//! routes all of 127/8 to loopback). A route echoes the [`ClientAddr`] the server recorded.

use std::{net::SocketAddr, sync::Arc, time::Duration};

mod loopback;

use axum::{routing::get, Router};
use loopback::{connect_from, proxy_v2, BALANCER, CLIENT, OTHER_CLIENT};
use smsgw::edge::{http_server, ClientAddressing, HttpLimits, HttpListener, TrustedProxies};
use smsgw_http::ClientAddr;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::{CancellationToken, DropGuard};

fn limits() -> HttpLimits {
    HttpLimits {
        max_connections: 100,
        max_unauthenticated_per_address: 100,
        header_read_timeout: Duration::from_secs(30),
        body_read_timeout: Duration::from_secs(30),
    }
}

#[derive(Clone, Copy, Default)]
struct Trust {
    proxy_protocol: bool,
    x_forwarded_for: bool,
}

struct Server {
    address: SocketAddr,
    /// Stops the server when the test drops it.
    _stop: DropGuard,
}

async fn start(limits: HttpLimits, trust: Trust, tls: Option<tokio_rustls::TlsAcceptor>) -> Server {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = tcp.local_addr().unwrap();
    let listener = HttpListener {
        addressing: ClientAddressing {
            listener: "http",
            trusted: Arc::new(TrustedProxies::new(vec![format!("{BALANCER}/32")
                .parse()
                .unwrap()])),
            proxy_protocol: trust.proxy_protocol,
            header_timeout: limits.header_read_timeout,
        },
        x_forwarded_for: trust.x_forwarded_for,
        tls,
        limits,
    };
    let router = Router::new().route(
        "/whoami",
        get(|ClientAddr(client): ClientAddr| async move { client.ip().to_string() })
            .post(|body: String| async move { format!("{} bytes", body.len()) }),
    );
    let stop = CancellationToken::new();
    tokio::spawn(http_server::serve(tcp, listener, router, stop.clone()));
    Server {
        address,
        _stop: stop.drop_guard(),
    }
}

fn whoami(extra_headers: &str) -> Vec<u8> {
    format!("GET /whoami HTTP/1.1\r\nHost: gw\r\n{extra_headers}Connection: close\r\n\r\n")
        .into_bytes()
}

/// Writes `bytes`, then reads until the server closes (at most 20 s); the whole answer.
async fn exchange(stream: &mut TcpStream, bytes: &[u8]) -> String {
    stream.write_all(bytes).await.unwrap();
    read_until_closed(stream).await
}

async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .expect("the server neither answered nor closed")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

fn body(answer: &str) -> &str {
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    answer.rsplit("\r\n").next().unwrap()
}

/// The client address the server records for a plain request from `source`.
async fn whoami_from(source: &str, server: SocketAddr) -> String {
    let mut stream = connect_from(source, server).await;
    body(&exchange(&mut stream, &whoami("")).await).to_owned()
}

#[tokio::test]
async fn a_proxy_header_from_the_trusted_balancer_names_the_client() {
    let trust = Trust {
        proxy_protocol: true,
        ..Trust::default()
    };
    let server = start(limits(), trust, None).await;
    let mut v2 = connect_from(BALANCER, server.address).await;
    let request = [proxy_v2("203.0.113.7:5555"), whoami("")].concat();
    assert_eq!(body(&exchange(&mut v2, &request).await), "203.0.113.7");

    let mut v1 = connect_from(BALANCER, server.address).await;
    let request = [
        b"PROXY TCP6 2001:db8::7 2001:db8::1 5555 80\r\n".to_vec(),
        whoami(""),
    ]
    .concat();
    assert_eq!(body(&exchange(&mut v1, &request).await), "2001:db8::7");

    // A client that is not the balancer is itself, with no header to send.
    assert_eq!(whoami_from(CLIENT, server.address).await, CLIENT);
}

#[tokio::test]
async fn a_proxy_header_from_an_untrusted_client_is_not_honoured() {
    let trust = Trust {
        proxy_protocol: true,
        ..Trust::default()
    };
    let server = start(limits(), trust, None).await;
    let mut stream = connect_from(CLIENT, server.address).await;
    let request = [proxy_v2("203.0.113.7:5555"), whoami("")].concat();
    let answer = exchange(&mut stream, &request).await;
    assert!(!answer.contains("203.0.113.7"), "{answer}");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    let mut stream = connect_from(CLIENT, server.address).await;
    let request = [
        b"PROXY TCP4 203.0.113.7 192.0.2.1 5555 80\r\n".to_vec(),
        whoami(""),
    ]
    .concat();
    let answer = exchange(&mut stream, &request).await;
    assert!(!answer.contains("203.0.113.7"), "{answer}");
}

#[tokio::test]
async fn the_balancer_without_a_valid_header_is_closed_and_others_are_still_served() {
    let trust = Trust {
        proxy_protocol: true,
        ..Trust::default()
    };
    let server = start(limits(), trust, None).await;
    // No header: closed without an answer.
    let mut stream = connect_from(BALANCER, server.address).await;
    assert_eq!(exchange(&mut stream, &whoami("")).await, "");
    // A v2 header declaring 65,535 bytes: closed before reading them.
    let mut oversized = proxy_v2("203.0.113.7:5555");
    oversized[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
    let mut stream = connect_from(BALANCER, server.address).await;
    assert_eq!(exchange(&mut stream, &oversized).await, "");
    // A v1 line that never ends.
    let mut stream = connect_from(BALANCER, server.address).await;
    let endless = [b"PROXY TCP4 ".as_slice(), &[b'9'; 300]].concat();
    assert_eq!(exchange(&mut stream, &endless).await, "");
    // Garbage with the v2 signature.
    let mut garbage = proxy_v2("203.0.113.7:5555");
    garbage[12] = 0x99;
    let mut stream = connect_from(BALANCER, server.address).await;
    assert_eq!(exchange(&mut stream, &garbage).await, "");

    let mut good = connect_from(BALANCER, server.address).await;
    let request = [proxy_v2("203.0.113.9:1"), whoami("")].concat();
    assert_eq!(body(&exchange(&mut good, &request).await), "203.0.113.9");
}

#[tokio::test]
async fn a_silent_balancer_connection_is_closed_after_the_header_timeout() {
    let trust = Trust {
        proxy_protocol: true,
        ..Trust::default()
    };
    let limits = HttpLimits {
        header_read_timeout: Duration::from_secs(1),
        ..limits()
    };
    let server = start(limits, trust, None).await;
    let mut silent = connect_from(BALANCER, server.address).await;
    // Half a header, then nothing.
    silent
        .write_all(&proxy_v2("203.0.113.7:1")[..10])
        .await
        .unwrap();
    assert_eq!(read_until_closed(&mut silent).await, "");
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_the_trusted_balancer() {
    let trust = Trust {
        x_forwarded_for: true,
        ..Trust::default()
    };
    let server = start(limits(), trust, None).await;
    let forwarded = whoami("X-Forwarded-For: 6.6.6.6, 198.51.100.4\r\n");
    let mut via_balancer = connect_from(BALANCER, server.address).await;
    assert_eq!(
        body(&exchange(&mut via_balancer, &forwarded).await),
        "198.51.100.4"
    );
    let mut direct = connect_from(CLIENT, server.address).await;
    assert_eq!(body(&exchange(&mut direct, &forwarded).await), CLIENT);
}

#[tokio::test]
async fn a_slowloris_client_is_closed_after_the_header_timeout_while_others_are_served() {
    let limits = HttpLimits {
        header_read_timeout: Duration::from_secs(1),
        ..limits()
    };
    let server = start(limits, Trust::default(), None).await;
    let mut slow = connect_from(CLIENT, server.address).await;
    slow.write_all(b"GET /whoami HTTP/1.1\r\nHost: gw\r\n")
        .await
        .unwrap();
    let trickle = async {
        // One header byte every 200 ms, never the blank line that ends the headers.
        for byte in b"X-Slow: ".iter().chain([b'a'; 1000].iter()).cycle() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow.write_all(&[*byte]).await.is_err() {
                return;
            }
            let mut probe = [0u8; 64];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), trickle)
        .await
        .expect("the slow client was still connected after 20 s");
    assert_eq!(
        whoami_from(OTHER_CLIENT, server.address).await,
        OTHER_CLIENT
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let limits = HttpLimits {
        header_read_timeout: Duration::from_secs(1),
        ..limits()
    };
    let server = start(limits, Trust::default(), None).await;
    let mut idle = connect_from(CLIENT, server.address).await;
    idle.write_all(b"GET /whoami HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .unwrap();
    // The answer, then the server closes the connection the client keeps silent.
    let answer = read_until_closed(&mut idle).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with(CLIENT),
        "{answer}"
    );
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_cut_off() {
    let limits = HttpLimits {
        body_read_timeout: Duration::from_secs(1),
        ..limits()
    };
    let server = start(limits, Trust::default(), None).await;
    let head =
        "POST /whoami HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\nConnection: close\r\n\r\n";
    let mut slow = connect_from(CLIENT, server.address).await;
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // 99 of the 100 bytes, one every 200 ms: the body is never complete.
    let trickle = async {
        for _ in 0..99 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = slow.write_all(b"x").await;
            let mut chunk = [0u8; 256];
            match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut chunk)).await {
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(n)) => answer.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
        false
    };
    let closed = tokio::time::timeout(Duration::from_secs(30), trickle).await;
    assert_eq!(closed, Ok(true), "the slow body was still being read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("100 bytes"), "{answer}");

    let mut quick = connect_from(CLIENT, server.address).await;
    let request = format!("{head}{}", "x".repeat(100));
    let answer = exchange(&mut quick, request.as_bytes()).await;
    assert_eq!(body(&answer), "100 bytes");
}

/// Whether the server closed `stream` without answering (within 10 s).
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// Whether `stream` is still open (no close within 300 ms).
async fn still_open(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_millis(300), stream.read(&mut byte))
        .await
        .is_err()
}

#[tokio::test]
async fn connections_beyond_the_listener_limit_are_closed() {
    let limits = HttpLimits {
        max_connections: 2,
        ..limits()
    };
    let server = start(limits, Trust::default(), None).await;
    let mut first = connect_from(CLIENT, server.address).await;
    let mut second = connect_from(OTHER_CLIENT, server.address).await;
    let mut third = connect_from(BALANCER, server.address).await;
    assert!(closed_by_server(&mut third).await);
    assert!(still_open(&mut first).await && still_open(&mut second).await);
    drop(first);
    // The slot comes back once the server has seen the close.
    let served = async {
        loop {
            let mut stream = connect_from(BALANCER, server.address).await;
            let answer = exchange(&mut stream, &whoami("")).await;
            if !answer.is_empty() {
                return body(&answer).to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let served = tokio::time::timeout(Duration::from_secs(10), served).await;
    assert_eq!(served.expect("no slot came back"), BALANCER);
}

#[tokio::test]
async fn one_address_holds_a_bounded_number_of_fresh_connections() {
    let limits = HttpLimits {
        max_unauthenticated_per_address: 2,
        ..limits()
    };
    let server = start(limits, Trust::default(), None).await;
    let mut first = connect_from(CLIENT, server.address).await;
    let mut second = connect_from(CLIENT, server.address).await;
    let mut third = connect_from(CLIENT, server.address).await;
    assert!(closed_by_server(&mut third).await);
    assert!(still_open(&mut second).await);
    // Another address is not affected.
    assert_eq!(
        whoami_from(OTHER_CLIENT, server.address).await,
        OTHER_CLIENT
    );
    // A connection that has been answered no longer counts: keep-alive, then two more.
    first
        .write_all(b"GET /whoami HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), first.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).ends_with(CLIENT));
    let mut fourth = connect_from(CLIENT, server.address).await;
    assert!(still_open(&mut fourth).await);
    let mut fifth = connect_from(CLIENT, server.address).await;
    assert!(closed_by_server(&mut fifth).await);
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        issued.key_pair.serialize_der(),
    ));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![issued.cert.der().clone()], key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn tls_handshakes_count_as_fresh_connections_and_silent_ones_time_out() {
    let limits = HttpLimits {
        max_unauthenticated_per_address: 1,
        header_read_timeout: Duration::from_secs(1),
        ..limits()
    };
    let server = start(limits, Trust::default(), Some(tls_acceptor())).await;
    let mut silent = connect_from(CLIENT, server.address).await;
    let mut second = connect_from(CLIENT, server.address).await;
    assert!(closed_by_server(&mut second).await);
    assert!(closed_by_server(&mut silent).await);
}
