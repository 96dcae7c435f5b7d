//! The SMSC side: accept connections (TCP or TLS), authenticate binds through a handler,
//! hand submits to it, keep a registry of bound sessions, and shut down gracefully.
//!
//! Admission, in order: at most `max_connections` connections (TLS handshakes included); the
//! client's address found by the listener's [`ClientAddressFn`] when it has one (e.g. from a
//! PROXY protocol header sent by a balancer), else the socket peer; at most
//! `max_unbound_per_address` connections per client address that have not bound yet (TLS
//! handshakes included), so one host cannot hold every slot with idle connections.
//!
//! Failed-bind lockouts are the handler's: only the application knows which system_ids exist
//! and whether a refusal was a wrong password (count it) or, say, too many binds (do not).
//! The handler gets each bind's peer address for that.

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use rusmpp::{
    pdus::{DataSmResp, SubmitSm, SubmitSmResp},
    Command, CommandStatus, Pdu,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::{
    bind::{c_string, BindRequest},
    operations::{CancelRequest, MessageStatus, QueryRequest, ReplaceRequest},
    per_address::{AddressSlot, PerAddressLimit},
    registry::Registry,
    session::{
        self, BoxFuture, Response, SessionConfig, SessionHandle, SessionHandler, SessionWindows,
        Side,
    },
    submissions::{
        check_number_of_dests, destinations_of_submit_multi, submit_of_data_sm, MultiDestination,
        MultiOutcome,
    },
};

/// What the application decides for the server: who may bind, what a submit becomes.
pub trait BindHandler: Send + Sync + 'static {
    /// What the application knows of a bound client (its account).
    type Account: Send + Sync + 'static;

    /// Checks a bind's credentials from `peer`. An error status is sent in the bind response
    /// and the connection closed. Lock out failing clients here if needed.
    fn authenticate(
        &self,
        bind: &BindRequest,
        peer: SocketAddr,
    ) -> impl Future<Output = Result<Self::Account, CommandStatus>> + Send;

    /// The windows for sessions of this account, when they differ from
    /// [`ServerConfig::session`]'s; asked once per bind, right after authentication.
    fn session_windows(&self, _account: &Self::Account) -> Option<SessionWindows> {
        None
    }

    /// A submit_sm from a bound client. Answer `Ok(message_id)` only once the message is
    /// durably accepted; the id goes back in submit_sm_resp.
    fn on_submit(
        &self,
        account: &Self::Account,
        session: &SessionHandle,
        submit: SubmitSm,
    ) -> impl Future<Output = Result<String, CommandStatus>> + Send;

    /// A data_sm from a transmitter or transceiver, as the submit_sm it stands for (see
    /// [`submit_of_data_sm`]). Answer `Ok(message_id)` only once the message is durably
    /// accepted; the id goes back in data_sm_resp. The default: not supported.
    fn on_data_sm(
        &self,
        _account: &Self::Account,
        _session: &SessionHandle,
        _submit: SubmitSm,
    ) -> impl Future<Output = Result<String, CommandStatus>> + Send {
        std::future::ready(Err(CommandStatus::EsmeRinvcmdid))
    }

    /// A submit_multi naming 1 to 254 destinations (others are answered ESME_RINVNUMDESTS
    /// before this is asked), in the client's order. What became of each goes back in
    /// submit_multi_resp; an `Err` refuses the whole PDU. The default: not supported.
    fn on_submit_multi(
        &self,
        _account: &Self::Account,
        _session: &SessionHandle,
        _destinations: Vec<MultiDestination>,
    ) -> impl Future<Output = Result<MultiOutcome, CommandStatus>> + Send {
        std::future::ready(Err(CommandStatus::EsmeRinvcmdid))
    }

    /// A query_sm: the state of a message this account submitted. ESME_RQUERYFAIL for one it
    /// cannot see; the default answers that the command is not supported.
    fn on_query(
        &self,
        _account: &Self::Account,
        _request: QueryRequest,
    ) -> impl Future<Output = Result<MessageStatus, CommandStatus>> + Send {
        std::future::ready(Err(CommandStatus::EsmeRinvcmdid))
    }

    /// A cancel_sm. `Ok` only once the cancellation is durable.
    fn on_cancel(
        &self,
        _account: &Self::Account,
        _request: CancelRequest,
    ) -> impl Future<Output = Result<(), CommandStatus>> + Send {
        std::future::ready(Err(CommandStatus::EsmeRinvcmdid))
    }

    /// A replace_sm. `Ok` only once the new body is durable.
    fn on_replace(
        &self,
        _account: &Self::Account,
        _request: ReplaceRequest,
    ) -> impl Future<Output = Result<(), CommandStatus>> + Send {
        std::future::ready(Err(CommandStatus::EsmeRinvcmdid))
    }

    /// Any other request a transmitter may send (broadcast_sm, ...).
    fn on_other_request(
        &self,
        _account: &Self::Account,
        _session: &SessionHandle,
        _command: Command,
    ) -> impl Future<Output = Response> + Send {
        std::future::ready(Err(CommandStatus::EsmeRinvcmdid))
    }

    /// A session of this account is bound (it is in the registry from now on).
    fn on_bound(&self, _account: &Self::Account, _session: &SessionHandle) {}

    /// A bound session of this account has closed.
    fn on_unbound(&self, _account: &Self::Account, _session: &SessionHandle) {}
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub session: SessionConfig,
    /// Connections beyond this are closed on accept.
    pub max_connections: usize,
    /// Connections from one client address that have not bound yet (TLS handshakes
    /// included); more are closed on accept. Bound sessions do not count.
    pub max_unbound_per_address: usize,
}

/// Finds a just-accepted connection's client address before anything else reads from it:
/// given the stream and the socket peer, the stream to go on with and the client's address,
/// or `None` to close the connection (e.g. a malformed PROXY protocol header).
pub type ClientAddressFn =
    Arc<dyn Fn(TcpStream, SocketAddr) -> BoxFuture<Option<(TcpStream, SocketAddr)>> + Send + Sync>;

/// How a listener's connections start: TLS or not, and how the client's address is found
/// (the socket peer when `client_address` is `None`).
#[derive(Clone, Default)]
pub struct Listening {
    pub tls: Option<TlsAcceptor>,
    pub client_address: Option<ClientAddressFn>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            session: SessionConfig::default(),
            max_connections: 10_000,
            max_unbound_per_address: 64,
        }
    }
}

struct Inner<H: BindHandler> {
    config: ServerConfig,
    handler: Arc<H>,
    registry: Arc<Registry>,
    connections: Mutex<HashMap<session::SessionId, SessionHandle>>,
    /// One permit per open connection, handshakes included.
    connection_slots: Arc<Semaphore>,
    unbound: PerAddressLimit,
    /// Cancelled by [`Server::shutdown`]: the listeners stop accepting.
    stop: CancellationToken,
}

/// What an admitted connection holds until it closes (the connection slot) or binds (its
/// address's unbound slot).
#[derive(Default)]
struct Admission {
    /// Held, never read: dropping it frees the slot.
    _connection: Option<OwnedSemaphorePermit>,
    unbound: Option<AddressSlot>,
}

/// An SMPP server. Clone it freely: clones share sessions and registry.
pub struct Server<H: BindHandler> {
    inner: Arc<Inner<H>>,
}

impl<H: BindHandler> Clone for Server<H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<H: BindHandler> Server<H> {
    pub fn new(config: ServerConfig, handler: Arc<H>) -> Self {
        Self {
            inner: Arc::new(Inner {
                handler,
                registry: Arc::new(Registry::new()),
                connections: Mutex::new(HashMap::new()),
                connection_slots: Arc::new(Semaphore::new(config.max_connections)),
                unbound: PerAddressLimit::new(config.max_unbound_per_address),
                stop: CancellationToken::new(),
                config,
            }),
        }
    }

    /// Bound sessions by account, for delivering on any receiving bind.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// Open connections, bound or not.
    pub fn connection_count(&self) -> usize {
        self.connections().len()
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, HashMap<session::SessionId, SessionHandle>> {
        self.inner
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Accepts plain TCP connections until [`Server::shutdown`].
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        self.serve_listening(listener, Listening::default()).await
    }

    /// Accepts TLS connections (handshake bounded by session_init_timer) until shutdown.
    pub async fn serve_tls(&self, listener: TcpListener, tls: TlsAcceptor) -> std::io::Result<()> {
        let listening = Listening {
            tls: Some(tls),
            client_address: None,
        };
        self.serve_listening(listener, listening).await
    }

    /// Accepts connections started as `listening` says until [`Server::shutdown`].
    pub async fn serve_listening(
        &self,
        listener: TcpListener,
        listening: Listening,
    ) -> std::io::Result<()> {
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        warn!(%err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = self.inner.stop.cancelled() => return Ok(()),
            };
            let Ok(connection) = self.inner.connection_slots.clone().try_acquire_owned() else {
                warn!(%peer, "connection limit reached, refusing");
                metrics::counter!("smpp_connections_refused_total").increment(1);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let server = self.clone();
            let listening = listening.clone();
            tokio::spawn(async move { server.admit(stream, peer, connection, listening).await });
        }
    }

    /// The admission steps after accept (see the module doc), then the session.
    async fn admit(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        connection: OwnedSemaphorePermit,
        listening: Listening,
    ) {
        let (stream, client) = match &listening.client_address {
            Some(client_address) => match client_address(stream, peer).await {
                Some(found) => found,
                None => return,
            },
            None => (stream, peer),
        };
        let Some(unbound) = self.inner.unbound.try_acquire(client.ip()) else {
            warn!(%client, "too many unbound connections from this address, refusing");
            metrics::counter!("smpp_unbound_per_address_refused_total").increment(1);
            return;
        };
        let admission = Admission {
            _connection: Some(connection),
            unbound: Some(unbound),
        };
        match &listening.tls {
            None => self.run_admitted(stream, client, admission),
            Some(tls) => {
                let limit = self.inner.config.session.session_init_timer;
                match tokio::time::timeout(limit, tls.accept(stream)).await {
                    Ok(Ok(stream)) => self.run_admitted(stream, client, admission),
                    Ok(Err(err)) => debug!(%client, %err, "TLS handshake failed"),
                    Err(_) => debug!(%client, "TLS handshake timed out"),
                }
            }
        }
    }

    /// Starts the session of a connection admitted while the server was accepting, unless it
    /// has begun shutting down since (its sessions are already being unbound).
    fn run_admitted<S>(&self, stream: S, client: SocketAddr, admission: Admission)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        if self.inner.stop.is_cancelled() {
            debug!(%client, "server shutting down; connection not started");
            return;
        }
        self.run_session(stream, client, admission);
    }

    /// Runs an SMPP session over an accepted connection (any stream, e.g. TLS); `peer` is the
    /// client's address (failed binds are locked out per address). Not counted against the
    /// server's connection limits: those apply to what its own listeners accept.
    pub fn start_session<S>(&self, stream: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        self.run_session(stream, peer, Admission::default());
    }

    fn run_session<S>(&self, stream: S, peer: SocketAddr, admission: Admission)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let adapter = Arc::new(ServerSession {
            inner: self.inner.clone(),
            peer,
            account: Arc::new(OnceLock::new()),
            admission: Mutex::new(admission),
        });
        let handle = session::spawn(
            stream,
            Side::Smsc,
            self.inner.config.session.clone(),
            adapter,
            Some(peer),
        );
        metrics::gauge!("smpp_server_connections").increment(1.0);
        self.connections().insert(handle.id(), handle);
    }

    /// Stops accepting, unbinds every session (each answers its in-flight requests first)
    /// and waits for them to close, at most `2 x response_timeout`.
    pub async fn shutdown(&self) {
        self.inner.stop.cancel();
        let sessions: Vec<SessionHandle> = self.connections().values().cloned().collect();
        info!(sessions = sessions.len(), "SMPP server shutting down");
        let unbinds = sessions.iter().map(|session| async move {
            if session.bind_kind().is_some() {
                let _ = session.unbind().await;
            } else {
                session.close();
            }
            session.closed().await;
        });
        let limit = self.inner.config.session.response_timeout * 2;
        if tokio::time::timeout(limit, futures_util::future::join_all(unbinds))
            .await
            .is_err()
        {
            warn!("sessions still open after the shutdown limit; closing them");
            for session in &sessions {
                session.close();
            }
        }
    }
}

/// Per-connection glue between a session and the application's [`BindHandler`].
struct ServerSession<H: BindHandler> {
    inner: Arc<Inner<H>>,
    peer: SocketAddr,
    /// Set by a successful authentication; a session binds at most once.
    account: Arc<OnceLock<H::Account>>,
    admission: Mutex<Admission>,
}

impl<H: BindHandler> ServerSession<H> {
    fn admission(&self) -> std::sync::MutexGuard<'_, Admission> {
        self.admission.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<H: BindHandler> SessionHandler for ServerSession<H> {
    fn on_bind(
        &self,
        _session: &SessionHandle,
        bind: BindRequest,
    ) -> BoxFuture<Result<Option<SessionWindows>, CommandStatus>> {
        let inner = self.inner.clone();
        let peer = self.peer;
        let slot = self.account.clone();
        Box::pin(async move {
            match inner.handler.authenticate(&bind, peer).await {
                Ok(found) => {
                    let windows = inner.handler.session_windows(&found);
                    let _ = slot.set(found);
                    metrics::counter!("smpp_binds_total", "result" => "ok").increment(1);
                    Ok(windows)
                }
                Err(status) => {
                    metrics::counter!("smpp_binds_total", "result" => "failed").increment(1);
                    info!(%peer, system_id = %bind.system_id, ?status, "bind failed");
                    Err(status)
                }
            }
        })
    }

    fn on_bound(&self, session: &SessionHandle) {
        let Some(account) = self.account.get() else {
            return;
        };
        // Bound: no longer counted against its address's unbound connections.
        self.admission().unbound = None;
        if let Some(bind) = session.bound_as() {
            self.inner.registry.add(&bind.system_id, session.clone());
        }
        metrics::gauge!("smpp_server_binds").increment(1.0);
        self.inner.handler.on_bound(account, session);
    }

    fn on_request(&self, session: &SessionHandle, command: Command) -> BoxFuture<Response> {
        if self.account.get().is_none() {
            return Box::pin(std::future::ready(Err(CommandStatus::EsmeRinvbndsts)));
        }
        let account = self.account.clone();
        let inner = self.inner.clone();
        let session = session.clone();
        Box::pin(async move {
            let Some(account) = account.get() else {
                return Err(CommandStatus::EsmeRinvbndsts);
            };
            match command.pdu() {
                Some(Pdu::SubmitSm(submit)) => {
                    let id = inner
                        .handler
                        .on_submit(account, &session, submit.clone())
                        .await?;
                    let message_id = c_string(&id).ok_or(CommandStatus::EsmeRsyserr)?;
                    Ok(SubmitSmResp::new(message_id, Vec::new()).into())
                }
                Some(Pdu::DataSm(data)) => {
                    let id = inner
                        .handler
                        .on_data_sm(account, &session, submit_of_data_sm(data))
                        .await?;
                    let message_id = c_string(&id).ok_or(CommandStatus::EsmeRsyserr)?;
                    Ok(DataSmResp::new(message_id, Vec::new()).into())
                }
                Some(Pdu::SubmitMulti(multi)) => {
                    check_number_of_dests(multi)?;
                    let destinations = destinations_of_submit_multi(multi);
                    inner
                        .handler
                        .on_submit_multi(account, &session, destinations)
                        .await?
                        .to_pdu()
                }
                Some(Pdu::QuerySm(query)) => inner
                    .handler
                    .on_query(account, QueryRequest::from_pdu(query))
                    .await?
                    .to_pdu(),
                Some(Pdu::CancelSm(cancel)) => {
                    let request = CancelRequest::from_pdu(cancel);
                    inner.handler.on_cancel(account, request).await?;
                    Ok(Pdu::CancelSmResp)
                }
                Some(Pdu::ReplaceSm(replace)) => {
                    let request = ReplaceRequest::from_pdu(replace);
                    inner.handler.on_replace(account, request).await?;
                    Ok(Pdu::ReplaceSmResp)
                }
                _ => {
                    inner
                        .handler
                        .on_other_request(account, &session, command)
                        .await
                }
            }
        })
    }

    fn on_closed(&self, session: &SessionHandle) {
        *self.admission() = Admission::default();
        let inner = &self.inner;
        inner
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&session.id());
        metrics::gauge!("smpp_server_connections").decrement(1.0);
        if let (Some(account), Some(bind)) = (self.account.get(), session.bound_as()) {
            inner.registry.remove(&bind.system_id, session.id());
            metrics::gauge!("smpp_server_binds").decrement(1.0);
            inner.handler.on_unbound(account, session);
        }
    }
}
