//! The failover gap: accepts at a steady concurrency, then SIGKILL of the server leading the
//! records bucket's Raft group. Reports the longest pause between successful accepts, how
//! long after the kill a freshly begun accept first succeeded, and whether every
//! acknowledged accept is still there afterwards (record, claim and queue entry).

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context};
use futures::{stream, StreamExt, TryStreamExt};

use super::{accept_one, take_consumer, Nats, RECORDS};
use crate::{args::Args, payload};

const FAILOVER_SUBJECT: &str = "q.failover";

/// One accept as the load saw it.
struct Attempt {
    began: Instant,
    ended: Instant,
    /// The MT id, when the accept was acknowledged.
    acked: Option<String>,
}

pub async fn main(args: &Args, nats: &Nats) -> anyhow::Result<()> {
    let concurrency = args.number("concurrency", 16usize)?;
    let kill_after = Duration::from_secs_f64(args.number("kill-after", 5.0)?);
    let total = Duration::from_secs_f64(args.number("seconds", 20.0)?);
    // name:pid of each server, to kill the leader by its name.
    let servers: Vec<(String, u32)> = args
        .list("servers")
        .iter()
        .map(|s| {
            let (name, pid) = s
                .split_once(':')
                .ok_or_else(|| anyhow!("--servers name:pid,..."))?;
            Ok((name.to_owned(), pid.parse()?))
        })
        .collect::<anyhow::Result<_>>()?;

    let run = payload::run_id();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let deadline = start + total;
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let (nats, run, attempts) = (nats.clone(), run.clone(), Arc::clone(&attempts));
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let id = payload::key(&run, task, n);
                n += 1;
                let began = Instant::now();
                let ok = accept_one(&nats, FAILOVER_SUBJECT, &id).await.is_ok();
                let attempt = Attempt {
                    began,
                    ended: Instant::now(),
                    acked: ok.then_some(id),
                };
                attempts
                    .lock()
                    .map_err(|_| anyhow!("poisoned"))?
                    .push(attempt);
            }
            anyhow::Ok(())
        }));
    }

    tokio::time::sleep(kill_after).await;
    let before = leaders(nats).await?;
    let victim = before
        .iter()
        .find(|(stream, _)| stream == &format!("KV_{RECORDS}"))
        .map(|(_, leader)| leader.clone())
        .ok_or_else(|| anyhow!("no leader of KV_{RECORDS}"))?;
    let pid = servers
        .iter()
        .find(|(name, _)| *name == victim)
        .map(|(_, pid)| *pid)
        .ok_or_else(|| anyhow!("leader {victim} not among --servers"))?;
    let killed_at = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()?;
    if !status.success() {
        bail!("kill -9 {pid} failed");
    }
    println!(
        "leaders before the kill: {before:?}; killed {victim} (pid {pid}) at {:.1} s",
        (killed_at - start).as_secs_f64()
    );

    for task in tasks {
        task.await??;
    }
    let attempts = std::mem::take(&mut *attempts.lock().map_err(|_| anyhow!("poisoned"))?);
    report_gap(&attempts, killed_at, start);
    println!("leaders after the kill: {:?}", leaders(nats).await?);

    let acked: Vec<String> = attempts.iter().filter_map(|a| a.acked.clone()).collect();
    verify_kept(nats, &acked).await
}

/// Which server leads each stream's Raft group.
async fn leaders(nats: &Nats) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for name in [
        format!("KV_{}", super::CLAIMS),
        format!("KV_{RECORDS}"),
        super::QUEUE.to_owned(),
    ] {
        let mut stream = nats
            .js
            .get_stream(&name)
            .await
            .with_context(|| format!("STREAM.INFO {name}"))?;
        let leader = stream
            .info()
            .await?
            .cluster
            .as_ref()
            .and_then(|c| c.leader.clone())
            .unwrap_or_default();
        out.push((name, leader));
    }
    Ok(out)
}

fn report_gap(attempts: &[Attempt], killed_at: Instant, start: Instant) {
    let mut successes: Vec<Instant> = attempts
        .iter()
        .filter(|a| a.acked.is_some())
        .map(|a| a.ended)
        .collect();
    successes.sort();
    let longest = successes
        .windows(2)
        .filter(|w| w[1] > killed_at)
        .map(|w| (w[1] - w[0], w[0]))
        .max();
    let first_fresh = attempts
        .iter()
        .filter(|a| a.acked.is_some() && a.began >= killed_at)
        .map(|a| a.ended)
        .min();
    let failed_after = attempts
        .iter()
        .filter(|a| a.acked.is_none() && a.ended >= killed_at)
        .count();
    let acked = successes.len();
    println!(
        "accepts: {} acked, {} failed ({} after the kill)",
        acked,
        attempts.len() - acked,
        failed_after
    );
    if let Some((gap, from)) = longest {
        println!(
            "longest pause between acked accepts after the kill: {:.2} s (from {:.2} s after start)",
            gap.as_secs_f64(),
            (from - start).as_secs_f64()
        );
    }
    match first_fresh {
        Some(at) => println!(
            "first accept begun after the kill acked {:.2} s after the kill",
            (at - killed_at).as_secs_f64()
        ),
        None => println!("no accept begun after the kill was acked"),
    }
}

/// Reads every acknowledged MT back: its record, its claim, and its queue entry (once).
async fn verify_kept(nats: &Nats, acked: &[String]) -> anyhow::Result<()> {
    let missing_records: usize = stream::iter(acked)
        .map(|id| async move {
            let record = nats.records.get(format!("mt.{id}")).await;
            let claim = nats.claims.get(format!("idem.{id}")).await;
            anyhow::Ok(usize::from(!matches!(
                (record, claim),
                (Ok(Some(_)), Ok(Some(_)))
            )))
        })
        .buffer_unordered(64)
        .try_fold(0, |sum, missing| async move { Ok(sum + missing) })
        .await?;

    // Right after a failover the API may time out a few times while groups settle.
    let mut attempts = 0;
    let consumer = loop {
        match take_consumer(&nats.js, "failover-check", FAILOVER_SUBJECT).await {
            Ok(consumer) => break consumer,
            Err(error) if attempts < 15 => {
                attempts += 1;
                eprintln!("failover check consumer, try {attempts}: {error:#}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => return Err(error),
        }
    };
    let mut queued = HashSet::new();
    let mut duplicates = 0usize;
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(1000)
            .expires(Duration::from_secs(2))
            .messages()
            .await?;
        let mut got = 0;
        while let Some(message) = batch.next().await {
            let message = message.map_err(|e| anyhow!("fetch: {e}"))?;
            got += 1;
            if !queued.insert(String::from_utf8_lossy(&message.payload).into_owned()) {
                duplicates += 1;
            }
            message.ack().await.map_err(|e| anyhow!("ack: {e}"))?;
        }
        if got == 0 {
            break;
        }
    }
    let missing_queue = acked.iter().filter(|id| !queued.contains(*id)).count();
    println!(
        "read back: {} acked accepts; {} missing record or claim; {} missing from the queue; {} queued twice; {} queued but not acked (an accept that failed after its publish)",
        acked.len(),
        missing_records,
        missing_queue,
        duplicates,
        queued.len().saturating_sub(acked.len() - missing_queue)
    );
    Ok(())
}
