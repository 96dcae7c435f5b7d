//! `smsgw bench`: drive a running gateway over SMPP through the full cycle (submit ->
//! carrier -> receipt -> deliver_sm back, or with `--push` the receipt pushed to the
//! account's URL) and print throughput, latency, receipt completeness and the gateway's
//! memory.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;

use super::bench_pushed::PushedReceipts;
use clap::Args;
use futures_util::{stream::FuturesUnordered, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use smsgw_smpp::{
    client::DeliverHandler,
    encoding::{is_delivery_receipt, receipt_from_deliver_sm},
    rusmpp::{
        pdus::{DeliverSm, SubmitSm},
        values::{EsmClass, RegisteredDelivery},
        CommandStatus,
    },
    BindKind, BindRequest, Client, ClientConfig, SessionConfig, SessionHandle,
};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The gateway's SMPP address.
    #[arg(long, default_value = "127.0.0.1:2775")]
    pub smpp: SocketAddr,
    #[arg(long, default_value = "demo")]
    pub system_id: String,
    #[arg(long, default_value = "demo1234", env = "SMSGW_BENCH_PASSWORD")]
    pub password: String,
    /// Transceiver binds to spread the load over.
    #[arg(long, default_value_t = 4)]
    pub binds: usize,
    /// Outstanding submits per bind.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// MTs to send.
    #[arg(long, default_value_t = 100_000)]
    pub count: usize,
    /// Target MT/s (default: as fast as the gateway answers).
    #[arg(long)]
    pub rate: Option<u32>,
    /// Destination numbers, comma-separated: the MTs go to each in turn, so several routes
    /// (by prefix) share the load (the simulator's rules apply: 9991 undeliverable, 9992 no
    /// DR...).
    #[arg(
        long = "destination",
        value_delimiter = ',',
        num_args = 1..,
        default_value = "447700900001"
    )]
    pub destinations: Vec<String>,
    /// Ask for no receipts: measures the MT path alone (submit, store, carrier).
    #[arg(long)]
    pub no_receipts: bool,
    /// How long to wait for the last receipts.
    #[arg(long, default_value_t = 60)]
    pub receipt_timeout_s: u64,
    /// The gateway's PID, to report its RSS.
    #[arg(long)]
    pub gateway_pid: Option<u32>,
    /// For an account that pushes: count receipts the gateway pushed (2xx from the receiver),
    /// read from /metrics at this address of the gateway's admin listener (`[admin] listen`,
    /// without users: reads are open on loopback), instead of receipts on the binds, which are
    /// then transmitters.
    #[arg(long, value_name = "ADMIN_ADDR")]
    pub push: Option<SocketAddr>,
    /// With --push: the admin listener's user with role read, when it has users.
    #[arg(long, requires = "push")]
    pub admin_user: Option<String>,
    /// Its password.
    #[arg(
        long,
        env = "SMSGW_ADMIN_PASSWORD",
        hide_env_values = true,
        requires = "admin_user"
    )]
    pub admin_password: Option<String>,
}

/// Notes when the receipt for each id first came, and counts repeats.
#[derive(Default)]
struct ReceiptCounter {
    seen: Mutex<(HashMap<String, Instant>, u64)>,
}

impl DeliverHandler for ReceiptCounter {
    async fn on_deliver(&self, _: &SessionHandle, _: u32, deliver: DeliverSm) -> CommandStatus {
        if is_delivery_receipt(u8::from(deliver.esm_class)) {
            if let Ok(receipt) = receipt_from_deliver_sm(&deliver) {
                let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                match seen.0.entry(receipt.id) {
                    std::collections::hash_map::Entry::Occupied(_) => seen.1 += 1,
                    std::collections::hash_map::Entry::Vacant(first) => {
                        first.insert(Instant::now());
                    }
                }
            }
        }
        CommandStatus::EsmeRok
    }
}

fn rss_mib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("VmRSS:")? / 1024, field("VmHWM:")? / 1024))
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index]) / 1000.0
}

/// The MT the benchmarks send: a typical length, asking for a receipt when `receipt`.
pub(crate) fn bench_submit(destination: &str, receipt: bool) -> anyhow::Result<SubmitSm> {
    Ok(SubmitSm::builder()
        .esm_class(EsmClass::from(0))
        .source_addr("447700900123".parse()?)
        .destination_addr(destination.parse()?)
        .registered_delivery(RegisteredDelivery::from(u8::from(receipt)))
        .short_message(
            b"smsgw bench: a message of a typical length, around sixty chars"
                .as_slice()
                .try_into()?,
        )
        .build())
}

/// `binds` (at least 1) sessions bound as `bind` to `smpp`, each with `window`, delivering
/// to `handler`.
pub(crate) async fn bind_clients<H: DeliverHandler>(
    smpp: SocketAddr,
    bind: &BindRequest,
    binds: usize,
    window: usize,
    handler: Arc<H>,
) -> anyhow::Result<Vec<Client>> {
    let mut clients = Vec::new();
    for _ in 0..binds.max(1) {
        let mut config = ClientConfig::new(bind.clone());
        config.session = SessionConfig {
            window,
            ..SessionConfig::default()
        };
        let client = Client::connect(smpp, config, handler.clone())
            .await
            .with_context(|| format!("binding to {smpp}"))?;
        clients.push(client);
    }
    Ok(clients)
}

/// `--admin-user` and its password, for `--push`'s reads of /metrics.
fn admin_login(args: &BenchArgs) -> Option<(String, String)> {
    let user = args.admin_user.clone()?;
    Some((user, args.admin_password.clone().unwrap_or_default()))
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let counter = Arc::new(ReceiptCounter::default());
    let (bind_kind, pushed) = match args.push {
        Some(http) => (
            BindKind::Transmitter,
            Some(PushedReceipts::start(http, &args.system_id, admin_login(&args)).await?),
        ),
        None => (BindKind::Transceiver, None),
    };
    let bind = BindRequest::new(bind_kind, &args.system_id, &args.password);
    let clients = bind_clients(args.smpp, &bind, args.binds, args.window, counter.clone()).await?;
    let templates = args
        .destinations
        .iter()
        .map(|destination| bench_submit(destination, !args.no_receipts))
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!templates.is_empty(), "--destination needs a number");

    let progress = ProgressBar::new(args.count as u64);
    progress.set_style(ProgressStyle::with_template(
        "{elapsed_precise} {bar:40} {pos}/{len} MTs {per_sec}",
    )?);
    let in_flight_limit = args.binds.max(1) * args.window.max(1);
    let interval = args
        .rate
        .map(|r| Duration::from_secs_f64(1.0 / f64::from(r.max(1))));
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(args.count);
    let mut ids = Vec::with_capacity(args.count);
    let mut failures = 0usize;
    let mut in_flight = FuturesUnordered::new();
    let mut sent = 0usize;
    while sent < args.count || !in_flight.is_empty() {
        while sent < args.count && in_flight.len() < in_flight_limit {
            if let Some(interval) = interval {
                let due = started + interval.mul_f64(sent as f64);
                if due > Instant::now() {
                    if in_flight.is_empty() {
                        tokio::time::sleep_until(due.into()).await;
                    } else {
                        break;
                    }
                }
            }
            let client = clients[sent % clients.len()].clone();
            let submit = templates[sent % templates.len()].clone();
            in_flight.push(async move {
                let t = Instant::now();
                (client.submit(submit).await, t)
            });
            sent += 1;
        }
        let next = match interval {
            Some(interval) if sent < args.count => tokio::time::timeout(interval, in_flight.next())
                .await
                .ok()
                .flatten(),
            _ => in_flight.next().await,
        };
        if let Some((result, submitted_at)) = next {
            latencies.push(submitted_at.elapsed().as_micros() as u32);
            match result {
                Ok(id) => ids.push((id, submitted_at)),
                Err(_) => failures += 1,
            }
            progress.inc(1);
        }
    }
    let submit_elapsed = started.elapsed();
    progress.finish_and_clear();
    latencies.sort_unstable();
    println!(
        "smsgw bench: {} MTs over {} binds (window {}) to {}",
        args.count,
        clients.len(),
        args.window,
        args.smpp
    );
    println!(
        "  submitted   {} ok, {} refused in {:.2} s = {:.0} MT/s",
        ids.len(),
        failures,
        submit_elapsed.as_secs_f64(),
        ids.len() as f64 / submit_elapsed.as_secs_f64()
    );
    println!(
        "  submit latency p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999)
    );
    let deadline = Instant::now() + Duration::from_secs(args.receipt_timeout_s);
    let awaited: &[(String, Instant)] = if args.no_receipts { &[] } else { &ids };
    if let Some(pushed) = pushed {
        let received = pushed.wait_for(awaited.len(), deadline).await?;
        print_cycle("pushed", received, awaited.len(), started.elapsed(), "");
    } else {
        report_bound_receipts(&counter, awaited, started, deadline).await;
    }
    if let Some((rss, peak)) = args.gateway_pid.and_then(rss_mib) {
        println!("  gateway RSS {rss} MiB (peak {peak} MiB)");
    }
    for client in &clients {
        let _ = client.unbind().await;
    }
    Ok(())
}

/// `receipts ...: received/wanted in T s = N DR/s full cycle`, the line benchmarks quote.
fn print_cycle(how: &str, received: usize, wanted: usize, elapsed: Duration, more: &str) {
    println!(
        "  receipts {how} {received}/{wanted} ({:.2} %) in {:.2} s = {:.0} DR/s full cycle{more}",
        100.0 * received as f64 / wanted.max(1) as f64,
        elapsed.as_secs_f64(),
        received as f64 / elapsed.as_secs_f64()
    );
}

/// Waits for the receipts of `ids` on the binds and prints the full cycle and its latency.
async fn report_bound_receipts(
    counter: &ReceiptCounter,
    ids: &[(String, Instant)],
    started: Instant,
    deadline: Instant,
) {
    let wanted: HashSet<String> = ids.iter().map(|(id, _)| id.clone()).collect();
    let received = loop {
        let got = {
            let seen = counter.seen.lock().unwrap_or_else(|e| e.into_inner());
            wanted.iter().filter(|id| seen.0.contains_key(*id)).count()
        };
        if got == wanted.len() || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let cycle_elapsed = started.elapsed();
    let (mut receipt_latencies, duplicates) = {
        let seen = counter.seen.lock().unwrap_or_else(|e| e.into_inner());
        let latencies: Vec<u32> = ids
            .iter()
            .filter_map(|(id, submitted_at)| {
                let received_at = seen.0.get(id)?;
                Some(
                    received_at
                        .saturating_duration_since(*submitted_at)
                        .as_micros() as u32,
                )
            })
            .collect();
        (latencies, seen.1)
    };
    receipt_latencies.sort_unstable();
    let duplicates = format!("; duplicates {duplicates}");
    print_cycle(
        "on binds",
        received,
        wanted.len(),
        cycle_elapsed,
        &duplicates,
    );
    println!(
        "  receipt latency (submit to deliver_sm) p50 {:.1} ms  p99 {:.1} ms  p99.9 {:.1} ms",
        percentile(&receipt_latencies, 0.5),
        percentile(&receipt_latencies, 0.99),
        percentile(&receipt_latencies, 0.999)
    );
}
