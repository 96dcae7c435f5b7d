//! Benchmark: submit_sm + submit_sm_resp over loopback, through the session layer and bare.
//!
//! `session`: our `Client` (window W) against our `Server` with a handler that answers at once.
//! `bare`: the same PDUs with no session layer on either side: read, frame, decode, encode the
//! response, write; the client pipelines W requests. The ratio of the two is the cost of the
//! session layer (state machine, window, pending map, handler futures).
//!
//! ```text
//! cargo run --release -p smsgw-smpp --example submit_bench -- [COUNT] [WINDOW]
//! ```

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use bytes::BytesMut;
use futures_util::{stream::FuturesUnordered, StreamExt};
use smsgw_smpp::{
    client::AcceptAll,
    frame::{self, FrameDecoder},
    rusmpp::{
        pdus::{SubmitSm, SubmitSmResp},
        types::COctetString,
        Command, CommandStatus, Pdu,
    },
    server::{BindHandler, Server, ServerConfig},
    BindKind, BindRequest, Client, ClientConfig, SessionConfig, SessionHandle,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};

struct Figures {
    name: &'static str,
    count: usize,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> f64 {
        let index = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[index] as f64 / 1000.0
    }

    fn print(&mut self) {
        self.latencies_us.sort_unstable();
        println!(
            "{:<8} {:>9} submits in {:>6.2} s = {:>9.0} /s   latency p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms",
            self.name,
            self.count,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.percentile(0.50),
            self.percentile(0.99),
            self.percentile(0.999),
        );
    }
}

fn sample_submit() -> SubmitSm {
    SubmitSm::builder()
        .source_addr("12345".parse().unwrap())
        .destination_addr("447700900001".parse().unwrap())
        .short_message(
            b"benchmark message of a typical length, about sixty chars"
                .as_slice()
                .try_into()
                .unwrap(),
        )
        .build()
}

/// Accepts every bind and answers each submit with a fresh id, at once or after yielding to
/// the scheduler once (as a handler that awaits a durable write does).
struct InstantSmsc {
    next: AtomicU64,
    yield_first: bool,
}

impl BindHandler for InstantSmsc {
    type Account = ();

    async fn authenticate(&self, _: &BindRequest, _: SocketAddr) -> Result<(), CommandStatus> {
        Ok(())
    }

    async fn on_submit(
        &self,
        _: &(),
        _: &SessionHandle,
        _: SubmitSm,
    ) -> Result<String, CommandStatus> {
        if self.yield_first {
            tokio::task::yield_now().await;
        }
        Ok(self.next.fetch_add(1, Ordering::Relaxed).to_string())
    }
}

async fn session_run(
    name: &'static str,
    count: usize,
    window: usize,
    yield_first: bool,
) -> Figures {
    let mut server_config = ServerConfig::default();
    server_config.session.window = window;
    server_config.session.inbound_window = window;
    let handler = InstantSmsc {
        next: AtomicU64::new(0),
        yield_first,
    };
    let server = Server::new(server_config, Arc::new(handler));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener).await });

    let mut config = ClientConfig::new(BindRequest::new(BindKind::Transmitter, "bench", "bench"));
    config.session = SessionConfig {
        window,
        ..SessionConfig::default()
    };
    let client = Client::connect(addr, config, Arc::new(AcceptAll))
        .await
        .unwrap();
    let submit = sample_submit();
    let mut latencies_us = Vec::with_capacity(count);
    let mut in_flight = FuturesUnordered::new();
    let started = Instant::now();
    let mut sent = 0;
    while latencies_us.len() < count {
        while sent < count && in_flight.len() < window {
            let client = &client;
            let submit = submit.clone();
            in_flight.push(async move {
                let t = Instant::now();
                client.submit(submit).await.expect("submit");
                t.elapsed()
            });
            sent += 1;
        }
        if let Some(latency) = in_flight.next().await {
            latencies_us.push(latency.as_micros() as u32);
        }
    }
    let elapsed = started.elapsed();
    client.unbind().await.unwrap();
    server.shutdown().await;
    Figures {
        name,
        count,
        elapsed,
        latencies_us,
    }
}

/// A server with no session layer: frame, decode, answer, write.
async fn bare_server(listener: TcpListener) {
    let (mut stream, _) = listener.accept().await.unwrap();
    let _ = stream.set_nodelay(true);
    let decoder = FrameDecoder::default();
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut output = BytesMut::with_capacity(64 * 1024);
    let mut next_id = 0u64;
    loop {
        if stream.read_buf(&mut input).await.unwrap_or(0) == 0 {
            return;
        }
        while let Ok(Some(Ok(command))) = decoder.decode(&mut input) {
            let sequence = command.sequence_number();
            let pdu: Pdu = match command.pdu() {
                Some(Pdu::SubmitSm(_)) => {
                    next_id += 1;
                    let id: COctetString<1, 65> = next_id.to_string().parse().unwrap();
                    SubmitSmResp::new(id, Vec::new()).into()
                }
                _ => continue,
            };
            frame::encode(
                &Command::new(CommandStatus::EsmeRok, sequence, pdu),
                &mut output,
            );
        }
        stream.write_all(&output).await.unwrap();
        output.clear();
    }
}

async fn bare_run(count: usize, window: usize) -> Figures {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(bare_server(listener));
    let stream = TcpStream::connect(addr).await.unwrap();
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let permits = Arc::new(Semaphore::new(window));
    let sent_at: Arc<Vec<AtomicU64>> = Arc::new((0..=count).map(|_| AtomicU64::new(0)).collect());
    let origin = Instant::now();
    let submit = sample_submit();

    let writing = {
        let permits = permits.clone();
        let sent_at = sent_at.clone();
        tokio::spawn(async move {
            let mut output = BytesMut::with_capacity(64 * 1024);
            let mut sequence = 0usize;
            while sequence < count {
                permits.acquire().await.unwrap().forget();
                let mut batch = 1;
                while let Ok(permit) = permits.try_acquire() {
                    permit.forget();
                    batch += 1;
                }
                for _ in 0..batch.min(count - sequence) {
                    sequence += 1;
                    sent_at[sequence].store(origin.elapsed().as_micros() as u64, Ordering::Relaxed);
                    let command =
                        Command::new(CommandStatus::EsmeRok, sequence as u32, submit.clone());
                    frame::encode(&command, &mut output);
                }
                writer.write_all(&output).await.unwrap();
                output.clear();
            }
            writer
        })
    };

    let decoder = FrameDecoder::default();
    let mut input = BytesMut::with_capacity(64 * 1024);
    let mut latencies_us = Vec::with_capacity(count);
    let started = Instant::now();
    while latencies_us.len() < count {
        reader.read_buf(&mut input).await.unwrap();
        while let Ok(Some(Ok(response))) = decoder.decode(&mut input) {
            let now = origin.elapsed().as_micros() as u64;
            let sent = sent_at[response.sequence_number() as usize].load(Ordering::Relaxed);
            latencies_us.push(now.saturating_sub(sent) as u32);
            permits.add_permits(1);
        }
    }
    let elapsed = started.elapsed();
    drop(writing.await.unwrap());
    Figures {
        name: "bare",
        count,
        elapsed,
        latencies_us,
    }
}

fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let window: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "submit_sm + submit_sm_resp over 127.0.0.1, one bind, window {window}, 2 worker threads"
    );
    runtime.block_on(async {
        // Warm up both paths (allocator, TCP buffers) before measuring.
        bare_run(count / 10, window).await;
        session_run("warmup", count / 10, window, false).await;
        let mut bare = bare_run(count, window).await;
        bare.print();
        let mut session = session_run("session", count, window, false).await;
        session.print();
        let mut pending = session_run("session*", count, window, true).await;
        pending.print();
        println!(
            "session / bare = {:.0} %; session* (handler yields once before answering) / bare = {:.0} %",
            100.0 * session.rate() / bare.rate(),
            100.0 * pending.rate() / bare.rate()
        );
    });
    let (rss, peak) = rss_kib();
    println!(
        "process RSS {} MiB (peak {} MiB, includes the latency arrays)",
        rss / 1024,
        peak / 1024
    );
}
