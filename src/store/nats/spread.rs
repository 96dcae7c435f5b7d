//! Spreading the shards' stream leaders over the servers: each shard's writes are proposed
//! by its leader, so shards only add throughput when their leaders are on different servers.
//! The cluster places leaders as it likes; at connect, a shard whose leader already leads an
//! earlier shard is asked to step down in favour of a replica that leads none
//! (`$JS.API.STREAM.LEADER.STEPDOWN` with a preferred server, NATS >= 2.11). Best effort: a
//! refusal is logged and the store works all the same, only slower; after a failover the
//! leaders stay where the elections put them until a node connects again.

use std::{collections::HashSet, time::Duration};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use super::api;

#[derive(Debug, Deserialize)]
struct StreamInfo {
    cluster: Option<ClusterInfo>,
}

#[derive(Debug, Deserialize)]
struct ClusterInfo {
    leader: Option<String>,
    #[serde(default)]
    replicas: Vec<Peer>,
}

#[derive(Debug, Deserialize)]
struct Peer {
    name: String,
    #[serde(default)]
    current: bool,
    #[serde(default)]
    offline: bool,
}

#[derive(Debug, Deserialize)]
struct SteppedDown {
    #[allow(dead_code)]
    success: bool,
}

/// Which servers lead the streams and could lead them (the leader first).
async fn leaders(client: &async_nats::Client, stream: &str) -> Option<(String, Vec<String>)> {
    let subject = format!("$JS.API.STREAM.INFO.{stream}");
    let info = api::request::<StreamInfo>(client, subject, Bytes::new())
        .await
        .ok()?
        .ok()?;
    let cluster = info.cluster?;
    let candidates = cluster
        .replicas
        .into_iter()
        .filter(|peer| peer.current && !peer.offline)
        .map(|peer| peer.name)
        .collect();
    Some((cluster.leader?, candidates))
}

/// The new leader of each stream in `streams` (in order), given its leader and candidates:
/// `None` where it may stay. A server leads at most one stream while a candidate leads none.
fn plan(current: &[(String, Vec<String>)]) -> Vec<Option<String>> {
    let mut leading: HashSet<&str> = HashSet::new();
    let mut moves = Vec::with_capacity(current.len());
    // Leaders that are alone keep their streams; later duplicates move.
    for (leader, candidates) in current {
        if leading.insert(leader) {
            moves.push(None);
            continue;
        }
        let free = candidates.iter().find(|candidate| {
            !current.iter().any(|(l, _)| l == *candidate) && !leading.contains(candidate.as_str())
        });
        match free {
            Some(candidate) => {
                leading.insert(candidate);
                moves.push(Some(candidate.clone()));
            }
            None => moves.push(None),
        }
    }
    moves
}

/// See the module documentation.
pub async fn spread_leaders(client: &async_nats::Client, streams: &[String], patience: Duration) {
    let mut current = Vec::with_capacity(streams.len());
    for stream in streams {
        match leaders(client, stream).await {
            Some(found) => current.push(found),
            None => {
                tracing::debug!(stream, "nats: no leader known yet; leaders not spread");
                return;
            }
        }
    }
    for (stream, preferred) in streams.iter().zip(plan(&current)) {
        let Some(preferred) = preferred else { continue };
        let subject = format!("$JS.API.STREAM.LEADER.STEPDOWN.{stream}");
        let body = json!({ "placement": { "preferred": preferred } }).to_string();
        match api::request::<SteppedDown>(client, subject, Bytes::from(body)).await {
            Ok(Ok(_)) => tracing::info!(stream, %preferred, "nats: shard leader moved"),
            Ok(Err(error)) => tracing::warn!(stream, %error, "nats: shard leader not moved"),
            Err(error) => tracing::warn!(stream, %error, "nats: shard leader not moved"),
        }
    }
    // Until the new leaders are elected, the streams refuse writes: wait for them.
    let deadline = tokio::time::Instant::now() + patience;
    for stream in streams {
        while leaders(client, stream).await.is_none() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(leader: &str, candidates: &[&str]) -> (String, Vec<String>) {
        (
            leader.to_owned(),
            candidates.iter().map(|c| (*c).to_owned()).collect(),
        )
    }

    #[test]
    fn a_server_leading_two_shards_hands_one_to_an_idle_replica() {
        let current = [
            stream("a", &["b", "c"]),
            stream("a", &["b", "c"]),
            stream("a", &["b", "c"]),
        ];
        assert_eq!(plan(&current), [None, Some("b".into()), Some("c".into())]);
    }

    #[test]
    fn spread_leaders_stay_and_no_candidate_means_no_move() {
        let spread = [
            stream("a", &["b"]),
            stream("b", &["a"]),
            stream("c", &["a"]),
        ];
        assert_eq!(plan(&spread), [None, None, None]);
        let crowded = [
            stream("a", &["b"]),
            stream("b", &["a"]),
            stream("a", &["b"]),
        ];
        assert_eq!(plan(&crowded), [None, None, None], "b leads already");
    }
}
