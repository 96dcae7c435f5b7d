//! One SMPP bind: the state machine shared by the SMSC (server) and ESME (client) sides.
//!
//! A session is one task that owns the connection. It reads and frames PDUs, answers what the
//! protocol answers by itself (enquire_link, unbind, PDUs not allowed in the current state),
//! hands the rest to a [`SessionHandler`], and sends requests for the application through a
//! cloneable [`SessionHandle`] with a window of outstanding requests and a response timeout.
//!
//! Everything is bounded, and a busy session slows its peer down rather than refusing it:
//! - `window` caps our requests waiting for the peer's responses;
//! - `inbound_window` caps the peer's requests in the handler. A request that finds it full is
//!   parked (the one such PDU), decoding stops with whatever follows still in the read buffer,
//!   and the socket is not read until a handler slot frees: TCP backpressure, so a peer that
//!   ignores windows (many SMSCs send every receipt as soon as it is due) is answered in turn
//!   instead of refused. Responses and enquire_link that arrived before the parked request are
//!   handled as usual; those behind it wait with it. Our requests still time out, and a handler
//!   stuck for `enquire_link_interval` leaves our enquire_link unanswered, which closes the
//!   session;
//! - the read buffer holds at most what one read brought in beyond the parked PDU (and at most
//!   one partial PDU while nothing is parked), and reading pauses while unsent output piles up.

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use bytes::BytesMut;
use futures_util::{stream::FuturesUnordered, FutureExt, StreamExt};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    sync::{mpsc, oneshot, watch, Notify},
    time::Instant,
};
use tracing::{debug, info, warn};

use crate::{
    bind::{BindKind, BindRequest},
    frame::{self, FrameDecoder, MalformedPdu},
};

/// A boxed future, as handler methods return them.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The answer to an inbound request: a response body (status OK) or an error status, which is
/// sent as a header-only response as SMPP 3.4 prescribes.
pub type Response = Result<Pdu, CommandStatus>;

/// Stop reading from a peer while this much output is waiting to be written.
const OUTPUT_HIGH_WATER: usize = 1 << 20;

/// Timing and sizing of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Our requests (submit_sm on the ESME side, deliver_sm on the SMSC side) waiting for the
    /// peer's response at once; more wait in [`SessionHandle::request`].
    pub window: usize,
    /// The peer's requests in the [`SessionHandler`] at once. A request beyond it is not
    /// refused: the session stops reading the socket until a slot frees (see the module doc).
    pub inbound_window: usize,
    /// Send enquire_link after this long without receiving anything.
    pub enquire_link_interval: Duration,
    /// A request without a response after this long fails with [`RequestError::Timeout`];
    /// an unanswered enquire_link closes the session.
    pub response_timeout: Duration,
    /// SMSC side: close a connection that has not bound after this long.
    pub session_init_timer: Duration,
    /// Largest accepted command_length.
    pub max_pdu_len: usize,
    /// system_id the SMSC side puts in bind responses.
    pub system_id: String,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            window: 64,
            inbound_window: 64,
            enquire_link_interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            session_init_timer: Duration::from_secs(10),
            max_pdu_len: frame::DEFAULT_MAX_PDU_LEN,
            system_id: "smsgw".to_owned(),
        }
    }
}

/// The windows a bind handler sets for one session once it knows who bound (e.g. per account),
/// replacing those of its [`SessionConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    /// See [`SessionConfig::window`].
    pub window: usize,
    /// See [`SessionConfig::inbound_window`].
    pub inbound_window: usize,
}

/// Which end of the bind this session plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The message centre: accepts binds, receives submit_sm, sends deliver_sm.
    Smsc,
    /// The application: binds, sends submit_sm, receives deliver_sm.
    Esme,
}

/// Bind states as in SMPP 3.4 section 2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Open,
    Bound(BindKind),
    Unbound,
    Closed,
}

/// Process-unique session number, for logs and registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// Why a request sent through a [`SessionHandle`] got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The request never left: safe to send it on another bind.
    #[error("session closed before the request was sent")]
    NotSent,
    /// The request is not allowed in the session's state (e.g. deliver_sm on a transmitter
    /// bind); it never left.
    #[error("request not allowed in session state {0:?}")]
    InvalidState(SessionState),
    /// Sent, but no response in time: the peer may or may not have acted on it.
    #[error("no response within the response timeout")]
    Timeout,
    /// Sent, then the session closed before a response: the peer may have acted on it.
    #[error("session closed while waiting for the response")]
    Closed,
    /// The peer's response could not be decoded.
    #[error("malformed response: {0}")]
    MalformedResponse(String),
}

impl RequestError {
    /// Whether the peer certainly did not receive the request, so a retry elsewhere cannot
    /// duplicate it.
    pub fn never_sent(&self) -> bool {
        matches!(self, RequestError::NotSent | RequestError::InvalidState(_))
    }
}

/// What the application does with the PDUs a session cannot answer by itself.
pub trait SessionHandler: Send + Sync + 'static {
    /// SMSC side: a bind request arrived in OPEN state. `Ok` binds the session, with other
    /// windows when it carries them; an error status is sent in the bind response and the
    /// connection is closed.
    fn on_bind(
        &self,
        _session: &SessionHandle,
        _bind: BindRequest,
    ) -> BoxFuture<Result<Option<SessionWindows>, CommandStatus>> {
        Box::pin(std::future::ready(Err(CommandStatus::EsmeRinvbndsts)))
    }

    /// The session is now bound (either side).
    fn on_bound(&self, _session: &SessionHandle) {}

    /// A request allowed in the current state (submit_sm on the SMSC side, deliver_sm on the
    /// ESME side, ...). The response is sent when the future completes.
    fn on_request(&self, session: &SessionHandle, command: Command) -> BoxFuture<Response>;

    /// The session has closed; called once.
    fn on_closed(&self, _session: &SessionHandle) {}
}

/// A request from a handle to the session task.
struct Outbound {
    pdu: Pdu,
    reply: oneshot::Sender<Result<Command, RequestError>>,
}

struct Shared {
    id: SessionId,
    side: Side,
    peer: Option<SocketAddr>,
    requests: mpsc::Sender<Outbound>,
    state: watch::Sender<SessionState>,
    outstanding: AtomicUsize,
    abort: Notify,
    bound_as: std::sync::OnceLock<BindRequest>,
}

/// A cheap, cloneable reference to a running session.
#[derive(Clone)]
pub struct SessionHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHandle")
            .field("id", &self.shared.id)
            .field("side", &self.shared.side)
            .field("peer", &self.shared.peer)
            .field("state", &self.state())
            .finish()
    }
}

impl SessionHandle {
    pub fn id(&self) -> SessionId {
        self.shared.id
    }

    pub fn side(&self) -> Side {
        self.shared.side
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared.peer
    }

    pub fn state(&self) -> SessionState {
        *self.shared.state.borrow()
    }

    /// The bind kind, when bound.
    pub fn bind_kind(&self) -> Option<BindKind> {
        match self.state() {
            SessionState::Bound(kind) => Some(kind),
            _ => None,
        }
    }

    /// SMSC side: the accepted bind request (system_id etc.), once bound.
    pub fn bound_as(&self) -> Option<&BindRequest> {
        self.shared.bound_as.get()
    }

    /// Requests sent through this session still waiting for their response.
    pub fn outstanding(&self) -> usize {
        self.shared.outstanding.load(Ordering::Relaxed)
    }

    pub fn is_closed(&self) -> bool {
        self.state() == SessionState::Closed
    }

    /// Sends a request and waits for its response, whatever its status (a generic_nack
    /// included). Waits for room in the window first.
    pub async fn request(&self, pdu: impl Into<Pdu>) -> Result<Command, RequestError> {
        let (reply, response) = oneshot::channel();
        let outbound = Outbound {
            pdu: pdu.into(),
            reply,
        };
        self.shared.outstanding.fetch_add(1, Ordering::Relaxed);
        let _outstanding = OutstandingGuard(&self.shared.outstanding);
        if self.shared.requests.send(outbound).await.is_err() {
            return Err(RequestError::NotSent);
        }
        // The session answers every request it took; a dropped sender means it went away
        // without reading it from the queue.
        response.await.unwrap_or(Err(RequestError::NotSent))
    }

    /// Unbinds: in-flight inbound requests are answered, then unbind is sent and the session
    /// closes on unbind_resp (or after the response timeout).
    pub async fn unbind(&self) -> Result<(), RequestError> {
        match self.request(Pdu::Unbind).await {
            Ok(_) => Ok(()),
            Err(RequestError::InvalidState(SessionState::Closed)) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Closes the connection at once, without unbind.
    pub fn close(&self) {
        self.shared.abort.notify_one();
    }

    /// Waits until the session has closed.
    pub async fn closed(&self) {
        let mut state = self.shared.state.subscribe();
        let _ = state.wait_for(|s| *s == SessionState::Closed).await;
    }

    /// Waits until the session is bound or closed; returns the state reached.
    pub async fn bound_or_closed(&self) -> SessionState {
        let mut state = self.shared.state.subscribe();
        let reached = state
            .wait_for(|s| matches!(s, SessionState::Bound(_) | SessionState::Closed))
            .await
            .map(|s| *s);
        reached.unwrap_or(SessionState::Closed)
    }
}

struct OutstandingGuard<'a>(&'a AtomicUsize);

impl Drop for OutstandingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

/// Starts a session task on `stream` and returns its handle.
pub fn spawn<S, H>(
    stream: S,
    side: Side,
    config: SessionConfig,
    handler: Arc<H>,
    peer: Option<SocketAddr>,
) -> SessionHandle
where
    S: AsyncRead + AsyncWrite + Send + 'static,
    H: SessionHandler,
{
    let window = config.window.max(1);
    let (requests, inbox) = mpsc::channel(window);
    let (state, _) = watch::channel(SessionState::Open);
    let handle = SessionHandle {
        shared: Arc::new(Shared {
            id: SessionId(NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed)),
            side,
            peer,
            requests,
            state,
            outstanding: AtomicUsize::new(0),
            abort: Notify::new(),
            bound_as: std::sync::OnceLock::new(),
        }),
    };
    let driver = Driver::new(side, config, handler, handle.clone());
    tokio::spawn(driver.run(stream, inbox));
    handle
}

/// Why a request of ours is outstanding.
enum Pending {
    Caller(oneshot::Sender<Result<Command, RequestError>>),
    EnquireLink,
}

/// Handler work in flight, tagged with what its result answers (no second box per request).
enum InboundWork {
    Request {
        request: CommandId,
        sequence_number: u32,
        work: BoxFuture<Response>,
    },
    Bind {
        bind: Option<BindRequest>,
        sequence_number: u32,
        work: BoxFuture<BindResult>,
    },
}

/// What [`SessionHandler::on_bind`] decides.
type BindResult = Result<Option<SessionWindows>, CommandStatus>;

impl Future for InboundWork {
    type Output = Completed;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Completed> {
        match self.get_mut() {
            InboundWork::Request {
                request,
                sequence_number,
                work,
            } => work.as_mut().poll(cx).map(|response| Completed::Response {
                request: *request,
                sequence_number: *sequence_number,
                response,
            }),
            InboundWork::Bind {
                bind,
                sequence_number,
                work,
            } => work.as_mut().poll(cx).map(|result| Completed::Bind {
                bind: bind.take().expect("bind work polled after completion"),
                sequence_number: *sequence_number,
                result,
            }),
        }
    }
}

/// Handler work in flight for one session.
type Inbound = FuturesUnordered<InboundWork>;

/// Work the handler finished: a response to send.
enum Completed {
    Response {
        request: CommandId,
        sequence_number: u32,
        response: Response,
    },
    Bind {
        bind: BindRequest,
        sequence_number: u32,
        result: BindResult,
    },
}

/// How the session should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Running normally.
    No,
    /// Finish inbound work and flush output, then close.
    Graceful,
    /// Close now.
    Abort,
}

struct Driver<H> {
    side: Side,
    config: SessionConfig,
    handler: Arc<H>,
    handle: SessionHandle,
    state: SessionState,
    decoder: FrameDecoder,
    next_sequence: u32,
    pending: HashMap<u32, (Pending, Instant), SequenceHasher>,
    last_received: Instant,
    opened_at: Instant,
    enquire_link_outstanding: bool,
    bind_in_progress: bool,
    /// The peer asked to unbind: answer once inbound work is done.
    unbind_requested: Option<u32>,
    /// Our unbind, held until the peer's in-flight requests are answered.
    deferred_unbind: Option<Outbound>,
    /// A request from the peer that found the inbound window full: it goes to the handler
    /// when a slot frees, and nothing is decoded or read past it until then.
    parked: Option<Command>,
    ending: Ending,
    ending_since: Option<Instant>,
}

impl<H: SessionHandler> Driver<H> {
    fn new(side: Side, mut config: SessionConfig, handler: Arc<H>, handle: SessionHandle) -> Self {
        let now = Instant::now();
        config.window = config.window.max(1);
        config.inbound_window = config.inbound_window.max(1);
        Self {
            side,
            decoder: FrameDecoder::new(config.max_pdu_len),
            config,
            handler,
            handle,
            state: SessionState::Open,
            next_sequence: 1,
            pending: HashMap::default(),
            last_received: now,
            opened_at: now,
            enquire_link_outstanding: false,
            bind_in_progress: false,
            unbind_requested: None,
            deferred_unbind: None,
            parked: None,
            ending: Ending::No,
            ending_since: None,
        }
    }

    async fn run<S>(mut self, stream: S, mut inbox: mpsc::Receiver<Outbound>)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut input = BytesMut::with_capacity(16 * 1024);
        let mut output = BytesMut::with_capacity(16 * 1024);
        let mut inbound: Inbound = FuturesUnordered::new();
        let shared = self.handle.shared.clone();
        let timer = tokio::time::sleep_until(self.next_deadline());
        tokio::pin!(timer);
        // Created once: a fresh Notified per loop turn would lock the Notify twice per turn.
        let abort = shared.abort.notified();
        tokio::pin!(abort);
        let mut peer_open = true;

        loop {
            if let Some(sequence_number) = self.unbind_requested {
                // Answer the peer's unbind once our side of the conversation is settled: its
                // requests answered, ours answered (or timed out).
                let ours_settled = !self
                    .pending
                    .values()
                    .any(|(p, _)| matches!(p, Pending::Caller(_)));
                if self.handler_idle(&inbound) && ours_settled {
                    let response =
                        Command::new(CommandStatus::EsmeRok, sequence_number, Pdu::UnbindResp);
                    frame::encode(&response, &mut output);
                    self.unbind_requested = None;
                    self.end(Ending::Graceful);
                }
            }
            if self.handler_idle(&inbound) && self.ending == Ending::No {
                if let Some(unbind) = self.deferred_unbind.take() {
                    self.write_request(unbind, Instant::now(), &mut output, timer.as_mut());
                }
            }
            match self.ending {
                Ending::Abort => break,
                Ending::Graceful if self.handler_idle(&inbound) && output.is_empty() => break,
                _ => {}
            }
            let take_requests =
                self.ending == Ending::No && self.pending.len() < self.config.window;
            // Nothing is read past a parked request: that is the backpressure on the peer.
            let read = peer_open
                && self.ending == Ending::No
                && self.parked.is_none()
                && output.len() < OUTPUT_HIGH_WATER;
            if input.capacity() - input.len() < 4096 {
                input.reserve(16 * 1024);
            }
            tokio::select! {
                biased;
                Some(done) = inbound.next(), if !inbound.is_empty() => {
                    self.on_completed(done, &mut output);
                    // Take every finished response in this turn, so they leave in one write.
                    while let Some(Some(done)) = inbound.next().now_or_never() {
                        self.on_completed(done, &mut output);
                    }
                    self.resume_input(&mut input, &mut output, &mut inbound);
                }
                Some(outbound) = inbox.recv(), if take_requests => {
                    let now = Instant::now();
                    self.send_request(outbound, now, &mut output, timer.as_mut());
                    while self.ending == Ending::No && self.pending.len() < self.config.window {
                        let Ok(outbound) = inbox.try_recv() else { break };
                        self.send_request(outbound, now, &mut output, timer.as_mut());
                    }
                }
                written = writer.write_buf(&mut output), if !output.is_empty() => {
                    if let Err(err) = written {
                        debug!(session = %self.handle.id(), %err, "write failed");
                        self.end(Ending::Abort);
                    }
                }
                received = reader.read_buf(&mut input), if read => match received {
                    Ok(0) | Err(_) => {
                        debug!(session = %self.handle.id(), "peer closed the connection");
                        peer_open = false;
                        self.end(Ending::Graceful);
                    }
                    Ok(_) => self.on_input(&mut input, &mut output, &mut inbound),
                },
                () = &mut timer => {
                    self.on_timer(&mut output);
                    let next = self.next_deadline();
                    timer.as_mut().reset(next);
                }
                () = &mut abort => self.end(Ending::Abort),
            }
        }
        self.shutdown(writer, inbox, inbound).await;
    }

    /// No request of the peer is in the handler or waiting for it.
    fn handler_idle(&self, inbound: &Inbound) -> bool {
        inbound.is_empty() && self.parked.is_none()
    }

    fn set_state(&mut self, state: SessionState) {
        self.state = state;
        self.handle.shared.state.send_replace(state);
    }

    fn end(&mut self, how: Ending) {
        if how == Ending::Abort || self.ending == Ending::No {
            self.ending = how;
            self.ending_since.get_or_insert_with(Instant::now);
        }
    }

    fn next_sequence(&mut self) -> u32 {
        let sequence = self.next_sequence;
        self.next_sequence = following_sequence(sequence);
        sequence
    }

    /// The earliest moment the timer has something to do.
    fn next_deadline(&self) -> Instant {
        let mut next = Instant::now() + Duration::from_secs(3600);
        if let Some(deadline) = self.pending.values().map(|(_, d)| *d).min() {
            next = next.min(deadline);
        }
        if let Some(since) = self.ending_since {
            next = next.min(since + self.config.response_timeout);
        }
        match self.state {
            SessionState::Open if self.side == Side::Smsc => {
                next = next.min(self.opened_at + self.config.session_init_timer);
            }
            SessionState::Bound(_) if !self.enquire_link_outstanding => {
                next = next.min(self.last_received + self.config.enquire_link_interval);
            }
            _ => {}
        }
        next
    }

    fn on_timer(&mut self, output: &mut BytesMut) {
        let now = Instant::now();
        let expired: Vec<u32> = self
            .pending
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(sequence, _)| *sequence)
            .collect();
        for sequence in expired {
            match self.pending.remove(&sequence) {
                Some((Pending::Caller(reply), _)) => {
                    metrics::counter!("smpp_request_timeouts_total").increment(1);
                    let _ = reply.send(Err(RequestError::Timeout));
                }
                Some((Pending::EnquireLink, _)) => {
                    warn!(session = %self.handle.id(), peer = ?self.handle.peer_addr(), "enquire_link unanswered, closing");
                    self.end(Ending::Abort);
                }
                None => {}
            }
        }
        if self
            .ending_since
            .is_some_and(|since| now >= since + self.config.response_timeout)
        {
            debug!(session = %self.handle.id(), "ending took too long, closing");
            self.end(Ending::Abort);
        }
        match self.state {
            SessionState::Open
                if self.side == Side::Smsc
                    && !self.bind_in_progress
                    && now >= self.opened_at + self.config.session_init_timer =>
            {
                info!(session = %self.handle.id(), peer = ?self.handle.peer_addr(), "no bind within session_init_timer, closing");
                self.end(Ending::Abort);
            }
            SessionState::Bound(_)
                if !self.enquire_link_outstanding
                    && now >= self.last_received + self.config.enquire_link_interval =>
            {
                let sequence = self.next_sequence();
                let deadline = now + self.config.response_timeout;
                self.pending
                    .insert(sequence, (Pending::EnquireLink, deadline));
                self.enquire_link_outstanding = true;
                frame::encode(
                    &Command::new(CommandStatus::EsmeRok, sequence, Pdu::EnquireLink),
                    output,
                );
            }
            _ => {}
        }
    }

    /// Whether we may send a request with this command id in the current state.
    fn may_send(&self, id: CommandId) -> bool {
        match (self.state, id) {
            (SessionState::Open, CommandId::BindTransmitter)
            | (SessionState::Open, CommandId::BindReceiver)
            | (SessionState::Open, CommandId::BindTransceiver) => {
                self.side == Side::Esme && !self.bind_in_progress
            }
            (SessionState::Bound(_), CommandId::Unbind | CommandId::EnquireLink) => true,
            (SessionState::Bound(kind), id) => match self.side {
                Side::Esme => kind.can_transmit() && esme_operation(id),
                Side::Smsc => kind.can_receive() && smsc_operation(id),
            },
            _ => false,
        }
    }

    fn send_request(
        &mut self,
        outbound: Outbound,
        now: Instant,
        output: &mut BytesMut,
        timer: Pin<&mut tokio::time::Sleep>,
    ) {
        let id = outbound.pdu.command_id();
        if !self.may_send(id) {
            let _ = outbound
                .reply
                .send(Err(RequestError::InvalidState(self.state)));
            return;
        }
        if id == CommandId::Unbind {
            // From now on new requests from the peer are refused (state UNBOUND); the unbind
            // itself leaves once those already in the handler are answered.
            self.set_state(SessionState::Unbound);
            self.deferred_unbind = Some(outbound);
            return;
        }
        self.write_request(outbound, now, output, timer);
    }

    /// Numbers, encodes and registers a request whose sending is decided.
    fn write_request(
        &mut self,
        outbound: Outbound,
        now: Instant,
        output: &mut BytesMut,
        timer: Pin<&mut tokio::time::Sleep>,
    ) {
        let id = outbound.pdu.command_id();
        let sequence = self.next_sequence();
        let command = Command::new(CommandStatus::EsmeRok, sequence, outbound.pdu);
        frame::encode(&command, output);
        let deadline = now + self.config.response_timeout;
        if deadline < timer.deadline() {
            timer.reset(deadline);
        }
        self.pending
            .insert(sequence, (Pending::Caller(outbound.reply), deadline));
        if matches!(
            id,
            CommandId::BindTransmitter | CommandId::BindReceiver | CommandId::BindTransceiver
        ) {
            self.bind_in_progress = true;
        }
    }

    /// Bytes arrived from the peer.
    fn on_input(&mut self, input: &mut BytesMut, output: &mut BytesMut, inbound: &mut Inbound) {
        self.last_received = Instant::now();
        self.decode_input(input, output, inbound);
    }

    /// Handler work finished: a parked request takes the freed slot, then decoding goes on
    /// from the read buffer (reading resumes once that is used up).
    fn resume_input(&mut self, input: &mut BytesMut, output: &mut BytesMut, inbound: &mut Inbound) {
        let window = self.config.inbound_window;
        let Some(command) = self.parked.take_if(|_| inbound.len() < window) else {
            return;
        };
        // The peer sent all that is buffered; taking it on counts as hearing from the peer, so
        // a slow but moving handler does not make us probe the link.
        self.last_received = Instant::now();
        self.dispatch(command, output, inbound);
        self.decode_input(input, output, inbound);
    }

    /// Handles the complete PDUs in the read buffer, up to a parked request or the end.
    fn decode_input(&mut self, input: &mut BytesMut, output: &mut BytesMut, inbound: &mut Inbound) {
        while self.parked.is_none() {
            match self.decoder.decode(input) {
                Ok(None) => return,
                Ok(Some(Ok(command))) => {
                    self.on_command(command, output, inbound);
                    if self.ending != Ending::No {
                        return;
                    }
                }
                Ok(Some(Err(malformed))) => {
                    self.on_malformed(malformed, output);
                }
                Err(fatal) => {
                    warn!(session = %self.handle.id(), peer = ?self.handle.peer_addr(), %fatal, "closing");
                    metrics::counter!("smpp_generic_nacks_sent_total").increment(1);
                    frame::encode_header_only(
                        CommandId::GenericNack,
                        CommandStatus::EsmeRinvcmdlen,
                        fatal.sequence_number,
                        output,
                    );
                    input.clear();
                    self.end(Ending::Graceful);
                    return;
                }
            }
        }
    }

    fn on_malformed(&mut self, malformed: MalformedPdu, output: &mut BytesMut) {
        warn!(session = %self.handle.id(), peer = ?self.handle.peer_addr(), command_id = format_args!("{:#010x}", malformed.command_id), reason = %malformed.reason, "malformed PDU");
        if malformed.is_response() {
            // A response we cannot read still settles the request it answers.
            if let Some((Pending::Caller(reply), _)) =
                self.pending.remove(&malformed.sequence_number)
            {
                let _ = reply.send(Err(RequestError::MalformedResponse(malformed.reason)));
            }
            return;
        }
        metrics::counter!("smpp_generic_nacks_sent_total").increment(1);
        frame::encode_header_only(
            CommandId::GenericNack,
            malformed.status,
            malformed.sequence_number,
            output,
        );
    }

    fn on_command(&mut self, command: Command, output: &mut BytesMut, inbound: &mut Inbound) {
        let id = command.id();
        let sequence = command.sequence_number();
        if id.is_response() {
            self.on_response(command);
            return;
        }
        match id {
            CommandId::EnquireLink => frame::encode(
                &Command::new(CommandStatus::EsmeRok, sequence, Pdu::EnquireLinkResp),
                output,
            ),
            CommandId::Unbind => {
                debug!(session = %self.handle.id(), "peer unbinds");
                self.set_state(SessionState::Unbound);
                self.unbind_requested = Some(sequence);
            }
            CommandId::BindTransmitter | CommandId::BindReceiver | CommandId::BindTransceiver => {
                self.on_bind_request(command, output, inbound)
            }
            CommandId::AlertNotification => {
                debug!(session = %self.handle.id(), "alert_notification ignored");
            }
            _ if !self.may_receive(id) => {
                reject(id, CommandStatus::EsmeRinvbndsts, sequence, output);
            }
            _ if inbound.len() >= self.config.inbound_window => {
                metrics::counter!("smpp_inbound_window_full_total").increment(1);
                self.parked = Some(command);
            }
            _ => self.dispatch(command, output, inbound),
        }
    }

    /// Hands a request to the handler.
    fn dispatch(&mut self, command: Command, output: &mut BytesMut, inbound: &mut Inbound) {
        let id = command.id();
        let sequence = command.sequence_number();
        let mut work = self.handler.on_request(&self.handle, command);
        // A handler that answers at once (a refusal, an in-memory answer) skips the queue;
        // one that is pending is polled again, with our waker, once queued.
        match (&mut work).now_or_never() {
            Some(response) => self.on_completed(
                Completed::Response {
                    request: id,
                    sequence_number: sequence,
                    response,
                },
                output,
            ),
            None => inbound.push(InboundWork::Request {
                request: id,
                sequence_number: sequence,
                work,
            }),
        }
    }

    /// Whether the peer may send us a request with this command id in the current state.
    fn may_receive(&self, id: CommandId) -> bool {
        match (self.state, self.side) {
            (SessionState::Bound(kind), Side::Smsc) => kind.can_transmit() && esme_operation(id),
            (SessionState::Bound(kind), Side::Esme) => kind.can_receive() && smsc_operation(id),
            _ => false,
        }
    }

    fn on_bind_request(&mut self, command: Command, output: &mut BytesMut, inbound: &mut Inbound) {
        let id = command.id();
        let sequence = command.sequence_number();
        let status = match (self.side, self.state) {
            (Side::Esme, _) => Some(CommandStatus::EsmeRinvbndsts),
            (Side::Smsc, SessionState::Bound(_)) => Some(CommandStatus::EsmeRalybnd),
            (Side::Smsc, SessionState::Open) if self.bind_in_progress => {
                Some(CommandStatus::EsmeRalybnd)
            }
            (Side::Smsc, SessionState::Open) => None,
            _ => Some(CommandStatus::EsmeRinvbndsts),
        };
        let bind = command.pdu().and_then(BindRequest::from_pdu);
        match (status, bind) {
            (None, Some(bind)) => {
                self.bind_in_progress = true;
                let work = self.handler.on_bind(&self.handle, bind.clone());
                inbound.push(InboundWork::Bind {
                    bind: Some(bind),
                    sequence_number: sequence,
                    work,
                });
            }
            (status, _) => reject(
                id,
                status.unwrap_or(CommandStatus::EsmeRsyserr),
                sequence,
                output,
            ),
        }
    }

    fn on_response(&mut self, command: Command) {
        let sequence = command.sequence_number();
        let Some((pending, _)) = self.pending.remove(&sequence) else {
            debug!(session = %self.handle.id(), sequence, id = ?command.id(), "response to no outstanding request");
            return;
        };
        let ok = command.status() == CommandStatus::EsmeRok;
        match command.id() {
            CommandId::BindTransmitterResp
            | CommandId::BindReceiverResp
            | CommandId::BindTransceiverResp => {
                self.bind_in_progress = false;
                if let (true, Some(kind)) = (ok, BindKind::of_response(command.id())) {
                    self.set_state(SessionState::Bound(kind));
                    self.handler.on_bound(&self.handle);
                }
            }
            CommandId::UnbindResp => self.end(Ending::Graceful),
            CommandId::GenericNack if self.bind_in_progress && self.state == SessionState::Open => {
                self.bind_in_progress = false;
            }
            _ => {}
        }
        match pending {
            Pending::Caller(reply) => {
                let _ = reply.send(Ok(command));
            }
            Pending::EnquireLink => self.enquire_link_outstanding = false,
        }
    }

    fn on_completed(&mut self, done: Completed, output: &mut BytesMut) {
        match done {
            Completed::Response {
                request,
                sequence_number,
                response: Ok(pdu),
            } => {
                debug_assert_eq!(pdu.command_id(), request.matching_response());
                frame::encode(
                    &Command::new(CommandStatus::EsmeRok, sequence_number, pdu),
                    output,
                );
            }
            Completed::Response {
                request,
                sequence_number,
                response: Err(status),
            } => reject(request, status, sequence_number, output),
            Completed::Bind {
                bind,
                sequence_number,
                result,
            } => {
                self.bind_in_progress = false;
                let kind = bind.kind;
                match result {
                    Ok(windows) if self.state == SessionState::Open => {
                        if let Some(windows) = windows {
                            self.config.window = windows.window.max(1);
                            self.config.inbound_window = windows.inbound_window.max(1);
                        }
                        let response = kind.response_pdu(&self.config.system_id);
                        frame::encode(
                            &Command::new(CommandStatus::EsmeRok, sequence_number, response),
                            output,
                        );
                        let _ = self.handle.shared.bound_as.set(bind);
                        self.set_state(SessionState::Bound(kind));
                        self.handler.on_bound(&self.handle);
                    }
                    Ok(_) => {
                        // The peer unbound or vanished while we authenticated it.
                        reject(
                            kind_request_id(kind),
                            CommandStatus::EsmeRinvbndsts,
                            sequence_number,
                            output,
                        );
                    }
                    Err(status) => {
                        reject(kind_request_id(kind), status, sequence_number, output);
                        self.end(Ending::Graceful);
                    }
                }
            }
        }
    }

    /// Ends the session: answers what can still be answered, fails what cannot.
    async fn shutdown<S: AsyncRead + AsyncWrite>(
        mut self,
        mut writer: tokio::io::WriteHalf<S>,
        mut inbox: mpsc::Receiver<Outbound>,
        mut inbound: Inbound,
    ) {
        self.set_state(SessionState::Closed);
        inbox.close();
        while let Ok(outbound) = inbox.try_recv() {
            let _ = outbound.reply.send(Err(RequestError::NotSent));
        }
        for (_, (pending, _)) in self.pending.drain() {
            if let Pending::Caller(reply) = pending {
                let _ = reply.send(Err(RequestError::Closed));
            }
        }
        // Handler work may be a durable write: let it finish rather than cancel it midway.
        let drain = async { while inbound.next().await.is_some() {} };
        if tokio::time::timeout(self.config.response_timeout, drain)
            .await
            .is_err()
        {
            warn!(session = %self.handle.id(), "handler work still running at close, dropped");
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
        self.handler.on_closed(&self.handle);
        debug!(session = %self.handle.id(), "closed");
    }
}

/// Sequence numbers are small, trusted keys: a multiplicative hash is enough and much cheaper
/// than SipHash on the per-PDU path.
#[derive(Default, Clone, Copy)]
struct SequenceHasher;

impl std::hash::BuildHasher for SequenceHasher {
    type Hasher = SequenceHash;
    fn build_hasher(&self) -> SequenceHash {
        SequenceHash(0)
    }
}

struct SequenceHash(u64);

impl std::hash::Hasher for SequenceHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, value: u32) {
        self.0 = u64::from(value).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Sequence numbers run 1..=0x7FFF_FFFF and wrap back to 1 (0 and the top bit are reserved).
fn following_sequence(sequence: u32) -> u32 {
    if sequence >= 0x7FFF_FFFF {
        1
    } else {
        sequence + 1
    }
}

/// Requests an ESME sends to an SMSC once bound as transmitter or transceiver.
fn esme_operation(id: CommandId) -> bool {
    matches!(
        id,
        CommandId::SubmitSm
            | CommandId::SubmitMulti
            | CommandId::DataSm
            | CommandId::QuerySm
            | CommandId::CancelSm
            | CommandId::ReplaceSm
            | CommandId::BroadcastSm
            | CommandId::QueryBroadcastSm
            | CommandId::CancelBroadcastSm
    )
}

/// Requests an SMSC sends to an ESME bound as receiver or transceiver.
fn smsc_operation(id: CommandId) -> bool {
    matches!(id, CommandId::DeliverSm | CommandId::DataSm)
}

fn kind_request_id(kind: BindKind) -> CommandId {
    match kind {
        BindKind::Transmitter => CommandId::BindTransmitter,
        BindKind::Receiver => CommandId::BindReceiver,
        BindKind::Transceiver => CommandId::BindTransceiver,
    }
}

/// Answers a request with an error: its own response id when it has one, else generic_nack.
fn reject(request: CommandId, status: CommandStatus, sequence: u32, output: &mut BytesMut) {
    let response = match request.matching_response() {
        CommandId::Other(_) => CommandId::GenericNack,
        id => id,
    };
    if response == CommandId::GenericNack {
        metrics::counter!("smpp_generic_nacks_sent_total").increment(1);
    }
    frame::encode_header_only(response, status, sequence, output);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_wrap_within_1_to_0x7fffffff() {
        assert_eq!(following_sequence(1), 2);
        assert_eq!(following_sequence(0x7FFF_FFFE), 0x7FFF_FFFF);
        assert_eq!(following_sequence(0x7FFF_FFFF), 1);
    }

    #[test]
    fn only_a_never_sent_request_is_safe_to_retry_elsewhere() {
        assert!(RequestError::NotSent.never_sent());
        assert!(RequestError::InvalidState(SessionState::Open).never_sent());
        assert!(!RequestError::Timeout.never_sent());
        assert!(!RequestError::Closed.never_sent());
    }
}
