//! The subjects of one shard's stream: every key a change touches is one subject, and every
//! free-form part of a key (client ids, carrier ids, accounts, connectors) is encoded as one
//! safe token, so a dot, a space, `*` or `>` in it can never split or widen a subject.

use base64::Engine as _;

use crate::store::ClaimSpace;

/// The base64url alphabet is all letters, digits, `-` and `_`: every character is valid in a
/// NATS token. The `k` in front makes the empty key a non-empty token.
const TOKEN_MARK: char = 'k';

/// `key` as one subject token.
pub fn token(key: &str) -> String {
    let mut token = String::with_capacity(1 + key.len() * 4 / 3 + 3);
    token.push(TOKEN_MARK);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(key, &mut token);
    token
}

/// The key a [`token`] encodes; `None` for anything [`token`] never makes.
pub fn key_of(token: &str) -> Option<String> {
    let encoded = token.strip_prefix(TOKEN_MARK)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Whether `namespace` can prefix subjects and name a stream as it is.
pub fn valid_namespace(namespace: &str) -> bool {
    !namespace.is_empty()
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The subjects of one shard of a store's namespace (several stores may share a cluster, as
/// Redis prefixes let them share a server). Shard 0's keys are `<namespace>.<kind>.…` (the
/// layout of the one-shard store, so its data is shard 0 of a sharded one); shard k's are
/// `<namespace>.<k>.<kind>.…`, which no filter of another shard matches (a kind is a letter).
/// Wake-ups are core NATS subjects of the namespace, shared by the shards.
#[derive(Debug, Clone)]
pub struct Subjects {
    namespace: String,
    /// What every key of the shard's stream starts with.
    prefix: String,
}

/// The kinds of keys in a shard's stream (see the design record, "Decision"), and `h` for
/// health checks and guard carriers.
pub const KINDS: [&str; 7] = ["r", "c", "m", "q", "o", "n", "h"];

/// Queue slots per connector: per priority rank, MTs given back (taken first), then the rest.
pub const QUEUE_SLOTS: usize = crate::message::PRIORITIES_HIGHEST_FIRST.len() * 2;

/// The queue slot of an MT of `rank` (0 = highest priority); lower slots are taken first.
pub fn queue_slot(rank: usize, released: bool) -> usize {
    rank * 2 + usize::from(!released)
}

/// The kinds of claims (the token after `c`): idempotency keys, receipt dedupe, MO dedupe.
pub const CLAIM_SPACES: [char; 3] = ['i', 'd', 'm'];

/// Where a wake-up goes: a connector's queue or an account's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    Queue(String),
    Outbox(String),
}

impl Subjects {
    /// Shard 0 of `namespace`, which must satisfy [`valid_namespace`].
    pub fn new(namespace: &str) -> Self {
        Self::for_shard(namespace, 0)
    }

    /// Shard `shard` of `namespace`, which must satisfy [`valid_namespace`].
    pub fn for_shard(namespace: &str, shard: usize) -> Self {
        let prefix = match shard {
            0 => namespace.to_owned(),
            k => format!("{namespace}.{k}"),
        };
        Self {
            namespace: namespace.to_owned(),
            prefix,
        }
    }

    /// The stream of shard `shard`.
    pub fn stream(&self, shard: usize) -> String {
        format!("SMSGW_{}_{shard}", self.namespace)
    }

    /// The filters of a shard's stream: every kind of key.
    pub fn stream_filters(&self) -> Vec<String> {
        KINDS
            .iter()
            .map(|kind| format!("{}.{kind}.>", self.prefix))
            .collect()
    }

    /// A message record.
    pub fn record(&self, id: &str) -> String {
        format!("{}.r.{}", self.prefix, token(id))
    }

    /// A claim of `space`.
    pub fn claim(&self, space: &ClaimSpace, key: &str) -> String {
        match space {
            ClaimSpace::Idempotency { account } => {
                format!("{}.c.i.{}.{}", self.prefix, token(account), token(key))
            }
            ClaimSpace::ReceiptDedupe => format!("{}.c.d.{}", self.prefix, token(key)),
            ClaimSpace::MoDedupe => format!("{}.c.m.{}", self.prefix, token(key)),
        }
    }

    /// An opt-out: kept with the claims (`c.o`, never swept: it holds until lifted).
    pub fn opt_out(&self, account: &str, sender: &str, number: &str) -> String {
        format!(
            "{}.c.o.{}.{}.{}",
            self.prefix,
            token(account),
            token(sender),
            token(number)
        )
    }

    /// Every opt-out of an account.
    pub fn opt_outs(&self, account: &str) -> String {
        format!("{}.c.o.{}.>", self.prefix, token(account))
    }

    /// The claims of one space (see [`CLAIM_SPACES`]), for the sweep.
    pub fn claims_of(&self, space: char) -> String {
        format!("{}.c.{space}.>", self.prefix)
    }

    /// Every record, for the sweep.
    pub fn records(&self) -> String {
        format!("{}.r.>", self.prefix)
    }

    /// A carrier id's slot: its mapping, or the receipts parked before it.
    pub fn slot(&self, connector: &str, carrier_id: &str) -> String {
        format!(
            "{}.m.{}.{}",
            self.prefix,
            token(connector),
            token(carrier_id)
        )
    }

    /// A multipart MO's part set (`within`: its key within the connector), among the
    /// connector's carrier-id slots (the `p` token is never a [`token`]).
    pub fn part_set(&self, connector: &str, within: &str) -> String {
        format!("{}.m.{}.p.{}", self.prefix, token(connector), token(within))
    }

    /// Whether a subject under [`Self::slots`] is a part set's.
    pub fn is_part_set(&self, subject: &str) -> bool {
        subject
            .strip_prefix(&format!("{}.m.", self.prefix))
            .is_some_and(|rest| rest.split('.').nth(1) == Some("p"))
    }

    /// Every carrier-id slot, for the sweep.
    pub fn slots(&self) -> String {
        format!("{}.m.>", self.prefix)
    }

    /// A queued MT of `connector` in queue `slot` (see [`queue_slot`]).
    pub fn queued(&self, connector: &str, slot: usize, id: &str) -> String {
        format!(
            "{}.q.{}.{slot}.{}",
            self.prefix,
            token(connector),
            token(id)
        )
    }

    /// What the consumer of one queue slot reads.
    pub fn queue_slot_filter(&self, connector: &str, slot: usize) -> String {
        format!("{}.q.{}.{slot}.>", self.prefix, token(connector))
    }

    /// The durable consumer of one queue slot.
    pub fn queue_consumer(&self, connector: &str, slot: usize) -> String {
        format!("q_{}_{slot}", token(connector))
    }

    /// Every queued MT, for the depths.
    pub fn queues(&self) -> String {
        format!("{}.q.>", self.prefix)
    }

    /// The connector and slot of a queued MT's subject.
    pub fn queue_of(&self, subject: &str) -> Option<(String, usize)> {
        let rest = subject.strip_prefix(&format!("{}.q.", self.prefix))?;
        let mut parts = rest.split('.');
        let connector = key_of(parts.next()?)?;
        let slot = parts.next()?.parse().ok()?;
        Some((connector, slot))
    }

    /// The connector and slot a queue consumer's name stands for.
    pub fn queue_consumer_of(&self, name: &str) -> Option<(String, usize)> {
        let (connector, slot) = name.strip_prefix("q_")?.rsplit_once('_')?;
        Some((key_of(connector)?, slot.parse().ok()?))
    }

    /// An outbox entry of `account`.
    pub fn outbox(&self, account: &str, seq: u64) -> String {
        format!("{}.o.{}.{seq}", self.prefix, token(account))
    }

    /// What the consumer of an account's outbox reads.
    pub fn outbox_filter(&self, account: &str) -> String {
        format!("{}.o.{}.>", self.prefix, token(account))
    }

    /// The durable consumer of an account's outbox.
    pub fn outbox_consumer(&self, account: &str) -> String {
        format!("o_{}", token(account))
    }

    /// Every outbox entry, for the depths.
    pub fn outboxes(&self) -> String {
        format!("{}.o.>", self.prefix)
    }

    /// The account of an outbox entry's subject.
    pub fn outbox_account(&self, subject: &str) -> Option<String> {
        let rest = subject.strip_prefix(&format!("{}.o.", self.prefix))?;
        key_of(rest.split('.').next()?)
    }

    /// A node's heartbeat.
    pub fn node(&self, node: &str) -> String {
        format!("{}.n.{}", self.prefix, token(node))
    }

    /// Every heartbeat.
    pub fn nodes(&self) -> String {
        format!("{}.n.>", self.prefix)
    }

    /// A token counter of one window ([`crate::store::Store::take_tokens`]).
    pub fn tokens(&self, key: &str, window: u64) -> String {
        format!("{}.h.t.{}.{window}", self.prefix, token(key))
    }

    /// Place `place` of a key's places ([`crate::store::Store::claim_slot`]).
    pub fn place(&self, key: &str, place: u32) -> String {
        format!("{}.h.p.{}.{place}", self.prefix, token(key))
    }

    /// What `check_writable` writes.
    pub fn health(&self) -> String {
        format!("{}.h.check", self.prefix)
    }

    /// The prefix of messages that only carry a guard of their batch (on another subject).
    pub fn guard_carrier(&self) -> String {
        format!("{}.h.guard", self.prefix)
    }

    /// A record's move to another shard, from its first step until its second is done (see
    /// [`super::moves`]).
    pub fn move_journal(&self, id: &str) -> String {
        format!("{}.h.m.{}", self.prefix, token(id))
    }

    /// Every move in progress, for the sweep.
    pub fn move_journals(&self) -> String {
        format!("{}.h.m.>", self.prefix)
    }

    /// The core NATS subject (not in the stream) of a wake-up.
    pub fn wake(&self, topic: &Topic) -> String {
        match topic {
            Topic::Queue(connector) => format!("{}.w.q.{}", self.namespace, token(connector)),
            Topic::Outbox(account) => format!("{}.w.o.{}", self.namespace, token(account)),
        }
    }

    /// Every wake-up of this namespace.
    pub fn wakes(&self) -> String {
        format!("{}.w.>", self.namespace)
    }

    /// The topic of a wake-up's subject.
    pub fn topic_of(&self, subject: &str) -> Option<Topic> {
        let rest = subject.strip_prefix(&format!("{}.w.", self.namespace))?;
        let (kind, key) = rest.split_once('.')?;
        let key = key_of(key)?;
        match kind {
            "q" => Some(Topic::Queue(key)),
            "o" => Some(Topic::Outbox(key)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn is_single_token(token: &str) -> bool {
        !token.is_empty()
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }

    proptest! {
        #[test]
        fn any_key_round_trips_as_one_safe_token(key in any::<String>()) {
            let encoded = token(&key);
            prop_assert!(is_single_token(&encoded), "{encoded:?}");
            prop_assert_eq!(key_of(&encoded), Some(key));
        }
    }

    #[test]
    fn keys_that_look_like_subjects_stay_one_token() {
        for key in ["", "a.b", "*", ">", "a b", "x.>", "\t", "été"] {
            assert!(is_single_token(&token(key)), "{key:?}");
            assert_eq!(key_of(&token(key)).as_deref(), Some(key));
        }
    }

    #[test]
    fn claims_of_different_spaces_are_different_subjects() {
        let subjects = Subjects::new("t");
        let account = ClaimSpace::Idempotency {
            account: "a.b".into(),
        };
        assert_eq!(subjects.claim(&account, "k").split('.').count(), 5);
        assert_ne!(
            subjects.claim(&ClaimSpace::MoDedupe, "k"),
            subjects.claim(&ClaimSpace::ReceiptDedupe, "k")
        );
    }

    #[test]
    fn subjects_read_back_as_what_they_name() {
        let subjects = Subjects::new("t");
        let queued = subjects.queued("a.b", queue_slot(2, true), "id");
        assert_eq!(subjects.queue_of(&queued), Some(("a.b".to_owned(), 4)));
        let consumer = subjects.queue_consumer("a_b", 5);
        assert_eq!(
            subjects.queue_consumer_of(&consumer),
            Some(("a_b".to_owned(), 5))
        );
        let outbox = subjects.outbox("acme.eu", 7);
        assert_eq!(subjects.outbox_account(&outbox).as_deref(), Some("acme.eu"));
        for topic in [Topic::Queue("x.y".into()), Topic::Outbox("".into())] {
            assert_eq!(subjects.topic_of(&subjects.wake(&topic)), Some(topic));
        }
        assert!(queue_slot(0, true) < queue_slot(0, false));
        assert!(queue_slot(0, false) < queue_slot(1, true));
        assert!(queue_slot(3, false) < QUEUE_SLOTS);
    }

    #[test]
    fn shards_have_disjoint_keys_and_shared_wake_ups() {
        let shards: Vec<Subjects> = (0..3).map(|k| Subjects::for_shard("t", k)).collect();
        assert_eq!(shards[0].record("x"), Subjects::new("t").record("x"));
        for (k, shard) in shards.iter().enumerate() {
            assert_eq!(shard.stream(k), format!("SMSGW_t_{k}"));
            let record = shard.record("x");
            for (j, other) in shards.iter().enumerate() {
                let matched = other.stream_filters().iter().any(|filter| {
                    let filter = filter.trim_end_matches('>');
                    record.starts_with(filter) && !record[filter.len()..].contains('.')
                });
                assert_eq!(matched, j == k, "{record} in shard {j}'s stream");
            }
            assert_eq!(shard.wakes(), "t.w.>");
            assert_eq!(
                shard.wake(&Topic::Queue("c".into())),
                shards[0].wake(&Topic::Queue("c".into()))
            );
        }
    }

    #[test]
    fn namespaces_are_plain_tokens() {
        assert!(valid_namespace("smsgw-1_a"));
        for bad in ["", "a.b", "a b", "*", ">"] {
            assert!(!valid_namespace(bad), "{bad:?}");
        }
    }
}
