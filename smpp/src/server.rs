//! The SMSC side: accept connections (TCP or TLS), authenticate binds through a handler,
//! hand submits to it, keep a registry of bound sessions, and shut down gracefully.
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

use futures_util::FutureExt;
use rusmpp::{
    pdus::{SubmitSm, SubmitSmResp},
    Command, CommandStatus, Pdu,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    sync::watch,
};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::{
    bind::{c_string, BindRequest},
    registry::Registry,
    session::{self, BoxFuture, Response, SessionConfig, SessionHandle, SessionHandler, Side},
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

    /// A submit_sm from a bound client. Answer `Ok(message_id)` only once the message is
    /// durably accepted; the id goes back in submit_sm_resp.
    fn on_submit(
        &self,
        account: &Self::Account,
        session: &SessionHandle,
        submit: SubmitSm,
    ) -> impl Future<Output = Result<String, CommandStatus>> + Send;

    /// Any other request a transmitter may send (data_sm, query_sm, cancel_sm, ...).
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            session: SessionConfig::default(),
            max_connections: 10_000,
        }
    }
}

struct Inner<H: BindHandler> {
    config: ServerConfig,
    handler: Arc<H>,
    registry: Arc<Registry>,
    connections: Mutex<HashMap<session::SessionId, SessionHandle>>,
    stop: watch::Sender<bool>,
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
                config,
                handler,
                registry: Arc::new(Registry::new()),
                connections: Mutex::new(HashMap::new()),
                stop: watch::channel(false).0,
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
        self.accept_loop(listener, None).await
    }

    /// Accepts TLS connections (handshake bounded by session_init_timer) until shutdown.
    pub async fn serve_tls(&self, listener: TcpListener, tls: TlsAcceptor) -> std::io::Result<()> {
        self.accept_loop(listener, Some(tls)).await
    }

    async fn accept_loop(
        &self,
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
    ) -> std::io::Result<()> {
        let mut stop = self.inner.stop.subscribe();
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
                _ = stop.wait_for(|stopped| *stopped).map(|_| ()) => return Ok(()),
            };
            if self.connection_count() >= self.inner.config.max_connections {
                warn!(%peer, "connection limit reached, refusing");
                metrics::counter!("smpp_connections_refused_total").increment(1);
                continue;
            }
            let _ = stream.set_nodelay(true);
            match &tls {
                None => self.start_session(stream, peer),
                Some(tls) => {
                    let tls = tls.clone();
                    let server = self.clone();
                    let limit = self.inner.config.session.session_init_timer;
                    tokio::spawn(async move {
                        match tokio::time::timeout(limit, tls.accept(stream)).await {
                            Ok(Ok(stream)) => server.start_session(stream, peer),
                            Ok(Err(err)) => debug!(%peer, %err, "TLS handshake failed"),
                            Err(_) => debug!(%peer, "TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    }

    /// Runs an SMPP session over an accepted connection (any stream, e.g. TLS).
    pub fn start_session<S>(&self, stream: S, peer: SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let adapter = Arc::new(ServerSession {
            inner: self.inner.clone(),
            peer,
            account: Arc::new(OnceLock::new()),
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
        self.inner.stop.send_replace(true);
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
}

impl<H: BindHandler> SessionHandler for ServerSession<H> {
    fn on_bind(
        &self,
        _session: &SessionHandle,
        bind: BindRequest,
    ) -> BoxFuture<Result<(), CommandStatus>> {
        let inner = self.inner.clone();
        let peer = self.peer;
        let slot = self.account.clone();
        Box::pin(async move {
            match inner.handler.authenticate(&bind, peer).await {
                Ok(found) => {
                    let _ = slot.set(found);
                    metrics::counter!("smpp_binds_total", "result" => "ok").increment(1);
                    Ok(())
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
