//! A minimal idempotent smsgw site: the crate's own `/httpapi/receiver` and `/v1/messages`
//! routers over a handler that remembers each message_id / Idempotency-Key (the same one
//! gets the same answer, distinct messages are counted), plus `/healthz`. Every answer
//! closes its connection, so a killed site refuses the very next request.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use smsgw_http::api::{self, IdempotencyKey, SubmitAccepted, SubmitRequest};
use smsgw_http::receiver::{self, ReceiverError, ReceiverHandler, ReceiverRequest};
use smsgw_http::{ApiError, Credentials, MessageApi, MessageState, MessageStatus};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The password every test site refuses (401).
pub const WRONG_PASSWORD: &str = "wrong";

/// What a site took and what it was asked.
#[derive(Default)]
pub struct Ledger {
    /// Genesys messages taken: message_id -> text.
    pub genesys: Mutex<HashMap<String, String>>,
    /// JSON messages taken: Idempotency-Key -> our id.
    pub json: Mutex<HashMap<String, String>>,
    /// Every submit request received (both APIs), repeats included.
    pub requests: AtomicUsize,
    /// Refusals to give, in order, before answering normally (receiver).
    pub receiver_script: Mutex<VecDeque<ReceiverError>>,
    /// Refusals to give, in order, before answering normally (JSON API).
    pub api_script: Mutex<VecDeque<ApiError>>,
    /// Idempotency-Keys in the order they arrived, repeats included.
    pub keys_seen: Mutex<Vec<String>>,
}

impl Ledger {
    pub fn genesys_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.genesys.lock().unwrap().keys().cloned().collect();
        ids.sort();
        ids
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Handler(Arc<Ledger>);

impl ReceiverHandler for Handler {
    async fn submit(
        &self,
        _: smsgw_http::ClientAddr,
        request: ReceiverRequest,
    ) -> Result<(), ReceiverError> {
        self.0.requests.fetch_add(1, Ordering::SeqCst);
        if let Some(refusal) = self.0.receiver_script.lock().unwrap().pop_front() {
            return Err(refusal);
        }
        if request.credentials.password == WRONG_PASSWORD {
            return Err(ReceiverError::auth());
        }
        let mut taken = self.0.genesys.lock().unwrap();
        match taken.get(&request.message_id) {
            Some(text) if *text != request.message => Err(ReceiverError::duplicate()),
            _ => {
                taken.insert(request.message_id, request.message);
                Ok(())
            }
        }
    }
}

impl MessageApi for Handler {
    async fn submit(
        &self,
        _client: smsgw_http::ClientAddr,
        _credentials: Credentials,
        key: Option<IdempotencyKey>,
        _request: SubmitRequest,
    ) -> Result<SubmitAccepted, ApiError> {
        self.0.requests.fetch_add(1, Ordering::SeqCst);
        let key = key.map(|k| k.as_str().to_owned()).unwrap_or_default();
        self.0.keys_seen.lock().unwrap().push(key.clone());
        if let Some(refusal) = self.0.api_script.lock().unwrap().pop_front() {
            return Err(refusal);
        }
        let mut taken = self.0.json.lock().unwrap();
        let next = format!("S-{}", taken.len() + 1);
        let id = taken.entry(key).or_insert(next).clone();
        Ok(SubmitAccepted {
            id,
            state: MessageState::Accepted,
            parts: 1,
        })
    }

    /// A message this site took is ACCEPTED with no history; any other id is unknown.
    async fn status(
        &self,
        _client: smsgw_http::ClientAddr,
        _: Credentials,
        id: String,
    ) -> Result<MessageStatus, ApiError> {
        if !self
            .0
            .json
            .lock()
            .unwrap()
            .values()
            .any(|taken| *taken == id)
        {
            return Err(ApiError::not_found());
        }
        Ok(MessageStatus {
            id,
            state: MessageState::Accepted,
            to: "447700900123".into(),
            from: "ACME".into(),
            created_at: std::time::SystemTime::UNIX_EPOCH,
            parts: 1,
            history: Vec::new(),
        })
    }
}

/// A running (or killed) site.
pub struct Site {
    pub addr: SocketAddr,
    pub ledger: Arc<Ledger>,
    task: Option<JoinHandle<()>>,
}

impl Site {
    /// Starts a site on `ip:port` (port 0: ephemeral).
    pub async fn start(ip: IpAddr, port: u16) -> Site {
        Site::serve(SocketAddr::new(ip, port), Arc::new(Ledger::default())).await
    }

    async fn serve(addr: SocketAddr, ledger: Arc<Ledger>) -> Site {
        let listener = TcpListener::bind(addr).await.expect("bind the site");
        let addr = listener.local_addr().expect("local addr");
        let handler = Arc::new(Handler(ledger.clone()));
        let router = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .merge(receiver::router(handler.clone()))
            .merge(api::router(handler))
            .layer(axum::middleware::map_response(close_connection));
        let task = tokio::spawn(async move {
            let service = router.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, service).await;
        });
        Site {
            addr,
            ledger,
            task: Some(task),
        }
    }

    /// The base URL, e.g. `http://127.0.0.1:41234/`.
    pub fn url(&self) -> reqwest::Url {
        reqwest::Url::parse(&format!("http://{}/", self.addr)).expect("url")
    }

    /// Stops listening: the next connection attempt is refused.
    pub async fn kill(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same address, keeping the ledger.
    pub async fn restart(&mut self) {
        self.kill().await;
        let revived = Site::serve(self.addr, self.ledger.clone()).await;
        self.task = revived.task;
    }
}

async fn close_connection(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
