//! `smsgw serve [--config FILE]`: run the gateway until SIGTERM or Ctrl-C.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use smsgw::{config::Config, node::Gateway};
use tracing::info;

use super::shutdown_signal;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file; without one the documented defaults apply (demo account, built-in
    /// carrier simulator, SMPP on 127.0.0.1:2775, HTTP on 127.0.0.1:8080).
    #[arg(long, short, env = "SMSGW_CONFIG")]
    pub config: Option<PathBuf>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => Config::load(path).map_err(|errors| {
            anyhow::anyhow!("{errors}\nrefusing to start with an invalid configuration")
        })?,
        None => Config::default(),
    };
    let gateway = Gateway::start(config)
        .await
        .context("starting the gateway")?;
    info!(smpp = %gateway.smpp_addr(), http = %gateway.http_addr(), "smsgw is running");
    shutdown_signal().await?;
    info!("signal received; stopping");
    gateway.shutdown().await;
    Ok(())
}
