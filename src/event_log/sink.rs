//! Where a batch of events goes. Every sink takes the same batch again without duplicates (a
//! batch is written again when another sink failed, or after a node died mid-batch), by
//! the event id: PostgreSQL's primary key, JetStream's message id, and for files the
//! `event_id` readers dedupe on.

use async_trait::async_trait;

use crate::event::Event;

/// Why a sink could not take a batch (it is written again later; nothing is dropped).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

impl SinkError {
    pub fn from_display(error: impl std::fmt::Display) -> Self {
        Self(error.to_string())
    }
}

/// A sink of event batches. See the module documentation.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Writes `events` durably, or fails as a whole (a retry writes them all again).
    async fn write(&mut self, events: &[&Event]) -> Result<(), SinkError>;
}
