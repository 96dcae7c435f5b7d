//! `smsgw bench-flood`: how much legitimate traffic a running gateway keeps serving while
//! another client floods it with bad logins. Each edge is measured twice in the same run,
//! alone and then during the flood, and the ratio printed:
//! - HTTP: Genesys receiver MTs (unique message_ids) from the legitimate address, while the
//!   flood posts wrong passwords for the same login from `--flood-from` (the lockout's case);
//! - SMPP: submit_sm over bound transceivers, while the flood binds with rotating unknown
//!   system_ids from `--flood-from` (the bounded verifier's case), plus fresh binds with the
//!   right (cached) password during the flood.
//!
//! `--flood-from` must be a local address other than the legitimate one (127.0.0.2 on
//! Linux loopback), so the gateway sees two clients.

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::{Args, ValueEnum};
use futures_util::{stream, StreamExt};
use smsgw_smpp::{client::DeliverStream, probe, BindKind, BindRequest, Client};

use super::bench::{bench_submit, bind_clients};

#[derive(Debug, Args)]
pub struct BenchFloodArgs {
    /// The gateway's HTTP address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// The gateway's SMPP address.
    #[arg(long, default_value = "127.0.0.1:2775")]
    pub smpp: SocketAddr,
    /// Which edges to measure.
    #[arg(long, value_enum, default_value_t = Edges::Both)]
    pub edges: Edges,
    #[arg(long, default_value = "demo")]
    pub login: String,
    #[arg(long, default_value = "demo1234", env = "SMSGW_BENCH_PASSWORD")]
    pub password: String,
    /// Legitimate MTs per measurement.
    #[arg(long, default_value_t = 20_000)]
    pub count: usize,
    /// Legitimate requests in flight (HTTP), or the window per bind (SMPP).
    #[arg(long, default_value_t = 50)]
    pub concurrency: usize,
    /// Legitimate SMPP binds to submit over.
    #[arg(long, default_value_t = 4)]
    pub binds: usize,
    /// Connections the flood keeps busy at once.
    #[arg(long, default_value_t = 50)]
    pub flood_connections: usize,
    /// The flood's source address (a local address other than the legitimate client's).
    #[arg(long, default_value = "127.0.0.2")]
    pub flood_from: IpAddr,
    /// The legitimate client's source address.
    #[arg(long, default_value = "127.0.0.1")]
    pub legit_from: IpAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Edges {
    Http,
    Smpp,
    Both,
}

/// A running flood: connections looping on a bad login until stopped, answers counted.
struct Flood {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<BTreeMap<String, u64>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    started: Instant,
}

impl Flood {
    /// Starts `connections` loops, each calling `attempt(n)` and counting its answer's label.
    fn start<F, Fut>(connections: usize, attempt: F) -> Flood
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = String> + Send,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(BTreeMap::new()));
        let attempt = Arc::new(attempt);
        let tasks = (0..connections.max(1) as u64)
            .map(|connection| {
                let (stop, answers, attempt) = (stop.clone(), answers.clone(), attempt.clone());
                tokio::spawn(async move {
                    let mut n = connection << 32;
                    while !stop.load(Ordering::Relaxed) {
                        let label = attempt(n).await;
                        *answers.lock().unwrap().entry(label).or_default() += 1;
                        n += 1;
                    }
                })
            })
            .collect();
        Flood {
            stop,
            answers,
            tasks,
            started: Instant::now(),
        }
    }

    /// Stops the flood and describes what it got.
    async fn stop(self) -> String {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            let _ = task.await;
        }
        let answers = self.answers.lock().unwrap();
        let total: u64 = answers.values().sum();
        let rate = total as f64 / self.started.elapsed().as_secs_f64();
        let breakdown: Vec<String> = answers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        format!("{total} attempts, {rate:.0}/s ({})", breakdown.join(", "))
    }
}

/// MTs accepted and the rate, for one measurement.
struct Measured {
    ok: usize,
    failed: usize,
    elapsed: Duration,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn line(&self, what: &str) -> String {
        format!(
            "  {what:<14} {} ok, {} refused in {:.2} s = {:.0} MT/s",
            self.ok,
            self.failed,
            self.elapsed.as_secs_f64(),
            self.rate()
        )
    }
}

fn ratio_line(alone: &Measured, flooded: &Measured) -> String {
    format!(
        "  ratio          {:.0} % of alone",
        100.0 * flooded.rate() / alone.rate().max(f64::MIN_POSITIVE)
    )
}

fn http_client(from: IpAddr, connections: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .local_address(from)
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building an HTTP client")
}

/// `count` receiver MTs with unique message_ids, `concurrency` in flight.
async fn http_phase(args: &BenchFloodArgs, client: &reqwest::Client, phase: &str) -> Measured {
    let url = format!("http://{}/httpapi/receiver", args.http);
    let run = std::process::id();
    let started = Instant::now();
    let answers: Vec<bool> = stream::iter(0..args.count)
        .map(|n| {
            let message_id = format!("flood-bench-{run}-{phase}-{n}");
            let form = [
                ("login", args.login.as_str()),
                ("password", args.password.as_str()),
                ("phone_number", "447700900001"),
                ("sender", "BENCH"),
                ("message", "smsgw bench-flood"),
                ("message_id", message_id.as_str()),
            ];
            let request = client.post(&url).form(&form);
            async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let ok = answers.iter().filter(|ok| **ok).count();
    Measured {
        ok,
        failed: answers.len() - ok,
        elapsed: started.elapsed(),
    }
}

async fn bench_http(args: &BenchFloodArgs) -> anyhow::Result<()> {
    let legit = http_client(args.legit_from, args.concurrency)?;
    let alone = http_phase(args, &legit, "alone").await;
    let attacker = http_client(args.flood_from, args.flood_connections)?;
    let (url, login) = (
        format!("http://{}/httpapi/receiver", args.http),
        args.login.clone(),
    );
    let flood = Flood::start(args.flood_connections, move |n| {
        let password = format!("wrong-{n}");
        let form = [
            ("login", login.as_str()),
            ("password", password.as_str()),
            ("phone_number", "447700900001"),
            ("sender", "BENCH"),
            ("message", "flood"),
            ("message_id", "flood"),
        ];
        let request = attacker.post(&url).form(&form);
        async move {
            match request.send().await {
                Ok(response) => format!("HTTP {}", response.status().as_u16()),
                Err(_) => "error".to_owned(),
            }
        }
    });
    let flooded = http_phase(args, &legit, "flooded").await;
    let flood = flood.stop().await;
    println!(
        "HTTP receiver, login {}, {} in flight, from {}:",
        args.login, args.concurrency, args.legit_from
    );
    println!("{}", alone.line("alone"));
    println!("{}", flooded.line("during flood"));
    println!("{}", ratio_line(&alone, &flooded));
    println!(
        "  flood          wrong passwords for {} from {} over {} connections: {flood}",
        args.login, args.flood_from, args.flood_connections
    );
    Ok(())
}

/// `count` submit_sm spread over `clients`, `concurrency` in flight per bind.
async fn smpp_phase(args: &BenchFloodArgs, clients: &[Client]) -> anyhow::Result<Measured> {
    let submit = bench_submit("447700900001", false)?;
    let started = Instant::now();
    let answers: Vec<bool> = stream::iter(0..args.count)
        .map(|n| {
            let client = clients[n % clients.len()].clone();
            let submit = submit.clone();
            async move { client.submit(submit).await.is_ok() }
        })
        .buffer_unordered(clients.len() * args.concurrency.max(1))
        .collect()
        .await;
    let ok = answers.iter().filter(|ok| **ok).count();
    Ok(Measured {
        ok,
        failed: answers.len() - ok,
        elapsed: started.elapsed(),
    })
}

async fn bench_smpp(args: &BenchFloodArgs) -> anyhow::Result<()> {
    let (handler, mut receipts) = DeliverStream::new(4096);
    // Receipts are not measured here: accept them so the gateway's outbox drains.
    tokio::spawn(async move {
        while let Some(deliver) = receipts.recv().await {
            deliver.accept();
        }
    });
    let legit_bind = BindRequest::new(BindKind::Transceiver, &args.login, &args.password);
    let window = args.concurrency.max(1);
    let clients = bind_clients(
        args.smpp,
        &legit_bind,
        args.binds,
        window,
        Arc::new(handler),
    )
    .await?;
    let alone = smpp_phase(args, &clients).await?;
    let (server, from) = (args.smpp, SocketAddr::new(args.flood_from, 0));
    let flood = Flood::start(args.flood_connections, move |n| async move {
        let bind = BindRequest::new(BindKind::Transceiver, &format!("flood{n:x}"), "guess");
        match probe::bind_status(from, server, &bind, Duration::from_secs(30)).await {
            Ok(status) => format!("{status:?}"),
            Err(_) => "error".to_owned(),
        }
    });
    let flooded = smpp_phase(args, &clients).await?;
    let mut binds_ok = 0;
    let legit_from = SocketAddr::new(args.legit_from, 0);
    for _ in 0..10 {
        let status = probe::bind_status(legit_from, server, &legit_bind, Duration::from_secs(30));
        if status
            .await
            .is_ok_and(|s| s == smsgw_smpp::rusmpp::CommandStatus::EsmeRok)
        {
            binds_ok += 1;
        }
    }
    let flood = flood.stop().await;
    println!(
        "SMPP submit_sm, system_id {}, {} binds x window {}, from {}:",
        args.login,
        clients.len(),
        args.concurrency,
        args.legit_from
    );
    println!("{}", alone.line("alone"));
    println!("{}", flooded.line("during flood"));
    println!("{}", ratio_line(&alone, &flooded));
    println!(
        "  binds          {binds_ok}/10 fresh binds with the right password ok during the flood"
    );
    println!(
        "  flood          binds with rotating unknown system_ids from {} over {} connections: {flood}",
        args.flood_from, args.flood_connections
    );
    for client in &clients {
        let _ = client.unbind().await;
    }
    Ok(())
}

pub async fn run(args: BenchFloodArgs) -> anyhow::Result<()> {
    if args.flood_from == args.legit_from {
        anyhow::bail!(
            "--flood-from must differ from --legit-from: the gateway must see two clients"
        );
    }
    if matches!(args.edges, Edges::Http | Edges::Both) {
        bench_http(&args).await?;
    }
    if matches!(args.edges, Edges::Smpp | Edges::Both) {
        bench_smpp(&args).await?;
    }
    Ok(())
}
