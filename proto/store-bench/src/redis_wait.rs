//! Redis with `WAIT`: each gateway change is one Lua script (like the gateway's commit
//! script), and concurrent changes are group-committed as the gateway does: whatever is
//! waiting goes as one pipeline of scripts followed by one `WAIT replicas 0` when a
//! connection is free. `--replicas 0` is the single-Redis baseline (no WAIT).
//!
//! - `accept`: claim (SET NX PX) + record hash + XADD to the connector's stream
//! - `receipt`: dedupe claim + record at the version read + XADD to the account's outbox
//! - `take-done`: XREADGROUP one entry, then XACK + XDEL (+ WAIT)

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use anyhow::{anyhow, bail, Context};
use redis::{aio::MultiplexedConnection, Cmd, Value};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::{args::Args, cpu::ServerCpu, load, payload, print_row};

const ACCEPT: &str = r"
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], 'json', ARGV[3], 'v', '1')
redis.call('XADD', KEYS[3], '*', 'id', ARGV[1])
return 1";

const RECEIPT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
if redis.call('HGET', KEYS[2], 'v') ~= ARGV[2] then return -2 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('HSET', KEYS[2], 'json', ARGV[3], 'v', tostring(tonumber(ARGV[2]) + 1))
redis.call('XADD', KEYS[3], '*', 'e', ARGV[4])
return 1";

const QUEUE: &str = "q:conn1";
const GROUP: &str = "submit";
/// Most changes in one pipeline (the gateway's MAX_BATCH).
const MAX_BATCH: usize = 128;

type Reply = oneshot::Sender<Result<Value, String>>;

/// XREADGROUP's reply: per stream, its entries as (id, fields).
type StreamEntries = Vec<(String, Vec<(String, Vec<(String, String)>)>)>;

/// Group commit: see the module documentation.
#[derive(Clone)]
struct Batcher {
    queue: mpsc::UnboundedSender<(Cmd, Reply)>,
}

impl Batcher {
    async fn start(
        client: &redis::Client,
        connections: usize,
        replicas: usize,
    ) -> anyhow::Result<Self> {
        let (queue, incoming) = mpsc::unbounded_channel::<(Cmd, Reply)>();
        let incoming = Arc::new(Mutex::new(incoming));
        for _ in 0..connections {
            let mut conn = client.get_multiplexed_async_connection().await?;
            let incoming = Arc::clone(&incoming);
            tokio::spawn(async move {
                loop {
                    let mut batch = Vec::new();
                    {
                        let mut incoming = incoming.lock().await;
                        let Some(first) = incoming.recv().await else {
                            return;
                        };
                        batch.push(first);
                        while batch.len() < MAX_BATCH {
                            let Ok(next) = incoming.try_recv() else { break };
                            batch.push(next);
                        }
                    }
                    let outcome = commit(&mut conn, &batch, replicas).await;
                    for (n, (_, reply)) in batch.into_iter().enumerate() {
                        let answer = match &outcome {
                            Ok(values) => {
                                values.get(n).cloned().ok_or_else(|| "no reply".to_owned())
                            }
                            Err(error) => Err(error.clone()),
                        };
                        let _ = reply.send(answer);
                    }
                }
            });
        }
        Ok(Self { queue })
    }

    async fn run(&self, cmd: Cmd) -> anyhow::Result<Value> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((cmd, reply))
            .map_err(|_| anyhow!("batcher gone"))?;
        answer.await?.map_err(|e| anyhow!(e))
    }
}

/// One pipeline: the batch's commands, then WAIT when replicas must confirm.
async fn commit(
    conn: &mut MultiplexedConnection,
    batch: &[(Cmd, Reply)],
    replicas: usize,
) -> Result<Vec<Value>, String> {
    let mut pipe = redis::pipe();
    for (cmd, _) in batch {
        pipe.add_command(cmd.clone());
    }
    if replicas > 0 {
        pipe.cmd("WAIT").arg(replicas).arg(0);
    }
    let mut values: Vec<Value> = pipe.query_async(conn).await.map_err(|e| e.to_string())?;
    if replicas > 0 {
        let confirmed: i64 = values
            .pop()
            .and_then(|v| redis::from_redis_value(v).ok())
            .unwrap_or(0);
        if confirmed < replicas as i64 {
            return Err(format!("WAIT: {confirmed} of {replicas} replicas"));
        }
    }
    Ok(values)
}

fn evalsha(sha: &str, keys: &[&str], args: &[&[u8]]) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(sha).arg(keys.len()).arg(keys).arg(args);
    cmd
}

fn integer(value: Value) -> anyhow::Result<i64> {
    redis::from_redis_value(value).context("script reply")
}

pub async fn main(args: &Args) -> anyhow::Result<()> {
    let client = redis::Client::open(args.text("redis")?)?;
    let mut direct = client.get_multiplexed_async_connection().await?;
    let replicas = args.number("replicas", 0usize)?;
    let batcher = Batcher::start(&client, args.number("conns", 2usize)?, replicas).await?;
    let shape = args.shape()?;
    let cpu = args.server_cpu()?;
    let load_script = |src: &'static str| {
        let mut conn = direct.clone();
        async move {
            redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(src)
                .query_async::<String>(&mut conn)
                .await
        }
    };
    let accept_sha = load_script(ACCEPT).await?;
    let receipt_sha = load_script(RECEIPT).await?;
    let report = match args.case.as_str() {
        "accept" => accept(batcher, accept_sha, shape, &cpu).await,
        "receipt" => receipt(batcher, &mut direct, receipt_sha, shape, &cpu).await?,
        "take-done" => {
            take_done(
                batcher,
                direct,
                shape,
                &cpu,
                args.number("prefill", 20_000usize)?,
            )
            .await?
        }
        other => bail!("unknown redis case {other}"),
    };
    let backend = if replicas > 0 {
        format!("redis+WAIT {replicas}")
    } else {
        "redis single".to_owned()
    };
    print_row(&report, &backend, &args.case, shape.concurrency);
    Ok(())
}

async fn accept(
    batcher: Batcher,
    sha: String,
    shape: load::Shape,
    cpu: &ServerCpu,
) -> load::Report {
    let run = payload::run_id();
    load::run(shape, cpu, move |task, n| {
        let (batcher, id) = (batcher.clone(), payload::key(&run, task, n));
        let cmd = evalsha(
            &sha,
            &[&format!("idem:{id}"), &format!("mt:{id}"), QUEUE],
            &[id.as_bytes(), b"3600000", &payload::record(&id, 1)],
        );
        async move {
            if integer(batcher.run(cmd).await?)? != 1 {
                bail!("not accepted (claimed)");
            }
            Ok(())
        }
    })
    .await
}

async fn receipt(
    batcher: Batcher,
    direct: &mut MultiplexedConnection,
    sha: String,
    shape: load::Shape,
    cpu: &ServerCpu,
) -> anyhow::Result<load::Report> {
    let run = payload::run_id();
    let mut owned = Vec::new();
    for task in 0..shape.concurrency {
        let key = format!("mt:{run}-own-{task}");
        redis::cmd("HSET")
            .arg(&key)
            .arg("json")
            .arg(payload::record(&key, 1))
            .arg("v")
            .arg(1)
            .query_async::<()>(direct)
            .await?;
        owned.push((key, AtomicU64::new(1)));
    }
    let owned = Arc::new(owned);
    Ok(load::run(shape, cpu, move |task, n| {
        let (batcher, owned, dr) = (
            batcher.clone(),
            Arc::clone(&owned),
            payload::key(&run, task, n),
        );
        let (key, version) = &owned[task];
        let read = version.load(Ordering::Relaxed);
        let cmd = evalsha(
            &sha,
            &[&format!("dr:{dr}"), key, &format!("o:acct{}", task % 8)],
            &[
                b"3600000",
                read.to_string().as_bytes(),
                &payload::record(key, n + 2),
                dr.as_bytes(),
            ],
        );
        async move {
            if integer(batcher.run(cmd).await?)? != 1 {
                bail!("receipt not applied");
            }
            owned[task].1.store(read + 1, Ordering::Relaxed);
            Ok(())
        }
    })
    .await)
}

/// Adds `prefill` entries, then measures taking one (XREADGROUP, no WAIT: a lease needs no
/// replica) and ending it (XACK + XDEL, group-committed with WAIT).
async fn take_done(
    batcher: Batcher,
    mut direct: MultiplexedConnection,
    shape: load::Shape,
    cpu: &ServerCpu,
    prefill: usize,
) -> anyhow::Result<load::Report> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(QUEUE)
        .arg(GROUP)
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut direct)
        .await;
    if let Err(error) = created {
        if error.code() != Some("BUSYGROUP") {
            return Err(error.into());
        }
    }
    for chunk in 0..prefill.div_ceil(1000) {
        let mut pipe = redis::pipe();
        for n in 0..1000 {
            pipe.cmd("XADD")
                .arg(QUEUE)
                .arg("*")
                .arg("id")
                .arg(format!("fill-{chunk}-{n}"))
                .ignore();
        }
        pipe.query_async::<()>(&mut direct).await?;
    }
    Ok(load::run(shape, cpu, move |task, _| {
        let (batcher, mut direct) = (batcher.clone(), direct.clone());
        async move {
            let reply: Value = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(GROUP)
                .arg(format!("c{task}"))
                .arg("COUNT")
                .arg(1)
                .arg("STREAMS")
                .arg(QUEUE)
                .arg(">")
                .query_async(&mut direct)
                .await?;
            let taken: Option<StreamEntries> = redis::from_redis_value(reply)?;
            let id = taken
                .and_then(|streams| streams.into_iter().next())
                .and_then(|(_, entries)| entries.into_iter().next())
                .map(|(id, _)| id)
                .ok_or_else(|| anyhow!("queue empty"))?;
            let mut script = redis::cmd("EVAL");
            script
                .arg("redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]); return redis.call('XDEL', KEYS[1], ARGV[2])")
                .arg(1)
                .arg(QUEUE)
                .arg(GROUP)
                .arg(id);
            batcher.run(script).await?;
            Ok(())
        }
    })
    .await)
}
