//! The event log's settings (`[events]`): the logger's batching, as contact-centre event
//! loggers name it, and where events go (`[[events.sinks]]`), each with its filter.

use std::{path::PathBuf, time::Duration};

use super::Secret;
use crate::event::EventFilter;

/// `[events]`. With no sink the gateway records no events at all.
#[derive(Debug, Clone)]
pub struct EventLogSettings {
    /// Write when this many events are waiting.
    pub batch_size: usize,
    /// Write at least this often while any event waits.
    pub storing_timeout: Duration,
    /// Most events a logger holds in memory; more wait in the store (never dropped).
    pub max_queue_size: usize,
    pub sinks: Vec<EventSinkConfig>,
}

impl Default for EventLogSettings {
    fn default() -> Self {
        Self {
            batch_size: 500,
            storing_timeout: Duration::from_millis(1000),
            max_queue_size: 20_000,
            sinks: Vec::new(),
        }
    }
}

impl EventLogSettings {
    /// What the store must keep: what any sink wants.
    pub fn filter(&self) -> EventFilter {
        EventFilter::union(self.sinks.iter().map(|sink| &sink.filter))
    }
}

/// One `[[events.sinks]]`.
#[derive(Debug, Clone)]
pub struct EventSinkConfig {
    /// For logs and the `sink` label: `<kind>-<position>`, e.g. `postgres-1`.
    pub name: String,
    pub target: SinkTarget,
    pub filter: EventFilter,
}

#[derive(Debug, Clone)]
pub enum SinkTarget {
    /// Rows of `smsgw_events` (schema and migrations shipped, applied at start).
    Postgres { url: Secret },
    /// Newline-delimited JSON, rotated by size or age, the newest `keep` rotated files kept.
    File {
        path: PathBuf,
        rotate_bytes: u64,
        rotate_every: Option<Duration>,
        keep: usize,
    },
    /// JetStream: `<subject>.<kind>.<account>`, deduplicated on the event id; the stream is
    /// made if missing.
    Nats {
        url: Secret,
        subject: String,
        stream: String,
    },
}

pub const DEFAULT_ROTATE_BYTES: u64 = 100 * 1024 * 1024;
pub const DEFAULT_KEEP: usize = 10;
pub const DEFAULT_NATS_SUBJECT: &str = "smsgw.events";
pub const DEFAULT_NATS_STREAM: &str = "SMSGW_EVENTS";
