//! The Redis store on a real 3-primary Redis Cluster. A deployment's keys all carry its
//! prefix as hash tag (`{prefix}`), so they live in one slot and the Lua steps stay
//! single-slot: the deployment is served by the primary owning that slot, over a plain
//! connection to it. The contract suite runs that way, each test under its own prefix (so on
//! whichever primary owns it), and every key it wrote is checked to be in that one slot.

mod redis_server;
mod store_suite;

use std::{sync::Arc, time::Duration};

use redis_server::RedisServer;
use smsgw::store::{RedisStore, Store};

/// Three primaries sharing the 16384 slots.
struct Cluster {
    nodes: Vec<RedisServer>,
}

impl Cluster {
    async fn start() -> Self {
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(
                RedisServer::start_with(
                    "",
                    &["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"],
                )
                .await,
            );
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect();
        let created = std::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli on PATH");
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stdout)
        );
        let cluster = Self { nodes };
        for node in &cluster.nodes {
            let mut conn = node.connection().await;
            for attempt in 0.. {
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                if info.contains("cluster_state:ok") {
                    break;
                }
                assert!(attempt < 200, "cluster not ok: {info}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        cluster
    }

    async fn slot(&self, key: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query_async(&mut self.nodes[0].connection().await)
            .await
            .unwrap()
    }

    /// The node owning `slot`.
    async fn owner(&self, slot: u16) -> &RedisServer {
        let slots: Vec<(u16, u16, Vec<redis::Value>)> = {
            let raw: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query_async(&mut self.nodes[0].connection().await)
                .await
                .unwrap();
            raw.into_iter()
                .map(|range| {
                    let number = |v: &redis::Value| match v {
                        redis::Value::Int(n) => *n as u16,
                        other => panic!("{other:?}"),
                    };
                    let primary = match &range[2] {
                        redis::Value::Array(fields) => fields.clone(),
                        other => panic!("{other:?}"),
                    };
                    (number(&range[0]), number(&range[1]), primary)
                })
                .collect()
        };
        let (_, _, primary) = slots
            .iter()
            .find(|(from, to, _)| (*from..=*to).contains(&slot))
            .expect("every slot is served");
        let port = match &primary[1] {
            redis::Value::Int(port) => *port as u16,
            other => panic!("{other:?}"),
        };
        self.nodes.iter().find(|node| node.port == port).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_suite_runs_on_the_primary_owning_the_deployments_slot() {
    let cluster = Cluster::start().await;
    macro_rules! on_owner {
        ($($name:ident),* $(,)?) => {$(
            let prefix = concat!(stringify!($name), ":");
            let slot = cluster.slot(&format!("{{{prefix}}}")).await;
            let owner = cluster.owner(slot).await;
            let store: Arc<dyn Store> =
                RedisStore::connect_with_lease(&owner.url, prefix, 0, Duration::from_secs(60))
                    .await
                    .unwrap();
            store_suite::$name(store).await;
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{{{prefix}}}*"))
                .query_async(&mut owner.connection().await)
                .await
                .unwrap();
            assert!(!keys.is_empty(), "{prefix} wrote nothing");
            for key in &keys {
                assert_eq!(cluster.slot(key).await, slot, "{key} is outside the slot");
            }
        )*};
    }
    store_contract!(on_owner!());
}
