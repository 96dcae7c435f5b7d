//! `smsgw bench --push ADMIN_ADDR`: receipts an account's pushes delivered, read from the
//! gateway's `/metrics` (on its admin listener) (`delivery_delivered_total{account=..,kind="receipt"}`, counted once
//! the receiver answered 2xx), for the full cycle of an account that pushes rather than
//! receives on binds.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::Context;

/// Receipts pushed for one account since [`PushedReceipts::start`].
pub struct PushedReceipts {
    client: reqwest::Client,
    metrics_url: String,
    /// The admin listener's user and password, when it has users.
    login: Option<(String, String)>,
    account: String,
    before: u64,
}

impl PushedReceipts {
    /// Notes the count so far (the gateway may have pushed before).
    pub async fn start(
        admin: SocketAddr,
        account: &str,
        login: Option<(String, String)>,
    ) -> anyhow::Result<PushedReceipts> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut pushed = PushedReceipts {
            client: reqwest::Client::new(),
            metrics_url: format!("http://{admin}/metrics"),
            login,
            account: account.to_owned(),
            before: 0,
        };
        pushed.before = pushed.total().await?;
        Ok(pushed)
    }

    /// Polls until `wanted` receipts were pushed or `deadline`; returns how many were.
    pub async fn wait_for(&self, wanted: usize, deadline: Instant) -> anyhow::Result<usize> {
        loop {
            let pushed = self.total().await?.saturating_sub(self.before) as usize;
            if pushed >= wanted || Instant::now() > deadline {
                return Ok(pushed);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn total(&self) -> anyhow::Result<u64> {
        let mut request = self.client.get(&self.metrics_url);
        if let Some((user, password)) = &self.login {
            request = request.basic_auth(user, Some(password));
        }
        let text = request
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("reading {}", self.metrics_url))?
            .text()
            .await?;
        Ok(delivered_receipts(&text, &self.account))
    }
}

/// `delivery_delivered_total{account="ACCOUNT",kind="receipt"}` in Prometheus text, 0 when
/// absent (nothing delivered yet).
fn delivered_receipts(metrics: &str, account: &str) -> u64 {
    let account_label = format!("account=\"{account}\"");
    metrics
        .lines()
        .filter(|line| line.starts_with("delivery_delivered_total{"))
        .filter(|line| line.contains(&account_label) && line.contains("kind=\"receipt\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::delivered_receipts;

    #[test]
    fn reads_the_accounts_delivered_receipts() {
        let metrics = "# TYPE delivery_delivered_total counter\n\
            delivery_delivered_total{account=\"push\",kind=\"receipt\"} 1234\n\
            delivery_delivered_total{account=\"push\",kind=\"mo\"} 7\n\
            delivery_delivered_total{account=\"pusher\",kind=\"receipt\"} 99\n\
            delivery_retries_total{account=\"push\",reason=\"push\"} 5\n";
        assert_eq!(delivered_receipts(metrics, "push"), 1234);
        assert_eq!(delivered_receipts(metrics, "bind"), 0);
    }
}
