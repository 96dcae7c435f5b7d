//! Gauges that describe the gateway's state rather than its events, sampled periodically for
//! /metrics: queued MTs per connector, outbox depth per account, binds up per connector, and
//! client binds per account, timers pending and the event log's backlog.

use std::{collections::HashSet, sync::Arc, time::Duration};

use smsgw_smpp::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{
    event::EVENTS_ACCOUNT, message::timer_account_hour, store::Store, upstream::Connector,
};

/// How often the gauges are refreshed.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Samples until `stop` is cancelled.
pub fn spawn(
    store: Arc<dyn Store>,
    connectors: Vec<Arc<Connector>>,
    registry: Arc<Registry>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = Seen::default();
        loop {
            sample(store.as_ref(), &connectors, &registry, &mut seen).await;
            tokio::select! {
                () = tokio::time::sleep(SAMPLE_EVERY) => {}
                () = stop.cancelled() => return,
            }
        }
    })
}

/// Label values reported before: a value that disappears (an emptied outbox, an account
/// whose last bind closed) is set to 0 instead of keeping its last reading.
#[derive(Default)]
struct Seen {
    queues: HashSet<String>,
    outboxes: HashSet<String>,
    binds: HashSet<String>,
}

/// Sets `name{label=...}` for every reading and 0 for labels seen before but absent now.
fn report(
    name: &'static str,
    label: &'static str,
    readings: Vec<(String, usize)>,
    seen: &mut HashSet<String>,
) {
    let present: HashSet<String> = readings.iter().map(|(key, _)| key.clone()).collect();
    for gone in seen.difference(&present) {
        metrics::gauge!(name, label => gone.clone()).set(0.0);
    }
    for (key, value) in readings {
        metrics::gauge!(name, label => key).set(value as f64);
    }
    *seen = present.union(seen).cloned().collect();
}

async fn sample(
    store: &dyn Store,
    connectors: &[Arc<Connector>],
    registry: &Registry,
    seen: &mut Seen,
) {
    for connector in connectors {
        metrics::gauge!("connector_binds_up", "connector" => connector.name().to_owned())
            .set(connector.binds_up() as f64);
    }
    if let Ok(depths) = store.queue_depths().await {
        report(
            "connector_queue_depth",
            "connector",
            depths,
            &mut seen.queues,
        );
    }
    if let Ok(depths) = store.outbox_depths().await {
        // Timers wait in one reserved account per hour: one gauge for all of them, not a
        // label per hour.
        let (timers, accounts): (Vec<_>, Vec<_>) = depths
            .into_iter()
            .partition(|(account, _)| timer_account_hour(account).is_some());
        metrics::gauge!("timers_pending")
            .set(timers.iter().map(|(_, count)| *count as f64).sum::<f64>());
        // The event log's entries (each holds the events of one change) not yet written.
        let (events, accounts): (Vec<_>, Vec<_>) = accounts
            .into_iter()
            .partition(|(account, _)| account == EVENTS_ACCOUNT);
        metrics::gauge!("events_backlog")
            .set(events.iter().map(|(_, count)| *count as f64).sum::<f64>());
        report("outbox_depth", "account", accounts, &mut seen.outboxes);
    }
    report(
        "client_binds",
        "account",
        registry.accounts(),
        &mut seen.binds,
    );
}
