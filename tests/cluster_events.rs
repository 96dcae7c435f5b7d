//! The event log of two nodes sharing one Redis: each node's logger takes entries of the one
//! events outbox, so MTs accepted on either node reach PostgreSQL once, whichever node's
//! logger wrote them, with every step of each MT (its receipt may come back through the
//! other node).

mod gateway;
mod postgres_server;
mod redis_server;

use std::time::Duration;

use gateway::{
    config_text_with, http, json_of, redis_store_toml, start_bound, start_sim, ConfigExtra,
    PASSWORD,
};
use smsgw::{carrier_sim::CarrierSimConfig, node::Gateway};

async fn node(
    sim: std::net::SocketAddr,
    redis: &str,
    postgres: &str,
    name: &str,
    dir: &std::path::Path,
) -> Gateway {
    let events = format!(
        "\n[events]\nbatch_size = 20\nstoring_timeout = \"200ms\"\n\n[[events.sinks]]\nkind = \"postgres\"\nurl = \"{postgres}\"\n"
    );
    let extra = ConfigExtra {
        tables: &events,
        ..ConfigExtra::default()
    };
    let text = config_text_with(sim, dir, extra)
        .replace("node_id = \"n1\"", &format!("node_id = \"{name}\""))
        + &redis_store_toml(redis, "events:");
    start_bound(&text).await
}

async fn send(node: &Gateway, n: usize) -> String {
    let answer = json_of(
        http()
            .post(format!("http://{}/v1/messages", node.http_addr()))
            .basic_auth("acme", Some(PASSWORD))
            .json(&serde_json::json!(
                {"to": "447700900001", "from": "ACME", "text": format!("mt {n}")}
            )),
    )
    .await;
    answer["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mts_accepted_on_either_node_reach_postgres_once_with_every_step() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let redis = redis_server::RedisServer::start().await;
    let postgres = postgres_server::PostgresServer::start().await;
    let sim = start_sim(CarrierSimConfig {
        dr_delay: Duration::from_millis(10),
        ..CarrierSimConfig::default()
    })
    .await;
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(
        sim.local_addr(),
        &redis.url,
        &postgres.url,
        "a1",
        dirs.0.path(),
    )
    .await;
    let b = node(
        sim.local_addr(),
        &redis.url,
        &postgres.url,
        "b1",
        dirs.1.path(),
    )
    .await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(send(if n % 2 == 0 { &a } else { &b }, n).await);
    }
    let client = postgres.client().await;
    let counts = |kind: &'static str| {
        let client = &client;
        async move {
            client
                .query(
                    "SELECT message_id, count(*) FROM smsgw_events WHERE kind = $1 GROUP BY 1",
                    &[&kind],
                )
                .await
                .map(|rows| {
                    rows.iter()
                        .map(|row| (row.get::<_, String>(0), row.get::<_, i64>(1)))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (accepted, finals) = (counts("accepted").await, counts("final").await);
        let complete = accepted.len() == ids.len() && finals.len() == ids.len();
        if complete || tokio::time::Instant::now() > deadline {
            for kind in ["accepted", "submitted", "final"] {
                let rows = counts(kind).await;
                for id in &ids {
                    let found = rows.iter().find(|(i, _)| i == id).map(|(_, n)| *n);
                    assert_eq!(found, Some(1), "{kind} of {id}: {rows:?}");
                }
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    a.shutdown().await;
    b.shutdown().await;
}
