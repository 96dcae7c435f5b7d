//! Who the server lets in, over real TCP on 127.0.0.1: at most `max_unbound_per_address`
//! connections per client address before they bind, and the client address a listener's
//! [`ClientAddressFn`] finds (e.g. from a balancer's PROXY header) is the one the bind
//! handler authenticates (and locks out) under.

mod common;

use std::{net::SocketAddr, sync::Arc};

use common::*;
use smsgw_smpp::{
    rusmpp::{CommandStatus, Pdu},
    server::{ClientAddressFn, Listening, Server, ServerConfig},
    BindKind, BindRequest,
};
use tokio::net::TcpListener;

/// Whether the server admitted `peer`: it answers an enquire_link (allowed before binding).
async fn admitted(peer: &mut RawPeer) -> bool {
    peer.send_pdu(7, Pdu::EnquireLink).await;
    peer.recv().await.is_some()
}

#[tokio::test]
async fn one_address_holds_a_bounded_number_of_unbound_connections() {
    let config = ServerConfig {
        max_unbound_per_address: 1,
        ..ServerConfig::default()
    };
    let (_server, _smsc, addr) = start_server(config).await;
    let mut first = RawPeer::connect(addr).await;
    assert!(admitted(&mut first).await);
    let mut second = RawPeer::connect(addr).await;
    assert!(
        second.recv().await.is_none(),
        "a second unbound connection was kept"
    );
    // Bound, the first no longer counts.
    first.bind(BindKind::Transceiver).await;
    let mut third = RawPeer::connect(addr).await;
    assert!(admitted(&mut third).await);
}

/// Serves `server` on a new listener whose connections all come from `client`, or are closed
/// when `client` is `None`.
async fn listener_naming(server: &Server<TestSmsc>, client: Option<SocketAddr>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hook: ClientAddressFn = Arc::new(move |stream, _peer| {
        Box::pin(async move { client.map(|client| (stream, client)) })
    });
    let listening = Listening {
        tls: None,
        client_address: Some(hook),
    };
    let serving = server.clone();
    tokio::spawn(async move { serving.serve_listening(listener, listening).await });
    address
}

async fn bind_status(address: SocketAddr, password: &str) -> Option<CommandStatus> {
    let mut peer = RawPeer::connect(address).await;
    let bind = BindRequest::new(BindKind::Transceiver, "demo", password)
        .to_pdu()
        .unwrap();
    peer.send_pdu(1, bind).await;
    peer.recv().await.map(|response| response.status())
}

#[tokio::test]
async fn binds_are_authenticated_under_the_address_the_listener_found() {
    let (server, smsc, direct) = start_server(ServerConfig::default()).await;
    let client: SocketAddr = "192.0.2.55:1000".parse().unwrap();
    let behind_balancer = listener_naming(&server, Some(client)).await;
    assert_eq!(
        bind_status(behind_balancer, "demo1234").await,
        Some(CommandStatus::EsmeRok)
    );
    assert_eq!(
        bind_status(direct, "wrong").await,
        Some(CommandStatus::EsmeRinvpaswd)
    );
    // The handler (which keeps the lockouts) saw the balancer's client, then the socket peer.
    let peers = smsc.bind_peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 2, "{peers:?}");
    assert_eq!(peers[0], client);
    assert!(peers[1].ip().is_loopback(), "{peers:?}");
    // A listener that finds no client address closes the connection.
    let refusing = listener_naming(&server, None).await;
    assert_eq!(bind_status(refusing, "demo1234").await, None);
}
