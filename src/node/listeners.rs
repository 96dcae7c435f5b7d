//! The node's listeners from the configuration: bound sockets, TLS acceptors, and how each
//! listener finds client addresses and limits them.

use std::{net::SocketAddr, sync::Arc};

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::StartError;
use crate::{
    config::{EdgeSettings, TlsListener},
    edge::{ClientAddressing, HttpLimits, HttpListener, TrustedProxies},
};

pub(super) async fn listen(address: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|error| StartError::Listen { address, error })
}

/// A TLS listener's acceptor, from its certificate and key files.
pub(super) fn acceptor(listener: &TlsListener, name: &str) -> Result<TlsAcceptor, StartError> {
    crate::edge::tls::server_config(&listener.cert, &listener.key)
        .map(TlsAcceptor::from)
        .map_err(|error| StartError::Tls {
            context: format!("{name} listener"),
            error: Box::new(error),
        })
}

/// A bound listener and its real address (the port chosen when the configured one is 0).
pub(super) async fn listen_at(
    address: SocketAddr,
) -> Result<(TcpListener, SocketAddr), StartError> {
    let listener = listen(address).await?;
    let local = listener
        .local_addr()
        .map_err(|error| StartError::Listen { address, error })?;
    Ok((listener, local))
}

/// How the listener called `name` finds client addresses.
pub(super) fn addressing(
    edge: &EdgeSettings,
    trusted: &Arc<TrustedProxies>,
    name: &'static str,
    proxy_protocol: bool,
) -> ClientAddressing {
    ClientAddressing {
        listener: name,
        trusted: trusted.clone(),
        proxy_protocol,
        header_timeout: edge.header_read_timeout,
    }
}

/// An HTTP listener's settings from the config.
pub(super) fn http_listener(
    edge: &EdgeSettings,
    addressing: ClientAddressing,
    tls: Option<TlsAcceptor>,
) -> HttpListener {
    HttpListener {
        addressing,
        x_forwarded_for: edge.x_forwarded_for,
        tls,
        limits: HttpLimits {
            max_connections: edge.max_connections as usize,
            max_unauthenticated_per_address: edge.max_unauthenticated_per_address as usize,
            header_read_timeout: edge.header_read_timeout,
            body_read_timeout: edge.body_read_timeout,
        },
    }
}
