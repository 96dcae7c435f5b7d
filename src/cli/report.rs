//! `smsgw report --account X --from DATE --to DATE`: an account's usage from the event log
//! in PostgreSQL (the first postgres sink of `--config`, or `--postgres URL`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use smsgw::{
    config::{event_log::SinkTarget, Config},
    event_log::{postgres, report},
};

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The account (system_id).
    #[arg(long)]
    pub account: String,
    /// Start of the period, included: any timestamp PostgreSQL reads (2026-12-01,
    /// 2026-12-01T10:00:00Z).
    #[arg(long)]
    pub from: String,
    /// End of the period, excluded.
    #[arg(long)]
    pub to: String,
    /// The gateway's config file: its first postgres event sink is read.
    #[arg(long, conflicts_with = "postgres")]
    pub config: Option<PathBuf>,
    /// The event log's database instead of a config file.
    #[arg(long, env = "SMSGW_EVENTS_POSTGRES", hide_env_values = true)]
    pub postgres: Option<String>,
    /// JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let url = match (&args.postgres, &args.config) {
        (Some(url), _) => url.clone(),
        (None, Some(path)) => {
            let config = Config::load(path).map_err(|errors| anyhow::anyhow!("{errors}"))?;
            config
                .events
                .sinks
                .iter()
                .find_map(|sink| match &sink.target {
                    SinkTarget::Postgres { url } => Some(url.expose().to_owned()),
                    _ => None,
                })
                .with_context(|| format!("{}: no postgres event sink", path.display()))?
        }
        (None, None) => anyhow::bail!("give --config FILE or --postgres URL"),
    };
    let client = postgres::connect(&url)
        .await
        .context("connecting to the event log")?;
    let usage = report::usage(&client, &args.account, &args.from, &args.to)
        .await
        .context("reading the event log")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&usage)?);
        return Ok(());
    }
    println!(
        "account {} from {} to {}",
        usage.account, args.from, args.to
    );
    println!(
        "{:<20} {:<14} {:>10} {:>10}",
        "connector", "state", "mts", "parts"
    );
    for row in &usage.rows {
        println!(
            "{:<20} {:<14} {:>10} {:>10}",
            row.connector, row.state, row.mts, row.parts
        );
    }
    println!(
        "{:<20} {:<14} {:>10} {:>10}",
        "total",
        "",
        usage.total_mts(),
        usage.total_parts()
    );
    for (reason, count) in &usage.refused {
        println!("refused {reason:<28} {count:>10}");
    }
    Ok(())
}
