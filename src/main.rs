//! The `smsgw` binary: command-line entry point. Each subcommand lives in `src/cli/`.

mod cli;

use std::process::ExitCode;

use clap::{Parser, ValueEnum};

/// The message path allocates per PDU and per record; mimalloc measured faster than glibc's
/// malloc under the gateway benchmark (see README, Performance).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::EnvFilter;

/// SMS aggregation gateway: HTTP and SMPP in, SMPP to carriers, DR/MO back.
#[derive(Debug, Parser)]
#[command(name = "smsgw", version)]
struct Args {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SMSGW_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Cli,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Subcommand)]
enum Cli {
    /// Run the gateway (no config file: the documented defaults with a built-in simulator).
    Serve(cli::serve::ServeArgs),
    /// Check a configuration file; prints each problem as FILE:LINE:COLUMN.
    CheckConfig(cli::check_config::CheckConfigArgs),
    /// Print the argon2id hash of a password, for an account's password_hash.
    HashPassword(cli::check_config::HashPasswordArgs),
    /// Run a carrier simulator: an SMPP SMSC that answers submits and sends receipts and MOs.
    CarrierSim(cli::carrier_sim::CarrierSimArgs),
    /// Benchmark a running gateway over SMPP: MT/s, receipts, latency, RSS.
    Bench(cli::bench::BenchArgs),
    /// Benchmark a running gateway's legitimate MT/s alone and during a flood of bad logins
    /// from another address (HTTP wrong passwords, SMPP binds with rotating system_ids).
    BenchFlood(cli::bench_flood::BenchFloodArgs),
    /// Send one message through a running gateway (SMPP or HTTP); --wait prints its receipt.
    Send(cli::send::SendArgs),
    /// An account's usage over a period from the event log in PostgreSQL: MTs and parts by
    /// connector and final state, refusals by reason.
    Report(cli::report::ReportArgs),
}

/// Logs go to stdout, except for `send` and `report`, whose stdout carries their results.
fn init_logging(format: LogFormat, command: &Cli) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match (format, matches!(command, Cli::Send(_) | Cli::Report(_))) {
        (LogFormat::Text, false) => builder.init(),
        (LogFormat::Text, true) => builder.with_writer(std::io::stderr).init(),
        (LogFormat::Json, false) => builder.json().init(),
        (LogFormat::Json, true) => builder.json().with_writer(std::io::stderr).init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    init_logging(args.log_format, &args.command);
    // One TLS crypto provider for the whole process (rustls, reqwest).
    let _ = rustls::crypto::ring::default_provider().install_default();
    match args.command {
        Cli::Serve(serve) => cli::serve::run(serve).await?,
        Cli::CheckConfig(check) => cli::check_config::run(check)?,
        Cli::HashPassword(password) => cli::check_config::hash(password)?,
        Cli::CarrierSim(sim) => cli::carrier_sim::run(sim).await?,
        Cli::Bench(bench) => cli::bench::run(bench).await?,
        Cli::BenchFlood(bench) => cli::bench_flood::run(bench).await?,
        Cli::Report(report) => cli::report::run(report).await?,
        // `send` reports its own errors: its exit code tells how the message ended.
        Cli::Send(send) => return Ok(cli::send::run(send).await),
    }
    Ok(ExitCode::SUCCESS)
}
