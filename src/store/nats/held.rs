//! What this store took and has not finished: the queue entries of MTs and the outbox entries
//! it handed out, with where they sit in the stream and the reply subject that acknowledges
//! their delivery. A change that ends a lease finds the entry here.

use std::{collections::HashMap, hash::Hash, sync::Mutex};

/// A taken entry.
#[derive(Debug, Clone)]
pub struct Held {
    pub subject: String,
    /// The stream sequence of the message taken.
    pub stream_seq: u64,
    /// Acknowledges the delivery (see `consumers::acknowledge`).
    pub ack: Option<String>,
}

/// Taken entries by key (an MT's id; an account and outbox seq).
pub struct HeldEntries<K> {
    entries: Mutex<HashMap<K, Held>>,
}

impl<K> Default for HeldEntries<K> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash> HeldEntries<K> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Held>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn hold(&self, key: K, held: Held) {
        self.lock().insert(key, held);
    }

    pub fn get(&self, key: &K) -> Option<Held> {
        self.lock().get(key).cloned()
    }

    pub fn release(&self, key: &K) -> Option<Held> {
        self.lock().remove(key)
    }
}
