//! The PostgreSQL sink: the shipped migrations (`migrations/events/`) applied at connect,
//! then each batch in one transaction: binary `COPY` straight into `smsgw_events`; when that
//! meets an event already there (a batch written again), the batch goes through a session's
//! staging table and `INSERT ... ON CONFLICT (event_id) DO NOTHING` instead, so a batch
//! written again adds nothing, and the usual batch is copied once, not twice. A failed batch
//! drops the connection; the next write reconnects.

use std::pin::pin;

use async_trait::async_trait;
use tokio_postgres::{
    binary_copy::BinaryCopyInWriter, error::SqlState, types::Type, Client, NoTls, Transaction,
};
use tracing::info;

use super::sink::{EventSink, SinkError};
use crate::{config::Secret, event::Event};

/// Schema versions in order; each applied once, under an advisory lock (nodes start
/// together).
pub const MIGRATIONS: &[(i32, &str)] =
    &[(1, include_str!("../../migrations/events/0001_events.sql"))];

/// The columns COPY fills, in order (`at` is generated from `at_ms`).
const COLUMNS: &str = "event_id, kind, at_ms, account, message_id, client_message_id, \
                       carrier_id, interface, connector, source, destination, part, parts, \
                       data_coding, state, code, detail";

const COLUMN_TYPES: [Type; 17] = [
    Type::TEXT,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::INT2,
    Type::INT2,
    Type::INT2,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
];

/// See the module documentation.
pub struct PostgresSink {
    url: Secret,
    client: Option<Client>,
}

impl PostgresSink {
    pub fn new(url: Secret) -> Self {
        Self { url, client: None }
    }

    async fn client(&mut self) -> Result<&mut Client, SinkError> {
        if self.client.is_none() {
            self.client = Some(connect(self.url.expose()).await?);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }
}

/// A connection with the schema migrated and this session's staging table made.
pub async fn connect(url: &str) -> Result<Client, SinkError> {
    let (mut client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(SinkError::from_display)?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(%err, "event log: PostgreSQL connection ended");
        }
    });
    migrate(&mut client).await?;
    client
        .batch_execute(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS smsgw_events_batch AS \
             SELECT {COLUMNS} FROM smsgw_events WITH NO DATA"
        ))
        .await
        .map_err(SinkError::from_display)?;
    Ok(client)
}

/// Applies the migrations not applied yet, each in its own transaction.
pub async fn migrate(client: &mut Client) -> Result<(), SinkError> {
    let sql_error = SinkError::from_display;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS smsgw_schema_migrations (
                 component text NOT NULL,
                 version integer NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now(),
                 PRIMARY KEY (component, version))",
        )
        .await
        .map_err(sql_error)?;
    for (version, sql) in MIGRATIONS {
        let tx = client.transaction().await.map_err(sql_error)?;
        tx.execute("SELECT pg_advisory_xact_lock(7466756)", &[])
            .await
            .map_err(sql_error)?;
        let applied = tx
            .query_opt(
                "SELECT 1 FROM smsgw_schema_migrations WHERE component = 'events' AND version = $1",
                &[version],
            )
            .await
            .map_err(sql_error)?
            .is_some();
        if !applied {
            tx.batch_execute(sql).await.map_err(sql_error)?;
            tx.execute(
                "INSERT INTO smsgw_schema_migrations (component, version) VALUES ('events', $1)",
                &[version],
            )
            .await
            .map_err(sql_error)?;
            info!(version, "event log: PostgreSQL schema migrated");
        }
        tx.commit().await.map_err(sql_error)?;
    }
    Ok(())
}

fn state_name(event: &Event) -> Option<String> {
    event
        .state
        .and_then(|state| serde_json::to_value(state).ok())
        .and_then(|value| value.as_str().map(str::to_owned))
}

async fn write_batch(client: &mut Client, events: &[&Event]) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    match copy_into(&tx, "smsgw_events", events).await {
        Ok(()) => return tx.commit().await,
        Err(err) if err.code() == Some(&SqlState::UNIQUE_VIOLATION) => {}
        Err(err) => return Err(err),
    }
    drop(tx);
    let tx = client.transaction().await?;
    copy_into(&tx, "smsgw_events_batch", events).await?;
    tx.batch_execute(&format!(
        "INSERT INTO smsgw_events ({COLUMNS}) SELECT {COLUMNS} FROM smsgw_events_batch \
         ON CONFLICT (event_id) DO NOTHING; TRUNCATE smsgw_events_batch"
    ))
    .await?;
    tx.commit().await
}

/// Copies `events` into `table` (binary COPY) within `tx`.
async fn copy_into(
    tx: &Transaction<'_>,
    table: &str,
    events: &[&Event],
) -> Result<(), tokio_postgres::Error> {
    let sink = tx
        .copy_in(&format!("COPY {table} ({COLUMNS}) FROM STDIN BINARY"))
        .await?;
    let mut writer = pin!(BinaryCopyInWriter::new(sink, &COLUMN_TYPES));
    for event in events {
        let at_ms = event.at_ms as i64;
        let small = |value: Option<u8>| value.map(i16::from);
        let (part, parts, data_coding) = (
            small(event.part),
            small(event.parts),
            small(event.data_coding),
        );
        let interface = event.interface.map(|i| i.as_str());
        let state = state_name(event);
        writer
            .as_mut()
            .write(&[
                &event.event_id,
                &event.kind.as_str(),
                &at_ms,
                &event.account,
                &event.message_id,
                &event.client_message_id,
                &event.carrier_id,
                &interface,
                &event.connector,
                &event.source,
                &event.destination,
                &part,
                &parts,
                &data_coding,
                &state,
                &event.code,
                &event.detail,
            ])
            .await?;
    }
    writer.finish().await.map(|_| ())
}

#[async_trait]
impl EventSink for PostgresSink {
    async fn write(&mut self, events: &[&Event]) -> Result<(), SinkError> {
        let client = self.client().await?;
        if let Err(err) = write_batch(client, events).await {
            self.client = None;
            return Err(SinkError::from_display(err));
        }
        Ok(())
    }
}
