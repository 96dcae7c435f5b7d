//! PostgreSQL with a synchronous standby: each gateway change is one statement (a data-
//! modifying CTE), so one round trip and one transaction that commits only once the standby
//! has the WAL (`synchronous_commit = on`, `ANY 1 (...)`).
//!
//! - `accept`: claim (free or expired key) + record insert + queue row
//! - `receipt`: dedupe claim + record update at the version read + outbox row
//! - `take-done`: lease the oldest free queue row (`FOR UPDATE SKIP LOCKED`), then delete it
//! - `get`: a record read
//!
//! Also `setup` (the tables). A small pool: the tasks share `--pool` connections, each
//! pipelining the statements of its tasks.

use std::sync::{
    atomic::{AtomicI64, Ordering},
    Arc,
};

use anyhow::{anyhow, bail, Context};
use tokio_postgres::{Client, NoTls, Statement};

use crate::{args::Args, cpu::ServerCpu, load, payload, print_row};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS claims (key text PRIMARY KEY, value text NOT NULL, expires_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS records (id text PRIMARY KEY, version bigint NOT NULL, body text NOT NULL);
CREATE TABLE IF NOT EXISTS queue (seq bigserial PRIMARY KEY, connector text NOT NULL, id text NOT NULL, leased_until timestamptz);
CREATE INDEX IF NOT EXISTS queue_take ON queue (connector, seq);
CREATE TABLE IF NOT EXISTS outbox (seq bigserial PRIMARY KEY, account text NOT NULL, body text NOT NULL);
";

/// A claim taken if the key is free or its holder expired; yields a row only if taken.
const CLAIM_CTE: &str =
    "c AS (INSERT INTO claims (key, value, expires_at) VALUES ($1, $2, now() + interval '1 hour')
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
      WHERE claims.expires_at < now() RETURNING 1)";

/// $1 claim key, $2 MT id, $3 record. One row affected when accepted.
fn accept_sql() -> String {
    format!(
        "WITH {CLAIM_CTE},
         r AS (INSERT INTO records (id, version, body) SELECT $2, 1, $3 FROM c RETURNING id)
         INSERT INTO queue (connector, id) SELECT 'conn1', id FROM r"
    )
}

/// $1 claim key, $2 record id, $3 version read, $4 new record, $5 account, $6 receipt.
/// Returns the record's new version when applied.
fn receipt_sql() -> String {
    format!(
        "WITH {CLAIM_CTE},
         u AS (UPDATE records SET version = version + 1, body = $4
               WHERE id = $2 AND version = $3 AND EXISTS (SELECT 1 FROM c) RETURNING version),
         o AS (INSERT INTO outbox (account, body) SELECT $5, $6 FROM u)
         SELECT version FROM u"
    )
}

const TAKE_SQL: &str = "UPDATE queue SET leased_until = now() + interval '30 seconds'
    WHERE seq = (SELECT seq FROM queue WHERE connector = 'conn1'
                 AND (leased_until IS NULL OR leased_until < now())
                 ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING seq";
const DONE_SQL: &str = "DELETE FROM queue WHERE seq = $1";
const GET_SQL: &str = "SELECT version, body FROM records WHERE id = $1";

/// One connection with its prepared statements.
struct Conn {
    client: Client,
    accept: Statement,
    receipt: Statement,
    take: Statement,
    done: Statement,
    get: Statement,
}

async fn open(config: &str) -> anyhow::Result<Conn> {
    let (client, connection) = tokio_postgres::connect(config, NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(connection);
    Ok(Conn {
        accept: client.prepare(&accept_sql()).await?,
        receipt: client.prepare(&receipt_sql()).await?,
        take: client.prepare(TAKE_SQL).await?,
        done: client.prepare(DONE_SQL).await?,
        get: client.prepare(GET_SQL).await?,
        client,
    })
}

pub async fn main(args: &Args) -> anyhow::Result<()> {
    let config = args.text("pg")?;
    if args.case == "setup" {
        let (client, connection) = tokio_postgres::connect(config, NoTls).await?;
        tokio::spawn(connection);
        client.batch_execute(SCHEMA).await?;
        println!("pg: tables ready");
        return Ok(());
    }
    let shape = args.shape()?;
    let cpu = args.server_cpu()?;
    let pool_size = args.number("pool", 16usize)?.clamp(1, shape.concurrency);
    let mut pool = Vec::with_capacity(pool_size);
    for _ in 0..pool_size {
        pool.push(open(config).await?);
    }
    let pool = Arc::new(pool);
    let report = match args.case.as_str() {
        "accept" => accept(pool, shape, &cpu).await,
        "receipt" => receipt(pool, shape, &cpu).await?,
        "take-done" => take_done(pool, shape, &cpu, args.number("prefill", 20_000i64)?).await?,
        "get" => get(pool, shape, &cpu).await?,
        other => bail!("unknown pg case {other}"),
    };
    print_row(&report, "pg", &args.case, shape.concurrency);
    Ok(())
}

async fn accept(pool: Arc<Vec<Conn>>, shape: load::Shape, cpu: &ServerCpu) -> load::Report {
    let run = payload::run_id();
    load::run(shape, cpu, move |task, n| {
        let (pool, id) = (Arc::clone(&pool), payload::key(&run, task, n));
        async move {
            let conn = &pool[task % pool.len()];
            let body = String::from_utf8(payload::record(&id, 1))?;
            let rows = conn
                .client
                .execute(&conn.accept, &[&format!("idem.{id}"), &id, &body])
                .await?;
            if rows != 1 {
                bail!("{id}: not accepted (claimed)");
            }
            Ok(())
        }
    })
    .await
}

/// One record per task, so each task's version guard holds; returns (id, version).
async fn own_records(
    pool: &[Conn],
    run: &str,
    tasks: usize,
) -> anyhow::Result<Arc<Vec<(String, AtomicI64)>>> {
    let mut owned = Vec::with_capacity(tasks);
    for task in 0..tasks {
        let id = format!("{run}-own-{task}");
        let body = String::from_utf8(payload::record(&id, 1))?;
        pool[0]
            .client
            .execute(
                "INSERT INTO records (id, version, body) VALUES ($1, 1, $2)",
                &[&id, &body],
            )
            .await?;
        owned.push((id, AtomicI64::new(1)));
    }
    Ok(Arc::new(owned))
}

async fn receipt(
    pool: Arc<Vec<Conn>>,
    shape: load::Shape,
    cpu: &ServerCpu,
) -> anyhow::Result<load::Report> {
    let run = payload::run_id();
    let owned = own_records(&pool, &run, shape.concurrency).await?;
    Ok(load::run(shape, cpu, move |task, n| {
        let (pool, owned, dr) = (
            Arc::clone(&pool),
            Arc::clone(&owned),
            payload::key(&run, task, n),
        );
        async move {
            let conn = &pool[task % pool.len()];
            let (id, version) = &owned[task];
            let read = version.load(Ordering::Relaxed);
            let body = String::from_utf8(payload::record(id, n + 2))?;
            let account = format!("acct{}", task % 8);
            let row = conn
                .client
                .query_opt(
                    &conn.receipt,
                    &[&format!("dr.{dr}"), id, &read, &body, &account, &dr],
                )
                .await?
                .ok_or_else(|| anyhow!("{id}: conflict"))?;
            version.store(row.get(0), Ordering::Relaxed);
            Ok(())
        }
    })
    .await)
}

async fn take_done(
    pool: Arc<Vec<Conn>>,
    shape: load::Shape,
    cpu: &ServerCpu,
    prefill: i64,
) -> anyhow::Result<load::Report> {
    let client = &pool[0].client;
    let have: i64 = client
        .query_one("SELECT count(*) FROM queue", &[])
        .await?
        .get(0);
    client
        .execute(
            "INSERT INTO queue (connector, id) SELECT 'conn1', 'fill-' || g FROM generate_series(1, $1::bigint) g",
            &[&(prefill - have).max(0)],
        )
        .await?;
    client.batch_execute("VACUUM ANALYZE queue").await?;
    Ok(load::run(shape, cpu, move |task, _| {
        let pool = Arc::clone(&pool);
        async move {
            let conn = &pool[task % pool.len()];
            let row = conn
                .client
                .query_opt(&conn.take, &[])
                .await?
                .ok_or_else(|| anyhow!("queue empty"))?;
            let seq: i64 = row.get(0);
            conn.client.execute(&conn.done, &[&seq]).await?;
            Ok(())
        }
    })
    .await)
}

async fn get(
    pool: Arc<Vec<Conn>>,
    shape: load::Shape,
    cpu: &ServerCpu,
) -> anyhow::Result<load::Report> {
    let owned = own_records(&pool, &payload::run_id(), shape.concurrency).await?;
    Ok(load::run(shape, cpu, move |task, _| {
        let (pool, owned) = (Arc::clone(&pool), Arc::clone(&owned));
        async move {
            let conn = &pool[task % pool.len()];
            conn.client
                .query_opt(&conn.get, &[&owned[task].0])
                .await?
                .ok_or_else(|| anyhow!("record gone"))?;
            Ok(())
        }
    })
    .await)
}
