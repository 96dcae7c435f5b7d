//! Secrets stay out of `Debug` output and logs: connector and bind passwords, Redis URLs and
//! Sentinel addresses with passwords, the Redis store's client key, push URLs with credentials or tokens. The log test runs
//! a real gateway process at debug level, drives a bad bind and failing pushes to a URL that
//! carries a password and a token, and searches everything it wrote.

mod gateway;

use std::sync::atomic::Ordering;
use std::time::Duration;

use gateway::push_receiver::{wait_until, Answer, PushReceiver};
use gateway::{config_text, http_load, spawn_gateway_process_logging, start_sim};
use smsgw::carrier_sim::CarrierSimConfig;
use smsgw::store::{RedisServers, RedisTarget};
use smsgw::upstream::ConnectorSettings;
use smsgw_smpp::{BindKind, BindRequest, Client, ClientConfig};

#[test]
fn debug_output_masks_passwords_of_connectors_binds_and_redis() {
    let connector = ConnectorSettings::new("c1", "smsc.example:2775", "gw", "C0nnPa55");
    let shown = format!("{connector:?}");
    assert!(
        !shown.contains("C0nnPa55") && shown.contains("smsc.example"),
        "{shown}"
    );

    let bind = BindRequest::new(BindKind::Transceiver, "acme", "B1ndPa55");
    let shown = format!("{:?}", ClientConfig::new(bind));
    assert!(
        !shown.contains("B1ndPa55") && shown.contains("acme"),
        "{shown}"
    );

    let url = RedisTarget::from("redis://user:R3disPa55@10.0.0.5:6379/2");
    let sentinels = RedisTarget {
        servers: RedisServers::Sentinel {
            sentinels: vec![
                "rediss://:S3ntPa55@10.0.1.7:26379".into(),
                "rediss://:S3ntPa55@10.0.2.7:26379".into(),
            ],
            master_name: "smsgw".into(),
            primary_url: Some("rediss://:Pr1mPa55@ignored/3".into()),
        },
        tls: Some(redis::TlsCertificates {
            client_tls: Some(redis::ClientTlsConfig {
                client_cert: b"CL1entCert".to_vec(),
                client_key: b"CL1entKey".to_vec(),
            }),
            root_cert: None,
        }),
    };
    let shown = format!("{url:?} {sentinels:?}");
    for secret in ["R3disPa55", "S3ntPa55", "Pr1mPa55", "CL1entKey"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(
        shown.contains("10.0.0.5:6379/2") && shown.contains("rediss://:***@10.0.2.7:26379"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_bind_and_failing_pushes_log_no_password_or_token() {
    const SECRETS: [&str; 4] = ["PushPa55", "PushT0ken", "Wr0ngPw9", "C0nnPw77"];
    let sim = start_sim(CarrierSimConfig::default()).await;
    let failing = PushReceiver::start(Answer::Status(500)).await;
    let url = format!(
        "http://pushuser:PushPa55@127.0.0.1:{}/push?token=PushT0ken",
        failing.port
    );
    let dir = tempfile::tempdir().unwrap();
    let push = format!("push = {{ url = \"{url}\", allow_private_targets = [\"127.0.0.1\"] }}");
    let text = config_text(sim.local_addr(), dir.path(), &push)
        .replace("password = \"pw\"", "password = \"C0nnPw77\"");
    let config = dir.path().join("smsgw.toml");
    std::fs::write(&config, text).unwrap();
    let (process, output) = spawn_gateway_process_logging(&config, "debug").await;

    let wrong = ClientConfig::new(BindRequest::new(BindKind::Receiver, "acme", "Wr0ngPw9"));
    let handler = std::sync::Arc::new(smsgw_smpp::client::DeliverStream::new(8).0);
    assert!(Client::connect(process.smpp, wrong, handler).await.is_err());

    let (load, acked) = http_load(process.http, 1, 1);
    load.await.unwrap();
    assert_eq!(acked.lock().unwrap().len(), 1);
    // The first push and its retry a second later both fail.
    assert!(
        wait_until(Duration::from_secs(20), || {
            failing.seen.requests.load(Ordering::SeqCst) >= 2
        })
        .await,
        "the receipt was not pushed twice: {}",
        output.lock().unwrap()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(process);

    let output = output.lock().unwrap().clone();
    for secret in SECRETS {
        let leaks: Vec<&str> = output.lines().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "{secret} in the log: {leaks:#?}");
    }
    // The lines that would carry them were written, masked.
    assert!(output.contains("bind failed"), "{output}");
    assert!(
        output.contains("/push?token=***") && output.contains("push to retry"),
        "{output}"
    );
}
