//! Which events a store's commits keep: set once by the node from its event log's sinks
//! (their filters' union), none until then, so a node without an event log writes none.

use std::sync::{Arc, RwLock};

use crate::event::EventFilter;

/// See the module documentation.
#[derive(Debug)]
pub struct EventSwitch(RwLock<Arc<EventFilter>>);

impl Default for EventSwitch {
    fn default() -> Self {
        Self(RwLock::new(Arc::new(EventFilter::union([]))))
    }
}

impl EventSwitch {
    pub fn set(&self, filter: EventFilter) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(filter);
    }

    pub fn current(&self) -> Arc<EventFilter> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
