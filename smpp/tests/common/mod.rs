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
    BindKind, BindRequest, ClientConfig, SessionConfig, SessionHandle,
};
use tokio::{net::TcpListener, time::Instant};

/// Accepts `demo`/`demo1234`, numbers submits, and remembers what it saw.
#[derive(Default)]
pub struct TestSmsc {
    pub next_id: AtomicU64,
    pub submits: Mutex<Vec<SubmitSm>>,
    pub bind_attempts: Mutex<Vec<(Instant, String)>>,
    pub authentications: AtomicU64,
    /// Close every session right after it bound (a flapping SMSC).
    pub drop_after_bind: std::sync::atomic::AtomicBool,
    /// Refuse every bind.
    pub refuse_binds: std::sync::atomic::AtomicBool,
}

impl BindHandler for TestSmsc {
    type Account = String;

    async fn authenticate(
        &self,
        bind: &BindRequest,
        _peer: SocketAddr,
    ) -> Result<String, CommandStatus> {
        self.authentications.fetch_add(1, Ordering::SeqCst);
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
        if submit.destination_addr.as_str().starts_with("9993") {
            return Err(CommandStatus::EsmeRsubmitfail);
        }
        self.submits.lock().unwrap().push(submit);
        Ok(format!("m{}", self.next_id.fetch_add(1, Ordering::SeqCst)))
    }

    fn on_bound(&self, _account: &String, session: &SessionHandle) {
        if self.drop_after_bind.load(Ordering::SeqCst) {
            session.close();
        }
    }
}

/// A server on 127.0.0.1:0 serving in the background.
pub async fn start_server(config: ServerConfig) -> (Server<TestSmsc>, Arc<TestSmsc>, SocketAddr) {
    let handler = Arc::new(TestSmsc::default());
    let server = Server::new(config, handler.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener).await });
    (server, handler, addr)
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
