//! Shared fixtures for the SMPP integration tests: a gateway-like server handler with one
//! account, and helpers to start a server on an ephemeral 127.0.0.1 port.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use smsgw_smpp::{
    rusmpp::{
        pdus::{DeliverSm, SubmitSm},
        CommandStatus,
    },
    server::{BindHandler, Server, ServerConfig},
    BindKind, BindRequest, ClientConfig, SessionConfig, SessionHandle, SessionWindows,
};
use tokio::{net::TcpListener, time::Instant};

/// Accepts `demo`/`demo1234`, numbers submits, and remembers what it saw.
#[derive(Default)]
pub struct TestSmsc {
    pub next_id: AtomicU64,
    pub submits: Mutex<Vec<SubmitSm>>,
    pub bind_attempts: Mutex<Vec<(Instant, String)>>,
    /// The client address the server gave each authentication.
    pub bind_peers: Mutex<Vec<SocketAddr>>,
    pub authentications: AtomicU64,
    /// Close every session right after it bound (a flapping SMSC).
    pub drop_after_bind: std::sync::atomic::AtomicBool,
    /// Refuse every bind.
    pub refuse_binds: std::sync::atomic::AtomicBool,
    /// While true, submits wait (to saturate the handler).
    pub hold_submits: HoldGate,
    /// Windows for the sessions that bind (None: the server's).
    pub windows: Mutex<Option<SessionWindows>>,
    /// Submits in the handler now, and the most there ever were at once.
    pub submits_in_handler: AtomicU64,
    pub most_submits_in_handler: AtomicU64,
}

/// Counts a submit in the handler while it lives.
struct InHandler<'a>(&'a AtomicU64);

impl<'a> InHandler<'a> {
    fn enter(smsc: &'a TestSmsc) -> Self {
        let now = smsc.submits_in_handler.fetch_add(1, Ordering::SeqCst) + 1;
        smsc.most_submits_in_handler
            .fetch_max(now, Ordering::SeqCst);
        Self(&smsc.submits_in_handler)
    }
}

impl Drop for InHandler<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A gate submits wait at while it is closed.
pub struct HoldGate(pub tokio::sync::watch::Sender<bool>);

impl Default for HoldGate {
    fn default() -> Self {
        Self(tokio::sync::watch::channel(false).0)
    }
}

impl HoldGate {
    pub fn hold(&self) {
        self.0.send_replace(true);
    }
    pub fn release(&self) {
        self.0.send_replace(false);
    }
    async fn pass(&self) {
        let mut held = self.0.subscribe();
        let _ = held.wait_for(|h| !*h).await;
    }
}

impl BindHandler for TestSmsc {
    type Account = String;

    async fn authenticate(
        &self,
        bind: &BindRequest,
        peer: SocketAddr,
    ) -> Result<String, CommandStatus> {
        self.authentications.fetch_add(1, Ordering::SeqCst);
        self.bind_peers.lock().unwrap().push(peer);
        self.bind_attempts
            .lock()
            .unwrap()
            .push((Instant::now(), bind.system_id.clone()));
        if self.refuse_binds.load(Ordering::SeqCst) {
            return Err(CommandStatus::EsmeRbindfail);
        }
        if bind.system_id == "demo" && bind.password == "demo1234" {
            Ok(bind.system_id.clone())
        } else {
            Err(CommandStatus::EsmeRinvpaswd)
        }
    }

    async fn on_submit(
        &self,
        _account: &String,
        _session: &SessionHandle,
        submit: SubmitSm,
    ) -> Result<String, CommandStatus> {
        let _in_handler = InHandler::enter(self);
        self.hold_submits.pass().await;
        if submit.destination_addr.as_str().starts_with("9993") {
            return Err(CommandStatus::EsmeRsubmitfail);
        }
        self.submits.lock().unwrap().push(submit);
        Ok(format!("m{}", self.next_id.fetch_add(1, Ordering::SeqCst)))
    }

    fn session_windows(&self, _account: &String) -> Option<SessionWindows> {
        *self.windows.lock().unwrap()
    }

    fn on_bound(&self, _account: &String, session: &SessionHandle) {
        if self.drop_after_bind.load(Ordering::SeqCst) {
            session.close();
        }
    }
}

/// A server on 127.0.0.1:0 serving in the background.
pub async fn start_server(config: ServerConfig) -> (Server<TestSmsc>, Arc<TestSmsc>, SocketAddr) {
    let site = Site::start(config).await;
    (site.server, site.smsc, site.addr)
}

/// A server that can die like a site does (listener gone, every connection dropped without
/// unbind) and come back on the same address.
pub struct Site {
    pub server: Server<TestSmsc>,
    pub smsc: Arc<TestSmsc>,
    pub addr: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl Site {
    /// A server on 127.0.0.1:0 serving in the background.
    pub async fn start(config: ServerConfig) -> Site {
        let smsc = Arc::new(TestSmsc::default());
        let server = Server::new(config, smsc.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepting = Self::accept(&server, listener);
        Site {
            server,
            smsc,
            addr,
            accepting,
        }
    }

    fn accept(server: &Server<TestSmsc>, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        let serving = server.clone();
        tokio::spawn(async move {
            let _ = serving.serve(listener).await;
        })
    }

    /// Stops accepting (connects are refused) and drops every bind at once.
    pub fn kill(&self) {
        self.accepting.abort();
        for session in self.server.registry().sessions("demo") {
            session.close();
        }
    }

    /// Accepts again on the same address (after [`Site::kill`]).
    pub async fn restart(&mut self) {
        // The aborted task drops its listener when it ends; the address is free after that.
        let _ = (&mut self.accepting).await;
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.accepting = Self::accept(&self.server, listener);
    }
}

pub fn demo_client(kind: BindKind) -> ClientConfig {
    ClientConfig::new(BindRequest::new(kind, "demo", "demo1234"))
}

pub fn submit_to(destination: &str, text: &str) -> SubmitSm {
    SubmitSm::builder()
        .source_addr("12345".parse().unwrap())
        .destination_addr(destination.parse().unwrap())
        .short_message(text.as_bytes().try_into().unwrap())
        .build()
}

pub fn deliver_from(source: &str, text: &str) -> DeliverSm {
    DeliverSm::builder()
        .source_addr(source.parse().unwrap())
        .destination_addr("12345".parse().unwrap())
        .short_message(text.as_bytes().try_into().unwrap())
        .build()
}

pub fn quick_session() -> SessionConfig {
    SessionConfig::default()
}

/// A hand-driven SMPP peer over TCP, for protocol conformance tests. [`RawPeer::split`] gives
/// a reading and a writing half, for a peer that writes without reading.
pub struct RawPeer<S = tokio::net::TcpStream> {
    pub stream: S,
    buffer: bytes::BytesMut,
    decoder: smsgw_smpp::frame::FrameDecoder,
}

impl RawPeer {
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::from_stream(tokio::net::TcpStream::connect(addr).await.unwrap())
    }

    /// Binds as transceiver demo/demo1234 and checks the response.
    pub async fn bind(&mut self, kind: BindKind) {
        let bind = BindRequest::new(kind, "demo", "demo1234").to_pdu().unwrap();
        self.send_pdu(1, bind).await;
        let response = self.recv().await.unwrap();
        assert_eq!(response.status(), CommandStatus::EsmeRok);
    }

    /// A reader (keeping what was read already) and a writer of the same connection.
    pub fn split(
        self,
    ) -> (
        RawPeer<tokio::net::tcp::OwnedReadHalf>,
        RawPeer<tokio::net::tcp::OwnedWriteHalf>,
    ) {
        let (read, write) = self.stream.into_split();
        let reader = RawPeer {
            stream: read,
            buffer: self.buffer,
            decoder: self.decoder,
        };
        (reader, RawPeer::from_stream(write))
    }
}

impl<S> RawPeer<S> {
    pub fn from_stream(stream: S) -> Self {
        Self {
            stream,
            buffer: bytes::BytesMut::new(),
            decoder: Default::default(),
        }
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> RawPeer<S> {
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await.unwrap();
    }

    pub async fn send(&mut self, command: &smsgw_smpp::rusmpp::Command) {
        let bytes = smsgw_smpp::frame::encode_to_vec(command);
        self.send_bytes(&bytes).await;
    }

    pub async fn send_pdu(&mut self, sequence: u32, pdu: impl Into<smsgw_smpp::rusmpp::Pdu>) {
        let command = smsgw_smpp::rusmpp::Command::new(CommandStatus::EsmeRok, sequence, pdu);
        self.send(&command).await;
    }
}

impl<S: tokio::io::AsyncRead + Unpin> RawPeer<S> {
    /// The next PDU, or None when the peer closed the connection.
    pub async fn recv(&mut self) -> Option<smsgw_smpp::rusmpp::Command> {
        use tokio::io::AsyncReadExt;
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buffer).unwrap() {
                return Some(frame.unwrap());
            }
            let n = self.stream.read_buf(&mut self.buffer).await.unwrap_or(0);
            if n == 0 {
                return None;
            }
        }
    }
}
