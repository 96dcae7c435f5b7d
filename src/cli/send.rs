//! `smsgw send`: send one message through a running gateway, over SMPP or HTTP, and with
//! `--wait` print its delivery receipt.
//!
//! Every result is one line on stdout (`accepted ...`, `receipt ...`, `refused ...`,
//! `timeout ...`); the exit code says how it ended: 0 accepted (or delivered with `--wait`),
//! 1 a final state other than delivered, 2 refused, timed out or failed.

use std::{
    collections::HashSet,
    process::ExitCode,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use clap::Args;
use smsgw::{
    message::Priority,
    upstream::submit_pdu::{segment_text, MAX_PARTS},
};
use smsgw_http::{api::ErrorBody, MessageState, MessageStatus, SubmitAccepted};
use smsgw_smpp::{
    client::{ConnectError, SubmitError},
    encoding::{
        apply_to_submit_sm, is_delivery_receipt, receipt_from_deliver_sm, stat_code,
        DeliveryReceipt,
    },
    rusmpp::{
        pdus::{DeliverSm, SubmitSm},
        values::{EsmClass, MessageState as SmppState, Npi, PriorityFlag, RegisteredDelivery, Ton},
        CommandStatus,
    },
    BindKind, BindRequest, Client, ClientConfig, DeliverHandler, SessionHandle,
};
use tokio::sync::mpsc;
use tracing::debug;

/// The SMPP address used when neither `--smpp` nor `--url` is given.
const DEFAULT_SMPP: &str = "127.0.0.1:2775";

/// How often `--wait` over HTTP asks for the message's state.
const HTTP_POLL_INTERVAL: Duration = Duration::from_millis(200);

const AFTER_HELP: &str = "\
Transport: --smpp HOST:PORT (the default, 127.0.0.1:2775) or --url BASE, not both.

Over SMPP the command binds as a transceiver (a transmitter without --wait), submits every part
of the text (UDH concatenation, the smallest encoding that fits) and prints `accepted <id> via
smpp://HOST:PORT` per part. With --wait it requests receipts and prints
`receipt <id> <STAT> err:<err>` for each part as its final receipt arrives.

Over HTTP without --wait the command posts the Genesys form to BASE/httpapi/receiver (login,
password, phone_number, sender, message, message_id, receipt=FALSE, priority) and prints
`accepted <message_id> via <url>`. That answer carries the client's message_id, not the
gateway's, so it cannot be followed: with --wait the command posts JSON to BASE/v1/messages
instead (Basic auth login:password, Idempotency-Key = --message-id, receipt=true), then polls
GET BASE/v1/messages/{id} every 200 ms until a final state (DELIVERED, EXPIRED, DELETED,
UNDELIVERABLE, REJECTED, UNKNOWN) and prints `receipt <id> <STATE> err:<code>`.

Exit codes: 0 accepted, or delivered with --wait; 1 a final state other than delivered;
2 refused (wrong credentials, invalid message...), timed out, or the gateway unreachable.";

#[derive(Debug, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct SendArgs {
    /// Send over SMPP to this gateway address (the default transport: 127.0.0.1:2775).
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "url")]
    pub smpp: Option<String>,
    /// Send over HTTP to this gateway base URL, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "BASE")]
    pub url: Option<String>,
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
    Priority::parse(value)
        .ok_or_else(|| "one of BULK_LOW, BULK, INTERACTIVE_LOW, INTERACTIVE".to_owned())
}

/// The HTTP edge's name for a priority (the same words).
fn http_priority(priority: Priority) -> smsgw_http::Priority {
    priority
        .as_str()
        .parse()
        .unwrap_or(smsgw_http::Priority::Bulk)
}

fn parse_phone_number(value: &str) -> Result<String, String> {
    if !value.is_empty() && value.len() <= 15 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err("digits only, international format without '+', at most 15".to_owned())
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
    Smpp(String),
    Http(String),
}

impl Transport {
    fn from_args(args: &SendArgs) -> Self {
        match (&args.url, &args.smpp) {
            (Some(url), _) => Transport::Http(url.trim_end_matches('/').to_owned()),
            (None, smpp) => Transport::Smpp(smpp.clone().unwrap_or_else(|| DEFAULT_SMPP.into())),
        }
    }
}

pub async fn run(args: SendArgs) -> ExitCode {
    let result = match Transport::from_args(&args) {
        Transport::Smpp(addr) => send_over_smpp(&args, &addr).await,
        Transport::Http(base) => send_over_http(&args, &base).await,
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

// ---------------------------------------------------------------------------------------------
// SMPP

/// Forwards the receipts of this command's own messages; refuses every other deliver_sm
/// (receipts and MOs for the account's applications) with a temporary error, so the gateway
/// keeps them for another bind instead of losing them to this command.
struct OwnReceipts {
    ids: Arc<Mutex<HashSet<String>>>,
    // Unbounded: at most one receipt per part this command sent (<= 255) can be forwarded.
    receipts: mpsc::UnboundedSender<DeliveryReceipt>,
}

impl DeliverHandler for OwnReceipts {
    async fn on_deliver(&self, _session: &SessionHandle, deliver: DeliverSm) -> CommandStatus {
        let Some(receipt) = own_receipt(&deliver, &self.ids) else {
            debug!("refusing a deliver_sm not meant for this command");
            return CommandStatus::EsmeRxTAppn;
        };
        let _ = self.receipts.send(receipt);
        CommandStatus::EsmeRok
    }
}

/// The receipt in `deliver`, if it is one for an id in `ids`.
fn own_receipt(deliver: &DeliverSm, ids: &Mutex<HashSet<String>>) -> Option<DeliveryReceipt> {
    if !is_delivery_receipt(u8::from(deliver.esm_class)) {
        return None;
    }
    let receipt = receipt_from_deliver_sm(deliver).ok()?;
    let ids = ids.lock().unwrap_or_else(|e| e.into_inner());
    ids.contains(&receipt.id).then_some(receipt)
}

async fn send_over_smpp(args: &SendArgs, addr: &str) -> anyhow::Result<Outcome> {
    let endpoint = format!("smpp://{addr}");
    let ids = Arc::new(Mutex::new(HashSet::new()));
    let (sender, mut receipts) = mpsc::unbounded_channel();
    let handler = Arc::new(OwnReceipts {
        ids: ids.clone(),
        receipts: sender,
    });
    let kind = if args.wait {
        BindKind::Transceiver
    } else {
        BindKind::Transmitter
    };
    let config = ClientConfig::new(BindRequest::new(kind, &args.system_id, &args.password));
    let client = match Client::connect(addr, config, handler).await {
        Ok(client) => client,
        Err(ConnectError::Rejected(status)) => {
            println!(
                "refused bind of {:?} by {endpoint}: {status:?} (check --system-id and --password)",
                args.system_id
            );
            return Ok(Outcome::Failed);
        }
        // Displayed alone: ConnectError's own text already repeats its source.
        Err(ConnectError::Bind(field)) => anyhow::bail!("cannot bind: {field}"),
        Err(err) => return Err(err).with_context(|| format!("binding to {endpoint}")),
    };
    let outcome = submit_and_wait(args, &client, &endpoint, &ids, &mut receipts).await;
    if let Err(err) = client.unbind().await {
        debug!(%err, "unbind failed");
    }
    outcome
}

async fn submit_and_wait(
    args: &SendArgs,
    client: &Client,
    endpoint: &str,
    ids: &Mutex<HashSet<String>>,
    receipts: &mut mpsc::UnboundedReceiver<DeliveryReceipt>,
) -> anyhow::Result<Outcome> {
    let submits = submit_pdus(args)?;
    let total = submits.len();
    let mut pending = HashSet::new();
    for (index, submit) in submits.into_iter().enumerate() {
        let part = format!("part {}/{total}", index + 1);
        match client.submit(submit).await {
            Ok(id) => {
                println!("accepted {id} via {endpoint} ({part})");
                ids.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id.clone());
                pending.insert(id);
            }
            Err(SubmitError::Rejected(status)) => {
                println!("refused {part} by {endpoint}: {status:?}");
                return Ok(Outcome::Failed);
            }
            Err(err) => return Err(err).with_context(|| format!("submitting {part}")),
        }
    }
    if !args.wait {
        return Ok(Outcome::Success);
    }
    Ok(wait_for_receipts(pending, receipts, Duration::from_secs(args.timeout_s)).await)
}

/// The submit_sm PDUs of the text, in part order.
fn submit_pdus(args: &SendArgs) -> anyhow::Result<Vec<SubmitSm>> {
    let (source_ton, source_npi) = ton_npi(&args.from);
    // Explicit: rusmpp 0.4's EsmClass::default() is 0x08, not the plain 0x00.
    let base = SubmitSm::builder()
        .esm_class(EsmClass::from(0))
        .source_addr_ton(source_ton)
        .source_addr_npi(source_npi)
        .source_addr(args.from.parse().context("--from")?)
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(args.to.parse().context("--to")?)
        .priority_flag(PriorityFlag::from(args.priority.smpp_priority_flag()))
        .registered_delivery(RegisteredDelivery::from(u8::from(args.wait)))
        .build();
    let parts = segment_text(&args.text, MAX_PARTS, fastrand::u8(..)).context("--text")?;
    parts
        .iter()
        .map(|part| {
            let mut submit = base.clone();
            apply_to_submit_sm(part, &mut submit).context("--text")?;
            Ok(submit)
        })
        .collect()
}

/// TON/NPI for a sender: digits are international (1/1), anything else alphanumeric (5/0).
fn ton_npi(address: &str) -> (Ton, Npi) {
    if !address.is_empty() && address.bytes().all(|b| b.is_ascii_digit()) {
        (Ton::International, Npi::Isdn)
    } else {
        (Ton::Alphanumeric, Npi::Unknown)
    }
}

/// Prints each pending id's final receipt as it arrives; the worst outcome wins.
async fn wait_for_receipts(
    mut pending: HashSet<String>,
    receipts: &mut mpsc::UnboundedReceiver<DeliveryReceipt>,
    timeout: Duration,
) -> Outcome {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut outcome = Outcome::Success;
    while !pending.is_empty() {
        let Ok(Some(receipt)) = tokio::time::timeout_at(deadline, receipts.recv()).await else {
            let mut missing: Vec<_> = pending.into_iter().collect();
            missing.sort();
            println!(
                "timeout: no final receipt within {} s for {}",
                timeout.as_secs(),
                missing.join(" ")
            );
            return Outcome::Failed;
        };
        let state = receipt
            .stat
            .as_ref()
            .map_or(SmppState::Unknown, |s| s.state);
        if matches!(state, SmppState::Enroute | SmppState::Accepted) {
            debug!(id = %receipt.id, ?state, "intermediate receipt");
            continue;
        }
        if pending.remove(&receipt.id) {
            println!(
                "receipt {} {} err:{}",
                receipt.id,
                stat_code(state),
                receipt.err.as_deref().unwrap_or("000")
            );
            outcome = outcome.max(smpp_state_outcome(state));
        }
    }
    outcome
}

fn smpp_state_outcome(state: SmppState) -> Outcome {
    if state == SmppState::Delivered {
        Outcome::Success
    } else {
        Outcome::NotDelivered
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

async fn send_over_http(args: &SendArgs, base: &str) -> anyhow::Result<Outcome> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let message_id = args.message_id.clone().unwrap_or_else(fresh_message_id);
    if args.wait {
        send_json_and_wait(args, &http, base, &message_id).await
    } else {
        send_genesys_form(args, &http, base, &message_id).await
    }
}

/// `POST /httpapi/receiver` with the Genesys form; no receipt requested.
async fn send_genesys_form(
    args: &SendArgs,
    http: &reqwest::Client,
    base: &str,
    message_id: &str,
) -> anyhow::Result<Outcome> {
    let url = format!("{base}/httpapi/receiver");
    let form = [
        ("login", args.system_id.as_str()),
        ("password", args.password.as_str()),
        ("phone_number", args.to.as_str()),
        ("sender", args.from.as_str()),
        ("message", args.text.as_str()),
        ("message_id", message_id),
        ("receipt", "FALSE"),
        ("priority", args.priority.as_str()),
    ];
    let response = http
        .post(&url)
        .form(&form)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let body = response.bytes().await.context("reading the answer")?;
    let fields = smsgw_http::form::parse(&body).unwrap_or_default();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    };
    if !status.is_success() {
        println!(
            "refused by {url}: HTTP {status} result_code={} description={}",
            field("result_code"),
            field("description")
        );
        return Ok(Outcome::Failed);
    }
    println!("accepted {} via {url}", field("message_id"));
    Ok(Outcome::Success)
}

/// `POST /v1/messages` with a receipt requested, then the state polled to a final one.
async fn send_json_and_wait(
    args: &SendArgs,
    http: &reqwest::Client,
    base: &str,
    message_id: &str,
) -> anyhow::Result<Outcome> {
    let url = format!("{base}/v1/messages");
    let body = serde_json::json!({
        "to": args.to,
        "from": args.from,
        "text": args.text,
        "receipt": true,
        "priority": http_priority(args.priority),
    });
    let response = http
        .post(&url)
        .basic_auth(&args.system_id, Some(&args.password))
        .header("Idempotency-Key", message_id)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    if !response.status().is_success() {
        print_json_refusal(&url, response).await;
        return Ok(Outcome::Failed);
    }
    let accepted: SubmitAccepted = response.json().await.context("reading the answer")?;
    println!(
        "accepted {} via {url} ({} part(s), Idempotency-Key {message_id})",
        accepted.id, accepted.parts
    );
    let timeout = Duration::from_secs(args.timeout_s);
    match poll_final_state(args, http, base, &accepted.id, timeout).await? {
        Some(status) => Ok(print_final_state(&status)),
        None => {
            println!(
                "timeout: no final state within {} s for {}",
                args.timeout_s, accepted.id
            );
            Ok(Outcome::Failed)
        }
    }
}

async fn print_json_refusal(url: &str, response: reqwest::Response) {
    let status = response.status();
    match response.json::<ErrorBody>().await {
        Ok(error) => println!(
            "refused by {url}: HTTP {status} result_code={} description={}",
            error.error.code, error.error.message
        ),
        Err(_) => println!("refused by {url}: HTTP {status}"),
    }
}

/// Polls `GET /v1/messages/{id}` until a final state; `None` when `timeout` passes first.
async fn poll_final_state(
    args: &SendArgs,
    http: &reqwest::Client,
    base: &str,
    id: &str,
    timeout: Duration,
) -> anyhow::Result<Option<MessageStatus>> {
    let url = format!("{base}/v1/messages/{id}");
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        let response = http
            .get(&url)
            .basic_auth(&args.system_id, Some(&args.password))
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .error_for_status()
            .with_context(|| format!("GET {url}"))?;
        let status: MessageStatus = response.json().await.context("reading the status")?;
        if status.state.is_final() {
            return Ok(Some(status));
        }
        tokio::time::sleep(HTTP_POLL_INTERVAL).await;
    }
    Ok(None)
}

fn print_final_state(status: &MessageStatus) -> Outcome {
    let code = status
        .history
        .iter()
        .rev()
        .find(|event| event.state == status.state)
        .and_then(|event| event.code)
        .unwrap_or(0);
    let state = serde_json::to_value(status.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    println!("receipt {} {state} err:{code:03}", status.id);
    if status.state == MessageState::Delivered {
        Outcome::Success
    } else {
        Outcome::NotDelivered
    }
}
