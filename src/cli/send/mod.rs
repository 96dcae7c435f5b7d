//! `smsgw send`: send one message through a running gateway, over SMPP or HTTP, failing over
//! between sites (a bind pool over every `--smpp`, a `FailoverClient` over every `--url` and
//! `--host`), and with `--wait` print its delivery receipt. `smpp.rs` and `http.rs` hold the
//! two transports.
//!
//! Every result is one line on stdout (`accepted ...`, `receipt ...`, `refused ...`,
//! `timeout ...`); the exit code says how it ended: 0 accepted (or delivered with `--wait`),
//! 1 a final state other than delivered, 2 refused, timed out or failed.

use std::{
    net::SocketAddr,
    process::ExitCode,
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use clap::Args;
use smsgw::{destination::destination_digits, message::Priority};
use smsgw_http::failover::{EndpointSource, FailoverConfig, NameServers, Scheme};

mod http;
mod smpp;

/// The SMPP address used when neither `--smpp`, `--url` nor `--host` is given.
const DEFAULT_SMPP: &str = "127.0.0.1:2775";

/// The port of a `--host` given without one.
const DEFAULT_HTTP_PORT: u16 = 8080;

const AFTER_HELP: &str = "\
Transport: --smpp HOST:PORT (the default, 127.0.0.1:2775), or HTTP with --url BASE and/or
--host NAME[:PORT]; not both. Each option may be repeated to fail over between sites.

Over SMPP the command binds as a transceiver (a transmitter without --wait) to every --smpp
address at once (a bind pool), submits every part of the text on an active bind (UDH
concatenation, the smallest encoding that fits) and prints `accepted <id> via
smpp://HOST:PORT` per part, naming the address that took it; an address that is down is
skipped. With --wait it requests receipts and prints `receipt <id> <STAT> err:<err>` for each
part as its final receipt arrives, on whichever bind it comes.

Over HTTP the endpoints are every --url in order, then every address of each --host (A and
AAAA records, port 8080 unless given, --https for TLS, --dns to ask other name servers). An
endpoint that fails (connect error, time-out, 5xx, 429) is retried for --retry-window-s
(default 30), then the next one is tried, always with the same message_id / Idempotency-Key:
a repeat never sends a second SMS. A refusal (wrong credentials, invalid message) ends at once.
Without --wait the command posts the Genesys form to /httpapi/receiver (login, password,
phone_number, sender, message, message_id, receipt=FALSE, priority) and prints `accepted
<message_id> via <url>` (with the address dialled in parentheses for a --host). That answer
carries the client's message_id, not the gateway's, so it cannot be followed: with --wait the
command posts JSON to /v1/messages instead (Basic auth login:password, Idempotency-Key =
--message-id, receipt=true), then polls GET /v1/messages/{id} every 200 ms until a final state
(DELIVERED, EXPIRED, DELETED, UNDELIVERABLE, REJECTED, UNKNOWN) and prints
`receipt <id> <STATE> err:<code>`.

Exit codes: 0 accepted, or delivered with --wait; 1 a final state other than delivered;
2 refused (wrong credentials, invalid message...), timed out, or the gateway unreachable.";

#[derive(Debug, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct SendArgs {
    /// Send over SMPP to this gateway address (the default transport: 127.0.0.1:2775);
    /// repeat to bind to several sites and send on any active bind.
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["url", "host"])]
    pub smpp: Vec<String>,
    /// Send over HTTP to this gateway base URL, e.g. http://127.0.0.1:8080; repeat for
    /// failover, most preferred first.
    #[arg(long, value_name = "BASE")]
    pub url: Vec<String>,
    /// Send over HTTP to every address of this hostname (after any --url), re-resolved when
    /// the DNS records' TTL expires; the port defaults to 8080.
    #[arg(long, value_name = "NAME[:PORT]")]
    pub host: Vec<String>,
    /// --host over HTTPS.
    #[arg(long, requires = "host")]
    pub https: bool,
    /// Resolve --host with this name server (UDP) instead of the system's; repeatable.
    #[arg(long, value_name = "IP:PORT", requires = "host")]
    pub dns: Vec<SocketAddr>,
    /// HTTP: how long one endpoint is retried before the next one is tried, in seconds.
    #[arg(long, default_value_t = 30)]
    pub retry_window_s: u64,
    /// The account: SMPP system_id, HTTP login.
    #[arg(long = "system-id", visible_alias = "login", default_value = "demo")]
    pub system_id: String,
    /// The account's password.
    #[arg(
        long,
        default_value = "demo1234",
        env = "SMSGW_PASSWORD",
        hide_env_values = true
    )]
    pub password: String,
    /// Sender: digits, or up to 11 characters.
    #[arg(long, default_value = "smsgw")]
    pub from: String,
    /// Destination: digits, international format without `+`.
    #[arg(long, value_parser = parse_phone_number)]
    pub to: String,
    /// The message text, any Unicode; long texts are sent in several parts.
    #[arg(long)]
    pub text: String,
    /// HTTP: the client message_id (and Idempotency-Key); default a fresh unique id.
    #[arg(long)]
    pub message_id: Option<String>,
    /// Wait for the delivery receipt and print it.
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits for the receipt, in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout_s: u64,
    /// Queue priority: BULK_LOW, BULK, INTERACTIVE_LOW or INTERACTIVE.
    #[arg(long, default_value = "BULK", value_parser = parse_priority)]
    pub priority: Priority,
}

fn parse_priority(value: &str) -> Result<Priority, String> {
    value.parse().map_err(|e| format!("{e}"))
}

/// The HTTP edge's name for a priority (the same words).
fn http_priority(priority: Priority) -> smsgw_http::Priority {
    priority
        .as_str()
        .parse()
        .unwrap_or(smsgw_http::Priority::Bulk)
}

/// `--to`: the gateway's destination rule ([`destination_digits`]), minus the `+` the HTTP
/// edge refuses.
fn parse_phone_number(value: &str) -> Result<String, String> {
    match destination_digits(value) {
        Some(digits) if !value.starts_with('+') => Ok(digits.to_owned()),
        _ => Err("7 to 15 digits, international format without '+'".to_owned()),
    }
}

/// How one message (or one part of it) ended, ordered by exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Accepted by the gateway (no --wait), or delivered.
    Success,
    /// A final state other than delivered.
    NotDelivered,
    /// Refused by the gateway, or no final state in time.
    Failed,
}

impl Outcome {
    fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Outcome::Success => 0,
            Outcome::NotDelivered => 1,
            Outcome::Failed => 2,
        })
    }
}

/// Where the message goes.
enum Transport {
    /// Addresses to bind to, all at once.
    Smpp(Vec<String>),
    Http(FailoverConfig),
}

impl Transport {
    fn from_args(args: &SendArgs) -> anyhow::Result<Self> {
        if args.url.is_empty() && args.host.is_empty() {
            let smpp = match args.smpp.as_slice() {
                [] => vec![DEFAULT_SMPP.to_owned()],
                given => given.to_vec(),
            };
            return Ok(Transport::Smpp(smpp));
        }
        let mut endpoints = Vec::new();
        for url in &args.url {
            let parsed = reqwest::Url::parse(url).with_context(|| format!("--url {url}"))?;
            endpoints.push(EndpointSource::BaseUrl(parsed));
        }
        let scheme = if args.https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        for host in &args.host {
            let (host, port) = parse_host(host).with_context(|| format!("--host {host}"))?;
            endpoints.push(EndpointSource::Resolved { scheme, host, port });
        }
        let mut config = FailoverConfig::new(endpoints);
        config.retry_window = std::time::Duration::from_secs(args.retry_window_s);
        if !args.dns.is_empty() {
            config.name_servers = NameServers::Udp(args.dns.clone());
        }
        Ok(Transport::Http(config))
    }
}

/// `NAME` or `NAME:PORT`.
fn parse_host(value: &str) -> anyhow::Result<(String, u16)> {
    let (name, port) = match value.rsplit_once(':') {
        Some((name, port)) => (name, port.parse().context("the port")?),
        None => (value, DEFAULT_HTTP_PORT),
    };
    anyhow::ensure!(!name.is_empty(), "a hostname is needed");
    Ok((name.to_owned(), port))
}

pub async fn run(args: SendArgs) -> ExitCode {
    let result = match Transport::from_args(&args) {
        Ok(Transport::Smpp(addrs)) => smpp::send(&args, &addrs).await,
        Ok(Transport::Http(config)) => http::send(&args, config).await,
        Err(err) => Err(err),
    };
    match result {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            eprintln!("smsgw send: error: {err:#}");
            Outcome::Failed.exit_code()
        }
    }
}

/// A fresh client message id: milliseconds since the epoch and 32 random bits.
fn fresh_message_id() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("send-{millis}-{:08x}", fastrand::u32(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_takes_the_gateways_7_to_15_digits_without_a_plus() {
        assert_eq!(parse_phone_number("1234567").as_deref(), Ok("1234567"));
        assert!(parse_phone_number("123456789012345").is_ok());
        for refused in [
            "123456",
            "1234567890123456",
            "+447700900001",
            "44770090000a",
        ] {
            assert!(parse_phone_number(refused).is_err(), "{refused}");
        }
    }
}
