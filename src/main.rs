//! The `smsgw` binary: command-line entry point.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, ValueEnum};
use smsgw::carrier_sim::{CarrierSim, CarrierSimConfig, IdStyle};
use tracing::info;
use tracing_subscriber::EnvFilter;

/// SMS aggregation gateway: HTTP and SMPP in, SMPP to carriers, DR/MO back.
#[derive(Debug, Parser)]
#[command(name = "smsgw", version)]
enum Cli {
    /// Run a carrier simulator: an SMPP SMSC that answers submits and sends receipts and MOs.
    CarrierSim(CarrierSimArgs),
}

#[derive(Debug, Args)]
struct CarrierSimArgs {
    /// Address to listen on for SMPP.
    #[arg(
        long,
        env = "SMSGW_CARRIER_SIM_LISTEN",
        default_value = "127.0.0.1:2776"
    )]
    listen: SocketAddr,
    /// Milliseconds from submit_sm to its delivery receipt.
    #[arg(long, default_value_t = 50)]
    dr_delay_ms: u64,
    /// Share of receipt-requesting submits that get a receipt (0 to 1).
    #[arg(long, default_value_t = 1.0)]
    dr_ratio: f64,
    /// Spontaneous MOs per second.
    #[arg(long, default_value_t = 0.0)]
    mo_rate: f64,
    /// Source address of spontaneous MOs.
    #[arg(long, default_value = "447700900999")]
    mo_source: String,
    /// Destination address of spontaneous MOs.
    #[arg(long, default_value = "12345")]
    mo_destination: String,
    /// How message ids look: hex answers submit_sm_resp in hex and receipts in decimal.
    #[arg(long, value_enum, default_value_t = IdStyleArg::Decimal)]
    id_style: IdStyleArg,
    /// Send each receipt before the submit_sm_resp it belongs to.
    #[arg(long)]
    dr_before_resp: bool,
    /// Submits per second above which submit_sm_resp is ESME_RTHROTTLED.
    #[arg(long)]
    throttle: Option<u32>,
    /// An account allowed to bind, as system_id:password (repeatable); none accepts any.
    #[arg(long = "account", value_parser = parse_account)]
    accounts: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum IdStyleArg {
    Decimal,
    Hex,
}

fn parse_account(value: &str) -> Result<(String, String), String> {
    match value.split_once(':') {
        Some((id, password)) if !id.is_empty() => Ok((id.to_owned(), password.to_owned())),
        _ => Err(format!("expected system_id:password, got {value:?}")),
    }
}

impl CarrierSimArgs {
    fn into_config(self) -> CarrierSimConfig {
        CarrierSimConfig {
            accounts: (!self.accounts.is_empty()).then_some(self.accounts),
            dr_delay: Duration::from_millis(self.dr_delay_ms),
            dr_ratio: self.dr_ratio,
            mo_rate: self.mo_rate,
            mo_source: self.mo_source,
            mo_destination: self.mo_destination,
            id_style: match self.id_style {
                IdStyleArg::Decimal => IdStyle::Decimal,
                IdStyleArg::Hex => IdStyle::Hex,
            },
            dr_before_resp: self.dr_before_resp,
            throttle: self.throttle,
            ..CarrierSimConfig::default()
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match Cli::parse() {
        Cli::CarrierSim(args) => carrier_sim(args).await,
    }
}

async fn carrier_sim(args: CarrierSimArgs) -> anyhow::Result<()> {
    let listen = args.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let sim = CarrierSim::start(listener, args.into_config()).context("carrier-sim")?;
    shutdown_signal().await?;
    info!("signal received; shutting down");
    sim.shutdown().await;
    Ok(())
}

/// Waits for SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("SIGINT handler")?,
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await.context("Ctrl-C handler")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_is_consistent_and_parses_every_option() {
        Cli::command().debug_assert();
        let Cli::CarrierSim(args) = Cli::try_parse_from([
            "smsgw",
            "carrier-sim",
            "--listen",
            "127.0.0.1:0",
            "--dr-delay-ms",
            "5",
            "--dr-ratio",
            "0.5",
            "--mo-rate",
            "2",
            "--id-style",
            "hex",
            "--dr-before-resp",
            "--throttle",
            "100",
            "--account",
            "gw:secret",
            "--account",
            "gw2:pw:with:colons",
        ])
        .unwrap();
        let config = args.into_config();
        assert_eq!(config.dr_delay, Duration::from_millis(5));
        assert_eq!((config.dr_ratio, config.mo_rate), (0.5, 2.0));
        assert_eq!(config.id_style, IdStyle::Hex);
        assert!(config.dr_before_resp);
        assert_eq!(config.throttle, Some(100));
        assert_eq!(
            config.accounts.unwrap(),
            [
                ("gw".to_owned(), "secret".to_owned()),
                ("gw2".to_owned(), "pw:with:colons".to_owned())
            ]
        );
        assert!(Cli::try_parse_from(["smsgw", "carrier-sim", "--account", "nopassword"]).is_err());
        assert!(Cli::try_parse_from(["smsgw", "carrier-sim", "--id-style", "octal"]).is_err());
    }

    #[test]
    fn defaults_match_the_documented_simulator() {
        let Cli::CarrierSim(args) = Cli::try_parse_from(["smsgw", "carrier-sim"]).unwrap();
        assert_eq!(args.listen, "127.0.0.1:2776".parse().unwrap());
        let config = args.into_config();
        assert_eq!(config.dr_delay, Duration::from_millis(50));
        assert!(config.accounts.is_none() && !config.dr_before_resp);
        assert_eq!((config.dr_ratio, config.mo_rate), (1.0, 0.0));
    }
}
