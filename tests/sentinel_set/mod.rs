//! A Sentinel-managed Redis for tests: a primary, one replica and three Sentinels (quorum 2)
//! as real processes, with short timers (down after 1 s) so a failover ends within seconds.
#![allow(dead_code)]

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use smsgw::store::RedisTarget;

use crate::redis_server::RedisServer;

/// The name the Sentinels monitor the primary under.
pub const MASTER_NAME: &str = "smsgw";

pub struct SentinelSet {
    /// The first primary and its replica (roles change with failovers).
    pub servers: Vec<RedisServer>,
    pub sentinels: Vec<RedisServer>,
}

impl SentinelSet {
    pub async fn start() -> Self {
        // With an append-only file, as in production: a server restarted after a kill comes
        // back with its data, never as an empty primary that replicas would copy.
        let primary = RedisServer::start_with("", &["--appendonly", "yes"]).await;
        let port = primary.port.to_string();
        let replica = RedisServer::start_with(
            "",
            &["--appendonly", "yes", "--replicaof", "127.0.0.1", &port],
        )
        .await;
        let config = format!(
            "sentinel monitor {MASTER_NAME} 127.0.0.1 {port} 2\n\
             sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
             sentinel failover-timeout {MASTER_NAME} 5000\n"
        );
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            sentinels.push(RedisServer::start_with(&config, &["--sentinel"]).await);
        }
        let set = Self {
            servers: vec![primary, replica],
            sentinels,
        };
        set.wait_until_replicated(Duration::from_secs(20)).await;
        set.wait_until_sentinels_agree().await;
        set
    }

    /// The Sentinels' addresses, as the `[store.redis] sentinels` config takes them.
    pub fn addresses(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|sentinel| format!("127.0.0.1:{}", sentinel.port))
            .collect()
    }

    /// What a store connects to.
    pub fn target(&self) -> RedisTarget {
        RedisTarget::Sentinel {
            sentinels: self.addresses(),
            master_name: MASTER_NAME.into(),
            primary_url: None,
        }
    }

    /// `[store.redis]` lines for a gateway on these Sentinels.
    pub fn store_config(&self, key_prefix: &str, wait_replicas: u32) -> String {
        let sentinels: Vec<String> = self
            .addresses()
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect();
        format!(
            "\n[store]\nkind = \"redis\"\n\n[store.redis]\nsentinels = [{}]\nmaster_name = \"{MASTER_NAME}\"\n\
             key_prefix = \"{key_prefix}\"\nwait_replicas = {wait_replicas}\nlease = \"2s\"\n",
            sentinels.join(", ")
        )
    }

    /// The server with this port.
    pub fn server(&mut self, port: u16) -> &mut RedisServer {
        self.servers
            .iter_mut()
            .find(|server| server.port == port)
            .expect("one of ours")
    }

    /// The port of the primary the first Sentinel that answers names.
    pub async fn primary_port(&self) -> Option<u16> {
        for sentinel in &self.sentinels {
            if let Some(port) = Self::named_primary(sentinel).await {
                return Some(port);
            }
        }
        None
    }

    /// The port of the primary `sentinel` names, if it answers.
    async fn named_primary(sentinel: &RedisServer) -> Option<u16> {
        let client = redis::Client::open(sentinel.url.as_str()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        let addr: (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(MASTER_NAME)
            .query_async(&mut conn)
            .await
            .ok()?;
        Some(addr.1)
    }

    /// Whether every Sentinel names `port` as the primary.
    async fn all_sentinels_name(&self, port: u16) -> bool {
        for sentinel in &self.sentinels {
            if Self::named_primary(sentinel).await != Some(port) {
                return false;
            }
        }
        true
    }

    /// Waits until every Sentinel names a primary other than `old` that says it is one;
    /// returns how long that took.
    pub async fn wait_for_failover(&self, old: u16, limit: Duration) -> Duration {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(port) = self.primary_port().await {
                if port != old
                    && self.all_sentinels_name(port).await
                    && self.role(port).await.as_deref() == Some("master")
                {
                    return start.elapsed();
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no failover away from port {old} within {limit:?}");
    }

    /// Waits until the current primary has a replica in sync (after a failover: once the old
    /// primary, restarted, was turned into a replica by the Sentinels).
    pub async fn wait_until_replicated(&self, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(port) = self.primary_port_or_first().await {
                let info = self.info(port, "replication").await;
                if info.contains("connected_slaves:1") && info.contains("state=online") {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the primary has no replica in sync after {limit:?}");
    }

    async fn primary_port_or_first(&self) -> Option<u16> {
        match self.primary_port().await {
            Some(port) => Some(port),
            None => Some(self.servers[0].port),
        }
    }

    async fn wait_until_sentinels_agree(&self) {
        for sentinel in &self.sentinels {
            let mut conn = sentinel.connection().await;
            let start = Instant::now();
            loop {
                let master: HashMap<String, String> = redis::cmd("SENTINEL")
                    .arg("MASTER")
                    .arg(MASTER_NAME)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                if master.get("num-other-sentinels").map(String::as_str) == Some("2")
                    && master.get("num-slaves").map(String::as_str) == Some("1")
                {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "Sentinels did not find each other and the replica: {master:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    async fn role(&self, port: u16) -> Option<String> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut conn).await.ok()?;
        match role.first() {
            Some(redis::Value::BulkString(bytes)) => Some(String::from_utf8_lossy(bytes).into()),
            _ => None,
        }
    }

    async fn info(&self, port: u16, section: &str) -> String {
        let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}")) else {
            return String::new();
        };
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
            return String::new();
        };
        redis::cmd("INFO")
            .arg(section)
            .query_async(&mut conn)
            .await
            .unwrap_or_default()
    }
}
