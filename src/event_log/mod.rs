//! The event log: each node's logger ([`logger`]) drains the events the flows wrote with
//! their changes (see [`crate::event`]) to the configured sinks: PostgreSQL ([`postgres`]),
//! NDJSON files ([`file`]) and NATS JetStream ([`nats`]); [`report`] reads usage back.

pub mod file;
pub mod logger;
pub mod nats;
pub mod postgres;
pub mod report;
pub mod sink;

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{
    config::event_log::{EventLogSettings, SinkTarget},
    store::Store,
};
use logger::{EventLogger, NamedSink};

/// Starts this node's logger and tells the store which events to keep; `None` (and no
/// events written at all) without sinks.
pub fn spawn(
    store: Arc<dyn Store>,
    settings: &EventLogSettings,
    stop: CancellationToken,
) -> Option<JoinHandle<()>> {
    if settings.sinks.is_empty() {
        return None;
    }
    store.events().set(settings.filter());
    let sinks = settings
        .sinks
        .iter()
        .map(|sink| NamedSink {
            name: sink.name.clone(),
            filter: sink.filter.clone(),
            sink: match &sink.target {
                SinkTarget::Postgres { url } => Box::new(postgres::PostgresSink::new(url.clone())),
                SinkTarget::File {
                    path,
                    rotate_bytes,
                    rotate_every,
                    keep,
                } => Box::new(file::FileSink::new(
                    path.clone(),
                    *rotate_bytes,
                    *rotate_every,
                    *keep,
                )),
                SinkTarget::Nats {
                    url,
                    subject,
                    stream,
                } => Box::new(nats::NatsSink::new(
                    url.clone(),
                    subject.clone(),
                    stream.clone(),
                )),
            },
        })
        .collect();
    let logger = EventLogger {
        store,
        batch_size: settings.batch_size,
        storing_timeout: settings.storing_timeout,
        max_queue_size: settings.max_queue_size,
        sinks,
    };
    Some(tokio::spawn(logger.run(stop)))
}
