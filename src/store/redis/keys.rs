//! Key names of the Redis store.
//!
//! Every key starts with the configured prefix as a hash tag, `{smsgw:}`, so that all keys of
//! one deployment share a Redis Cluster slot: the atomic steps (Lua scripts) touch a message,
//! its queue, an idempotency key, dedupe claims and an outbox at once, and a script may only
//! touch keys of one slot. Names a client chooses (accounts, connectors, idempotency keys,
//! carrier ids) are separated by `\x1f`, which they never contain, so two pairs of names
//! can never build the same key.

/// Separates client-chosen names inside a key.
const SEP: char = '\u{1f}';

/// Builds the store's key names for one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    tag: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            tag: format!("{{{prefix}}}"),
        }
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut key = self.tag.clone();
        for (i, part) in parts.iter().enumerate() {
            if i > 1 {
                key.push(SEP);
            }
            key.push_str(part);
        }
        key
    }

    /// What message keys start with (the sweep builds them from ids).
    pub fn message_prefix(&self) -> String {
        self.key(&["m:"])
    }

    /// A message record: hash with the JSON record (`json`) and its version (`v`).
    pub fn message(&self, id: &str) -> String {
        self.key(&["m:", id])
    }

    /// Queued MT ids of a connector at one priority rank (0 = highest): a list.
    pub fn queue(&self, connector: &str, rank: usize) -> String {
        self.key(&["q:", connector, &rank.to_string()])
    }

    /// Taken MTs of a connector: sorted set of `<rank><id>` by lease expiry (ms).
    pub fn taken(&self, connector: &str) -> String {
        self.key(&["taken:", connector])
    }

    /// Every connector that ever had a queue (for depths).
    pub fn connectors(&self) -> String {
        self.key(&["connectors"])
    }

    /// An idempotency claim: JSON `{message_id, fingerprint}` with a TTL.
    pub fn idempotency(&self, account: &str, key: &str) -> String {
        self.key(&["idem:", account, key])
    }

    /// Idempotency keys by expiry (ms), so the sweep can count what expired.
    pub fn idempotency_expiry(&self) -> String {
        self.key(&["idem-expiry"])
    }

    /// A dedupe claim with a TTL.
    pub fn dedupe(&self, kind: &str, key: &str) -> String {
        self.key(&["dedupe:", kind, key])
    }

    /// Dedupe keys by expiry (ms).
    pub fn dedupe_expiry(&self) -> String {
        self.key(&["dedupe-expiry"])
    }

    /// Carrier id (normalised) of a connector -> our message and part.
    pub fn carrier_id(&self, connector: &str, carrier_id: &str) -> String {
        self.key(&["cid:", connector, carrier_id])
    }

    /// Carrier-id keys by creation (ms), for retention.
    pub fn carrier_ids_created(&self) -> String {
        self.key(&["cid-created"])
    }

    /// Receipts that arrived before their submit was recorded: a list of JSON receipts.
    pub fn parked(&self, connector: &str, carrier_id: &str) -> String {
        self.key(&["parked:", connector, carrier_id])
    }

    /// Parked-receipt keys by their newest receipt (ms), for retention.
    pub fn parked_newest(&self) -> String {
        self.key(&["parked-newest"])
    }

    /// Ids of final messages by their last event (ms), for retention.
    pub fn final_messages(&self) -> String {
        self.key(&["final"])
    }

    /// An account's outbox entries: hash of zero-padded seq -> JSON entry.
    pub fn outbox_entries(&self, account: &str) -> String {
        self.key(&["o:", account, "entries"])
    }

    /// Untaken outbox entries by due time (ms).
    pub fn outbox_due(&self, account: &str) -> String {
        self.key(&["o:", account, "due"])
    }

    /// Taken outbox entries by lease expiry (ms).
    pub fn outbox_taken(&self, account: &str) -> String {
        self.key(&["o:", account, "taken"])
    }

    /// Outbox entries by creation (ms), for expiry.
    pub fn outbox_created(&self, account: &str) -> String {
        self.key(&["o:", account, "created"])
    }

    /// The account's outbox sequence counter.
    pub fn outbox_seq(&self, account: &str) -> String {
        self.key(&["o:", account, "seq"])
    }

    /// Every account that ever had an outbox (for depths).
    pub fn accounts(&self) -> String {
        self.key(&["accounts"])
    }

    /// Written by the health check.
    /// A node's heartbeat record (expires with its lease).
    pub fn node(&self, node_id: &str) -> String {
        self.key(&["node", node_id])
    }

    /// Node ids by lease expiry.
    pub fn nodes(&self) -> String {
        self.key(&["nodes"])
    }

    pub fn health(&self) -> String {
        self.key(&["health"])
    }
}

/// The member naming a taken MT: its priority rank (one digit) then its id.
pub fn taken_member(rank: usize, id: &str) -> String {
    format!("{rank}{id}")
}

/// An outbox seq as stored: zero-padded so members sort like numbers.
pub fn outbox_member(seq: u64) -> String {
    format!("{seq:020}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_carries_the_prefix_as_hash_tag_and_names_cannot_collide() {
        let keys = Keys::new("smsgw:");
        assert_eq!(keys.message("id1"), "{smsgw:}m:id1");
        assert!(keys.queue("sim", 2).starts_with("{smsgw:}q:"));
        assert_ne!(keys.idempotency("a:b", "c"), keys.idempotency("a", "b:c"));
        assert_ne!(keys.idempotency("ab", "c"), keys.idempotency("a", "bc"));
        assert!(outbox_member(9) < outbox_member(10));
    }
}
