//! [`ClientAddr`]: the one place that says which client sent a request, for per-client
//! decisions such as login lockouts.
//!
//! In order: a `ClientAddr` request extension (set by whatever knows better than the socket,
//! e.g. a layer reading the PROXY protocol or a trusted `X-Forwarded-For`); else the TCP peer
//! from axum's `ConnectInfo<SocketAddr>` (serve the router with
//! `into_make_service_with_connect_info::<SocketAddr>()`); else the unspecified address, so a
//! router served without either treats all its clients as one.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// The address of the client that sent a request. Extract it in a handler, or insert it as
/// a request extension to override the TCP peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The client address of a request's parts (see the module documentation).
    pub fn of(parts: &Parts) -> ClientAddr {
        if let Some(set) = parts.extensions.get::<ClientAddr>() {
            return *set;
        }
        match parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(peer)) => ClientAddr(peer.ip()),
            None => ClientAddr(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr::of(parts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts() -> Parts {
        Request::new(()).into_parts().0
    }

    #[test]
    fn an_extension_beats_the_tcp_peer_which_beats_nothing() {
        let mut parts = parts();
        assert_eq!(
            ClientAddr::of(&parts),
            ClientAddr(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        );
        let peer: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        parts.extensions.insert(ConnectInfo(peer));
        assert_eq!(ClientAddr::of(&parts), ClientAddr(peer.ip()));
        let real = ClientAddr("198.51.100.9".parse().unwrap());
        parts.extensions.insert(real);
        assert_eq!(ClientAddr::of(&parts), real);
    }
}
