//! `smsgw send` end to end: the real binary against a gateway (and carrier simulator) started
//! in this process, over SMPP and over HTTP.

mod gateway;

use std::process::Output;

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
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let accepted = lines_starting_with(&out, "accepted ");
    assert_eq!(accepted.len(), 1, "{out}");
    assert!(accepted[0].contains(&format!("via smpp://{addr}")), "{out}");
    let id = accepted_id(accepted[0]);
    assert_eq!(
        lines_starting_with(&out, "receipt "),
        [format!("receipt {id} DELIVRD err:000")],
        "{out}"
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
    let out = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let accepted = lines_starting_with(&out, "accepted ");
    assert_eq!(accepted.len(), 1, "{out}");
    assert!(
        accepted[0].contains(&format!("via {base}/v1/messages")),
        "{out}"
    );
    let id = accepted_id(accepted[0]);
    let receipts = lines_starting_with(&out, "receipt ");
    assert_eq!(receipts.len(), 1, "{out}");
    assert!(
        receipts[0].starts_with(&format!("receipt {id} DELIVERED ")),
        "{out}"
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
