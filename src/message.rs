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
/// Longest store tag that goes into an id (so an id stays within 64 characters).
const MAX_TAG_IN_ID: usize = 4;

/// Issues message ids: `<site>-<node>-<boot ms, base 36>-<counter, base 36>`, and
/// `-<tag>` after that when the store names where the MT's record goes.
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
        self.next_tagged(None)
    }

    /// The next id, ending in `-<tag>` when the store asks for one (see
    /// [`crate::store::Store::id_tag`]): letters and digits, at most 4 kept.
    pub fn next_tagged(&self, tag: Option<&str>) -> MessageId {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut id = String::with_capacity(self.prefix.len() + 18);
        id.push_str(&self.prefix);
        id.push_str(&base36(n));
        if let Some(tag) = tag {
            id.push('-');
            id.extend(
                tag.chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(MAX_TAG_IN_ID),
            );
        }
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

/// Priority and state are the ones the protocols define (Genesys names, SMPP `message_state`
/// numbers): one type each, shared with the HTTP edge. What the gateway makes of them is here.
pub use smsgw_http::{MessageState, Priority};

/// Priorities, highest first: the order queues are served in.
pub const PRIORITIES_HIGHEST_FIRST: [Priority; 4] = [
    Priority::Interactive,
    Priority::InteractiveLow,
    Priority::Bulk,
    Priority::BulkLow,
];

/// Index into per-priority queues, 0 = highest.
pub fn queue_rank(priority: Priority) -> usize {
    3 - priority as usize
}

/// The SMPP priority_flag for a priority: both bulk levels are the ordinary 0 (they differ
/// only in our queues), interactive traffic 1 and 2. The inverse of [`priority_from_smpp`]
/// except that BULK_LOW reads back as BULK.
pub fn smpp_priority_flag(priority: Priority) -> u8 {
    match priority {
        Priority::BulkLow | Priority::Bulk => 0,
        Priority::InteractiveLow => 1,
        Priority::Interactive => 2,
    }
}

/// The priority of a client's submit_sm: most clients send 0, which is ordinary BULK.
pub fn priority_from_smpp(flag: u8) -> Priority {
    match flag {
        0 => Priority::Bulk,
        1 => Priority::InteractiveLow,
        _ => Priority::Interactive,
    }
}

/// The state a `message_state` number stands for; anything outside 1..=8 is UNKNOWN.
pub fn state_from_code(code: u8) -> MessageState {
    MessageState::from_code(code).unwrap_or(MessageState::Unknown)
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
    /// Whether the client was answered with its own `client_message_id` (the Genesys
    /// receiver) rather than our id (SMPP, JSON API): its receipts on binds carry that id.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub answered_with_client_id: bool,
    pub accepted_at_ms: u64,
    /// When it may be sent and until when (SMPP schedule_delivery_time and validity_period,
    /// HTTP `send_at` and `validity`).
    #[serde(default, skip_serializing_if = "Timing::is_unset")]
    pub timing: Timing,
}

/// An MT's times: when it may be sent and until when, as points in time (ms since the
/// epoch; `None` is "at once" and "until the carrier gives up"), and its DR timeout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// Not submitted to a carrier before this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at_ms: Option<u64>,
    /// Not submitted to a carrier after this: EXPIRED instead. What remains of it at submit
    /// is passed to the carrier as the validity period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until_ms: Option<u64>,
    /// The account's wait for a final receipt after the submit, when it sets one (else the
    /// connector's); 0: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dr_timeout_ms: Option<u64>,
}

impl Timing {
    pub fn is_unset(&self) -> bool {
        *self == Timing::default()
    }

    /// Whether the validity has ended at `now_ms`.
    pub fn expired_at(&self, now_ms: u64) -> bool {
        self.valid_until_ms.is_some_and(|until| until <= now_ms)
    }
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
    /// See [`Mt::answered_with_client_id`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub answered_with_client_id: bool,
}

impl Receipt {
    /// The id a client matches this receipt with on its binds: the one it was answered with
    /// when the MT was accepted (its own message_id on the Genesys receiver, else ours).
    pub fn id_on_binds(&self) -> String {
        match &self.client_message_id {
            Some(client_id) if self.answered_with_client_id => client_id.clone(),
            _ => self.message_id.to_string(),
        }
    }
}

/// A mobile-originated message for a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mo {
    pub id: String,
    pub account: String,
    pub source: String,
    pub destination: String,
    /// The whole text (every part's, in order, for a multipart MO).
    pub text: String,
    pub connector: String,
    pub received_at_ms: u64,
    /// The parts as the carrier sent them, for an MO that came in several deliver_sm (all of
    /// them once complete; one when an incomplete set is delivered part by part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segments: Option<MoSegments>,
}

/// How a multipart MO reaches an account's SMPP binds (`[accounts.x] mo_multipart`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MoMultipart {
    /// Each part in its own deliver_sm as the carrier sent it (UDH with UDHI, or SAR TLVs),
    /// one after the other on one bind, for the client to join.
    #[default]
    Parts,
    /// One deliver_sm with the whole user data in `message_payload`.
    Payload,
}

/// How a multipart MO was segmented by the handset or carrier, and its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoSegments {
    /// The data_coding every part came with (the first part's when they differ).
    pub data_coding: u8,
    pub reference: u16,
    pub total: u8,
    /// The parts came with SAR TLVs (sar_msg_ref_num ...), not with a concatenation UDH.
    #[serde(default)]
    pub sar: bool,
    /// In order of `seq`.
    pub parts: Vec<MoPart>,
}

impl MoSegments {
    /// Whether every part is here.
    pub fn complete(&self) -> bool {
        self.parts.len() == usize::from(self.total)
    }

    /// The parts' user data in order, without UDHs.
    pub fn payload(&self) -> Vec<u8> {
        self.parts
            .iter()
            .flat_map(|part| part.payload.iter().copied())
            .collect()
    }
}

/// One part of a multipart MO, as the carrier sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoPart {
    /// Its place, 1 ..= total.
    pub seq: u8,
    /// The UDH as received (length octet included); empty for a part that came with SAR TLVs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub udh: Vec<u8>,
    /// User data without the UDH.
    pub payload: Vec<u8>,
    /// Our id for this part alone (an incomplete set's part is delivered with it).
    pub id: String,
    pub received_at_ms: u64,
}

/// What a [`Timer`] makes a flow do, and to what (see `crate::lifecycle::timers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerAction {
    /// A scheduled MT is due: queue it on its connector.
    Release(MessageId),
    /// The MT's validity ended: EXPIRED if no carrier has it yet.
    Expire(MessageId),
    /// No final receipt came in time: UNKNOWN if still not final.
    DrTimeout(MessageId),
    /// A multipart MO's missing parts did not come in time: the parts that came are
    /// delivered one by one.
    MoIncomplete(IncompleteSet),
}

impl TimerAction {
    /// A name for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            TimerAction::Release(_) => "release",
            TimerAction::Expire(_) => "expire",
            TimerAction::DrTimeout(_) => "dr_timeout",
            TimerAction::MoIncomplete(_) => "mo_incomplete",
        }
    }
}

/// Which set a multipart MO's part belongs to. A reference reused with another total
/// (references wrap) is another set; the connector decides a NATS store's shard.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PartSetKey {
    pub connector: String,
    pub source: String,
    pub destination: String,
    pub reference: u16,
    pub total: u8,
}

impl PartSetKey {
    /// The key within its connector, as one string (addresses never hold a NUL).
    pub fn within_connector(&self) -> String {
        format!(
            "{}\0{}\0{}\0{}",
            self.source, self.destination, self.reference, self.total
        )
    }
}

/// A multipart MO's set that waits for its missing parts: named by its key and when it
/// began (a set completed and begun again under the same key is another set, with its own
/// timer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncompleteSet {
    pub key: PartSetKey,
    pub started_ms: u64,
}

/// A durable timer: an outbox entry of a reserved account, not taken before `due_ms`, by
/// whichever node is alive then. Timers due in the same hour share an account (see
/// [`timer_account`]), so a backend that hands entries out in the order written (NATS)
/// holds back early only timers due within the hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    pub action: TimerAction,
    pub due_ms: u64,
    /// [`timer_account`] of `due_ms`.
    pub account: String,
}

impl Timer {
    pub fn new(action: TimerAction, due_ms: u64) -> Self {
        Self {
            action,
            due_ms,
            account: timer_account(due_ms),
        }
    }
}

/// What every timer account's name starts with: no configured account can have it (the
/// configuration refuses a system_id starting with `~`).
pub const TIMER_ACCOUNT_PREFIX: &str = "~timers-";

/// The reserved account of timers due at `due_ms`: one per hour since the epoch.
pub fn timer_account(due_ms: u64) -> String {
    format!("{TIMER_ACCOUNT_PREFIX}{}", timer_hour(due_ms))
}

/// The hour (since the epoch) of a point in time, the timer accounts' unit.
pub fn timer_hour(at_ms: u64) -> u64 {
    at_ms / 3_600_000
}

/// The hour a timer account is for; `None` for any other account.
pub fn timer_account_hour(account: &str) -> Option<u64> {
    account.strip_prefix(TIMER_ACCOUNT_PREFIX)?.parse().ok()
}

/// What waits in an account's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboxItem {
    Receipt(Receipt),
    Mo(Mo),
    /// Not for a client: a time at which a flow must look at an MT again (in a reserved
    /// account's outbox, see [`Timer`]).
    Timer(Timer),
    /// Not for a client: the events of one change, for the event log (in the reserved
    /// account [`crate::event::EVENTS_ACCOUNT`]).
    Events {
        events: Vec<crate::event::Event>,
    },
}

impl OutboxItem {
    pub fn account(&self) -> &str {
        match self {
            OutboxItem::Receipt(r) => &r.account,
            OutboxItem::Mo(m) => &m.account,
            OutboxItem::Timer(t) => &t.account,
            OutboxItem::Events { .. } => crate::event::EVENTS_ACCOUNT,
        }
    }

    /// When it may be taken: a timer when it is due, anything else at once.
    pub fn due_ms(&self) -> Option<u64> {
        match self {
            OutboxItem::Timer(t) => Some(t.due_ms),
            OutboxItem::Receipt(_) | OutboxItem::Mo(_) | OutboxItem::Events { .. } => None,
        }
    }

    /// The id clients dedupe on (the same on every retry).
    pub fn delivery_id(&self) -> &str {
        match self {
            OutboxItem::Receipt(r) => r.message_id.as_str(),
            OutboxItem::Mo(m) => &m.id,
            OutboxItem::Timer(t) => match &t.action {
                TimerAction::Release(id) | TimerAction::Expire(id) | TimerAction::DrTimeout(id) => {
                    id.as_str()
                }
                TimerAction::MoIncomplete(set) => &set.key.source,
            },
            OutboxItem::Events { events } => events.first().map_or("", |e| &e.event_id),
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
        let tagged = long.next_tagged(Some("s63-and-more"));
        assert!(tagged.as_str().ends_with("-s63a"), "{tagged}");
        assert!(tagged.as_str().len() <= 64, "{tagged}");
    }

    #[test]
    fn priorities_rank_interactive_first() {
        let ranks: Vec<usize> = PRIORITIES_HIGHEST_FIRST
            .iter()
            .map(|p| queue_rank(*p))
            .collect();
        assert_eq!(ranks, [0, 1, 2, 3]);
        for priority in [
            Priority::Bulk,
            Priority::InteractiveLow,
            Priority::Interactive,
        ] {
            assert_eq!(priority_from_smpp(smpp_priority_flag(priority)), priority);
        }
        assert_eq!(
            priority_from_smpp(smpp_priority_flag(Priority::BulkLow)),
            Priority::Bulk
        );
    }

    #[test]
    fn codes_outside_the_states_read_as_unknown() {
        for code in 1..=8 {
            assert_eq!(state_from_code(code).code(), code);
        }
        assert_eq!(state_from_code(0), MessageState::Unknown);
        assert_eq!(state_from_code(42), MessageState::Unknown);
    }
}
