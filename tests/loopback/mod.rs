//! Clients and a balancer on loopback for tests of client addresses: Linux routes all of
//! 127/8 to loopback, so a test connects from 127.0.0.1 (the trusted balancer) or 127.0.0.2
//! and 127.0.0.3 (clients), and writes PROXY v2 headers as haproxy's `send-proxy-v2` does.
#![allow(dead_code)]

use std::net::SocketAddr;

use ppp::v2;
use tokio::net::{TcpSocket, TcpStream};

pub const BALANCER: &str = "127.0.0.1";
pub const CLIENT: &str = "127.0.0.2";
pub const OTHER_CLIENT: &str = "127.0.0.3";

/// A TCP connection to `server` from the loopback address `source`.
pub async fn connect_from(source: &str, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(source.parse().unwrap(), 0))
        .unwrap();
    socket.connect(server).await.unwrap()
}

/// A PROXY v2 header for a TCP connection from `client` (`ip:port`).
pub fn proxy_v2(client: &str) -> Vec<u8> {
    let client: SocketAddr = client.parse().unwrap();
    let server: SocketAddr = "192.0.2.1:443".parse().unwrap();
    v2::Builder::with_addresses(
        v2::Version::Two | v2::Command::Proxy,
        v2::Protocol::Stream,
        (client, server),
    )
    .build()
    .unwrap()
}
