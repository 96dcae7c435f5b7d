//! `smsgw send` end to end: the real binary against gateways (and carrier simulators) started
//! in this process, over SMPP and over HTTP, and failing over from a stopped gateway to a
//! running one (`--smpp A --smpp B`, `--url A --url B`, `--host` resolved by a local DNS
//! responder).

mod gateway;

// The UDP DNS responder of the FailoverClient tests.
#[allow(dead_code)]
#[path = "../http/tests/failover_support/dns.rs"]
mod dns;

use std::{net::Ipv4Addr, process::Output};

use gateway::*;

/// Runs `smsgw send` with the test account's credentials and `extra` arguments.
async fn send(extra: &[&str]) -> Output {
    send_as("acme", PASSWORD, extra).await
}

async fn send_as(login: &str, password: &str, extra: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_smsgw"))
        .args(["send", "--system-id", login, "--password", password])
        .args(extra)
        .env_remove("SMSGW_PASSWORD")
        // Logs go to stderr: stdout must hold only the result lines, whatever the level.
        .env("RUST_LOG", "debug")
        .kill_on_drop(true)
        .output()
        .await
        .expect("running smsgw send")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stdout and stderr, for assertion messages.
fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn lines_starting_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// The id in an `accepted <id> via ...` line.
fn accepted_id(line: &str) -> &str {
    line.split_whitespace()
        .nth(1)
        .expect("an id after 'accepted'")
}

/// Asserts that `smsgw send` exited 0 with one `accepted` line that contains `via` and, with
/// `receipt`, one `receipt <id> <receipt>` line for it; returns the id.
fn assert_sent(output: &Output, via: &str, receipt: Option<&str>) -> String {
    let out = stdout(output);
    assert_eq!(output.status.code(), Some(0), "{}", describe(output));
    let accepted = lines_starting_with(&out, "accepted ");
    assert_eq!(accepted.len(), 1, "{out}");
    assert!(accepted[0].contains(via), "{out}");
    let id = accepted_id(accepted[0]).to_owned();
    if let Some(receipt) = receipt {
        assert_eq!(
            lines_starting_with(&out, "receipt "),
            [format!("receipt {id} {receipt}")],
            "{out}"
        );
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_send_with_wait_prints_the_delivered_receipt_and_exits_0() {
    let test = TestGateway::start().await;
    let addr = test.gateway.smpp_addr().to_string();
    let output = send(&[
        "--smpp",
        &addr,
        "--to",
        "447700900001",
        "--text",
        "hello from smsgw send",
        "--wait",
    ])
    .await;
    assert_sent(
        &output,
        &format!("via smpp://{addr}"),
        Some("DELIVRD err:000"),
    );
    assert_eq!(test.sim.stats().submits_accepted, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_send_to_an_undeliverable_number_exits_1_with_undeliv() {
    let test = TestGateway::start().await;
    let addr = test.gateway.smpp_addr().to_string();
    let output = send(&[
        "--smpp",
        &addr,
        "--to",
        "99910001",
        "--text",
        "nobody home",
        "--wait",
    ])
    .await;
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let receipts = lines_starting_with(&out, "receipt ");
    assert_eq!(receipts.len(), 1, "{out}");
    assert!(receipts[0].contains(" UNDELIV "), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_send_of_a_long_text_submits_every_part_and_waits_for_each_receipt() {
    let test = TestGateway::start().await;
    let addr = test.gateway.smpp_addr().to_string();
    let text = "0123456789".repeat(30);
    let output = send(&[
        "--smpp",
        &addr,
        "--to",
        "447700900001",
        "--text",
        &text,
        "--wait",
    ])
    .await;
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let accepted = lines_starting_with(&out, "accepted ");
    assert!(
        accepted.len() >= 2,
        "300 GSM characters need 2+ parts: {out}"
    );
    assert!(accepted[0].ends_with(&format!("(part 1/{})", accepted.len())));
    let receipts = lines_starting_with(&out, "receipt ");
    assert_eq!(receipts.len(), accepted.len(), "{out}");
    for line in &accepted {
        let id = accepted_id(line);
        let expected = format!("receipt {id} DELIVRD err:000");
        assert!(receipts.contains(&expected.as_str()), "{out}");
    }
    assert_eq!(test.sim.stats().submits_accepted as usize, accepted.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_send_with_a_wrong_password_exits_2_and_says_the_bind_was_refused() {
    let test = TestGateway::start().await;
    let addr = test.gateway.smpp_addr().to_string();
    let output = send_as(
        "acme",
        "wrongpw1",
        &["--smpp", &addr, "--to", "447700900001", "--text", "hi"],
    )
    .await;
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        out.starts_with("refused bind of \"acme\""),
        "{}",
        describe(&output)
    );
    assert!(out.contains("--password"), "{out}");
    assert_eq!(test.sim.stats().submits_accepted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_send_without_wait_posts_the_genesys_form_and_exits_0() {
    let test = TestGateway::start().await;
    let base = test.url("");
    let output = send(&[
        "--url",
        &base,
        "--to",
        "447700900001",
        "--text",
        "hello over http",
        "--message-id",
        "cli-1",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        stdout(&output),
        format!("accepted cli-1 via {base}/httpapi/receiver\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_send_with_wait_polls_the_json_api_until_delivered() {
    let test = TestGateway::start().await;
    let base = test.url("");
    let output = send(&[
        "--url",
        &base,
        "--to",
        "447700900001",
        "--text",
        "hello, tell me when",
        "--wait",
        "--priority",
        "INTERACTIVE",
    ])
    .await;
    assert_sent(
        &output,
        &format!("via {base}/v1/messages"),
        Some("DELIVERED err:000"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_send_with_a_wrong_password_exits_2_with_the_result_code() {
    let test = TestGateway::start().await;
    let base = test.url("");
    let output = send_as(
        "acme",
        "wrong-password",
        &["--url", &base, "--to", "447700900001", "--text", "hi"],
    )
    .await;
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(out.starts_with("refused by "), "{out}");
    assert!(out.contains("result_code=2 "), "{out}");
    assert_eq!(test.sim.stats().submits_accepted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_and_url_together_are_refused_by_the_argument_parser() {
    let output = send(&[
        "--smpp",
        "127.0.0.1:1",
        "--url",
        "http://127.0.0.1:1",
        "--to",
        "447700900001",
        "--text",
        "hi",
    ])
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot be used with"),
        "{}",
        describe(&output)
    );
    assert!(output.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_send_with_wait_and_no_receipt_exits_2_with_a_timeout_line() {
    let test = TestGateway::start().await;
    let addr = test.gateway.smpp_addr().to_string();
    let output = send(&[
        "--smpp",
        &addr,
        "--to",
        "99920001",
        "--text",
        "no receipt for this one",
        "--wait",
        "--timeout-s",
        "1",
    ])
    .await;
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let id = accepted_id(lines_starting_with(&out, "accepted ")[0]);
    assert_eq!(
        lines_starting_with(&out, "timeout: "),
        [format!("timeout: no final receipt within 1 s for {id}")],
        "{out}"
    );
    assert!(lines_starting_with(&out, "receipt ").is_empty(), "{out}");
}

/// Two gateways, each with its own carrier simulator.
async fn two_gateways() -> (TestGateway, TestGateway) {
    (TestGateway::start().await, TestGateway::start().await)
}

/// Shuts `test`'s gateway down (its addresses refuse connections from now on); returns its
/// SMPP address, HTTP base URL and simulator (kept to show it received nothing).
async fn stop(test: TestGateway) -> (String, String, smsgw::carrier_sim::CarrierSim) {
    let smpp = test.gateway.smpp_addr().to_string();
    let http = test.url("");
    test.gateway.shutdown().await;
    (smpp, http, test.sim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_send_to_two_gateways_goes_through_the_running_one_and_names_it() {
    let (first, second) = two_gateways().await;
    let (stopped_addr, _, stopped_sim) = stop(first).await;
    let running_addr = second.gateway.smpp_addr().to_string();
    let output = send(&[
        "--smpp",
        &stopped_addr,
        "--smpp",
        &running_addr,
        "--to",
        "447700900001",
        "--text",
        "one site is down",
        "--wait",
    ])
    .await;
    assert_sent(
        &output,
        &format!("via smpp://{running_addr} (part 1/1)"),
        Some("DELIVRD err:000"),
    );
    assert_eq!(second.sim.stats().submits_accepted, 1);
    assert_eq!(stopped_sim.stats().submits_accepted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_send_with_every_gateway_down_exits_2_naming_each_address() {
    let (first, second) = two_gateways().await;
    let (one, _, _sim_one) = stop(first).await;
    let (two, _, _sim_two) = stop(second).await;
    let output = send(&[
        "--smpp",
        &one,
        "--smpp",
        &two,
        "--to",
        "447700900001",
        "--text",
        "hi",
    ])
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("smpp://{one}: ")), "{stderr}");
    assert!(stderr.contains(&format!("smpp://{two}: ")), "{stderr}");
    assert!(output.stdout.is_empty(), "{}", describe(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_send_to_two_urls_fails_over_to_the_running_gateway_and_follows_the_receipt() {
    let (first, second) = two_gateways().await;
    let (_, stopped_url, stopped_sim) = stop(first).await;
    let running_url = second.url("");
    let output = send(&[
        "--url",
        &stopped_url,
        "--url",
        &running_url,
        "--retry-window-s",
        "1",
        "--to",
        "447700900001",
        "--text",
        "over the other site",
        "--message-id",
        "cli-failover-1",
        "--wait",
    ])
    .await;
    assert_sent(
        &output,
        &format!("via {running_url}/v1/messages (1 part(s), Idempotency-Key cli-failover-1)"),
        Some("DELIVERED err:000"),
    );
    assert_eq!(second.sim.stats().submits_accepted, 1);
    assert_eq!(stopped_sim.stats().submits_accepted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_send_to_a_host_tries_each_address_and_names_the_one_that_took_it() {
    let test = TestGateway::start().await;
    let port = test.gateway.http_addr().port();
    // 127.0.0.2 first: nothing listens there on the gateway's port.
    let dns =
        dns::DnsResponder::start(vec![Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::LOCALHOST], 60).await;
    let output = send(&[
        "--host",
        &format!("smsgw.test:{port}"),
        "--dns",
        &dns.addr.to_string(),
        "--retry-window-s",
        "1",
        "--to",
        "447700900001",
        "--text",
        "found by name",
        "--message-id",
        "cli-host-1",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(
        stdout(&output),
        format!("accepted cli-host-1 via http://smsgw.test:{port}/httpapi/receiver (127.0.0.1)\n")
    );
    assert!(dns.a_questions() >= 1);
}
