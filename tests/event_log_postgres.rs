//! The PostgreSQL sink against a real server: the schema is migrated once however many
//! sinks connect, and a batch written again (a sink failed after another took it, a node
//! died mid-batch) adds no row twice, also when it is mixed with new events.

mod postgres_server;

use smsgw::{
    config::Secret,
    event::{Event, EventKind},
    event_log::{postgres::PostgresSink, sink::EventSink},
    message::MessageState,
};

async fn event_ids(client: &tokio_postgres::Client) -> Vec<String> {
    client
        .query("SELECT event_id FROM smsgw_events ORDER BY event_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_written_again_adds_nothing_and_new_events_in_it_are_kept() {
    let server = postgres_server::PostgresServer::start().await;
    let mut first = PostgresSink::new(Secret::new(server.url.clone()));
    let mut second = PostgresSink::new(Secret::new(server.url.clone()));
    let a = Event::new(EventKind::Accepted, "acme");
    let b = Event::new(EventKind::Final, "acme").with_state(MessageState::Delivered);
    let c = Event::new(EventKind::Mo, "acme");
    first.write(&[&a, &b]).await.unwrap();
    // Another node writes the same batch again, with a new event in it.
    second.write(&[&a, &b, &c]).await.unwrap();
    first.write(&[&b]).await.unwrap();
    let client = server.client().await;
    let mut want = vec![a.event_id.clone(), b.event_id.clone(), c.event_id.clone()];
    want.sort();
    assert_eq!(event_ids(&client).await, want);
    let state: Option<String> = client
        .query_one(
            "SELECT state FROM smsgw_events WHERE event_id = $1",
            &[&b.event_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(state.as_deref(), Some("DELIVERED"));
    let migrations: i64 = client
        .query_one("SELECT count(*) FROM smsgw_schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(migrations, 1, "migrated once for two sinks");
}
