//! A real haproxy (`send-proxy-v2`, with TLVs) in front of the gateway's SMPP listener: an
//! independent writer of PROXY v2 headers. Clients on 127.0.0.2 and 127.0.0.3 connect through
//! it; haproxy connects to the gateway from 127.0.0.5, the only trusted proxy. A failed bind
//! locks out the client that made it, not everyone behind haproxy. Needs `haproxy` on PATH.

mod gateway;
mod haproxy;
mod loopback;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use gateway::{submit, ConfigExtra, TestGateway, PASSWORD};
use haproxy::{free_port, Haproxy};
use loopback::{connect_from, CLIENT, OTHER_CLIENT};
use smsgw_smpp::{
    client::{ConnectError, DeliverStream},
    rusmpp::CommandStatus,
    BindKind, BindRequest, Client, ClientConfig,
};

const HAPROXY_SOURCE: &str = "127.0.0.5";

/// haproxy forwarding TCP from `listen` to `server` with a PROXY v2 header.
async fn start_haproxy(listen: SocketAddr, server: SocketAddr) -> Haproxy {
    let config = format!(
        "global\n    maxconn 100\n\
         defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n\
         frontend smpp_in\n    bind {listen}\n    default_backend gateway\n\
         backend gateway\n    server gw {server} send-proxy-v2 proxy-v2-options ssl,crc32c source {HAPROXY_SOURCE}\n"
    );
    Haproxy::start(&config, &[listen]).await
}

async fn bind_from(source: &str, via: SocketAddr, password: &str) -> Result<Client, ConnectError> {
    let stream = connect_from(source, via).await;
    let (handler, _incoming) = DeliverStream::new(16);
    let config = ClientConfig::new(BindRequest::new(BindKind::Transceiver, "acme", password));
    tokio::time::timeout(
        Duration::from_secs(20),
        Client::bind_over(stream, Some(via), config, Arc::new(handler)),
    )
    .await
    .expect("no answer to the bind")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_haproxy_a_failed_bind_locks_out_only_the_client_that_made_it() {
    let sim = gateway::start_sim(Default::default()).await;
    let listeners =
        format!("trusted_proxies = [\"{HAPROXY_SOURCE}\"]\nproxy_protocol = [\"smpp\"]\n");
    let extra = ConfigExtra {
        listeners: &listeners,
        tables: gateway::LOCK_AFTER_ONE_FAILURE,
        ..ConfigExtra::default()
    };
    let test = TestGateway::start_in(sim, tempfile::tempdir().unwrap(), extra).await;
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let _haproxy = start_haproxy(listen, test.gateway.smpp_addr()).await;

    let refused = |result: Result<Client, ConnectError>| match result {
        Err(ConnectError::Rejected(status)) => status,
        Err(other) => panic!("not a bind refusal: {other}"),
        Ok(_) => CommandStatus::EsmeRok,
    };
    assert_eq!(
        refused(bind_from(CLIENT, listen, "wrongpw").await),
        CommandStatus::EsmeRinvpaswd
    );
    assert_eq!(
        refused(bind_from(CLIENT, listen, PASSWORD).await),
        CommandStatus::EsmeRbindfail,
        "the failing client was not locked out"
    );
    let other = bind_from(OTHER_CLIENT, listen, PASSWORD)
        .await
        .expect("another client behind haproxy was locked out");
    other
        .submit(submit("447700900001", "through haproxy", false))
        .await
        .unwrap();
}
