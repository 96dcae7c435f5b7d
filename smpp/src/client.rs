//! The ESME side: connect (TCP or TLS), bind, submit with a window of outstanding requests,
//! receive deliver_sm through a handler or a stream, unbind.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use smsgw_smpp::{client::{Client, ClientConfig, DeliverStream}, BindKind, BindRequest};
//! use smsgw_smpp::rusmpp::pdus::SubmitSm;
//!
//! let (handler, mut incoming) = DeliverStream::new(64);
//! let config = ClientConfig::new(BindRequest::new(BindKind::Transceiver, "demo", "demo1234"));
//! let client = Client::connect("127.0.0.1:2775", config, Arc::new(handler)).await?;
//! let submit = SubmitSm::builder()
//!     .destination_addr("447700900123".parse()?)
//!     .short_message(b"hello".as_slice().try_into()?)
//!     .build();
//! let message_id = client.submit(submit).await?;
//! if let Some(deliver) = incoming.recv().await {
//!     println!("got {:?} for {message_id}", deliver.pdu().source_addr);
//!     deliver.accept();
//! }
//! client.unbind().await?;
//! # Ok(()) }
//! ```

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use rusmpp::{
    pdus::{DeliverSm, DeliverSmResp, SubmitSm},
    Command, CommandStatus, Pdu,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpStream, ToSocketAddrs},
    sync::{mpsc, oneshot},
};
use tokio_rustls::{rustls::pki_types::ServerName, TlsConnector};

use crate::{
    bind::{BindFieldError, BindRequest},
    session::{
        self, BoxFuture, RequestError, Response, SessionConfig, SessionHandle, SessionHandler,
        SessionState, Side,
    },
};

/// What a client binds as, and how its session behaves.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub bind: BindRequest,
    pub session: SessionConfig,
    /// Bound on TCP connect plus TLS handshake.
    pub connect_timeout: Duration,
}

impl ClientConfig {
    pub fn new(bind: BindRequest) -> Self {
        Self {
            bind,
            session: SessionConfig::default(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Decides the deliver_sm_resp status for each deliver_sm (DR or MO) the SMSC sends.
pub trait DeliverHandler: Send + Sync + 'static {
    /// `sequence_number` is the PDU's: an SMSC that resends a deliver_sm because its response
    /// was lost sends the same PDU again on the session, so with the session it tells a resend
    /// from a new deliver_sm with the same content.
    fn on_deliver(
        &self,
        session: &SessionHandle,
        sequence_number: u32,
        deliver: DeliverSm,
    ) -> impl Future<Output = CommandStatus> + Send;
}

/// Why connecting and binding failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("connect or TLS handshake timed out")]
    Timeout,
    #[error("invalid bind: {0}")]
    Bind(#[from] BindFieldError),
    #[error("bind rejected by the SMSC: {0:?}")]
    Rejected(CommandStatus),
    #[error("bind request failed: {0}")]
    Request(#[from] RequestError),
}

/// Why a submit got no message id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The SMSC answered with an error status (or generic_nack): the message was not taken.
    #[error("submit rejected: {0:?}")]
    Rejected(CommandStatus),
    /// No answer: see [`RequestError::never_sent`] for whether a retry could duplicate.
    #[error(transparent)]
    Request(#[from] RequestError),
}

impl SubmitError {
    /// Whether the SMSC asked us to slow down (retry later, same message).
    pub fn is_throttled(&self) -> bool {
        matches!(
            self,
            SubmitError::Rejected(CommandStatus::EsmeRthrottled | CommandStatus::EsmeRmsgqful)
        )
    }
}

/// A bound ESME session.
#[derive(Debug, Clone)]
pub struct Client {
    session: SessionHandle,
}

impl Client {
    /// Connects over TCP and binds.
    pub async fn connect<H: DeliverHandler>(
        addr: impl ToSocketAddrs,
        config: ClientConfig,
        handler: Arc<H>,
    ) -> Result<Self, ConnectError> {
        let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ConnectError::Timeout)??;
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().ok();
        Self::bind_over(stream, peer, config, handler).await
    }

    /// Connects over TLS and binds.
    pub async fn connect_tls<H: DeliverHandler>(
        addr: impl ToSocketAddrs,
        server_name: ServerName<'static>,
        tls: TlsConnector,
        config: ClientConfig,
        handler: Arc<H>,
    ) -> Result<Self, ConnectError> {
        let connect = async {
            let stream = TcpStream::connect(addr).await?;
            let _ = stream.set_nodelay(true);
            let peer = stream.peer_addr().ok();
            Ok::<_, std::io::Error>((tls.connect(server_name, stream).await?, peer))
        };
        let (stream, peer) = tokio::time::timeout(config.connect_timeout, connect)
            .await
            .map_err(|_| ConnectError::Timeout)??;
        Self::bind_over(stream, peer, config, handler).await
    }

    /// Binds over an already connected stream.
    pub async fn bind_over<S, H>(
        stream: S,
        peer: Option<SocketAddr>,
        config: ClientConfig,
        handler: Arc<H>,
    ) -> Result<Self, ConnectError>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
        H: DeliverHandler,
    {
        let bind = config.bind.to_pdu()?;
        let adapter = Arc::new(ClientSession { handler });
        let session = session::spawn(stream, Side::Esme, config.session, adapter, peer);
        let response = match session.request(bind).await {
            Ok(response) => response,
            Err(err) => {
                session.close();
                return Err(err.into());
            }
        };
        if response.status() != CommandStatus::EsmeRok {
            session.close();
            return Err(ConnectError::Rejected(response.status()));
        }
        Ok(Self { session })
    }

    pub fn session(&self) -> &SessionHandle {
        &self.session
    }

    pub fn is_bound(&self) -> bool {
        matches!(self.session.state(), SessionState::Bound(_))
    }

    /// Submits one message; returns the SMSC's message id.
    pub async fn submit(&self, submit: SubmitSm) -> Result<String, SubmitError> {
        submit_on(&self.session, submit).await
    }

    /// Sends any request and returns the response, whatever its status.
    pub async fn request(&self, pdu: impl Into<Pdu>) -> Result<Command, RequestError> {
        self.session.request(pdu).await
    }

    /// Unbinds and waits for the session to close.
    pub async fn unbind(&self) -> Result<(), RequestError> {
        let result = self.session.unbind().await;
        self.session.closed().await;
        result
    }

    /// Waits until the session closes (unbind, peer closed, enquire_link unanswered).
    pub async fn closed(&self) {
        self.session.closed().await
    }
}

/// submit_sm on a session, reading the message id out of submit_sm_resp.
pub(crate) async fn submit_on(
    session: &SessionHandle,
    submit: SubmitSm,
) -> Result<String, SubmitError> {
    let response = session.request(submit).await?;
    match (response.status(), response.pdu()) {
        (CommandStatus::EsmeRok, Some(Pdu::SubmitSmResp(resp))) => {
            Ok(resp.message_id().as_str().to_owned())
        }
        (CommandStatus::EsmeRok, _) => Err(SubmitError::Request(RequestError::MalformedResponse(
            "submit_sm_resp without a message id".into(),
        ))),
        (status, _) => Err(SubmitError::Rejected(status)),
    }
}

struct ClientSession<H> {
    handler: Arc<H>,
}

impl<H: DeliverHandler> SessionHandler for ClientSession<H> {
    fn on_request(&self, session: &SessionHandle, command: Command) -> BoxFuture<Response> {
        let handler = self.handler.clone();
        let session = session.clone();
        Box::pin(async move {
            match command.pdu() {
                Some(Pdu::DeliverSm(deliver)) => {
                    let sequence_number = command.sequence_number();
                    match handler
                        .on_deliver(&session, sequence_number, deliver.clone())
                        .await
                    {
                        CommandStatus::EsmeRok => Ok(DeliverSmResp::default().into()),
                        status => Err(status),
                    }
                }
                _ => Err(CommandStatus::EsmeRinvcmdid),
            }
        })
    }
}

/// A deliver_sm waiting for the application's verdict. Dropping it answers
/// ESME_RX_T_APPN (temporary application error), so the SMSC redelivers later.
#[derive(Debug)]
pub struct IncomingDeliver {
    pdu: DeliverSm,
    sequence_number: u32,
    session: SessionHandle,
    verdict: Option<oneshot::Sender<CommandStatus>>,
}

impl IncomingDeliver {
    pub fn pdu(&self) -> &DeliverSm {
        &self.pdu
    }

    /// The PDU's sequence number on its session.
    pub fn sequence_number(&self) -> u32 {
        self.sequence_number
    }

    /// The session it arrived on.
    pub fn session(&self) -> &SessionHandle {
        &self.session
    }

    /// Answers deliver_sm_resp OK.
    pub fn accept(self) {
        self.respond(CommandStatus::EsmeRok)
    }

    /// Answers deliver_sm_resp with an error status.
    pub fn respond(mut self, status: CommandStatus) {
        if let Some(verdict) = self.verdict.take() {
            let _ = verdict.send(status);
        }
    }
}

impl Drop for IncomingDeliver {
    fn drop(&mut self) {
        if let Some(verdict) = self.verdict.take() {
            let _ = verdict.send(CommandStatus::EsmeRxTAppn);
        }
    }
}

/// A [`DeliverHandler`] that hands each deliver_sm to a bounded stream (a tokio mpsc
/// receiver); the consumer decides the response. A full stream holds deliver_sm in the
/// session's inbound window, and past it the session stops reading (backpressure on the SMSC);
/// a consumer stuck that long leaves the link check unanswered and the session closes.
#[derive(Debug, Clone)]
pub struct DeliverStream {
    sender: mpsc::Sender<IncomingDeliver>,
}

impl DeliverStream {
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<IncomingDeliver>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (Self { sender }, receiver)
    }
}

impl DeliverHandler for DeliverStream {
    async fn on_deliver(
        &self,
        session: &SessionHandle,
        sequence_number: u32,
        deliver: DeliverSm,
    ) -> CommandStatus {
        let (verdict, answer) = oneshot::channel();
        let incoming = IncomingDeliver {
            pdu: deliver,
            sequence_number,
            session: session.clone(),
            verdict: Some(verdict),
        };
        if self.sender.send(incoming).await.is_err() {
            return CommandStatus::EsmeRxTAppn;
        }
        answer.await.unwrap_or(CommandStatus::EsmeRxTAppn)
    }
}

/// A [`DeliverHandler`] that accepts everything and drops it: for transmitter-only use.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl DeliverHandler for AcceptAll {
    async fn on_deliver(&self, _: &SessionHandle, _: u32, _: DeliverSm) -> CommandStatus {
        CommandStatus::EsmeRok
    }
}
