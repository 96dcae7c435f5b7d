//! An application receiving the gateway's pushes on 127.0.0.1:<ephemeral>, which records
//! bodies, counts requests and the most it had in flight at once, and answers as told: at
//! once, with an error status, never (a stalled receiver), or only once `n` requests are in
//! flight together (to see a concurrency limit reached).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio::sync::Notify;

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// This status, at once.
    Status(u16),
    /// Never: requests are held until the test ends.
    Stall,
    /// 200, but each request waits until `n` requests have been in flight together once
    /// (or 10 s passed), and then 10 ms more so that requests keep overlapping.
    WhenInFlight(usize),
}

#[derive(Default)]
pub struct Seen {
    pub bodies: Mutex<Vec<String>>,
    pub requests: AtomicUsize,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    gate: Notify,
    gate_open: std::sync::atomic::AtomicBool,
}

impl Seen {
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }
}

pub struct PushReceiver {
    pub port: u16,
    pub seen: Arc<Seen>,
}

impl PushReceiver {
    pub async fn start(answer: Answer) -> PushReceiver {
        let seen = Arc::new(Seen::default());
        let state = seen.clone();
        let app = Router::new().route(
            "/push",
            post(move |body: String| handle(state.clone(), answer, body)),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        PushReceiver { port, seen }
    }

    /// `http://127.0.0.1:PORT/push`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/push", self.port)
    }
}

async fn handle(seen: Arc<Seen>, answer: Answer, body: String) -> StatusCode {
    seen.requests.fetch_add(1, Ordering::SeqCst);
    let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let status = match answer {
        Answer::Status(code) => StatusCode::from_u16(code).unwrap(),
        Answer::Stall => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK
        }
        Answer::WhenInFlight(n) => {
            if now >= n {
                seen.gate_open.store(true, Ordering::SeqCst);
                seen.gate.notify_waiters();
            }
            let opened = seen.gate.notified();
            if !seen.gate_open.load(Ordering::SeqCst) {
                let _ = tokio::time::timeout(Duration::from_secs(10), opened).await;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            StatusCode::OK
        }
    };
    if status.is_success() {
        seen.bodies.lock().unwrap().push(body);
    }
    seen.in_flight.fetch_sub(1, Ordering::SeqCst);
    status
}

/// Polls `done` every 50 ms until it holds or `limit` passes; returns whether it held.
pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}
