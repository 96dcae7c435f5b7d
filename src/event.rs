//! Domain: an event of the event log (a CDR line), one per state change of an MT, a part, a
//! receipt or an MO, for billing and reporting; and the filter that says which are kept.
//!
//! Flows describe events in the [`crate::store::Change`] that makes the state change
//! ([`crate::store::Change::event`]), so an event is durable exactly when its state is; the
//! store keeps the events of one change as one entry of the reserved account
//! [`EVENTS_ACCOUNT`]'s outbox, and each node's event logger (`crate::event_log`) drains it to
//! the sinks.

use std::{
    collections::{hash_map::RandomState, HashSet},
    hash::{BuildHasher, Hasher},
    sync::atomic::{AtomicU64, Ordering},
    sync::OnceLock,
};

use serde::{Deserialize, Serialize};
use smsgw_smpp::encoding::{choose_smallest_encoding, DEFAULT_PREFERENCE};

use crate::message::{now_ms, Interface, MessageState, Mo, Mt, OutboxItem, Payload};

/// The reserved outbox account events wait in until a logger has written them (a system_id
/// cannot start with `~`, so no client account collides with it).
pub const EVENTS_ACCOUNT: &str = "~events";

/// What happened. The names are the `kind` column of every sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An MT stored (acknowledged to its client).
    Accepted,
    /// An MT refused at the door (after login): the code says why.
    Refused,
    /// A part sent to a carrier, with the carrier's id.
    Submitted,
    /// A carrier refused the submit for good (the MT ends REJECTED).
    Rejected,
    /// A carrier's receipt for a part (every one, final or not).
    Receipt,
    /// The MT reached its final state (the client receipt's state).
    Final,
    /// Its validity ended while still queued.
    Expired,
    /// Cancelled by its client while queued.
    Cancelled,
    /// Its body replaced by its client while queued.
    Replaced,
    /// No final receipt within the DR timeout: the MT ends UNKNOWN.
    DrTimeout,
    /// An MO from a carrier (a whole multipart MO is one).
    Mo,
    /// A receipt or an MO handed to the client (its bind answered OK, or its push URL 2xx).
    Delivered,
    /// A receipt or an MO given up on after the account's outbox TTL.
    DeliveryExpired,
    /// A change of the runtime configuration (who, what).
    Audit,
}

impl EventKind {
    pub const ALL: [EventKind; 14] = [
        EventKind::Accepted,
        EventKind::Refused,
        EventKind::Submitted,
        EventKind::Rejected,
        EventKind::Receipt,
        EventKind::Final,
        EventKind::Expired,
        EventKind::Cancelled,
        EventKind::Replaced,
        EventKind::DrTimeout,
        EventKind::Mo,
        EventKind::Delivered,
        EventKind::DeliveryExpired,
        EventKind::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Accepted => "accepted",
            EventKind::Refused => "refused",
            EventKind::Submitted => "submitted",
            EventKind::Rejected => "rejected",
            EventKind::Receipt => "receipt",
            EventKind::Final => "final",
            EventKind::Expired => "expired",
            EventKind::Cancelled => "cancelled",
            EventKind::Replaced => "replaced",
            EventKind::DrTimeout => "dr_timeout",
            EventKind::Mo => "mo",
            EventKind::Delivered => "delivered",
            EventKind::DeliveryExpired => "delivery_expired",
            EventKind::Audit => "audit",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// One event. Fields that do not apply to a kind are absent (NULL in PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique, and the same on every retry of the batch that carries it: sinks dedupe on it.
    pub event_id: String,
    pub kind: EventKind,
    pub at_ms: u64,
    pub account: String,
    /// Ours: an MT's id, or an MO's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The client's own id for its MT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_message_id: Option<String>,
    /// The carrier's id for a part (or its MO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<Interface>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// Which part (1-based), for a part's event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u8>,
    /// How many parts the MT (or MO) is: what an account is billed by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u8>,
    /// SMPP data_coding of the text (0 GSM 7-bit, 3 Latin-1, 8 UCS-2, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_coding: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<MessageState>,
    /// A machine-readable reason: a refusal's, a carrier's error code, a delivery's channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// In words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Event {
    /// A bare event of `kind` for `account`, now, with a fresh id.
    pub fn new(kind: EventKind, account: &str) -> Self {
        Self {
            event_id: next_event_id(),
            kind,
            at_ms: now_ms(),
            account: account.to_owned(),
            message_id: None,
            client_message_id: None,
            carrier_id: None,
            interface: None,
            connector: None,
            source: None,
            destination: None,
            part: None,
            parts: None,
            data_coding: None,
            state: None,
            code: None,
            detail: None,
        }
    }

    /// An event of an MT: its ids, addresses, interface, parts and coding.
    pub fn of_mt(kind: EventKind, mt: &Mt) -> Self {
        Self {
            message_id: Some(mt.id.0.clone()),
            client_message_id: mt.client_message_id.clone(),
            interface: Some(mt.interface),
            connector: mt.connectors.first().cloned(),
            source: Some(mt.source.clone()),
            destination: Some(mt.destination.clone()),
            parts: Some(mt.parts.max(1)),
            data_coding: data_coding(&mt.payload),
            ..Self::new(kind, &mt.account)
        }
    }

    /// The event of an MO from a carrier.
    pub fn of_mo(kind: EventKind, mo: &Mo) -> Self {
        Self {
            message_id: Some(mo.id.clone()),
            connector: Some(mo.connector.clone()),
            source: Some(mo.source.clone()),
            destination: Some(mo.destination.clone()),
            parts: Some(
                mo.segments
                    .as_ref()
                    .map_or(1, |segments| segments.parts.len().max(1) as u8),
            ),
            data_coding: mo.segments.as_ref().map(|segments| segments.data_coding),
            ..Self::new(kind, &mo.account)
        }
    }

    /// The event of a receipt or an MO handed to a client (or given up on) over `channel`:
    /// `code` says which it was; `None` for what is not a client's (timers, events).
    pub fn of_delivery(kind: EventKind, item: &OutboxItem, channel: Interface) -> Option<Self> {
        let event = match item {
            OutboxItem::Receipt(receipt) => Self {
                message_id: Some(receipt.message_id.0.clone()),
                client_message_id: receipt.client_message_id.clone(),
                source: Some(receipt.source.clone()),
                destination: Some(receipt.destination.clone()),
                state: Some(receipt.state),
                ..Self::new(kind, &receipt.account)
            }
            .with_reason("receipt", ""),
            OutboxItem::Mo(mo) => Self::of_mo(kind, mo).with_reason("mo", ""),
            OutboxItem::Timer(_) | OutboxItem::Events { .. } => return None,
        };
        Some(Self {
            interface: Some(channel),
            ..event
        })
    }

    /// An `audit` event: a change of the runtime configuration. `account` is the account the
    /// change concerns (empty for a connector or a route), `action` what was done (e.g.
    /// `account.add`), `detail` who did it and to what, in words.
    pub fn audit(account: &str, action: &str, detail: &str) -> Self {
        Self::new(EventKind::Audit, account).with_reason(action, detail)
    }

    pub fn with_state(mut self, state: MessageState) -> Self {
        self.state = Some(state);
        self
    }

    pub fn with_connector(mut self, connector: Option<&str>) -> Self {
        if let Some(connector) = connector {
            self.connector = Some(connector.to_owned());
        }
        self
    }

    /// The part (0-based in, 1-based out, as clients count) and its carrier id.
    pub fn with_part(mut self, index: usize, carrier_id: Option<&str>) -> Self {
        self.part = Some((index + 1).min(usize::from(u8::MAX)) as u8);
        self.carrier_id = carrier_id.map(str::to_owned);
        self
    }

    /// A reason: `code` for machines, `detail` in words (either may be empty: left out).
    pub fn with_reason(mut self, code: &str, detail: &str) -> Self {
        self.code = (!code.is_empty()).then(|| code.to_owned());
        self.detail = (!detail.is_empty()).then(|| detail.to_owned());
        self
    }
}

/// The data_coding an MT goes out with: a client's PDU's own, or the one its text is
/// segmented in.
fn data_coding(payload: &Payload) -> Option<u8> {
    match payload {
        Payload::Pdu { data_coding, .. } => Some(*data_coding),
        Payload::Text(text) => choose_smallest_encoding(text, &DEFAULT_PREFERENCE)
            .ok()
            .map(|encoding| encoding.data_coding()),
    }
}

/// `ev-<process start, base 36>-<random>-<counter>`: unique without coordination (two nodes
/// started in the same millisecond still differ by the random part).
fn next_event_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        // RandomState is seeded from the OS's randomness.
        let random = RandomState::new().build_hasher().finish() as u32;
        format!("ev-{:x}-{random:08x}-", now_ms())
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{n:x}")
}

/// Which events are kept: by kind and by account; `None` keeps every one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub kinds: Option<HashSet<EventKind>>,
    pub accounts: Option<HashSet<String>>,
}

impl EventFilter {
    /// Keeps every event.
    pub fn all() -> Self {
        Self::default()
    }

    pub fn keeps(&self, event: &Event) -> bool {
        self.may_keep(event.kind, &event.account)
    }

    /// Whether an event of `kind` for `account` would be kept (before building it).
    pub fn may_keep(&self, kind: EventKind, account: &str) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&kind))
            && self.accounts.as_ref().is_none_or(|a| a.contains(account))
    }

    /// Keeps what any of `filters` keeps.
    pub fn union<'a>(filters: impl IntoIterator<Item = &'a EventFilter>) -> Self {
        fn merge<T: Clone + Eq + std::hash::Hash>(
            sets: impl Iterator<Item = Option<HashSet<T>>>,
        ) -> Option<HashSet<T>> {
            let mut all = HashSet::new();
            for set in sets {
                all.extend(set?);
            }
            Some(all)
        }
        let filters: Vec<&EventFilter> = filters.into_iter().collect();
        Self {
            kinds: merge(filters.iter().map(|f| f.kinds.clone())),
            accounts: merge(filters.iter().map(|f| f.accounts.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn event_ids_differ() {
        let a = Event::new(EventKind::Accepted, "a");
        let b = Event::new(EventKind::Accepted, "a");
        assert_ne!(a.event_id, b.event_id);
    }

    #[test]
    fn a_union_keeps_what_any_filter_keeps() {
        let only = |kind| EventFilter {
            kinds: Some([kind].into()),
            accounts: Some(["acme".to_owned()].into()),
        };
        let union = EventFilter::union([&only(EventKind::Final), &only(EventKind::Mo)]);
        let mut event = Event::new(EventKind::Mo, "acme");
        assert!(union.keeps(&event));
        event.kind = EventKind::Accepted;
        assert!(!union.keeps(&event));
        let everything = EventFilter::union([&only(EventKind::Final), &EventFilter::all()]);
        assert!(everything.keeps(&event));
        assert!(
            !EventFilter::union([]).keeps(&event),
            "no sink keeps nothing"
        );
    }
}
