//! What the running nats-server (2.9 here) does with the features the gateway's store design
//! would lean on, tried rather than assumed: per-message TTL, compare-and-set by
//! Nats-Expected-Last-Subject-Sequence, delete and purge markers, placement by server tags,
//! atomic batch publish, and the memory a duplicate-window entry costs.

use std::time::Duration;

use anyhow::{anyhow, Context};
use async_nats::{
    header,
    jetstream::{kv::Operation, stream},
    HeaderMap,
};
use bytes::Bytes;
use futures::StreamExt;

use super::Nats;
use crate::{args::Args, payload};

pub async fn main(args: &Args, nats: &Nats) -> anyhow::Result<()> {
    let run = payload::run_id();
    message_ttl(nats, &run).await?;
    compare_and_set(nats, &run).await?;
    markers(nats, &run).await?;
    placement(nats, &run).await?;
    atomic_batch(nats, &run).await?;
    let rss_pid = args.number("rss-pid", 0u32)?;
    duplicate_window_memory(nats, &run, rss_pid, args.number("dedupe-count", 50_000u64)?).await
}

/// A stream asked for by raw JSON with 2.11's allow_msg_ttl and 2.12's allow_atomic (a
/// server that does not know a field drops it from the config it answers with).
async fn newer_stream(nats: &Nats, name: &str) -> anyhow::Result<()> {
    let request = format!(
        r#"{{"name":"{name}","subjects":["{name}.>"],"num_replicas":1,"storage":"memory","allow_msg_ttl":true,"allow_atomic":true}}"#
    );
    let reply = nats
        .js
        .client()
        .request(
            format!("$JS.API.STREAM.CREATE.{name}"),
            Bytes::from(request),
        )
        .await?;
    let text = String::from_utf8_lossy(&reply.payload).into_owned();
    let kept = |flag: &str| text.contains(&format!("\"{flag}\":true"));
    println!(
        "stream flags of newer servers: allow_msg_ttl kept: {}, allow_atomic kept: {}{}",
        kept("allow_msg_ttl"),
        kept("allow_atomic"),
        if text.contains("\"error\"") {
            format!(" (error: {text})")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Messages stored on `subject` of stream `name` so far.
async fn stored(nats: &Nats, name: &str, subject: &str) -> anyhow::Result<u64> {
    let stream = nats.js.get_stream(name).await?;
    let info = stream.info_with_subjects(subject).await?;
    let mut subjects = std::pin::pin!(info);
    let mut total = 0;
    while let Some(entry) = subjects.next().await {
        total += entry?.1 as u64;
    }
    Ok(total)
}

/// Nats-TTL on a KV create (the claims bucket has no allow_msg_ttl) and on a publish to the
/// stream that asked for it.
async fn message_ttl(nats: &Nats, run: &str) -> anyhow::Result<()> {
    let key = format!("ttl.{run}");
    let created = nats
        .claims
        .create_with_ttl(&key, Bytes::from_static(b"1"), Duration::from_secs(1))
        .await;
    let name = format!("newer{run}");
    newer_stream(nats, &name).await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::NATS_MESSAGE_TTL, "1s");
    let published = nats
        .js
        .publish_with_headers(format!("{name}.ttl"), headers, Bytes::from_static(b"1"))
        .await?
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = nats.claims.get(&key).await?;
    println!(
        "per-message TTL, KV create with Nats-TTL 1 s on a bucket without allow_msg_ttl -> {:?}; 2.5 s later the key is {}",
        created.map_err(|e| e.to_string()),
        if after.is_some() { "STILL THERE" } else { "gone" }
    );
    println!(
        "per-message TTL, publish with Nats-TTL 1s to the stream that asked for allow_msg_ttl -> {:?}; 2.5 s later messages left: {}",
        published.map(|a| a.sequence).map_err(|e| e.to_string()),
        stored(nats, &name, &format!("{name}.ttl")).await?
    );
    Ok(())
}

async fn compare_and_set(nats: &Nats, run: &str) -> anyhow::Result<()> {
    let key = format!("mt.cas-{run}");
    let revision = nats.records.create(&key, Bytes::from_static(b"v1")).await?;
    let again = nats.records.create(&key, Bytes::from_static(b"v1")).await;
    let stale = nats
        .records
        .update(&key, Bytes::from_static(b"v2"), revision + 1000)
        .await;
    let fresh = nats
        .records
        .update(&key, Bytes::from_static(b"v2"), revision)
        .await;
    println!(
        "CAS (Nats-Expected-Last-Subject-Sequence): create of an existing key -> {}; update at a stale revision -> {}; at the current one -> {:?}",
        again.err().map(|e| e.to_string()).unwrap_or_else(|| "ACCEPTED".into()),
        stale.err().map(|e| e.to_string()).unwrap_or_else(|| "ACCEPTED".into()),
        fresh.map_err(|e| e.to_string())
    );
    Ok(())
}

async fn markers(nats: &Nats, run: &str) -> anyhow::Result<()> {
    let key = format!("mt.mark-{run}");
    nats.records.create(&key, Bytes::from_static(b"v1")).await?;
    nats.records.delete(&key).await?;
    let deleted = nats.records.entry(&key).await?.map(|e| e.operation);
    let recreated = nats
        .records
        .create(&key, Bytes::from_static(b"v2"))
        .await
        .is_ok();
    nats.records.purge(&key).await?;
    let purged = nats.records.entry(&key).await?.map(|e| e.operation);
    println!(
        "markers: after delete the entry is {deleted:?}, create over it works: {recreated}; after purge {purged:?} (a purge marker, older revisions dropped); both are Delete/Purge operations: {}",
        matches!(deleted, Some(Operation::Delete)) && matches!(purged, Some(Operation::Purge))
    );
    Ok(())
}

async fn placement(nats: &Nats, run: &str) -> anyhow::Result<()> {
    let placed = |replicas: usize, tag: &str, name: String| stream::Config {
        subjects: vec![format!("{name}.>")],
        name,
        num_replicas: replicas,
        storage: stream::StorageType::Memory,
        placement: Some(stream::Placement {
            cluster: None,
            tags: vec![tag.to_owned()],
        }),
        ..Default::default()
    };
    let mut one = nats
        .js
        .create_stream(placed(1, "site:b", format!("placeb{run}")))
        .await?;
    let leader = one
        .info()
        .await?
        .cluster
        .as_ref()
        .and_then(|c| c.leader.clone());
    let three = nats
        .js
        .create_stream(placed(3, "site:b", format!("place3b{run}")))
        .await;
    println!(
        "placement tags: R1 with tag site:b is led by {leader:?}; R3 with tag site:b (one server has it) -> {}",
        three.err().map(|e| e.to_string()).unwrap_or_else(|| "ACCEPTED".into())
    );
    Ok(())
}

/// 2.12's atomic batch: messages with Nats-Batch-Id are held until the one with
/// Nats-Batch-Commit. A server without it stores each at once.
async fn atomic_batch(nats: &Nats, run: &str) -> anyhow::Result<()> {
    let name = format!("newer{run}");
    let subject = format!("{name}.batch");
    let batch_headers = |sequence: &str, commit: bool| {
        let mut headers = HeaderMap::new();
        headers.insert(header::NATS_BATCH_ID, run);
        headers.insert(header::NATS_BATCH_SEQUENCE, sequence);
        if commit {
            headers.insert(header::NATS_BATCH_COMMIT, header::NATS_BATCH_COMMIT_FINAL);
        }
        headers
    };
    nats.js
        .client()
        .publish_with_headers(
            subject.clone(),
            batch_headers("1", false),
            Bytes::from_static(b"1"),
        )
        .await?;
    nats.js.client().flush().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_commit = stored(nats, &name, &subject).await?;
    let commit = nats
        .js
        .publish_with_headers(
            subject.clone(),
            batch_headers("2", true),
            Bytes::from_static(b"2"),
        )
        .await?
        .await;
    let after_commit = stored(nats, &name, &subject).await?;
    println!(
        "atomic batch: messages stored before the commit: {before_commit} ({}); commit -> {:?}; stored after: {after_commit}",
        if before_commit > 0 { "NOT atomic: no batch support" } else { "held for the commit" },
        commit.map(|a| a.sequence).map_err(|e| e.to_string())
    );
    Ok(())
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow!("no VmRSS"))?;
    line.split_whitespace()
        .nth(1)
        .ok_or_else(|| anyhow!("VmRSS"))?
        .parse()
        .context("VmRSS")
}

/// Growth of the server's RSS over `count` publishes to an R1 memory stream placed on it,
/// without message ids and then with (a 2 h window so nothing expires): the difference is
/// what the duplicate window keeps per id.
async fn duplicate_window_memory(
    nats: &Nats,
    run: &str,
    pid: u32,
    count: u64,
) -> anyhow::Result<()> {
    if pid == 0 {
        return Ok(());
    }
    let mut growth = Vec::new();
    for with_ids in [false, true] {
        let name = format!("dd{}{run}", u8::from(with_ids));
        nats.js
            .create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![format!("{name}.>")],
                storage: stream::StorageType::File,
                duplicate_window: Duration::from_secs(7200),
                placement: Some(stream::Placement {
                    cluster: None,
                    tags: vec!["site:a".into()],
                }),
                ..Default::default()
            })
            .await?;
        let before = rss_kib(pid)?;
        let subject = format!("{name}.x");
        super::publish_many(&nats.js, &subject, 0..count, |n| {
            with_ids.then(|| payload::key(run, 0, n))
        })
        .await?;
        let after = rss_kib(pid)?;
        growth.push(after.saturating_sub(before));
        println!(
            "duplicate window: {count} publishes {} ids: server RSS {before} -> {after} KiB",
            if with_ids { "with" } else { "without" }
        );
    }
    let per_id = (growth[1] as f64 - growth[0] as f64) * 1024.0 / count as f64;
    println!(
        "duplicate window: about {per_id:.0} bytes of server memory per id held (ids of {} bytes)",
        payload::key(run, 0, 0).len()
    );
    Ok(())
}
