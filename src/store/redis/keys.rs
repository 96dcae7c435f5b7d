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

    /// An account's opt-outs: a hash from [`opt_out_field`] to the opt-out's JSON.
    pub fn opt_outs(&self, account: &str) -> String {
        self.key(&["oo:", account])
    }

    /// What message keys start with (the sweep builds them from ids).
    pub fn message_prefix(&self) -> String {
        self.key(&["m:"])
    }

    /// A message record: hash with the JSON record (`json`) and its version (`v`).
    pub fn message(&self, id: &str) -> String {
        self.key(&["m:", id])
    }

    /// Queued MTs of a connector at one priority rank (0 = highest): a stream of entries
    /// with one field, `id`, read through the nodes' consumer group.
    pub fn queue(&self, connector: &str, rank: usize) -> String {
        self.key(&["q:", connector, &rank.to_string()])
    }

    /// MTs given back to a connector at one priority rank (see `release_mt`): a stream like
    /// [`Self::queue`], read before it.
    pub fn released(&self, connector: &str, rank: usize) -> String {
        self.key(&["qr:", connector, &rank.to_string()])
    }

    /// A connector's streams in the order they are taken from: highest priority first, each
    /// priority's released MTs before its queue.
    pub fn queue_streams(&self, connector: &str) -> Vec<String> {
        (0..crate::message::PRIORITIES_HIGHEST_FIRST.len())
            .flat_map(|rank| [self.released(connector, rank), self.queue(connector, rank)])
            .collect()
    }

    /// The pub/sub channel of wake-ups (see `wakeups`); not a key, but named like one so that
    /// deployments sharing a Redis do not wake each other.
    pub fn wake_channel(&self) -> String {
        self.key(&["wake"])
    }

    /// Never written: stands in for an absent sorted set where a script wants one.
    pub fn nothing(&self) -> String {
        self.key(&["nothing"])
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

    /// A multipart MO's part set (within its connector, see `PartSetKey::within_connector`):
    /// hash with the JSON set (`json`) and its version (`v`).
    pub fn part_set(&self, connector: &str, within: &str) -> String {
        self.key(&["mps:", connector, within])
    }

    /// Part-set keys by when the set began (ms), for retention.
    pub fn part_sets_started(&self) -> String {
        self.key(&["mps-started"])
    }

    /// Ids of final messages by their last event (ms), for retention.
    pub fn final_messages(&self) -> String {
        self.key(&["final"])
    }

    /// An account's outbox: a stream of entries (field `e`, the JSON entry) read through
    /// one consumer group, each node a consumer.
    pub fn outbox_stream(&self, account: &str) -> String {
        self.key(&["o:", account, "stream"])
    }

    /// Outbox entries waiting for a retry: sorted set of their stream ids by due time (ms).
    pub fn outbox_delayed(&self, account: &str) -> String {
        self.key(&["o:", account, "delayed"])
    }

    /// The entries of [`Self::outbox_delayed`]: hash of stream id -> JSON entry.
    pub fn outbox_retries(&self, account: &str) -> String {
        self.key(&["o:", account, "retries"])
    }

    /// Every account that ever had an outbox (for depths).
    pub fn accounts(&self) -> String {
        self.key(&["accounts"])
    }

    /// A node's heartbeat record (expires with its lease).
    pub fn node(&self, node_id: &str) -> String {
        self.key(&["node", node_id])
    }

    /// Node ids by lease expiry.
    pub fn nodes(&self) -> String {
        self.key(&["nodes"])
    }

    /// A token counter of one window ([`crate::store::Store::take_tokens`]).
    pub fn tokens(&self, key: &str, window: u64) -> String {
        self.key(&["tok:", key, &window.to_string()])
    }

    /// The holders of a key's places, a sorted set by lease end (in the server's clock).
    pub fn slots(&self, key: &str) -> String {
        self.key(&["slot:", key])
    }

    /// Written by the health check.
    pub fn health(&self) -> String {
        self.key(&["health"])
    }
}

/// The outbox seq of a stream entry id `<ms>-<n>`: `ms * 1_000_000 + n`, so seqs order like
/// the ids and fit in a u64 (Redis numbers entries within one ms from 0; a million of them in
/// one ms does not happen).
pub fn outbox_seq(stream_id: &str) -> Option<u64> {
    let (ms, n) = stream_id.split_once('-')?;
    let (ms, n) = (ms.parse::<u64>().ok()?, n.parse::<u64>().ok()?);
    (n < SEQS_PER_MS).then(|| ms.checked_mul(SEQS_PER_MS)?.checked_add(n))?
}

/// The stream entry id of an outbox seq (see [`outbox_seq`]).
pub fn outbox_stream_id(seq: u64) -> String {
    format!("{}-{}", seq / SEQS_PER_MS, seq % SEQS_PER_MS)
}

const SEQS_PER_MS: u64 = 1_000_000;

/// The field of one opt-out in [`Keys::opt_outs`]: its sender (empty: every sender) and number.
pub fn opt_out_field(sender: &str, number: &str) -> String {
    format!("{sender}{SEP}{number}")
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
    }

    #[test]
    fn outbox_seqs_map_to_stream_ids_and_back_in_order() {
        let seq = outbox_seq("1764000000123-7").unwrap();
        assert_eq!(outbox_stream_id(seq), "1764000000123-7");
        assert!(outbox_seq("1764000000123-999999") < outbox_seq("1764000000124-0"));
        assert_eq!(outbox_seq("1-1000000"), None);
        assert_eq!(outbox_seq("x-1"), None);
        assert_eq!(outbox_seq("18446744073710-0"), None);
    }
}
