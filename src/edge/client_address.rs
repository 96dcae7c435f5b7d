//! How one listener finds a connection's client address before anything else reads from it:
//! the socket peer, or, when the listener expects the PROXY protocol and the peer is a trusted
//! proxy, the address in the header that proxy must send first (read within a time limit).
//! A PROXY header from anyone else is not read here: it reaches SMPP or HTTP as the garbage
//! it is there (generic_nack and close, or 400).

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use smsgw_smpp::server::ClientAddressFn;
use tokio::net::TcpStream;
use tracing::debug;

use super::{proxy_header, TrustedProxies};

/// One listener's rule for the client address.
#[derive(Debug, Clone)]
pub struct ClientAddressing {
    /// The listener's name in logs and metrics (`smpp`, `https`, ...).
    pub listener: &'static str,
    pub trusted: Arc<TrustedProxies>,
    /// Whether trusted peers send a PROXY header first (then they must).
    pub proxy_protocol: bool,
    /// How long a trusted peer has to send the whole header.
    pub header_timeout: Duration,
}

impl ClientAddressing {
    /// Whether a connection from `ip` must start with a PROXY header (else `ip` is the client).
    pub fn reads_header_from(&self, ip: IpAddr) -> bool {
        self.proxy_protocol && self.trusted.contains(ip)
    }

    /// The client of a connection from `peer`, or `None` when the connection must be closed
    /// (a trusted proxy that sent no valid header in time; counted in
    /// `edge_proxy_header_refused_total`).
    pub async fn resolve(&self, stream: &mut TcpStream, peer: SocketAddr) -> Option<SocketAddr> {
        if !self.reads_header_from(peer.ip()) {
            return Some(peer);
        }
        let read = proxy_header::read_client_address(stream, peer);
        let reason = match tokio::time::timeout(self.header_timeout, read).await {
            Ok(Ok(client)) => return Some(client),
            Ok(Err(error)) => {
                debug!(listener = self.listener, %peer, %error, "PROXY header refused");
                "malformed"
            }
            Err(_) => {
                debug!(listener = self.listener, %peer, "no PROXY header in time");
                "timeout"
            }
        };
        metrics::counter!(
            "edge_proxy_header_refused_total",
            "listener" => self.listener,
            "reason" => reason
        )
        .increment(1);
        None
    }

    /// This rule as the SMPP server's hook, or `None` when the socket peer is the client.
    pub fn smpp_hook(self) -> Option<ClientAddressFn> {
        if !self.proxy_protocol {
            return None;
        }
        let this = Arc::new(self);
        Some(Arc::new(move |mut stream: TcpStream, peer: SocketAddr| {
            let this = this.clone();
            Box::pin(async move {
                let client = this.resolve(&mut stream, peer).await?;
                Some((stream, client))
            })
        }))
    }
}
