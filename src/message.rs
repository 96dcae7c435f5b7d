//! Domain types: message ids, MTs, their parts and states, and what goes back to clients
//! (delivery receipts and MOs).

use std::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

/// Our id for an MT. Carries the site and node that accepted it; unique without coordination
/// (node boot time plus a counter) and at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub String);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl MessageId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Longest site or node name that goes into an id.
const MAX_NAME_IN_ID: usize = 16;

/// Issues message ids: `<site>-<node>-<boot ms, base 36>-<counter, base 36>`.
#[derive(Debug)]
pub struct IdGenerator {
    prefix: String,
    counter: AtomicU64,
}

impl IdGenerator {
    /// A generator for this node; ids stay unique across restarts because each start has a
    /// different boot millisecond.
    pub fn new(site: &str, node: &str) -> Self {
        let boot_ms = now_ms();
        Self {
            prefix: format!("{}-{}-{}-", id_safe(site), id_safe(node), base36(boot_ms)),
            counter: AtomicU64::new(0),
        }
    }

    pub fn next(&self) -> MessageId {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut id = String::with_capacity(self.prefix.len() + 13);
        id.push_str(&self.prefix);
        id.push_str(&base36(n));
        MessageId(id)
    }
}

/// Keeps `[A-Za-z0-9_]` of a name (ids travel in SMPP C-strings and URLs), at most 16.
fn id_safe(name: &str) -> String {
    let kept: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(MAX_NAME_IN_ID)
        .collect();
    if kept.is_empty() {
        "x".to_owned()
    } else {
        kept
    }
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::with_capacity(13);
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Queue priority, Genesys names. Higher goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Priority {
    BulkLow,
    Bulk,
    InteractiveLow,
    Interactive,
}

impl Priority {
    /// All priorities, highest first (the order queues are served in).
    pub const HIGHEST_FIRST: [Priority; 4] = [
        Priority::Interactive,
        Priority::InteractiveLow,
        Priority::Bulk,
        Priority::BulkLow,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "BULK_LOW" => Some(Priority::BulkLow),
            "BULK" => Some(Priority::Bulk),
            "INTERACTIVE_LOW" => Some(Priority::InteractiveLow),
            "INTERACTIVE" => Some(Priority::Interactive),
            _ => None,
        }
    }

    /// The Genesys name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::BulkLow => "BULK_LOW",
            Priority::Bulk => "BULK",
            Priority::InteractiveLow => "INTERACTIVE_LOW",
            Priority::Interactive => "INTERACTIVE",
        }
    }

    /// Index into per-priority queues, 0 = highest.
    pub fn rank(self) -> usize {
        3 - self as usize
    }

    /// The SMPP priority_flag for this priority: both bulk levels are the ordinary 0 (they
    /// differ only in our queues), interactive traffic 1 and 2. The inverse of
    /// [`Priority::from_smpp_priority_flag`] except that BULK_LOW reads back as BULK.
    pub fn smpp_priority_flag(self) -> u8 {
        match self {
            Priority::BulkLow | Priority::Bulk => 0,
            Priority::InteractiveLow => 1,
            Priority::Interactive => 2,
        }
    }

    /// The priority of a client's submit_sm: most clients send 0, which is ordinary BULK.
    pub fn from_smpp_priority_flag(flag: u8) -> Self {
        match flag {
            0 => Priority::Bulk,
            1 => Priority::InteractiveLow,
            _ => Priority::Interactive,
        }
    }
}

/// Message states as Genesys and SMPP number them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageState {
    Enroute = 1,
    Delivered = 2,
    Expired = 3,
    Deleted = 4,
    Undeliverable = 5,
    Accepted = 6,
    Unknown = 7,
    Rejected = 8,
}

impl MessageState {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Self {
        match code {
            1 => MessageState::Enroute,
            2 => MessageState::Delivered,
            3 => MessageState::Expired,
            4 => MessageState::Deleted,
            5 => MessageState::Undeliverable,
            6 => MessageState::Accepted,
            8 => MessageState::Rejected,
            _ => MessageState::Unknown,
        }
    }

    /// Whether no later receipt can change it (SMPP's final states; UNKNOWN is one).
    pub fn is_final(self) -> bool {
        !matches!(self, MessageState::Enroute | MessageState::Accepted)
    }

    /// How bad a final state is, for the worst-of rule across the parts of one message:
    /// a failed part is never overwritten by a later success.
    pub fn severity(self) -> u8 {
        match self {
            MessageState::Delivered => 0,
            MessageState::Enroute | MessageState::Accepted => 1,
            MessageState::Unknown => 2,
            MessageState::Deleted => 3,
            MessageState::Expired => 4,
            MessageState::Undeliverable => 5,
            MessageState::Rejected => 6,
        }
    }
}

/// Where an MT came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interface {
    Http,
    Smpp,
}

impl Interface {
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Http => "http",
            Interface::Smpp => "smpp",
        }
    }
}

/// What the carrier gets: text we segment, or one SMPP PDU's content passed through as-is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    Text(String),
    /// A submit_sm from a client: its body and coding travel unchanged (UDH and SAR
    /// included), one PDU in, one PDU out.
    Pdu {
        data_coding: u8,
        esm_class: u8,
        short_message: Vec<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_payload: Option<Vec<u8>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sar: Option<(u16, u8, u8)>,
    },
}

/// A mobile-terminated message as accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mt {
    pub id: MessageId,
    pub account: String,
    /// The client's id (Genesys message_id or Idempotency-Key), unique per account.
    pub client_message_id: Option<String>,
    pub source: String,
    pub destination: String,
    pub payload: Payload,
    pub priority: Priority,
    pub receipt: bool,
    pub app_id: Option<String>,
    pub conversation_id: Option<String>,
    pub carrier: Option<String>,
    /// Connectors in fallback order, from the route.
    pub connectors: Vec<String>,
    /// Parts the carrier will get.
    pub parts: u8,
    pub interface: Interface,
    pub accepted_at_ms: u64,
}

/// A delivery receipt as the carrier reported it, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierReceipt {
    pub carrier_id: String,
    pub state: MessageState,
    /// The carrier's `err:` value.
    pub error: String,
    pub at_ms: u64,
}

/// A delivery receipt for a client: the final state of one client message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub message_id: MessageId,
    pub client_message_id: Option<String>,
    pub account: String,
    pub state: MessageState,
    /// The carrier's error, or ours ("rejected by carrier") for a refused submit.
    pub error: String,
    /// Genesys result_code: 0 when delivered, 1 otherwise.
    pub result_code: u8,
    /// The MT's addresses: a receipt travels from the MT's destination to its source.
    pub source: String,
    pub destination: String,
    pub submitted_at_ms: u64,
    pub done_at_ms: u64,
    pub app_id: Option<String>,
    pub conversation_id: Option<String>,
    /// The first characters of the text, for the DR text's `text:` field.
    pub text_start: String,
}

/// A mobile-originated message for a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mo {
    pub id: String,
    pub account: String,
    pub source: String,
    pub destination: String,
    pub text: String,
    pub connector: String,
    pub received_at_ms: u64,
}

/// What waits in an account's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboxItem {
    Receipt(Receipt),
    Mo(Mo),
}

impl OutboxItem {
    pub fn account(&self) -> &str {
        match self {
            OutboxItem::Receipt(r) => &r.account,
            OutboxItem::Mo(m) => &m.account,
        }
    }

    /// The id clients dedupe on (the same on every retry).
    pub fn delivery_id(&self) -> &str {
        match self {
            OutboxItem::Receipt(r) => r.message_id.as_str(),
            OutboxItem::Mo(m) => &m.id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_short_and_carry_site_and_node() {
        let ids = IdGenerator::new("site-a", "node/1");
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("sitea-node1-"), "{a}");
        let long = IdGenerator::new(&"s".repeat(100), &"n".repeat(100));
        for _ in 0..1000 {
            long.next();
        }
        assert!(long.next().as_str().len() <= 64);
    }

    #[test]
    fn priorities_rank_interactive_first() {
        let ranks: Vec<usize> = Priority::HIGHEST_FIRST.iter().map(|p| p.rank()).collect();
        assert_eq!(ranks, [0, 1, 2, 3]);
        assert_eq!(
            Priority::parse("interactive_low"),
            Some(Priority::InteractiveLow)
        );
        assert_eq!(Priority::parse("URGENT"), None);
        for priority in [
            Priority::Bulk,
            Priority::InteractiveLow,
            Priority::Interactive,
        ] {
            let flag = priority.smpp_priority_flag();
            assert_eq!(Priority::from_smpp_priority_flag(flag), priority);
        }
    }

    #[test]
    fn a_failed_part_outranks_a_delivered_one() {
        assert!(MessageState::Undeliverable.severity() > MessageState::Delivered.severity());
        assert!(MessageState::Rejected.is_final() && !MessageState::Enroute.is_final());
        for code in 1..=8 {
            assert_eq!(MessageState::from_code(code).code(), code);
        }
        assert_eq!(MessageState::from_code(42), MessageState::Unknown);
    }
}
