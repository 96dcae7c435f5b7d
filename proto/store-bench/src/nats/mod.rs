//! NATS JetStream: the connection (TLS, user and password, every server of the cluster), the
//! buckets and streams the gateway would use (all R3), and the measured cases.
//!
//! - `kv-create`: a claim, succeeds only if the key is absent (Expected-Last-Subject-Sequence 0)
//! - `kv-update`: CAS of a ~1.5 KB record at the revision read
//! - `kv-get`: a record read
//! - `publish`: enqueue with Nats-Msg-Id (the duplicate window drops a retry)
//! - `take-done`: fetch one message from the pull consumer, ack it and wait for the
//!   server's confirmation
//! - `accept`: claim + record create + enqueue, in sequence, per MT
//! - `receipt`: dedupe claim + record CAS + outbox append, in sequence
//!
//! Also `setup` (buckets and streams), `features` and `failover` (own modules).

mod failover;
mod features;

use std::{
    future::IntoFuture,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::{anyhow, bail, Context};
use async_nats::{
    jetstream::{
        self,
        consumer::{pull, AckPolicy},
        kv,
        stream::{self, RetentionPolicy, StorageType},
    },
    HeaderMap, ServerAddr,
};
use bytes::Bytes;
use futures::{stream::FuturesUnordered, StreamExt};

use crate::{args::Args, load, payload, print_row};

/// Claims: idempotency keys, receipt and MO dedupe. 2.9 has no per-key TTL: the bucket's
/// max_age stands in for it.
const CLAIMS: &str = "claims";
const RECORDS: &str = "records";
/// Connector queues (`q.CONNECTOR`), work-queue retention: an acked message is gone.
const QUEUE: &str = "queue";
/// Per-account outboxes (`o.ACCOUNT`).
const OUTBOX: &str = "outbox";
/// The connector the cases enqueue on; the failover case uses its own.
const CONNECTOR_SUBJECT: &str = "q.conn1";
const TAKE_CONSUMER: &str = "submit-conn1";

/// Everything a case needs of the cluster.
#[derive(Clone)]
pub struct Nats {
    pub js: jetstream::Context,
    pub claims: kv::Store,
    pub records: kv::Store,
}

pub async fn main(args: &Args) -> anyhow::Result<()> {
    let js = connect(args).await?;
    if args.case == "setup" {
        return setup(&js).await;
    }
    if args.case == "request" {
        // A raw JetStream API request, to see what the server answers.
        let reply = js
            .client()
            .request(
                args.text("subject")?.to_owned(),
                Bytes::from(args.text("body")?.to_owned()),
            )
            .await?;
        println!("{}", String::from_utf8_lossy(&reply.payload));
        return Ok(());
    }
    let nats = Nats {
        claims: js
            .get_key_value(CLAIMS)
            .await
            .context("claims bucket (run setup)")?,
        records: js.get_key_value(RECORDS).await.context("records bucket")?,
        js,
    };
    match args.case.as_str() {
        "features" => features::main(args, &nats).await,
        "failover" => failover::main(args, &nats).await,
        case => {
            let shape = args.shape()?;
            let cpu = args.server_cpu()?;
            let report = match case {
                "kv-create" => kv_create(&nats, shape, &cpu).await,
                "kv-update" => kv_update(&nats, shape, &cpu).await?,
                "kv-get" => kv_get(&nats, shape, &cpu).await?,
                "publish" => publish(&nats, shape, &cpu).await,
                "take-done" => {
                    take_done(&nats, shape, &cpu, args.number("prefill", 20_000)?).await?
                }
                "accept" => accept(&nats, shape, &cpu).await,
                "receipt" => receipt(&nats, shape, &cpu).await?,
                other => bail!("unknown nats case {other}"),
            };
            print_row(&report, "nats", case, shape.concurrency);
            Ok(())
        }
    }
}

/// A client on every server of the cluster, over TLS, with a user and password. Requests
/// time out after 2 s so a dead leader shows as errors, not a stall.
pub async fn connect(args: &Args) -> anyhow::Result<jetstream::Context> {
    let urls = args
        .list("urls")
        .iter()
        .map(|u| {
            u.parse::<ServerAddr>()
                .with_context(|| format!("--urls {u}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = async_nats::ConnectOptions::with_user_and_password(
        args.text("user")?.to_owned(),
        args.text("password")?.to_owned(),
    )
    .add_root_certificates(args.text("ca")?.into())
    .require_tls(true)
    .request_timeout(Some(Duration::from_secs(2)))
    .connect(urls)
    .await
    .context("connecting to NATS")?;
    let mut js = jetstream::new(client);
    js.set_timeout(Duration::from_secs(2));
    Ok(js)
}

/// The buckets and streams, three replicas each (one per site).
async fn setup(js: &jetstream::Context) -> anyhow::Result<()> {
    // The bucket's stream as the client's create_key_value makes it: async-nats 0.51 reads
    // the account's API level first, which 2.9 does not send ("did not match any variant").
    for (bucket, max_age) in [
        (CLAIMS, Duration::from_secs(3600)),
        (RECORDS, Duration::ZERO),
    ] {
        js.get_or_create_stream(stream::Config {
            name: format!("KV_{bucket}"),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_age,
            max_message_size: 8192,
            storage: StorageType::File,
            num_replicas: 3,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .with_context(|| format!("bucket {bucket}"))?;
    }
    for (name, subject, retention) in [
        (QUEUE, "q.>", RetentionPolicy::WorkQueue),
        (OUTBOX, "o.>", RetentionPolicy::Limits),
    ] {
        js.get_or_create_stream(stream::Config {
            name: name.to_owned(),
            subjects: vec![subject.to_owned()],
            retention,
            storage: StorageType::File,
            num_replicas: 3,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .with_context(|| format!("stream {name}"))?;
    }
    take_consumer(js, TAKE_CONSUMER, CONNECTOR_SUBJECT).await?;
    println!("nats: buckets {CLAIMS}, {RECORDS} and streams {QUEUE}, {OUTBOX} ready (R3)");
    Ok(())
}

/// The durable pull consumer a connector's workers take from: explicit acks, a lease of 30 s.
pub async fn take_consumer(
    js: &jetstream::Context,
    name: &str,
    subject: &str,
) -> anyhow::Result<jetstream::consumer::Consumer<pull::Config>> {
    let queue = js.get_stream(QUEUE).await.context("queue stream")?;
    queue
        .get_or_create_consumer(
            name,
            pull::Config {
                durable_name: Some(name.to_owned()),
                filter_subject: subject.to_owned(),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                max_ack_pending: 100_000,
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("consumer {name}"))
}

/// Publishes with a message id and waits for the stream's ack.
pub async fn enqueue(js: &jetstream::Context, subject: &str, id: &str) -> anyhow::Result<()> {
    let mut headers = HeaderMap::new();
    headers.insert(async_nats::header::NATS_MESSAGE_ID, id);
    let ack = js
        .publish_with_headers(
            subject.to_owned(),
            headers,
            Bytes::copy_from_slice(id.as_bytes()),
        )
        .await?
        .await?;
    if ack.duplicate {
        bail!("{id}: dropped as a duplicate");
    }
    Ok(())
}

/// Publishes one message per `n` in `range`, 512 awaiting their acks at a time; `id(n)` is
/// its Nats-Msg-Id, if any.
pub async fn publish_many(
    js: &jetstream::Context,
    subject: &str,
    range: std::ops::Range<u64>,
    id: impl Fn(u64) -> Option<String>,
) -> anyhow::Result<()> {
    let mut pending = FuturesUnordered::new();
    for n in range {
        let mut headers = HeaderMap::new();
        if let Some(id) = id(n) {
            headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        }
        let ack = js
            .publish_with_headers(subject.to_owned(), headers, Bytes::from_static(b"x"))
            .await?;
        pending.push(ack.into_future());
        if pending.len() >= 512 {
            pending.next().await.transpose()?;
        }
    }
    while pending.next().await.transpose()?.is_some() {}
    Ok(())
}

/// One accepted MT: the idempotency claim, the record, the queue entry, each acknowledged by
/// a quorum before the next (2.9 has no multi-message atomic publish).
pub async fn accept_one(nats: &Nats, subject: &str, id: &str) -> anyhow::Result<()> {
    nats.claims
        .create(format!("idem.{id}"), Bytes::from(id.to_owned()))
        .await
        .context("claim")?;
    nats.records
        .create(format!("mt.{id}"), payload::record(id, 1).into())
        .await
        .context("record")?;
    enqueue(&nats.js, subject, id).await.context("enqueue")
}

/// Runs `op(state, key)` with a key of its own for every call.
async fn with_fresh_keys<S, F, Fut>(
    shape: load::Shape,
    cpu: &crate::cpu::ServerCpu,
    state: S,
    op: F,
) -> load::Report
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, String) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let run = payload::run_id();
    load::run(shape, cpu, move |task, n| {
        op(state.clone(), payload::key(&run, task, n))
    })
    .await
}

async fn kv_create(nats: &Nats, shape: load::Shape, cpu: &crate::cpu::ServerCpu) -> load::Report {
    with_fresh_keys(shape, cpu, nats.claims.clone(), |claims, key| async move {
        claims
            .create(format!("c.{key}"), Bytes::from_static(b"1"))
            .await?;
        Ok(())
    })
    .await
}

/// One record per task, created first; each task then updates its own at the revision it got.
async fn own_records(
    nats: &Nats,
    run: &str,
    tasks: usize,
) -> anyhow::Result<Arc<Vec<(String, AtomicU64)>>> {
    let mut owned = Vec::with_capacity(tasks);
    for task in 0..tasks {
        let key = format!("mt.{run}-own-{task}");
        let revision = nats
            .records
            .create(&key, payload::record(&key, 1).into())
            .await?;
        owned.push((key, AtomicU64::new(revision)));
    }
    Ok(Arc::new(owned))
}

/// A record CAS at the revision the task last wrote.
async fn update_own(
    records: &kv::Store,
    owned: &(String, AtomicU64),
    n: u64,
) -> anyhow::Result<()> {
    let (key, revision) = owned;
    let next = records
        .update(
            key,
            payload::record(key, n + 2).into(),
            revision.load(Ordering::Relaxed),
        )
        .await?;
    revision.store(next, Ordering::Relaxed);
    Ok(())
}

async fn kv_update(
    nats: &Nats,
    shape: load::Shape,
    cpu: &crate::cpu::ServerCpu,
) -> anyhow::Result<load::Report> {
    let owned = own_records(nats, &payload::run_id(), shape.concurrency).await?;
    let records = nats.records.clone();
    Ok(load::run(shape, cpu, move |task, n| {
        let (records, owned) = (records.clone(), Arc::clone(&owned));
        async move { update_own(&records, &owned[task], n).await }
    })
    .await)
}

async fn kv_get(
    nats: &Nats,
    shape: load::Shape,
    cpu: &crate::cpu::ServerCpu,
) -> anyhow::Result<load::Report> {
    let owned = own_records(nats, &payload::run_id(), shape.concurrency).await?;
    let records = nats.records.clone();
    Ok(load::run(shape, cpu, move |task, _| {
        let (records, owned) = (records.clone(), Arc::clone(&owned));
        async move {
            records
                .get(owned[task].0.clone())
                .await?
                .ok_or_else(|| anyhow!("record gone"))?;
            Ok(())
        }
    })
    .await)
}

async fn publish(nats: &Nats, shape: load::Shape, cpu: &crate::cpu::ServerCpu) -> load::Report {
    with_fresh_keys(shape, cpu, nats.js.clone(), |js, id| async move {
        enqueue(&js, CONNECTOR_SUBJECT, &id).await
    })
    .await
}

/// Tops the queue up to `prefill` messages (pipelined), then measures fetch one + ack.
async fn take_done(
    nats: &Nats,
    shape: load::Shape,
    cpu: &crate::cpu::ServerCpu,
    prefill: u64,
) -> anyhow::Result<load::Report> {
    let consumer = take_consumer(&nats.js, TAKE_CONSUMER, CONNECTOR_SUBJECT).await?;
    let mut queue = nats.js.get_stream(QUEUE).await?;
    let have = queue.info().await?.state.messages;
    let run = payload::run_id();
    publish_many(&nats.js, CONNECTOR_SUBJECT, have..prefill, |n| {
        Some(format!("{run}-fill-{n}"))
    })
    .await?;
    Ok(load::run(shape, cpu, move |_, _| {
        let consumer = consumer.clone();
        async move {
            let mut batch = consumer
                .fetch()
                .max_messages(1)
                .expires(Duration::from_secs(1))
                .messages()
                .await?;
            let message = batch
                .next()
                .await
                .ok_or_else(|| anyhow!("queue empty"))?
                .map_err(|e| anyhow!("fetch: {e}"))?;
            message
                .double_ack()
                .await
                .map_err(|e| anyhow!("ack: {e}"))?;
            Ok(())
        }
    })
    .await)
}

async fn accept(nats: &Nats, shape: load::Shape, cpu: &crate::cpu::ServerCpu) -> load::Report {
    with_fresh_keys(shape, cpu, nats.clone(), |nats, id| async move {
        accept_one(&nats, CONNECTOR_SUBJECT, &id).await
    })
    .await
}

/// A receipt: dedupe claim, the record at the revision read, the client receipt appended to
/// the account's outbox.
async fn receipt(
    nats: &Nats,
    shape: load::Shape,
    cpu: &crate::cpu::ServerCpu,
) -> anyhow::Result<load::Report> {
    let run = payload::run_id();
    let owned = own_records(nats, &run, shape.concurrency).await?;
    let nats = nats.clone();
    Ok(load::run(shape, cpu, move |task, n| {
        let (nats, owned, id) = (
            nats.clone(),
            Arc::clone(&owned),
            payload::key(&run, task, n),
        );
        async move {
            nats.claims
                .create(format!("dr.{id}"), Bytes::from_static(b"1"))
                .await
                .context("claim")?;
            update_own(&nats.records, &owned[task], n)
                .await
                .context("record")?;
            let ack = nats
                .js
                .publish(format!("o.acct{}", task % 8), Bytes::from(id))
                .await?
                .await;
            ack.context("outbox")?;
            Ok(())
        }
    })
    .await)
}
