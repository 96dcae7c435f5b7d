//! A gateway under test: a carrier simulator on 127.0.0.1:0, a config pointing at it, an
//! embedded store in a temp dir, and helpers to bind clients and call the HTTP API.
#![allow(dead_code)]

pub mod deliveries;
pub mod hand_pdus;
pub mod multipart;
pub mod push_receiver;
pub mod raw_carrier;
pub mod raw_esme;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use smsgw::{
    carrier_sim::{CarrierSim, CarrierSimConfig},
    config::Config,
    credentials::hash_password,
    node::Gateway,
};
use smsgw_smpp::{
    client::{DeliverStream, IncomingDeliver},
    rusmpp::pdus::SubmitSm,
    BindKind, BindRequest, Client, ClientConfig,
};
use tokio::{io::AsyncBufReadExt, net::TcpListener, sync::mpsc::Receiver};

pub const PASSWORD: &str = "secret12";

pub struct TestGateway {
    pub gateway: Gateway,
    pub sim: CarrierSim,
    pub dir: tempfile::TempDir,
}

/// A carrier simulator on 127.0.0.1:0.
pub async fn start_sim(config: CarrierSimConfig) -> CarrierSim {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    CarrierSim::start(listener, config).unwrap()
}

/// TOML added to the tables of [`config_text_with`]'s config.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConfigExtra<'a> {
    /// Lines of `[listeners]`, e.g. `https = { address = ..., cert = ..., key = ... }`.
    pub listeners: &'a str,
    /// Lines of the `acme` account, e.g. a push table.
    pub account: &'a str,
    /// Lines of the `sim` connector, e.g. `tls = { ca = ... }`.
    pub connector: &'a str,
    /// Lines of `[admin]` (whose `listen` is 127.0.0.1:0), e.g. `[[admin.users]]` after it.
    pub admin: &'a str,
    /// Tables appended at the end, e.g. `[auth]` or another `[[accounts]]`.
    pub tables: &'a str,
}

/// `[auth]` that locks (client address, account) out after one wrong password, for tests
/// of whose failures count where.
pub const LOCK_AFTER_ONE_FAILURE: &str = "[auth]\nlockout_failures = 1\n";

/// A config with one account `acme` (plus `account_extra` TOML, e.g. a push table), one
/// connector to the simulator and a catch-all route.
pub fn config_text(sim: SocketAddr, dir: &std::path::Path, account_extra: &str) -> String {
    let extra = ConfigExtra {
        account: account_extra,
        ..ConfigExtra::default()
    };
    config_text_with(sim, dir, extra)
}

/// [`config_text`] with TOML added to its listeners, account and connector.
pub fn config_text_with(sim: SocketAddr, dir: &std::path::Path, extra: ConfigExtra) -> String {
    let hash = hash_password(PASSWORD);
    format!(
        r#"
node_id = "n1"
site = "test"
data_dir = "{dir}"

[listeners]
smpp = "127.0.0.1:0"
http = "127.0.0.1:0"
{listeners_extra}

[admin]
listen = "127.0.0.1:0"
{admin_extra}

[[accounts]]
system_id = "acme"
password_hash = "{hash}"
mo_numbers = ["447700900123", "12345"]
{account_extra}

[[connectors]]
name = "sim"
endpoints = ["{sim}"]
system_id = "gw"
password = "pw"
{connector_extra}

[[routes]]
prefix = "*"
connectors = ["sim"]
{tables}
"#,
        dir = dir.display(),
        listeners_extra = extra.listeners,
        admin_extra = extra.admin,
        account_extra = extra.account,
        connector_extra = extra.connector,
        tables = extra.tables,
    )
}

/// The config of node `node` in `site` (see [`config_text`]) with `store` TOML appended,
/// written to `dir`/smsgw.toml; returns its path.
pub fn node_config_file(
    sim: SocketAddr,
    dir: &std::path::Path,
    node: &str,
    site: &str,
    store: &str,
) -> std::path::PathBuf {
    let text = config_text(sim, dir, "")
        .replace("node_id = \"n1\"", &format!("node_id = \"{node}\""))
        .replace("site = \"test\"", &format!("site = \"{site}\""))
        + store;
    let path = dir.join("smsgw.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A `[store]` table for one Redis at `url` under `key_prefix`, with a 2 s lease so that a
/// dead node's work moves on quickly.
pub fn redis_store_toml(url: &str, key_prefix: &str) -> String {
    format!(
        "\n[store]\nkind = \"redis\"\n\n[store.redis]\nurl = \"{url}\"\nkey_prefix = \"{key_prefix}\"\nlease = \"2s\"\n"
    )
}

/// A gateway started from config `text`, once every connector has a carrier bind.
pub async fn start_bound(text: &str) -> Gateway {
    start_bound_but(text, &[]).await
}

/// [`start_bound`], not waiting for the connectors named in `never_bind`.
pub async fn start_bound_but(text: &str, never_bind: &[&str]) -> Gateway {
    let config = Config::from_str_named(text, "node.toml").unwrap_or_else(|e| panic!("{e}"));
    let gateway = Gateway::start(config).await.unwrap();
    let waited = gateway
        .connectors()
        .iter()
        .filter(|c| !never_bind.contains(&c.name()));
    for connector in waited {
        tokio::time::timeout(Duration::from_secs(10), connector.pool().wait_for_active(1))
            .await
            .expect("connector bind");
    }
    gateway
}

impl TestGateway {
    pub async fn start() -> Self {
        Self::start_with(CarrierSimConfig::default(), "").await
    }

    pub async fn start_with(mut sim_config: CarrierSimConfig, account_extra: &str) -> Self {
        sim_config.dr_delay = sim_config.dr_delay.min(Duration::from_millis(10));
        let sim = start_sim(sim_config).await;
        let dir = tempfile::tempdir().unwrap();
        let extra = ConfigExtra {
            account: account_extra,
            ..ConfigExtra::default()
        };
        Self::start_in(sim, dir, extra).await
    }

    /// A gateway in `dir` (which may already hold e.g. certificates) for a running `sim`.
    pub async fn start_in(sim: CarrierSim, dir: tempfile::TempDir, extra: ConfigExtra<'_>) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let text = config_text_with(sim.local_addr(), dir.path(), extra);
        let config = Config::from_str_named(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
        let gateway = Gateway::start(config).await.unwrap();
        let test = Self { gateway, sim, dir };
        test.wait_for_carrier_bind().await;
        test
    }

    pub async fn wait_for_carrier_bind(&self) {
        for connector in self.gateway.connectors() {
            tokio::time::timeout(Duration::from_secs(10), connector.pool().wait_for_active(1))
                .await
                .expect("connector did not bind");
        }
    }

    pub async fn bind(&self, kind: BindKind) -> (Client, Receiver<IncomingDeliver>) {
        bind_to(self.gateway.smpp_addr(), kind).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.gateway.http_addr())
    }
}

pub async fn bind_to(addr: SocketAddr, kind: BindKind) -> (Client, Receiver<IncomingDeliver>) {
    let (handler, incoming) = DeliverStream::new(1024);
    let config = ClientConfig::new(BindRequest::new(kind, "acme", PASSWORD));
    let client = Client::connect(addr, config, Arc::new(handler))
        .await
        .unwrap();
    (client, incoming)
}

pub fn submit(destination: &str, text: &str, receipt: bool) -> SubmitSm {
    SubmitSm::builder()
        .source_addr("447700900123".parse().unwrap())
        .destination_addr(destination.parse().unwrap())
        .registered_delivery(smsgw_smpp::rusmpp::values::RegisteredDelivery::from(
            u8::from(receipt),
        ))
        .short_message(text.as_bytes().try_into().unwrap())
        .build()
}

/// The next deliver_sm, accepted; panics after 10 s.
pub async fn next_deliver(
    incoming: &mut Receiver<IncomingDeliver>,
) -> smsgw_smpp::rusmpp::pdus::DeliverSm {
    let deliver = tokio::time::timeout(Duration::from_secs(10), incoming.recv())
        .await
        .expect("no deliver_sm within 10 s")
        .expect("session closed");
    let pdu = deliver.pdu().clone();
    deliver.accept();
    pdu
}

/// The python with smpplib: `SMSGW_PYTHON`, else the workspace's `.venv`.
pub fn python() -> std::path::PathBuf {
    std::env::var_os("SMSGW_PYTHON").map_or_else(
        || manifest_dir().join(".venv/bin/python"),
        std::path::PathBuf::from,
    )
}

/// Runs the smpplib script `name` of `tests/interop/` with `args` (60 s at most); panics
/// unless it exits 0. Its output: one JSON object per line.
pub async fn smpplib_json_lines(name: &str, args: &[String]) -> Vec<serde_json::Value> {
    let run = tokio::process::Command::new(python())
        .arg(interop_script(name))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("smpplib run finished")
        .expect("python runs");
    assert!(
        output.status.success(),
        "python exited with {}",
        output.status
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON answer per line"))
        .collect()
}

/// A script of `tests/interop/`.
pub fn interop_script(name: &str) -> std::path::PathBuf {
    manifest_dir().join("tests/interop").join(name)
}

fn manifest_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
}

pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Sends `request` and parses the answer's JSON body.
pub async fn json_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Entries (taken or not) in `account`'s outbox: its own only, not the gateway's timers.
pub async fn outbox_depth(store: &dyn smsgw::store::Store, account: &str) -> usize {
    store
        .outbox_depths()
        .await
        .unwrap()
        .into_iter()
        .find(|(name, _)| name == account)
        .map_or(0, |(_, depth)| depth)
}

/// The Prometheus text a gateway serves on `/metrics` at `admin` (its admin listener, open
/// to reads without users).
pub async fn metrics_text(admin: SocketAddr) -> String {
    self::http()
        .get(format!("http://{admin}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A Genesys receiver form of `login` (password [`PASSWORD`]) from `sender` to 447700900001,
/// asking for a receipt.
pub fn genesys_form(
    login: &str,
    message_id: &str,
    sender: &str,
    text: &str,
) -> Vec<(String, String)> {
    [
        ("login", login),
        ("password", PASSWORD),
        ("phone_number", "447700900001"),
        ("sender", sender),
        ("message", text),
        ("message_id", message_id),
        ("receipt", "TRUE"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// POSTs a form to the Genesys receiver; returns the status and the body.
pub async fn post_receiver(test: &TestGateway, body: &[(String, String)]) -> (u16, String) {
    let response = http()
        .post(test.url("/httpapi/receiver"))
        .form(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// A running `smsgw serve` child process (killed on drop) and the addresses it logged.
pub struct GatewayProcess {
    pub child: tokio::process::Child,
    pub smpp: SocketAddr,
    pub http: SocketAddr,
}

/// Starts `smsgw serve` and returns it with the SMPP address it logged.
pub async fn spawn_gateway(config: &std::path::Path) -> (tokio::process::Child, SocketAddr) {
    let process = spawn_gateway_process(config).await;
    (process.child, process.smpp)
}

/// Starts `smsgw serve` and waits until it logs that it is running.
pub async fn spawn_gateway_process(config: &std::path::Path) -> GatewayProcess {
    spawn_logging(config, "info", None).await
}

/// Everything a gateway process wrote (JSON log lines), filled in while it runs.
pub type Output = Arc<std::sync::Mutex<String>>;

/// The `field` of each WARN event in `output` whose message contains `message`, in order.
pub fn warned(output: &Output, message: &str, field: &str) -> Vec<String> {
    output
        .lock()
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| {
            event["level"] == "WARN"
                && event["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(message))
        })
        .map(|event| event["fields"][field].as_str().unwrap_or("").to_owned())
        .collect()
}

/// [`spawn_gateway_process`] logging at `rust_log` (e.g. `debug`), keeping all its output.
pub async fn spawn_gateway_process_logging(
    config: &std::path::Path,
    rust_log: &str,
) -> (GatewayProcess, Output) {
    let output = Output::default();
    let process = spawn_logging(config, rust_log, Some(output.clone())).await;
    (process, output)
}

async fn spawn_logging(
    config: &std::path::Path,
    rust_log: &str,
    keep: Option<Output>,
) -> GatewayProcess {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_smsgw"))
        .args(["--log-format", "json", "serve", "--config"])
        .arg(config)
        .env("RUST_LOG", rust_log)
        .stdout(std::process::Stdio::piped())
        .stderr(if keep.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .kill_on_drop(true)
        .spawn()
        .expect("start smsgw");
    let note = {
        let keep = keep.clone();
        move |line: &str| {
            if let Some(output) = &keep {
                let mut output = output.lock().unwrap();
                output.push_str(line);
                output.push('\n');
            }
        }
    };
    if let Some(stderr) = child.stderr.take() {
        let note = note.clone();
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                note(&line);
            }
        });
    }
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (smpp, http) = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            note(&line);
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if event["fields"]["message"] == "smsgw is running" {
                let addr = |field: &str| event["fields"][field].as_str().unwrap().parse().unwrap();
                return (addr("smpp"), addr("http"));
            }
        }
        panic!("smsgw exited before it was running");
    })
    .await
    .expect("smsgw did not start");
    // Keep draining its output so it never blocks on a full pipe.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            note(&line);
        }
    });
    GatewayProcess { child, smpp, http }
}

/// Gateway processes named `(node, site)`, each in its own temp dir (returned too, to keep),
/// on the carrier simulator at `sim` and the `store` TOML.
pub async fn spawn_nodes(
    sim: SocketAddr,
    store: &str,
    names: &[(&str, &str)],
) -> (Vec<tempfile::TempDir>, Vec<GatewayProcess>) {
    let mut dirs = Vec::new();
    let mut nodes = Vec::new();
    for (node, site) in names {
        let dir = tempfile::tempdir().unwrap();
        let config = node_config_file(sim, dir.path(), node, site, store);
        nodes.push(spawn_gateway_process(&config).await);
        dirs.push(dir);
    }
    (dirs, nodes)
}

/// HTTP load for crash tests: `count` MTs asking for receipts posted to the JSON API of the
/// gateway at `http`, `concurrency` at a time; failed requests are not retried. Returns the
/// task and the ids the gateway acknowledged.
pub fn http_load(
    http: SocketAddr,
    count: usize,
    concurrency: usize,
) -> (tokio::task::JoinHandle<()>, Acked) {
    http_load_as(http, "acme", count, concurrency)
}

/// [`http_load`] as account `login` (password [`PASSWORD`]).
pub fn http_load_as(
    http: SocketAddr,
    login: &str,
    count: usize,
    concurrency: usize,
) -> (tokio::task::JoinHandle<()>, Acked) {
    use futures_util::StreamExt;
    let login = login.to_owned();
    let acked: Acked = Arc::default();
    let record = acked.clone();
    let client = self::http();
    let load = tokio::spawn(async move {
        let posts = futures_util::stream::iter(0..count).map(|n| {
            let request = client
                .post(format!("http://{http}/v1/messages"))
                .basic_auth(&login, Some(PASSWORD))
                .header("Idempotency-Key", format!("http-load-{n}"))
                .json(&serde_json::json!({
                    "to": "447700900001", "from": "ACME", "text": format!("http {n}"), "receipt": true
                }))
                .timeout(Duration::from_secs(10));
            async move {
                let response = request.send().await.ok()?;
                if !response.status().is_success() {
                    return None;
                }
                let body: serde_json::Value = response.json().await.ok()?;
                body["id"].as_str().map(str::to_owned)
            }
        });
        let mut posts = posts.buffer_unordered(concurrency);
        while let Some(id) = posts.next().await {
            if let Some(id) = id {
                record.lock().unwrap().insert(id);
            }
        }
    });
    (load, acked)
}

/// One stream of the deliver_sm PDUs arriving on any of `binds` (a client bound to several
/// nodes or sites).
pub fn merge_incoming(binds: Vec<Receiver<IncomingDeliver>>) -> Receiver<IncomingDeliver> {
    let (sender, merged) = tokio::sync::mpsc::channel(1024);
    for mut bind in binds {
        let sender = sender.clone();
        tokio::spawn(async move {
            while let Some(deliver) = bind.recv().await {
                if sender.send(deliver).await.is_err() {
                    break;
                }
            }
        });
    }
    merged
}

/// Ids the gateway acknowledged, filled in by a running load.
pub type Acked = Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

/// SMPP load for crash tests: `count` MTs asking for receipts, `window` at a time, until the
/// first failure (the node died). Returns the task and the ids the gateway acknowledged.
pub fn submit_load(
    client: Client,
    count: usize,
    window: usize,
) -> (tokio::task::JoinHandle<()>, Acked) {
    load(client, count, window, None)
}

/// [`submit_load`] that goes on after a refused or failed submit (the store is failing over,
/// the node lives), pausing `pause` in that slot first: every MT is tried once.
pub fn submit_load_past_errors(
    client: Client,
    count: usize,
    window: usize,
    pause: Duration,
) -> (tokio::task::JoinHandle<()>, Acked) {
    load(client, count, window, Some(pause))
}

fn load(
    client: Client,
    count: usize,
    window: usize,
    pause_on_error: Option<Duration>,
) -> (tokio::task::JoinHandle<()>, Acked) {
    use futures_util::{stream::FuturesUnordered, StreamExt};
    let acked: Acked = Arc::default();
    let record = acked.clone();
    let load = tokio::spawn(async move {
        let mut in_flight = FuturesUnordered::new();
        for n in 0..count {
            let client = client.clone();
            in_flight.push(async move {
                let result = client
                    .submit(submit("447700900001", &format!("load {n}"), true))
                    .await;
                if let (Err(_), Some(pause)) = (&result, pause_on_error) {
                    tokio::time::sleep(pause).await;
                }
                result
            });
            if in_flight.len() >= window {
                match in_flight.next().await {
                    Some(Ok(id)) => {
                        record.lock().unwrap().insert(id);
                    }
                    Some(Err(_)) if pause_on_error.is_none() => break,
                    _ => {}
                }
            }
        }
        while let Some(result) = in_flight.next().await {
            if let Ok(id) = result {
                record.lock().unwrap().insert(id);
            }
        }
    });
    (load, acked)
}

/// How long tests watch for a second SMS (or push) after the one they expect arrived.
pub const QUIET: Duration = Duration::from_millis(500);

/// The carrier's accepted-submit count once it has reached `expected` (awaited, at most 20 s)
/// and then stayed put for [`QUIET`]: a test of "exactly N SMS" compares it with N, so a
/// duplicate sent right after the N-th shows, and a slow gateway is waited for, not failed.
pub async fn carrier_submits_settled(sim: &CarrierSim, expected: u64) -> u64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while sim.stats().submits_accepted < expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {expected} submits reached the carrier in 20 s",
            sim.stats().submits_accepted
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(QUIET).await;
    sim.stats().submits_accepted
}

/// Waits until a running load has `count` acknowledged ids; panics after `limit`.
pub async fn wait_for_acked(acked: &Acked, count: usize, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let got = acked.lock().unwrap().len();
        if got >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {got} of {count} MTs acknowledged after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Accepts receipts on `incoming` until every id in `wanted` has one or `limit` passes;
/// returns how many receipts each id got.
pub async fn collect_receipts(
    incoming: &mut Receiver<IncomingDeliver>,
    wanted: &std::collections::HashSet<String>,
    limit: Duration,
) -> std::collections::HashMap<String, usize> {
    let mut receipts = std::collections::HashMap::new();
    let deadline = tokio::time::Instant::now() + limit;
    while !wanted.iter().all(|id| receipts.contains_key(id)) {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Ok(Some(deliver)) = tokio::time::timeout(remaining, incoming.recv()).await else {
            break;
        };
        if let Ok(receipt) = smsgw_smpp::encoding::receipt_from_deliver_sm(deliver.pdu()) {
            *receipts.entry(receipt.id).or_default() += 1;
        }
        deliver.accept();
    }
    receipts
}
