//! Login protection end to end, over real sockets: the failed-login lockout per (client
//! address, account) on HTTP and SMPP, the bounded password verifier under a flood of wrong
//! passwords from another address (127.0.0.2), what must not count as a failed login, and a
//! hostile python smpplib ESME (`tests/interop/smpplib_bad_binds.py`, interpreter from
//! `SMSGW_PYTHON` or `.venv/bin/python`).

mod gateway;

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use futures_util::future::join_all;
use gateway::*;
use smsgw::{carrier_sim::CarrierSimConfig, credentials::hash_password};
use smsgw_smpp::{probe, rusmpp::CommandStatus, BindKind, BindRequest};

const BETA_PASSWORD: &str = "beta-pass";

/// A gateway with `auth` as its `[auth]` table, `account` lines for `acme`, and a second
/// account `beta`.
async fn start(auth: &str, account: &str) -> TestGateway {
    let sim = start_sim(CarrierSimConfig::default()).await;
    let tables = format!(
        "\n[auth]\n{auth}\n\n[[accounts]]\nsystem_id = \"beta\"\npassword_hash = \"{}\"\n",
        hash_password(BETA_PASSWORD)
    );
    let extra = ConfigExtra {
        account,
        tables: &tables,
        ..ConfigExtra::default()
    };
    TestGateway::start_in(sim, tempfile::tempdir().unwrap(), extra).await
}

fn local(ip: [u8; 4]) -> IpAddr {
    IpAddr::from(ip)
}

/// An HTTP client whose connections come from `ip` (a loopback address).
fn client_from(ip: IpAddr) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .local_address(ip)
        .build()
        .unwrap()
}

/// One Genesys receiver request as `login`/`password`; returns status, Retry-After and body.
async fn receive(
    test: &TestGateway,
    client: &reqwest::Client,
    login: &str,
    password: &str,
    message_id: &str,
) -> (u16, Option<String>, String) {
    let form = [
        ("login", login),
        ("password", password),
        ("phone_number", "447700900001"),
        ("sender", "ACME"),
        ("message", "hello"),
        ("message_id", message_id),
    ];
    let response = client
        .post(test.url("/httpapi/receiver"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.text().await.unwrap())
}

fn hashes(test: &TestGateway) -> u64 {
    test.gateway.ingest().auth().password_hashes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_wrong_passwords_lock_that_login_from_that_address_without_hashing() {
    let test = start("lockout_failures = 3\nverifier_wait = \"10s\"", "").await;
    let here = client_from(local([127, 0, 0, 1]));
    let (status, _, _) = receive(&test, &here, "acme", PASSWORD, "ok-1").await;
    assert_eq!(status, 200, "the right password, now cached");

    for n in 0..3 {
        let (status, _, body) = receive(&test, &here, "acme", "wrong", &format!("w-{n}")).await;
        assert_eq!((status, &body[..14]), (401, "result_code=2&"), "{body}");
    }
    let before = hashes(&test);
    let (status, _, body) = receive(&test, &here, "acme", "another guess", "w-4").await;
    assert_eq!(
        (status, &body[..14]),
        (401, "result_code=2&"),
        "locked: answered as a wrong password"
    );
    assert_eq!(
        hashes(&test),
        before,
        "a locked login is refused without argon2"
    );

    // The customer's cached credential still passes from the locked address.
    let (status, _, body) = receive(&test, &here, "acme", PASSWORD, "ok-2").await;
    assert_eq!(status, 200, "{body}");
    // Another login from the same address is not locked: its passwords are checked.
    let (status, _, _) = receive(&test, &here, "beta", "wrong", "b-1").await;
    assert_eq!(status, 401);
    assert_eq!(hashes(&test), before + 1);
    let (status, _, _) = receive(&test, &here, "beta", BETA_PASSWORD, "b-2").await;
    assert_eq!(status, 200);
    // The same login from another address is not locked either.
    let elsewhere = client_from(local([127, 0, 0, 2]));
    let (status, _, _) = receive(&test, &elsewhere, "acme", "wrong again", "w-5").await;
    assert_eq!(status, 401);
    assert_eq!(hashes(&test), before + 3);

    let metrics = metrics_text(test.gateway.admin_addr()).await;
    assert!(
        metrics.contains("auth_lockout_refusals_total{interface=\"http\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("auth_lockouts_total{interface=\"http\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_flood_of_unknown_logins_is_bounded_and_cached_clients_are_served() {
    let test = start("verifier_threads = 1\nverifier_wait = \"0ms\"", "").await;
    let customer = client_from(local([127, 0, 0, 1]));
    let (status, _, _) = receive(&test, &customer, "acme", PASSWORD, "warm").await;
    assert_eq!(status, 200);

    let before = hashes(&test);
    let attacker = client_from(local([127, 0, 0, 2]));
    let flood = join_all((0..40).map(|n| {
        let (test, attacker) = (&test, &attacker);
        async move {
            let login = format!("nobody-{n}");
            receive(test, attacker, &login, "guess", &format!("f-{n}")).await
        }
    }));
    let legit = async {
        let mut answers = Vec::new();
        for n in 0..5 {
            answers.push(receive(&test, &customer, "acme", PASSWORD, &format!("l-{n}")).await);
        }
        answers
    };
    let (flooded, legit) = tokio::join!(flood, legit);
    for (status, _, body) in legit {
        assert_eq!(
            status, 200,
            "a cached client is never refused as busy: {body}"
        );
    }
    let refused_busy: Vec<_> = flooded
        .iter()
        .filter(|(status, ..)| *status == 503)
        .collect();
    let rejected = flooded.iter().filter(|(status, ..)| *status == 401).count();
    assert_eq!(rejected + refused_busy.len(), flooded.len(), "{flooded:?}");
    assert!(
        !refused_busy.is_empty(),
        "40 concurrent checks with one verifier and no wait: some are refused"
    );
    for (_, retry_after, body) in &refused_busy {
        assert!(body.starts_with("result_code=98&"), "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"));
    }
    // Every unknown login that was answered 401 cost one argon2 run (the dummy hash), the
    // busy ones none: unknown logins cost what known ones cost, within the bound.
    assert_eq!(hashes(&test) - before, rejected as u64);
    assert_eq!(test.gateway.ingest().auth().lockout_entries(), 0);
    let metrics = metrics_text(test.gateway.admin_addr()).await;
    assert!(
        metrics.contains("auth_verifier_busy_total{interface=\"http\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_burst_of_one_uncached_credential_costs_one_check_and_no_busy_refusal() {
    let test = start("verifier_threads = 1\nverifier_wait = \"0ms\"", "").await;
    let customer = client_from(local([127, 0, 0, 1]));
    let before = hashes(&test);
    let burst = join_all((0..20).map(|n| {
        let (test, customer) = (&test, &customer);
        async move { receive(test, customer, "acme", PASSWORD, &format!("burst-{n}")).await }
    }))
    .await;
    for (status, _, body) in &burst {
        assert_eq!(*status, 200, "{body}");
    }
    // Concurrent checks of one credential share a run; later ones hit the cache.
    assert_eq!(hashes(&test) - before, 1);
}

fn bind(system_id: &str, password: &str) -> BindRequest {
    BindRequest::new(BindKind::Transceiver, system_id, password)
}

async fn bind_from(test: &TestGateway, ip: IpAddr, request: &BindRequest) -> CommandStatus {
    let local = SocketAddr::new(ip, 0);
    probe::bind_status(
        local,
        test.gateway.smpp_addr(),
        request,
        Duration::from_secs(10),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_lockout_counts_only_known_system_ids_and_keeps_cached_binds_working() {
    let test = start(
        "lockout_failures = 2\nlockout_max_entries = 4\nverifier_wait = \"10s\"",
        "",
    )
    .await;
    let here = local([127, 0, 0, 1]);
    assert_eq!(
        bind_from(&test, here, &bind("acme", PASSWORD)).await,
        CommandStatus::EsmeRok
    );
    // A scan of unknown system_ids: each refused after a dummy check, none recorded.
    for n in 0..20 {
        let status = bind_from(&test, here, &bind(&format!("scan{n}"), "x")).await;
        assert_eq!(status, CommandStatus::EsmeRinvpaswd);
    }
    assert_eq!(test.gateway.ingest().auth().lockout_entries(), 0);

    for guess in ["guess-1", "guess-2"] {
        let status = bind_from(&test, here, &bind("acme", guess)).await;
        assert_eq!(status, CommandStatus::EsmeRinvpaswd);
    }
    let before = hashes(&test);
    assert_eq!(
        bind_from(&test, here, &bind("acme", "guess-3")).await,
        CommandStatus::EsmeRbindfail,
        "locked"
    );
    assert_eq!(hashes(&test), before, "no argon2 while locked");
    assert_eq!(
        bind_from(&test, here, &bind("acme", PASSWORD)).await,
        CommandStatus::EsmeRok,
        "the cached password still binds"
    );
    assert_eq!(
        bind_from(&test, local([127, 0, 0, 2]), &bind("acme", "guess-4")).await,
        CommandStatus::EsmeRinvpaswd,
        "another address is not locked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_max_binds_refusal_is_not_a_failed_login() {
    let test = start("lockout_failures = 1", "max_binds = 1").await;
    let (first, _incoming) = test.bind(BindKind::Transceiver).await;
    let here = local([127, 0, 0, 1]);
    for _ in 0..3 {
        assert_eq!(
            bind_from(&test, here, &bind("acme", PASSWORD)).await,
            CommandStatus::EsmeRbindfail,
            "max_binds reached"
        );
    }
    assert_eq!(
        test.gateway.ingest().auth().lockout_entries(),
        0,
        "a max_binds refusal records no failure"
    );
    first.unbind().await.unwrap();
    let bound = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let status = bind_from(&test, here, &bind("acme", PASSWORD)).await;
            if status == CommandStatus::EsmeRok {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(bound.ok(), Some(CommandStatus::EsmeRok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_flood_of_bad_binds_from_another_address_leaves_cached_binds_working() {
    let test = start("verifier_threads = 1\nverifier_wait = \"0ms\"", "").await;
    let here = local([127, 0, 0, 1]);
    assert_eq!(
        bind_from(&test, here, &bind("acme", PASSWORD)).await,
        CommandStatus::EsmeRok
    );
    let before = hashes(&test);
    let attacker = local([127, 0, 0, 2]);
    let flood = join_all((0..40).map(|n| {
        let request = bind(&format!("rot{n}"), "guess");
        let test = &test;
        async move { bind_from(test, attacker, &request).await }
    }));
    let legit = async {
        let mut answers = Vec::new();
        for _ in 0..5 {
            answers.push(bind_from(&test, here, &bind("acme", PASSWORD)).await);
        }
        answers
    };
    let (flooded, legit) = tokio::join!(flood, legit);
    assert!(
        legit.iter().all(|s| *s == CommandStatus::EsmeRok),
        "{legit:?}"
    );
    let rejected = flooded
        .iter()
        .filter(|s| **s == CommandStatus::EsmeRinvpaswd)
        .count();
    let busy = flooded
        .iter()
        .filter(|s| **s == CommandStatus::EsmeRbindfail)
        .count();
    assert_eq!(rejected + busy, flooded.len(), "{flooded:?}");
    assert!(busy > 0, "one verifier, no wait, 40 at once: some are busy");
    assert_eq!(hashes(&test) - before, rejected as u64);
    assert_eq!(test.gateway.ingest().auth().lockout_entries(), 0);
}

/// Runs `tests/interop/smpplib_bad_binds.py` against the gateway; returns the statuses of
/// the flood's binds and of the final bind with the right password.
async fn smpplib_bad_binds(test: &TestGateway, mode: &str, count: usize) -> (Vec<u64>, u64) {
    let python = std::env::var_os("SMSGW_PYTHON").map_or_else(
        || {
            std::path::PathBuf::from(
                std::env::var("CARGO_MANIFEST_DIR")
                    .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
            )
            .join(".venv/bin/python")
        },
        std::path::PathBuf::from,
    );
    let script = std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("tests/interop/smpplib_bad_binds.py");
    let addr = test.gateway.smpp_addr();
    let output = tokio::process::Command::new(&python)
        .arg(script)
        .args([&addr.ip().to_string(), &addr.port().to_string()])
        .args(["acme", PASSWORD, mode, &count.to_string()])
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("smpplib run timed out")
        .unwrap_or_else(|e| panic!("cannot run {python:?} (set SMSGW_PYTHON): {e}"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let status = |event: &serde_json::Value| event["status"].as_u64().unwrap();
    let (last, flood) = events.split_last().expect("no output");
    assert_eq!(last["event"], "right_bind");
    (flood.iter().map(status).collect(), status(last))
}

const ESME_RINVPASWD: u64 = 0x0E;
const ESME_RBINDFAIL: u64 = 0x0D;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpplib_flood_from_the_customers_own_address_cannot_lock_the_customer_out() {
    let test = start("lockout_failures = 3", "").await;
    // The customer is bound (its credential verified and cached) before the flood starts.
    let (_bound, _incoming) = test.bind(BindKind::Transceiver).await;

    // Unknown system_ids from the customer's address: refused, never recorded.
    let (flood, right) = smpplib_bad_binds(&test, "rotate", 10).await;
    assert!(flood.iter().all(|s| *s == ESME_RINVPASWD), "{flood:?}");
    assert_eq!(right, 0);
    assert_eq!(test.gateway.ingest().auth().lockout_entries(), 0);

    // Wrong passwords for the customer's own system_id from its address: locked after three,
    // answered without argon2 from then on; the customer's (cached) password still binds.
    let before = hashes(&test);
    let (flood, right) = smpplib_bad_binds(&test, "guess", 8).await;
    assert_eq!(flood[..3], [ESME_RINVPASWD; 3]);
    assert_eq!(flood[3..], [ESME_RBINDFAIL; 5]);
    assert_eq!(hashes(&test) - before, 3);
    assert_eq!(right, 0, "the customer is not locked out");
}
