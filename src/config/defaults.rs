//! The documented defaults (ARCHITECTURE.md, "Default behaviour"): every value a config
//! file may leave out, and the whole configuration of `smsgw serve` without a file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use smsgw_smpp::encoding::ReceiptIdFormat;

use super::types::{
    Account, AdminSettings, ConnectorConfig, EdgeSettings, Listeners, NumberPattern, Numbering,
    ProxyProtocolOn, Route, Secret, SimulatorSettings, StoreConfig,
};
use super::Config;
use crate::credentials::hash_password;

pub const SITE: &str = "local";
pub const FALLBACK_NODE_ID: &str = "node1";
pub const DATA_DIR: &str = "./smsgw-data";
pub const EMBEDDED_FILE: &str = "smsgw.redb";
pub const SMPP_LISTENER: &str = "127.0.0.1:2775";
pub const HTTP_LISTENER: &str = "127.0.0.1:8080";
/// Loopback: with no `[[admin.users]]` its reads are open, to this host only.
pub const ADMIN_LISTENER: &str = "127.0.0.1:8090";
pub const REDIS_KEY_PREFIX: &str = "smsgw:";

pub const MAX_BINDS: u32 = 10;
pub const MAX_SEGMENTS: u8 = 10;
pub const OUTBOX_TTL: Duration = Duration::from_secs(72 * 3600);
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);
/// A connector's wait for a final receipt: carriers keep trying a message for 24 to 72 hours
/// (their own validity) and report by then; 48 hours leaves MTs ENROUTE no longer than that.
pub const DR_TIMEOUT: Duration = Duration::from_secs(48 * 3600);
/// The shortest `validity` and `dr_timeout` a configuration may set.
pub const MIN_LIFETIME: Duration = Duration::from_secs(1);
/// See `upstream::mo_parts::DEFAULT_INCOMPLETE_TIMEOUT` for why 30 minutes.
pub const MO_MULTIPART_TIMEOUT: Duration = crate::upstream::mo_parts::DEFAULT_INCOMPLETE_TIMEOUT;

/// Pushes in flight per account. Measured against SMPP binds (4 binds x window 64, 256
/// deliver_sm in flight): 16 reached 53-56 % of their receipts per second, 64 reached 72 %,
/// 128 82 % (the worker holds twice this many entries, as many as those binds). Still modest
/// for an application's web server; lower it for a receiver that cannot take more.
pub const PUSH_CONCURRENCY: u32 = 128;
/// reqwest's default: connections are reused across pauses between bursts; one the receiver
/// closed meanwhile is replaced without losing the push (it is retried like any failure).
pub const PUSH_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(15);
pub const PUSH_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub const CONNECTOR_BINDS: u32 = 1;
/// submit_sm in flight per carrier bind: SMSC contracts state windows of 10 to 100; past the
/// carrier's window it answers ESME_RTHROTTLED and the connector backs off.
pub const CONNECTOR_WINDOW: u32 = 64;
/// The carrier's deliver_sm being stored at once per bind: above the windows SMSCs commonly
/// keep (10 to 100), so one that honours its window never waits on us; one that does not
/// is slowed down by TCP, not refused.
pub const CONNECTOR_INBOUND_WINDOW: u32 = 128;
/// deliver_sm in flight per client bind: as many as Kannel's default `max-pending-submits`
/// (10) many times over, bounded so a client that stops answering ties up little.
pub const ACCOUNT_WINDOW: u32 = 64;
/// A client bind's submit_sm in hand at once: above what ESMEs keep outstanding (Kannel's
/// `max-pending-submits` is 10 by default, 100 in busy set-ups), so none waits on us.
pub const ACCOUNT_INBOUND_WINDOW: u32 = 128;
/// The largest window either way: far above any real peer's, and a bound on the memory one
/// bind can hold.
pub const MAX_WINDOW: u32 = 4096;
/// The built-in simulator's connector: two binds with its own window of 256, so the demo
/// and `smsgw bench` measure the gateway rather than a narrow window.
pub const SIM_CONNECTOR_BINDS: u32 = 2;
pub const SIM_CONNECTOR_WINDOW: u32 = 256;
pub const ENQUIRE_LINK_INTERVAL: Duration = Duration::from_secs(30);
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Also the floor: a smaller rebind_delay is an error.
pub const REBIND_DELAY: Duration = Duration::from_secs(30);
/// A connector down this long hands its queue to the next connector of each MT's route.
pub const FALLBACK_AFTER: Duration = Duration::from_secs(60);
/// Shared stores (Redis, NATS): how long taken work stays a node's own before others may
/// take it.
pub const STORE_LEASE: Duration = Duration::from_secs(60);
/// NATS store: the prefix of its subjects and the name of its streams.
pub const NATS_NAMESPACE: &str = "smsgw";
/// NATS store: copies of each stream, one per site (two data centres and a tie-breaker).
pub const NATS_REPLICAS: u32 = 3;
/// NATS store: streams the work is spread over (one per store server scales best).
pub const NATS_SHARDS: u32 = 1;

/// How long a login waits for a free password verifier before it is refused as busy: long
/// enough to absorb a burst of binds at start-up, short enough that a flood is refused fast.
pub const VERIFIER_WAIT: Duration = Duration::from_millis(100);

pub const SIMULATOR_LISTENER: &str = "127.0.0.1:2776";
pub const SIMULATOR_DR_DELAY: Duration = Duration::from_millis(50);

pub const DEMO_ACCOUNT: &str = "demo";
pub const DEMO_PASSWORD: &str = "demo1234";
pub const SIM_CONNECTOR: &str = "sim";
pub const SIM_SYSTEM_ID: &str = "smsgw";
pub const SIM_PASSWORD: &str = "sim";

/// Open connections per listener: well under the 65,536 descriptors of the systemd unit for
/// four listeners, far above what one node serves.
pub const MAX_CONNECTIONS: u32 = 10_000;
/// Connections one address may hold before binding / before its first HTTP request: above
/// any client's parallel binds at start-up, small next to MAX_CONNECTIONS.
pub const MAX_UNAUTHENTICATED_PER_ADDRESS: u32 = 64;
/// Time to send the PROXY header, an HTTP request's headers, finish a TLS handshake (HTTPS).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to send an HTTP request's whole body (at most 64 KiB).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Listener defences with no balancer trusted.
pub(crate) fn edge() -> EdgeSettings {
    EdgeSettings {
        trusted_proxies: Vec::new(),
        proxy_protocol: ProxyProtocolOn::default(),
        x_forwarded_for: false,
        max_connections: MAX_CONNECTIONS,
        max_unauthenticated_per_address: MAX_UNAUTHENTICATED_PER_ADDRESS,
        header_read_timeout: HEADER_READ_TIMEOUT,
        body_read_timeout: BODY_READ_TIMEOUT,
    }
}

pub(crate) fn smpp_listener() -> SocketAddr {
    SMPP_LISTENER.parse().expect("valid default address")
}

pub(crate) fn http_listener() -> SocketAddr {
    HTTP_LISTENER.parse().expect("valid default address")
}

/// The `[admin]` of a file without one: loopback, no users.
pub(crate) fn admin() -> AdminSettings {
    AdminSettings {
        listen: ADMIN_LISTENER.parse().expect("valid default address"),
        tls: None,
        users: Vec::new(),
    }
}

pub(crate) fn simulator_listener() -> SocketAddr {
    SIMULATOR_LISTENER.parse().expect("valid default address")
}

/// The host's name when it makes a valid node id (first label, up to 32 characters of
/// letters, digits, `-`, `_`), else `node1`.
pub fn node_id() -> String {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    node_id_from_hostname(&hostname)
}

pub(crate) fn node_id_from_hostname(hostname: &str) -> String {
    let label = hostname.trim().split('.').next().unwrap_or_default();
    let valid = !label.is_empty()
        && label.len() <= 32
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        label.to_owned()
    } else {
        FALLBACK_NODE_ID.to_owned()
    }
}

/// The demo account's hash, computed once per process (argon2 is slow by design).
fn demo_password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password(DEMO_PASSWORD)).clone()
}

impl Default for Config {
    /// `smsgw serve` without a config file: one node, embedded store, the `demo` account,
    /// and the built-in carrier simulator as connector `sim` for every destination.
    fn default() -> Self {
        let demo = Account {
            system_id: DEMO_ACCOUNT.to_owned(),
            password_hash: demo_password_hash(),
            http_login: DEMO_ACCOUNT.to_owned(),
            allowed_senders: Vec::new(),
            // Every MO is the demo's, so the simulator's 9990 loop-back reaches it.
            mo_numbers: vec![NumberPattern::Prefix(String::new())],
            throughput: None,
            max_binds: MAX_BINDS,
            push: None,
            outbox_ttl: OUTBOX_TTL,
            max_segments: MAX_SEGMENTS,
            idempotency_ttl: IDEMPOTENCY_TTL,
            window: ACCOUNT_WINDOW,
            inbound_window: ACCOUNT_INBOUND_WINDOW,
            opt_out: crate::config::defaults_opt_out(),
            validity: None,
            dr_timeout: None,
            mo_multipart: crate::message::MoMultipart::Parts,
        };
        let sim = ConnectorConfig {
            name: SIM_CONNECTOR.to_owned(),
            endpoints: vec![SIMULATOR_LISTENER.to_owned()],
            binds: SIM_CONNECTOR_BINDS,
            system_id: SIM_SYSTEM_ID.to_owned(),
            password: Secret::new(SIM_PASSWORD),
            system_type: String::new(),
            // The built-in simulator writes the same decimal id in both places.
            receipt_id_format: ReceiptIdFormat::Same,
            window: SIM_CONNECTOR_WINDOW,
            inbound_window: CONNECTOR_INBOUND_WINDOW,
            throughput: None,
            tls: None,
            source_ton: Numbering::Auto,
            source_npi: Numbering::Auto,
            dest_ton: Numbering::Auto,
            dest_npi: Numbering::Auto,
            enquire_link_interval: ENQUIRE_LINK_INTERVAL,
            response_timeout: RESPONSE_TIMEOUT,
            rebind_delay: REBIND_DELAY,
            fallback_after: FALLBACK_AFTER,
            dr_timeout: DR_TIMEOUT,
            mo_multipart_timeout: MO_MULTIPART_TIMEOUT,
        };
        let everything_to_sim = Route {
            prefix: String::new(),
            carrier: None,
            account: None,
            connectors: vec![SIM_CONNECTOR.to_owned()],
        };
        let data_dir = PathBuf::from(DATA_DIR);
        Config::assemble(
            node_id(),
            SITE.to_owned(),
            data_dir.clone(),
            Listeners {
                smpp: smpp_listener(),
                smpp_tls: None,
                http: http_listener(),
                https: None,
                edge: edge(),
            },
            StoreConfig::Embedded {
                path: data_dir.join(EMBEDDED_FILE),
            },
            vec![demo],
            vec![sim],
            vec![everything_to_sim],
            Some(SimulatorSettings {
                listen: simulator_listener(),
                dr_delay: SIMULATOR_DR_DELAY,
            }),
        )
    }
}

/// Opt-out keywords when `[accounts.opt_out]` names none (matched trimmed, any case).
pub const OPT_OUT_STOP: [&str; 6] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
pub const OPT_OUT_START: [&str; 2] = ["START", "UNSTOP"];
pub const OPT_OUT_HELP: [&str; 2] = ["HELP", "INFO"];

#[cfg(test)]
mod tests {
    use super::node_id_from_hostname;

    #[test]
    fn node_id_is_the_first_host_label_when_valid() {
        assert_eq!(node_id_from_hostname("gw-a1.dc-a.example.net\n"), "gw-a1");
        assert_eq!(node_id_from_hostname("builder_7"), "builder_7");
        assert_eq!(node_id_from_hostname(""), "node1");
        assert_eq!(node_id_from_hostname("bad host"), "node1");
        assert_eq!(node_id_from_hostname(&"x".repeat(33)), "node1");
    }
}
