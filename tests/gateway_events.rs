//! The event log over real servers: a gateway with its built-in path (HTTP clients, the
//! carrier simulator) writes every MT's events to a real PostgreSQL server and to an NDJSON
//! file, `smsgw report` counts the account's usage from them; a PostgreSQL server that is
//! down when the events come delays them and loses none; a NATS JetStream sink gets each
//! event once.

mod gateway;
mod nats_server;
mod postgres_server;

use std::{collections::HashSet, time::Duration};

use gateway::{http, json_of, ConfigExtra, TestGateway, PASSWORD};
use postgres_server::{free_port, url_on, PostgresServer};
use smsgw::{carrier_sim::CarrierSimConfig, event::EVENTS_ACCOUNT};

/// `[events]` with small batches and a short storing timeout, and `sinks` (TOML tables).
fn events_toml(sinks: &str) -> String {
    format!("\n[events]\nbatch_size = 50\nstoring_timeout = \"200ms\"\n{sinks}")
}

fn postgres_sink(url: &str) -> String {
    format!("\n[[events.sinks]]\nkind = \"postgres\"\nurl = \"{url}\"\n")
}

async fn start(tables: &str) -> TestGateway {
    let sim = gateway::start_sim(CarrierSimConfig {
        dr_delay: Duration::from_millis(10),
        ..CarrierSimConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let extra = ConfigExtra {
        tables,
        ..ConfigExtra::default()
    };
    TestGateway::start_in(sim, dir, extra).await
}

/// Sends an MT over the JSON API; its id if accepted.
async fn send(test: &TestGateway, to: &str, text: &str) -> Option<String> {
    send_json(
        test,
        serde_json::json!({"to": to, "from": "ACME", "text": text, "receipt": true}),
    )
    .await
}

async fn send_json(test: &TestGateway, body: serde_json::Value) -> Option<String> {
    let answer = json_of(
        http()
            .post(test.url("/v1/messages"))
            .basic_auth("acme", Some(PASSWORD))
            .json(&body),
    )
    .await;
    answer["id"].as_str().map(str::to_owned)
}

/// `(message_id, kind)` of every row, waiting until `done` holds of them (30 s at most).
async fn rows_until(
    client: &tokio_postgres::Client,
    done: impl Fn(&[(String, String)]) -> bool,
) -> Vec<(String, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows: Vec<(String, String)> = client
            .query(
                "SELECT coalesce(message_id, ''), kind FROM smsgw_events ORDER BY at_ms",
                &[],
            )
            .await
            .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            .unwrap_or_default();
        if done(&rows) || tokio::time::Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn count(rows: &[(String, String)], id: &str, kind: &str) -> usize {
    rows.iter().filter(|(i, k)| i == id && k == kind).count()
}

/// Every MT of `ids` has its accepted, final and delivered (receipt to the client) events.
fn complete(rows: &[(String, String)], ids: &[String]) -> bool {
    ids.iter().all(|id| {
        ["accepted", "final", "delivered"]
            .iter()
            .all(|kind| count(rows, id, kind) == 1)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mt_is_in_postgres_and_the_file_and_the_report_counts_its_parts() {
    let postgres = PostgresServer::start().await;
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("events.ndjson");
    let sinks = postgres_sink(&postgres.url)
        + &format!(
            "\n[[events.sinks]]\nkind = \"file\"\npath = \"{}\"\n",
            file.display()
        );
    let test = start(&events_toml(&sinks)).await;
    // A receiver bind, so receipts are delivered (and their `delivered` events written).
    let (_client, mut incoming) = test.bind(smsgw_smpp::BindKind::Receiver).await;
    tokio::spawn(async move {
        while let Some(deliver) = incoming.recv().await {
            deliver.accept();
        }
    });

    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(
            send(&test, "447700900001", &format!("one part {n}"))
                .await
                .unwrap(),
        );
    }
    let long = "x".repeat(200);
    ids.push(send(&test, "447700900002", &long).await.unwrap());
    let no_such_carrier = serde_json::json!(
        {"to": "447700900003", "from": "ACME", "text": "x", "carrier": "nope"}
    );
    assert_eq!(send_json(&test, no_such_carrier).await, None);

    let client = postgres.client().await;
    let rows = rows_until(&client, |rows| complete(rows, &ids)).await;
    assert!(complete(&rows, &ids), "{rows:#?}");
    for id in &ids[..10] {
        assert_eq!(count(&rows, id, "submitted"), 1, "{id}");
        assert_eq!(count(&rows, id, "receipt"), 1, "{id}");
    }
    assert_eq!(
        count(&rows, &ids[10], "submitted"),
        2,
        "two parts, two submits"
    );
    let kinds: Vec<(String, i64)> = client
        .query("SELECT kind, count(*) FROM smsgw_events GROUP BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let refused = client
        .query_opt(
            "SELECT code, destination, interface FROM smsgw_events WHERE kind = 'refused'",
            &[],
        )
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("one refusal: {kinds:?}"));
    assert_eq!(
        refused.get::<_, Option<String>>(0).as_deref(),
        Some("unknown_carrier")
    );
    assert_eq!(
        refused.get::<_, Option<String>>(1).as_deref(),
        Some("447700900003")
    );
    assert_eq!(refused.get::<_, Option<String>>(2).as_deref(), Some("http"));
    let finals = client
        .query(
            "SELECT state, connector, parts FROM smsgw_events WHERE kind = 'final'",
            &[],
        )
        .await
        .unwrap();
    for row in &finals {
        assert_eq!(
            row.get::<_, Option<String>>(0).as_deref(),
            Some("DELIVERED")
        );
        assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("sim"));
    }

    // The file has every event PostgreSQL has (once each: files are read deduped by id).
    let in_postgres: HashSet<String> = client
        .query("SELECT event_id FROM smsgw_events", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let in_file = loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let ids: HashSet<String> = text
            .lines()
            .map(|line| {
                let event: serde_json::Value = serde_json::from_str(line).unwrap();
                event["event_id"].as_str().unwrap().to_owned()
            })
            .collect();
        if ids.is_superset(&in_postgres) || tokio::time::Instant::now() > deadline {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(in_file.is_superset(&in_postgres));

    // The usage report, from the binary as an operator runs it.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_smsgw"))
        .args([
            "report",
            "--account",
            "acme",
            "--from",
            "2000-01-01",
            "--to",
            "2100-01-01",
            "--json",
            "--postgres",
            &postgres.url,
        ])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let usage: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows = usage["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{usage}");
    assert_eq!(rows[0]["connector"], "sim");
    assert_eq!(rows[0]["state"], "DELIVERED");
    assert_eq!(rows[0]["mts"], 11);
    assert_eq!(rows[0]["parts"], 12, "ten single parts and one of two");
    assert_eq!(
        usage["refused"],
        serde_json::json!([["unknown_carrier", 1]])
    );
    test.gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_in_the_store_while_postgres_is_down_and_none_is_lost() {
    let port = free_port();
    let test = start(&events_toml(&postgres_sink(&url_on(port)))).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(
            send(&test, "447700900001", &format!("while down {n}"))
                .await
                .unwrap(),
        );
    }
    // Every MT ends (final) while no event can be written: they wait in the store.
    let store = test.gateway.store().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut backlog = 0;
    while tokio::time::Instant::now() < deadline {
        backlog = gateway::outbox_depth(store.as_ref(), EVENTS_ACCOUNT).await;
        let mut finals = 0;
        for id in &ids {
            let record = store
                .message(&smsgw::message::MessageId(id.clone()))
                .await
                .unwrap()
                .unwrap();
            finals += usize::from(record.state.is_final());
        }
        if finals == ids.len() && backlog > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(backlog > 0, "events wait in the store");

    let postgres = PostgresServer::start_on(port).await;
    let client = postgres.client().await;
    let rows = rows_until(&client, |rows| {
        ids.iter()
            .all(|id| count(rows, id, "accepted") == 1 && count(rows, id, "final") == 1)
    })
    .await;
    for id in &ids {
        assert_eq!(count(&rows, id, "accepted"), 1, "{id}: {rows:?}");
        assert_eq!(count(&rows, id, "submitted"), 1, "{id}");
        assert_eq!(count(&rows, id, "final"), 1, "{id}");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while gateway::outbox_depth(store.as_ref(), EVENTS_ACCOUNT).await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the backlog drains");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    test.gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_sink_gets_each_event_once_on_its_subject() {
    let nats = nats_server::NatsCluster::start().await;
    let url = nats.urls().remove(0);
    let sink = format!(
        "\n[[events.sinks]]\nkind = \"nats\"\nurl = \"{url}\"\nkinds = [\"accepted\", \"final\"]\n"
    );
    let test = start(&events_toml(&sink)).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(
            send(&test, "447700900001", &format!("to nats {n}"))
                .await
                .unwrap(),
        );
    }
    let client = async_nats::connect(&url).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let (accepted, finals) = loop {
        let counts = async {
            let stream = jetstream.get_stream("SMSGW_EVENTS").await.ok()?;
            let subjects = stream.info_with_subjects("smsgw.events.>").await.ok()?;
            use futures_util::TryStreamExt;
            let subjects: Vec<(String, usize)> = subjects.try_collect().await.ok()?;
            let of = |subject: &str| {
                subjects
                    .iter()
                    .find(|(s, _)| s == subject)
                    .map_or(0, |(_, n)| *n)
            };
            Some((
                of("smsgw.events.accepted.acme"),
                of("smsgw.events.final.acme"),
            ))
        }
        .await
        .unwrap_or_default();
        if counts == (5, 5) || tokio::time::Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        (accepted, finals),
        (5, 5),
        "one each per MT, nothing else kept"
    );
    test.gateway.shutdown().await;
}
