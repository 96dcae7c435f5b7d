//! Waiting for the signals that stop the gateway.

use anyhow::Context;

/// Waits for SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() -> anyhow::Result<()> {
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
