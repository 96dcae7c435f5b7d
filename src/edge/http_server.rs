//! The HTTP and HTTPS listeners: hyper's HTTP/1.1 connection with a timer, so that a client
//! that does not hold up its end is closed rather than holding a file descriptor forever.
//!
//! Per connection, in order:
//! 1. at most `max_connections` open connections on the listener (PROXY headers and TLS
//!    handshakes included); more are accepted and closed at once;
//! 2. the client's address ([`ClientAddressing`]: the PROXY header of a trusted balancer, or
//!    the socket peer);
//! 3. at most `max_unauthenticated_per_address` connections per client address that have not
//!    yet completed a first request (TLS handshakes included); more are closed at once;
//! 4. TLS, when the listener has it, within `header_read_timeout`;
//! 5. HTTP/1.1: each request's headers within `header_read_timeout` (hyper also applies it to
//!    a keep-alive connection waiting for its next request: that is the idle timeout), its
//!    whole body within `body_read_timeout` (the router answers 400 after), bodies bounded by
//!    the edge's own limits. Every request carries [`ClientAddr`] in its extensions: the
//!    connection's client, or with `x_forwarded_for` the address
//!    [`TrustedProxies::forwarded_client`] takes from the header.
//!
//! Refusals are counted in `http_connections_refused_total{listener, reason}`.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{extract::Request, Router};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use smsgw_http::ClientAddr;
use smsgw_smpp::per_address::{AddressSlot, PerAddressLimit};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower_http::timeout::RequestBodyDeadlineLayer;
use tracing::{debug, warn};

use super::{ClientAddressing, TrustedProxies};

/// What bounds one HTTP listener's clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    pub max_connections: usize,
    pub max_unauthenticated_per_address: usize,
    /// For the PROXY header, the TLS handshake and each request's headers (and keep-alive idle).
    pub header_read_timeout: Duration,
    /// For each request's whole body.
    pub body_read_timeout: Duration,
}

/// One HTTP listener: its name, how it finds client addresses, TLS, limits.
pub struct HttpListener {
    pub addressing: ClientAddressing,
    /// Take the client from `X-Forwarded-For` when the connection is a trusted proxy's.
    pub x_forwarded_for: bool,
    pub tls: Option<TlsAcceptor>,
    pub limits: HttpLimits,
}

/// State shared by a listener's connections.
struct Shared {
    listener: HttpListener,
    router: Router,
    unauthenticated: PerAddressLimit,
}

impl Shared {
    fn name(&self) -> &'static str {
        self.listener.addressing.listener
    }

    /// A slot among `client`'s fresh connections, or `None` (counted) when it holds them all.
    fn admit(&self, client: SocketAddr) -> Option<AddressSlot> {
        let slot = self.unauthenticated.try_acquire(client.ip());
        if slot.is_none() {
            debug!(listener = self.name(), %client, "too many fresh connections from this address");
            self.refused("unauthenticated_per_address");
        }
        slot
    }

    fn refused(&self, reason: &'static str) {
        metrics::counter!(
            "http_connections_refused_total",
            "listener" => self.name(),
            "reason" => reason
        )
        .increment(1);
    }
}

/// Serves `router` on `tcp` as `listener` says until `stop` is cancelled; connections then
/// finish their request in flight and close, and this returns once they have.
pub async fn serve(
    tcp: TcpListener,
    listener: HttpListener,
    router: Router,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(listener.limits.max_connections));
    let shared = Arc::new(Shared {
        unauthenticated: PerAddressLimit::new(listener.limits.max_unauthenticated_per_address),
        router: router.layer(RequestBodyDeadlineLayer::new(
            listener.limits.body_read_timeout,
        )),
        listener,
    });
    loop {
        let (stream, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    warn!(listener = shared.name(), %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!(listener = shared.name(), %peer, "connection limit reached, closing");
            shared.refused("max_connections");
            continue;
        };
        // A client that connects directly is its own address: its place among the address's
        // fresh connections is taken here, in accept order. Behind a balancer the address is
        // known only once the connection's task has read the PROXY header.
        let admitted = if shared.listener.addressing.reads_header_from(peer.ip()) {
            None
        } else {
            let Some(fresh) = shared.admit(peer) else {
                continue;
            };
            Some((peer, fresh))
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(connection(
            stream,
            peer,
            admitted,
            slot,
            shared,
            stop.child_token(),
        ));
    }
    // Stop accepting, then wait for the connections to finish their requests in flight
    // (each holds a slot until it closes), as the gateway's shutdown expects.
    drop(tcp);
    let all = u32::try_from(shared.listener.limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// Steps 2 to 5 of the module doc for one connection (2 and 3 done already for `admitted`).
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    admitted: Option<(SocketAddr, AddressSlot)>,
    _slot: OwnedSemaphorePermit,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let (client, unauthenticated) = match admitted {
        Some(admitted) => admitted,
        None => {
            let Some(client) = shared.listener.addressing.resolve(&mut stream, peer).await else {
                return;
            };
            let Some(fresh) = shared.admit(client) else {
                return;
            };
            (client, fresh)
        }
    };
    let Some(acceptor) = &shared.listener.tls else {
        return serve_http(stream, client, unauthenticated, shared, stop).await;
    };
    let handshake = acceptor.accept(stream);
    match tokio::time::timeout(shared.listener.limits.header_read_timeout, handshake).await {
        Ok(Ok(tls)) => serve_http(tls, client, unauthenticated, shared, stop).await,
        Ok(Err(err)) => debug!(listener = shared.name(), %client, %err, "TLS handshake failed"),
        Err(_) => debug!(listener = shared.name(), %client, "TLS handshake timed out"),
    }
}

async fn serve_http<I>(
    io: I,
    client: SocketAddr,
    unauthenticated: AddressSlot,
    shared: Arc<Shared>,
    stop: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Held until the first request has been answered.
    let unauthenticated = Arc::new(Mutex::new(Some(unauthenticated)));
    let header_read_timeout = shared.listener.limits.header_read_timeout;
    let name = shared.name();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let shared = shared.clone();
        let unauthenticated = unauthenticated.clone();
        let client = client_of(&shared.listener, client, &request);
        request.extensions_mut().insert(ClientAddr(client));
        async move {
            let response = shared.router.clone().oneshot(request).await;
            unauthenticated
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            response
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        debug!(listener = name, %client, %err, "HTTP connection ended with an error");
    }
}

/// The client of one request on a connection from `client`.
fn client_of<B>(listener: &HttpListener, client: SocketAddr, request: &Request<B>) -> SocketAddr {
    let trusted: &TrustedProxies = &listener.addressing.trusted;
    if listener.x_forwarded_for {
        trusted.forwarded_client(client, request.headers())
    } else {
        client
    }
}
