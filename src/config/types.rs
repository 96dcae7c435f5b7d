//! The checked configuration the gateway runs on: every default applied, every secret read,
//! every duration and address parsed.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use smsgw_smpp::encoding::ReceiptIdFormat;

/// A secret read from the file or the environment. `{:?}` prints `Secret(***)` so that
/// logging a config never leaks it; [`Secret::expose`] gives the value to the code that
/// needs it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where the gateway listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listeners {
    pub smpp: SocketAddr,
    pub smpp_tls: Option<TlsListener>,
    pub http: SocketAddr,
    pub https: Option<TlsListener>,
}

/// Login protection shared by SMPP and HTTP (see [`crate::auth`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// Failures per (client address, account) that lock the pair, the window they count in,
    /// the lock's duration (at least 30 s) and the table's bound.
    pub lockout: crate::auth::lockout::LockoutPolicy,
    /// argon2 verifications at once.
    pub verifier_threads: usize,
    /// How long a login waits for a verifier slot before it is refused as busy.
    pub verifier_wait: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            lockout: crate::auth::lockout::LockoutPolicy::default(),
            verifier_threads: crate::auth::verifier::default_threads(),
            verifier_wait: super::defaults::VERIFIER_WAIT,
        }
    }
}

/// A TLS listener; `cert` and `key` are PEM files that existed when the config was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListener {
    pub address: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The shared state's backend (see ARCHITECTURE.md, "Store trait").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// A redb file; single node.
    Embedded { path: PathBuf },
    /// Redis 6.2+ shared by all nodes and sites.
    Redis {
        /// May hold a password (`redis://:pw@host`), hence secret. With `sentinel`, only its
        /// user, password and database are used (empty: none).
        url: Secret,
        /// Sentinels that name the primary; `None` for one fixed Redis at `url`.
        sentinel: Option<RedisSentinel>,
        /// Replicas that must acknowledge a write (`WAIT`) before it counts as durable.
        wait_replicas: u32,
        key_prefix: String,
        /// How long work a node took stays its own; a node that died without finishing it
        /// leaves it to others after this. Keep it well above the carriers' response timeout.
        lease: Duration,
    },
}

/// Redis Sentinels watching the store's primary: the store asks them where the primary is,
/// and again after a failover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSentinel {
    /// `host:port`, or `redis://[:password@]host:port` for Sentinels that ask for a password.
    pub addresses: Vec<Secret>,
    /// The name the Sentinels monitor the primary under.
    pub master_name: String,
}

/// The carrier simulator the gateway must start itself (the no-config default, or
/// `[simulator] enabled = true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulatorSettings {
    pub listen: SocketAddr,
    /// Delay between submit_sm_resp and the DR.
    pub dr_delay: Duration,
}

/// A client of the gateway: an SMPP system_id and an HTTP login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub system_id: String,
    /// argon2id PHC string; check with [`crate::credentials::CredentialCache::verify`].
    pub password_hash: String,
    pub http_login: String,
    /// Empty = any sender.
    pub allowed_senders: Vec<NumberPattern>,
    /// Numbers whose MO belong to this account.
    pub mo_numbers: Vec<NumberPattern>,
    /// MT per second; `None` = unlimited.
    pub throughput: Option<u32>,
    pub max_binds: u32,
    pub push: Option<PushConfig>,
    /// How long an undelivered DR/MO waits in the outbox before it expires.
    pub outbox_ttl: Duration,
    /// Longest MT accepted, in SMS parts (longer -> Genesys result_code 8).
    pub max_segments: u8,
    /// How long a client message_id / Idempotency-Key is remembered.
    pub idempotency_ttl: Duration,
}

impl Account {
    /// True when this account may send with `sender` as source address.
    pub fn sender_allowed(&self, sender: &str) -> bool {
        self.allowed_senders.is_empty()
            || self
                .allowed_senders
                .iter()
                .any(|pattern| pattern.matches(sender))
    }
}

/// A number, short code or alphanumeric sender, exactly (`"44123"`) or as a prefix
/// (`"44*"`; `"*"` alone matches everything).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NumberPattern {
    Exact(String),
    Prefix(String),
}

impl NumberPattern {
    /// Reads `"447700*"` as a prefix and anything else as an exact value.
    pub fn parse(text: &str) -> Self {
        match text.strip_suffix('*') {
            Some(prefix) => Self::Prefix(prefix.to_owned()),
            None => Self::Exact(text.to_owned()),
        }
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(exact) => value == exact,
            Self::Prefix(prefix) => value.starts_with(prefix.as_str()),
        }
    }
}

/// HTTP push of DR/MO to the account's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConfig {
    pub url: String,
    pub format: PushFormat,
    /// Standard Webhooks secret (`whsec_...` base64) for signing JSON pushes.
    pub signing_secret: Option<Secret>,
}

/// Body of a push: Genesys form fields, or JSON (optionally signed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushFormat {
    Form,
    Json,
}

/// An upstream carrier: SMPP binds to one or more SMSC endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    pub name: String,
    /// `host:port` strings; hosts are resolved when binding, not at load.
    pub endpoints: Vec<String>,
    /// Binds per endpoint.
    pub binds: u32,
    pub system_id: String,
    /// Plain password, as SMPP sends it.
    pub password: Secret,
    pub system_type: String,
    /// How this carrier writes its message ids in receipts compared with `submit_sm_resp`.
    pub receipt_id_format: ReceiptIdFormat,
    /// Outstanding submit_sm per bind.
    pub window: u32,
    /// MT per second for the whole connector; `None` = unlimited.
    pub throughput: Option<u32>,
    pub tls: Option<ConnectorTls>,
    pub source_ton: Numbering,
    pub source_npi: Numbering,
    pub dest_ton: Numbering,
    pub dest_npi: Numbering,
    pub enquire_link_interval: Duration,
    pub response_timeout: Duration,
    /// Never below 30 s (carriers block clients that rebind in a loop).
    pub rebind_delay: Duration,
    /// After this long with no bind up, queued MTs move to the next connector of their route.
    pub fallback_after: Duration,
}

impl Connector {
    /// `(ton, npi)` for a source address: `auto` gives 5/0 (alphanumeric) for a sender
    /// with any non-digit and 1/1 (international, E.164) for an all-digit one.
    pub fn source_ton_npi(&self, sender: &str) -> (u8, u8) {
        let numeric = is_numeric_address(sender);
        let ton = self.source_ton.resolve(if numeric { 1 } else { 5 });
        let npi = self.source_npi.resolve(if numeric { 1 } else { 0 });
        (ton, npi)
    }

    /// `(ton, npi)` for a destination: `auto` gives 1/1 (international, E.164).
    pub fn dest_ton_npi(&self) -> (u8, u8) {
        (self.dest_ton.resolve(1), self.dest_npi.resolve(1))
    }
}

fn is_numeric_address(address: &str) -> bool {
    let digits = address.strip_prefix('+').unwrap_or(address);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A TON or NPI: chosen from the address (`auto`) or fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    Auto,
    Fixed(u8),
}

impl Numbering {
    fn resolve(self, auto: u8) -> u8 {
        match self {
            Self::Auto => auto,
            Self::Fixed(value) => value,
        }
    }
}

/// TLS to a carrier; `ca` is a PEM bundle trusted instead of the system's roots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorTls {
    pub ca: Option<PathBuf>,
}

/// Destinations starting with `prefix` (empty = all) go to `connectors`, first one first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Digits; `""` when the file says `"*"`.
    pub prefix: String,
    /// Only for MTs whose client named this carrier.
    pub carrier: Option<String>,
    /// Only for this account's MTs.
    pub account: Option<String>,
    pub connectors: Vec<String>,
}
