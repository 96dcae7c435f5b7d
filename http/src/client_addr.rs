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
//!
//! A router served with plain `axum::serve` and `ConnectInfo<SocketAddr>` (tests, embedders
//! without a balancer) gets the socket peer, as it does with the [`peer_as_client`]
//! middleware.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

/// The client's address (IP and port; the port is 0 when it came from `X-Forwarded-For`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub SocketAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        ClientAddr::of(parts).ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server did not record the client address",
        ))
    }
}

impl ClientAddr {
    /// The client of a request: the address the server recorded, else the socket peer of a
    /// router served with `into_make_service_with_connect_info::<SocketAddr>()`, else none.
    pub fn of(parts: &Parts) -> Option<ClientAddr> {
        parts.extensions.get::<ClientAddr>().copied().or_else(|| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| ClientAddr(*peer))
        })
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(ClientAddr::of(parts))
    }
}

/// Middleware recording the socket peer as the client, for a router served with
/// `axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())`
/// (add it with `axum::middleware::from_fn(peer_as_client)`). A [`ClientAddr`] already
/// recorded is kept.
pub async fn peer_as_client(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    if request.extensions().get::<ClientAddr>().is_none() {
        request.extensions_mut().insert(ClientAddr(peer));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;

    use super::*;

    #[tokio::test]
    async fn plain_axum_serve_gets_the_socket_peer_through_the_middleware() {
        let router = Router::new()
            .route(
                "/",
                get(|ClientAddr(client): ClientAddr| async move { client.to_string() }),
            )
            .layer(axum::middleware::from_fn(peer_as_client));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, service).await
        });
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let local = stream.local_addr().unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.ends_with(&local.to_string()), "{answer}");
    }

    #[tokio::test]
    async fn the_extractor_reads_the_address_the_server_recorded_and_refuses_without_one() {
        let client: SocketAddr = "198.51.100.7:4242".parse().unwrap();
        let (mut parts, _) = axum::http::Request::new(Body::empty()).into_parts();
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
