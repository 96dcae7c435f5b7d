//! store-bench: the issue 13 prototype. Measures, against servers the driver script
//! (`proto/run.sh`) started, the store operations one accepted MT and one receipt need on
//! each candidate engine, and prints one markdown table row per case:
//! `| backend | case | concurrency | ops/s | p50 ms | p99 ms | server CPU us/op | errors |`.

mod args;
mod cpu;
mod load;
mod nats;
mod payload;
mod postgres;
mod redis_wait;

use anyhow::bail;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args::Args::parse(std::env::args().skip(1))?;
    match args.backend.as_str() {
        "nats" => nats::main(&args).await,
        "pg" => postgres::main(&args).await,
        "redis" => redis_wait::main(&args).await,
        other => bail!("unknown backend {other} (nats, pg, redis)"),
    }
}

/// Prints a case's row, and why it failed, if it did.
fn print_row(report: &load::Report, backend: &str, case: &str, concurrency: usize) {
    println!("{}", report.row(backend, case, concurrency));
    if let Some(error) = &report.first_error {
        eprintln!("{backend} {case} c={concurrency}: first error: {error}");
    }
}
