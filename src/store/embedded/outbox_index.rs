//! The in-memory index of one account's outbox: which entries exist, which are taken, and
//! which are due when, so that taking the next due entries and finding the next due time are
//! O(log n) however long the outbox grows (a client that stays away for hours).

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Copy)]
struct Meta {
    created_ms: u64,
    not_before_ms: u64,
    taken: bool,
}

/// See the module documentation.
#[derive(Debug, Default)]
pub struct OutboxIndex {
    entries: HashMap<u64, Meta>,
    /// Untaken entries by (due time, seq): new entries are due at 0, so they go in order.
    due: BTreeSet<(u64, u64)>,
}

impl OutboxIndex {
    pub fn insert(&mut self, seq: u64, created_ms: u64, not_before_ms: u64) {
        self.entries.insert(
            seq,
            Meta {
                created_ms,
                not_before_ms,
                taken: false,
            },
        );
        self.due.insert((not_before_ms, seq));
    }

    /// Marks up to `max` entries due at `now` as taken and returns them, earliest first.
    pub fn take_due(&mut self, now_ms: u64, max: usize) -> Vec<u64> {
        let mut taken = Vec::new();
        while taken.len() < max {
            match self.due.first() {
                Some(&(due, seq)) if due <= now_ms => {
                    self.due.pop_first();
                    if let Some(meta) = self.entries.get_mut(&seq) {
                        meta.taken = true;
                        taken.push(seq);
                    }
                }
                _ => break,
            }
        }
        taken
    }

    /// When the earliest untaken entry is due.
    pub fn next_due(&self) -> Option<u64> {
        self.due.first().map(|(due, _)| *due)
    }

    /// A taken entry goes back, due at `not_before_ms`.
    pub fn release(&mut self, seq: u64, not_before_ms: u64) {
        if let Some(meta) = self.entries.get_mut(&seq) {
            if !meta.taken {
                self.due.remove(&(meta.not_before_ms, seq));
            }
            meta.taken = false;
            meta.not_before_ms = not_before_ms;
            self.due.insert((not_before_ms, seq));
        }
    }

    pub fn remove(&mut self, seq: u64) {
        if let Some(meta) = self.entries.remove(&seq) {
            self.due.remove(&(meta.not_before_ms, seq));
        }
    }

    /// Untaken entries created before `cutoff_ms`.
    pub fn created_before(&self, cutoff_ms: u64) -> Vec<u64> {
        let mut old: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, m)| !m.taken && m.created_ms < cutoff_ms)
            .map(|(seq, _)| *seq)
            .collect();
        old.sort_unstable();
        old
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_due_entries_in_order_and_retries_later() {
        let mut index = OutboxIndex::default();
        for seq in 1..=5 {
            index.insert(seq, 100, 0);
        }
        assert_eq!(index.take_due(1000, 2), [1, 2]);
        index.release(1, 5000);
        assert_eq!(index.take_due(1000, 10), [3, 4, 5]);
        assert_eq!(index.next_due(), Some(5000));
        assert!(index.take_due(4999, 10).is_empty());
        assert_eq!(index.take_due(5000, 10), [1]);
        index.remove(1);
        assert_eq!(index.len(), 4);
        index.release(2, 0);
        assert_eq!(index.created_before(101), [2]);
    }
}
