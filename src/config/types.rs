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

/// Where the gateway listens, and what it takes from and allows its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listeners {
    pub smpp: SocketAddr,
    pub smpp_tls: Option<TlsListener>,
    pub http: SocketAddr,
    pub https: Option<TlsListener>,
    pub edge: EdgeSettings,
}

/// The operators' listener (`[admin]`): `/metrics`, `/cluster` and the admin API, apart
/// from the public ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    pub listen: SocketAddr,
    /// Certificate and key when the listener speaks HTTPS.
    pub tls: Option<AdminTls>,
    /// Who may log in (HTTP Basic). None: reads are open (on loopback only), admin refused.
    pub users: Vec<AdminUser>,
}

/// The admin listener's certificate and private key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One `[[admin.users]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminUser {
    pub name: String,
    /// argon2id PHC string, as accounts have.
    pub password_hash: String,
    pub role: AdminRole,
}

/// What an admin user may do; a higher role may do all a lower one may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AdminRole {
    /// GET the operations endpoints (`/metrics`, `/cluster`, ...).
    Read,
    /// Also the admin API (changes at run time).
    Admin,
}

impl AdminRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Read => "read",
            AdminRole::Admin => "admin",
        }
    }
}

/// The listeners' defences and how they learn the client's address (see
/// `deploy/smsgw.example.toml`, `[listeners]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeSettings {
    /// Balancers allowed to name the client (PROXY header, X-Forwarded-For).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Listeners whose trusted peers send a PROXY protocol header first.
    pub proxy_protocol: ProxyProtocolOn,
    /// HTTP(S): from a trusted proxy, the client is the right-most untrusted X-Forwarded-For.
    pub x_forwarded_for: bool,
    /// Open connections per HTTP listener, and for the SMPP listeners together.
    pub max_connections: u32,
    /// Connections per client address not yet bound (SMPP) or past a first request (HTTP).
    pub max_unauthenticated_per_address: u32,
    /// For the PROXY header, HTTP's TLS handshake and request headers, HTTP keep-alive idle.
    pub header_read_timeout: Duration,
    /// For an HTTP request's whole body.
    pub body_read_timeout: Duration,
}

/// Which listeners expect the PROXY protocol from trusted proxies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyProtocolOn {
    pub smpp: bool,
    pub smpp_tls: bool,
    pub http: bool,
    pub https: bool,
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
        /// scheme (`rediss://`: TLS to the primary), user, password and database are used
        /// (empty: none).
        url: Secret,
        /// Sentinels that name the primary; `None` for one fixed Redis at `url`.
        sentinel: Option<RedisSentinel>,
        /// Replicas that must acknowledge a write (`WAIT`) before it counts as durable.
        wait_replicas: u32,
        key_prefix: String,
        /// How long work a node took stays its own; a node that died without finishing it
        /// leaves it to others after this. Keep it well above the carriers' response timeout.
        lease: Duration,
        /// Certificates for the `rediss://` connections.
        tls: StoreTls,
    },
    /// A NATS JetStream cluster (nats-server >= 2.12) over three sites: every acknowledged
    /// write is committed by a majority of its stream's replicas.
    Nats {
        /// `nats://host:port` or `tls://host:port`; any one of them is enough to find the
        /// cluster, more let a node start while one is down.
        servers: Vec<String>,
        /// Prefix of the subjects and name of the streams (several deployments may share a
        /// cluster).
        namespace: String,
        /// Copies of each stream (3: one per site; 1 for a single server).
        replicas: u32,
        /// Streams (shards) the work is spread over, each with its own leader.
        shards: u32,
        /// Connectors placed on a shard of the operator's choice (else by their name).
        pinned: std::collections::BTreeMap<String, u32>,
        /// As for Redis: how long taken work stays a node's own.
        lease: Duration,
        /// User and password the servers ask for; `None`: no credentials.
        credentials: Option<(String, Secret)>,
        /// Certificates for `tls://` servers.
        tls: StoreTls,
    },
}

impl StoreConfig {
    /// How long taken work stays a node's own, for the shared stores.
    pub fn lease(&self) -> Option<Duration> {
        match self {
            StoreConfig::Embedded { .. } => None,
            StoreConfig::Redis { lease, .. } | StoreConfig::Nats { lease, .. } => Some(*lease),
        }
    }
}

/// Certificate files for a shared store's TLS connections (`rediss://` Redis and Sentinels,
/// `tls://` NATS servers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreTls {
    /// PEM certificates of the CA that signed the servers' certificates; `None`: the system's
    /// roots.
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain and private key, for servers that verify clients.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Redis Sentinels watching the store's primary: the store asks them where the primary is,
/// and again after a failover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSentinel {
    /// `host:port`, or `redis[s]://[[user]:password@]host:port` for Sentinels that ask for a
    /// password or speak TLS (all with the same user, password and scheme).
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
    pub push: Option<AccountPush>,
    /// How long an undelivered DR/MO waits in the outbox before it expires.
    pub outbox_ttl: Duration,
    /// Longest MT accepted, in SMS parts (longer -> Genesys result_code 8).
    pub max_segments: u8,
    /// How long a client message_id / Idempotency-Key is remembered.
    pub idempotency_ttl: Duration,
    /// deliver_sm (DR/MO) we send on one of its binds and await the response of, at once.
    pub window: u32,
    /// submit_sm of one of its binds in hand at once; past it the bind reads slower (TCP
    /// backpressure), it is not refused.
    pub inbound_window: u32,
    /// Opt-out keywords in MOs and the refusal of MTs to opted-out numbers.
    pub opt_out: OptOutConfig,
    /// The validity of an MT that does not set one; `None`: until the carrier gives up.
    pub validity: Option<Duration>,
    /// How long after the submit an MT that asked for a receipt waits for a final one
    /// before it is UNKNOWN; `None`: the connector's `dr_timeout`; zero: never ("off").
    pub dr_timeout: Option<Duration>,
    /// How a multipart MO reaches the account's binds (a push always has the whole text).
    pub mo_multipart: crate::message::MoMultipart,
}

/// `[accounts.opt_out]`: what an MO's keyword does and what is answered (see `crate::optout`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OptOutConfig {
    /// Off: MOs are only delivered, MTs never refused for an opt-out.
    pub enabled: bool,
    pub scope: OptOutScope,
    /// Keywords as configured (or the defaults); matched trimmed and case-insensitively.
    pub stop: Vec<String>,
    pub start: Vec<String>,
    pub help: Vec<String>,
    /// Auto-replies, sent as an MT from the number the MO was sent to; `None`: no reply.
    pub stop_reply: Option<String>,
    pub start_reply: Option<String>,
    pub help_reply: Option<String>,
}

/// What a STOP opts the handset out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OptOutScope {
    /// Every MT of the account to that number.
    #[default]
    Account,
    /// MTs from the number the STOP was sent to only.
    Sender,
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

/// HTTP push of DR/MO to the account's URL. `{:?}` masks the URL's credentials and query
/// values (a URL may carry `user:password@` or `?token=`).
#[derive(Clone, PartialEq, Eq)]
pub struct AccountPush {
    pub url: String,
    pub format: PushFormat,
    /// Standard Webhooks secret (`whsec_...` base64) for signing JSON pushes.
    pub signing_secret: Option<Secret>,
    /// Requests in flight to the URL at most.
    pub concurrency: u32,
    /// Idle connections kept alive for the next pushes.
    pub max_idle_connections: u32,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// Longest wait for a whole push, until the status line.
    pub timeout: Duration,
    /// Longest wait for the TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Networks pushes may reach although they are loopback, private, link-local...: the
    /// account's `allow_private_targets` and the global `[push]` ones.
    pub allow_private_targets: Vec<ipnet::IpNet>,
}

impl fmt::Debug for AccountPush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountPush")
            .field("url", &smsgw_http::redact_url(&self.url))
            .field("format", &self.format)
            .field("signing_secret", &self.signing_secret)
            .field("concurrency", &self.concurrency)
            .field("max_idle_connections", &self.max_idle_connections)
            .field("idle_timeout", &self.idle_timeout)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("allow_private_targets", &self.allow_private_targets)
            .finish()
    }
}

/// Body of a push: Genesys form fields, or JSON (optionally signed).
pub use smsgw_http::PushFormat;

/// An upstream carrier: SMPP binds to one or more SMSC endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
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
    /// The carrier's deliver_sm (DR/MO) per bind in hand at once; past it the bind reads
    /// slower (TCP backpressure), it is not refused.
    pub inbound_window: u32,
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
    /// How long after the submit an MT that asked for a receipt waits for a final one
    /// before it is UNKNOWN (an account's own `dr_timeout` wins); zero: never ("off").
    pub dr_timeout: Duration,
    /// How long a multipart MO's incomplete set waits for its missing parts, before its
    /// parts are delivered one by one.
    pub mo_multipart_timeout: Duration,
}

impl ConnectorConfig {
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
