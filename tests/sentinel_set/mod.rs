//! A Sentinel-managed Redis for tests: a primary, one replica and three Sentinels (quorum 2)
//! as real processes, with short timers (down after 1 s) so a failover ends within seconds.
//! [`SentinelSet::start_secured`] makes all of them TLS-only and the data servers
//! password-protected.
#![allow(dead_code)]

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use smsgw::store::{RedisServers, RedisTarget};

use crate::redis_server::{Access, RedisServer};

/// The name the Sentinels monitor the primary under.
pub const MASTER_NAME: &str = "smsgw";

pub struct SentinelSet {
    /// The first primary and its replica (roles change with failovers).
    pub servers: Vec<RedisServer>,
    pub sentinels: Vec<RedisServer>,
    /// How the primary and replica are reached (the Sentinels: the same TLS, no password).
    access: Access,
}

impl SentinelSet {
    pub async fn start() -> Self {
        Self::start_secured(Access::default()).await
    }

    /// A set whose data servers are reached as `access` says, and its Sentinels with the same
    /// TLS (they reach the servers with it too) and no password.
    pub async fn start_secured(access: Access) -> Self {
        // With an append-only file, as in production: a server restarted after a kill comes
        // back with its data, never as an empty primary that replicas would copy.
        let primary =
            RedisServer::start_secured(access.clone(), "", &["--appendonly", "yes"]).await;
        let port = primary.port.to_string();
        let replica = RedisServer::start_secured(
            access.clone(),
            "",
            &["--appendonly", "yes", "--replicaof", "127.0.0.1", &port],
        )
        .await;
        let mut config = format!(
            "sentinel monitor {MASTER_NAME} 127.0.0.1 {port} 2\n\
             sentinel down-after-milliseconds {MASTER_NAME} 1000\n\
             sentinel failover-timeout {MASTER_NAME} 5000\n"
        );
        if let Some(password) = &access.password {
            config += &format!("sentinel auth-pass {MASTER_NAME} {password}\n");
        }
        let sentinel_access = Access {
            tls: access.tls.clone(),
            password: None,
        };
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            sentinels.push(
                RedisServer::start_secured(sentinel_access.clone(), &config, &["--sentinel"]).await,
            );
        }
        let set = Self {
            servers: vec![primary, replica],
            sentinels,
            access,
        };
        set.wait_until_replicated(Duration::from_secs(20)).await;
        set.wait_until_sentinels_agree().await;
        set
    }

    /// The Sentinels' addresses, as the `[store.redis] sentinels` config takes them.
    pub fn addresses(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|sentinel| match self.access.tls {
                Some(_) => format!("rediss://127.0.0.1:{}", sentinel.port),
                None => format!("127.0.0.1:{}", sentinel.port),
            })
            .collect()
    }

    /// The primary's URL as `[store.redis] url` takes it with Sentinels (its host is not
    /// used): the password, and TLS or not; `None` without a password.
    fn primary_url(&self) -> Option<String> {
        let password = self.access.password.as_ref()?;
        Some(format!("{}:{password}@primary/0", self.access.scheme()))
    }

    /// What a store connects to (trusting the PKI's CA, if TLS, and presenting the client
    /// certificate if the servers ask for one).
    pub fn target(&self) -> RedisTarget {
        RedisTarget {
            servers: RedisServers::Sentinel {
                sentinels: self.addresses(),
                master_name: MASTER_NAME.into(),
                primary_url: self.primary_url(),
            },
            tls: self
                .access
                .tls
                .as_ref()
                .map(|(pki, client)| pki.certificates("ca.pem", *client)),
        }
    }

    /// `[store.redis]` lines for a gateway on these Sentinels.
    pub fn store_config(&self, key_prefix: &str, wait_replicas: u32) -> String {
        let sentinels: Vec<String> = self
            .addresses()
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect();
        let mut config = format!(
            "\n[store]\nkind = \"redis\"\n\n[store.redis]\nsentinels = [{}]\nmaster_name = \"{MASTER_NAME}\"\n\
             key_prefix = \"{key_prefix}\"\nwait_replicas = {wait_replicas}\nlease = \"2s\"\n",
            sentinels.join(", ")
        );
        if let Some(url) = self.primary_url() {
            config += &format!("url = \"{url}\"\n");
        }
        if let Some((pki, client_certificates)) = &self.access.tls {
            config += &pki.store_config(*client_certificates);
        }
        config
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
        let mut conn = sentinel
            .client()
            .get_multiplexed_async_connection()
            .await
            .ok()?;
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
        let client = self.access.client(port);
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut conn).await.ok()?;
        match role.first() {
            Some(redis::Value::BulkString(bytes)) => Some(String::from_utf8_lossy(bytes).into()),
            _ => None,
        }
    }

    async fn info(&self, port: u16, section: &str) -> String {
        let client = self.access.client(port);
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
