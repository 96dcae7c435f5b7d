//! [`ClientAddr`]: the address of the client that sent a request, as the server that accepted
//! the connection determined it (the socket peer, or behind a trusted balancer the address
//! from its PROXY protocol header or `X-Forwarded-For`). The server puts it into every
//! request's extensions; handlers read it with the extractor, from one place, whatever the
//! deployment:
//!
//! ```
//! use smsgw_http::ClientAddr;
//! async fn handler(ClientAddr(client): ClientAddr) -> String {
//!     format!("hello {}", client.ip())
//! }
//! ```
//!
//! A request without it (a server that does not set it) is refused with 500 rather than
//! handled under a made-up address: per-client decisions such as login lockouts must never
//! silently lump every client together. Take `Option<ClientAddr>` to handle that case.

use std::net::SocketAddr;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::StatusCode;

/// The client's address (IP and port; the port is 0 when it came from `X-Forwarded-For`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub SocketAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<ClientAddr>().copied().ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server did not record the client address",
        ))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<ClientAddr>().copied())
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;

    use super::*;

    #[tokio::test]
    async fn the_extractor_reads_the_address_the_server_recorded_and_refuses_without_one() {
        let client: SocketAddr = "198.51.100.7:4242".parse().unwrap();
        let (mut parts, _) = Request::new(Body::empty()).into_parts();
        let missing = <ClientAddr as FromRequestParts<()>>::from_request_parts(&mut parts, &())
            .await
            .unwrap_err();
        assert_eq!(missing.0, StatusCode::INTERNAL_SERVER_ERROR);
        parts.extensions.insert(ClientAddr(client));
        let found = <ClientAddr as FromRequestParts<()>>::from_request_parts(&mut parts, &())
            .await
            .unwrap();
        assert_eq!(found, ClientAddr(client));
    }
}
