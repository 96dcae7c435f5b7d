//! `smsgw carrier-sim`: run the carrier simulator on its own.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use clap::{Args, ValueEnum};
use smsgw::carrier_sim::{CarrierSim, CarrierSimConfig, IdStyle};
use tracing::info;

use super::shutdown_signal;

#[derive(Debug, Args)]
pub struct CarrierSimArgs {
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
    /// How message ids look: hex answers submit_sm_resp in hex and receipts in decimal
    /// (connector receipt_id_format "hex_resp_decimal_receipt"); hex-receipts the reverse
    /// ("decimal_resp_hex_receipt").
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
    HexReceipts,
}

fn parse_account(value: &str) -> Result<(String, String), String> {
    match value.split_once(':') {
        Some((id, password)) if !id.is_empty() => Ok((id.to_owned(), password.to_owned())),
        _ => Err(format!("expected system_id:password, got {value:?}")),
    }
}

impl CarrierSimArgs {
    pub fn into_config(self) -> CarrierSimConfig {
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
                IdStyleArg::HexReceipts => IdStyle::HexReceipts,
            },
            dr_before_resp: self.dr_before_resp,
            throttle: self.throttle,
            ..CarrierSimConfig::default()
        }
    }
}

pub async fn run(args: CarrierSimArgs) -> anyhow::Result<()> {
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

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;
    use crate::{Args as Cli, Cli as Command};

    fn sim_args(argv: &[&str]) -> CarrierSimArgs {
        match Cli::try_parse_from(argv).unwrap().command {
            Command::CarrierSim(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn cli_is_consistent_and_parses_every_option() {
        Cli::command().debug_assert();
        let args = sim_args(&[
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
        ]);
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
        let args = sim_args(&["smsgw", "carrier-sim"]);
        assert_eq!(args.listen, "127.0.0.1:2776".parse().unwrap());
        let config = args.into_config();
        assert_eq!(config.dr_delay, Duration::from_millis(50));
        assert!(config.accounts.is_none() && !config.dr_before_resp);
        assert_eq!((config.dr_ratio, config.mo_rate), (1.0, 0.0));
    }
}
