//! Benchmark: submit_sm through the carrier simulator with receipts, over loopback.
//!
//! One transceiver bind of our `Client` (window W) submits COUNT messages asking for a receipt
//! to an in-process `CarrierSim` (dr_delay 50 ms) and acknowledges every receipt. Prints the
//! submit rate (first submit to last submit_sm_resp) and the end-to-end rate (first submit to
//! last receipt), and the simulator's stats.
//!
//! ```text
//! cargo run --release --example carrier_sim_bench -- [COUNT] [WINDOW]
//! ```

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use futures_util::{stream::FuturesUnordered, StreamExt};
use smsgw::carrier_sim::{CarrierSim, CarrierSimConfig};
use smsgw_smpp::{
    rusmpp::{pdus::DeliverSm, pdus::SubmitSm, CommandStatus},
    BindKind, BindRequest, Client, ClientConfig, DeliverHandler, SessionHandle,
};
use tokio::{net::TcpListener, sync::Notify};

/// Acknowledges every deliver_sm and counts them.
struct CountReceipts {
    received: AtomicU64,
    expected: u64,
    all_in: Notify,
}

impl DeliverHandler for CountReceipts {
    async fn on_deliver(&self, _: &SessionHandle, _: u32, _: DeliverSm) -> CommandStatus {
        if self.received.fetch_add(1, Ordering::Relaxed) + 1 == self.expected {
            self.all_in.notify_one();
        }
        CommandStatus::EsmeRok
    }
}

fn submit(n: usize) -> SubmitSm {
    SubmitSm::builder()
        .source_addr("12345".parse().unwrap())
        .destination_addr(format!("4477009{:05}", n % 100_000).parse().unwrap())
        .registered_delivery(1.into())
        .short_message(
            b"benchmark message of a typical length, about sixty chars"
                .as_slice()
                .try_into()
                .unwrap(),
        )
        .build()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(Ok(200_000), |a| a.parse())?;
    let window: usize = args.next().map_or(Ok(256), |a| a.parse())?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let sim = CarrierSim::start(
        listener,
        CarrierSimConfig {
            window,
            ..CarrierSimConfig::default()
        },
    )?;
    let receipts = Arc::new(CountReceipts {
        received: AtomicU64::new(0),
        expected: count as u64,
        all_in: Notify::new(),
    });
    let mut config = ClientConfig::new(BindRequest::new(BindKind::Transceiver, "bench", "x"));
    config.session.window = window;
    config.session.inbound_window = window;
    let client = Client::connect(sim.local_addr(), config, receipts.clone()).await?;

    let start = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let (mut sent, mut failed) = (0, 0);
    while sent < count || !in_flight.is_empty() {
        while sent < count && in_flight.len() < window {
            in_flight.push(client.submit(submit(sent)));
            sent += 1;
        }
        if let Some(result) = in_flight.next().await {
            failed += usize::from(result.is_err());
        }
    }
    let submitted = start.elapsed();
    tokio::time::timeout(Duration::from_secs(120), receipts.all_in.notified())
        .await
        .map_err(|_| "receipts did not all arrive in 120 s")?;
    let all_receipts = start.elapsed();

    println!(
        "{count} submits (window {window}) in {:.2} s = {:.0} submits/s; \
         all {count} receipts after {:.2} s = {:.0} submits+receipts/s; {failed} failed",
        submitted.as_secs_f64(),
        count as f64 / submitted.as_secs_f64(),
        all_receipts.as_secs_f64(),
        count as f64 / all_receipts.as_secs_f64(),
    );
    println!("{:?}", sim.stats());
    client.unbind().await?;
    sim.shutdown().await;
    Ok(())
}
