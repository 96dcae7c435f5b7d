//! Interop: python `smpplib` (an independent ESME implementation) binds to our server as a
//! transceiver, submits single and multipart messages, receives a deliver_sm and unbinds.
//!
//! The interpreter comes from `SMSGW_PYTHON` (set by scripts/test.sh, which installs the
//! pinned smpplib into .venv) or `<workspace>/.venv/bin/python`.

mod common;

use std::{path::PathBuf, process::Stdio, time::Duration};

use common::*;
use serde_json::Value;
use smsgw_smpp::rusmpp::CommandStatus;
use tokio::io::{AsyncBufReadExt, BufReader};

fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("SMSGW_PYTHON") {
        return path.into();
    }
    let venv = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("../.venv/bin/python");
    assert!(
        venv.exists(),
        "python with smpplib not found: run `bash scripts/test.sh` once (it creates .venv) or set SMSGW_PYTHON"
    );
    venv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpplib_transceiver_submits_and_receives_a_deliver_sm() {
    let (server, smsc, addr) = start_server(Default::default()).await;
    let script = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("tests/interop/smpplib_esme.py");
    let long_text = "The quick brown fox jumps over the lazy dog. ".repeat(5);
    let mut child = tokio::process::Command::new(python())
        .arg(script)
        .args([
            &addr.ip().to_string(),
            &addr.port().to_string(),
            "demo",
            "demo1234",
            "1",
        ])
        .args(["hello from smpplib", long_text.trim_end()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start python");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut events = Vec::new();
    let mut delivered = None;
    let reading = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let event: Value = serde_json::from_str(&line).expect("json line");
            if event["event"] == "enquire_link_resp" {
                let result = server
                    .registry()
                    .deliver("demo", deliver_from("447700900001", "reply to smpplib"))
                    .await;
                delivered = Some(result);
            }
            events.push(event);
        }
    };
    tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("smpplib run timed out");
    let status = child.wait().await.unwrap();
    assert!(
        status.success(),
        "python exited with {status}; events: {events:?}"
    );

    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    // one single-part submit + a 5x45-char text in two UDH parts
    assert_eq!(
        names,
        [
            "bound",
            "submit_sm_resp",
            "submit_sm_resp",
            "submit_sm_resp",
            "enquire_link_resp",
            "deliver_sm",
            "unbound"
        ]
    );
    let ids: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "submit_sm_resp")
        .map(|e| e["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m0", "m1", "m2"]);
    assert!(events
        .iter()
        .all(|e| e["status"].as_u64().unwrap_or(0) == 0));
    let deliver = events.iter().find(|e| e["event"] == "deliver_sm").unwrap();
    assert_eq!(deliver["text"], "reply to smpplib");
    assert_eq!(delivered.unwrap().unwrap().status, CommandStatus::EsmeRok);

    let submits = smsc.submits.lock().unwrap();
    assert_eq!(submits[0].short_message().as_ref(), b"hello from smpplib");
    // The long text came as two parts with a concatenation UDH (esm_class UDHI).
    assert!(submits[1..]
        .iter()
        .all(|s| u8::from(s.esm_class) & 0x40 != 0));
}
