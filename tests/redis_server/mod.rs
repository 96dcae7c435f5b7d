//! A real `redis-server` for tests: started on a free port without persistence, in a temp
//! dir, and killed on drop. Extra arguments make replicas, Sentinels or cluster nodes.
#![allow(dead_code)]

pub mod leases;

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// A `redis-server` process, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    pub url: String,
    args: Vec<String>,
    dir: tempfile::TempDir,
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    pub async fn start() -> Self {
        Self::start_with("", &[]).await
    }

    /// A server whose config file holds `config` (Sentinel rewrites it: it must be a file),
    /// with `args` after the port, bind address and persistence settings.
    pub async fn start_with(config: &str, args: &[&str]) -> Self {
        let port = free_port();
        let mut server = Self {
            child: None,
            port,
            url: format!("redis://127.0.0.1:{port}"),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::write(server.config_file(), config).unwrap();
        server.spawn();
        server.wait_until_ready().await;
        server
    }

    fn config_file(&self) -> std::path::PathBuf {
        self.dir.path().join("redis.conf")
    }

    /// The temp dir the server runs in (config files go here).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    fn spawn(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .arg(self.config_file())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(command.spawn().expect("redis-server on PATH"));
    }

    /// SIGKILL: the server is gone at once, with whatever it had not replicated.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and dir, with the same arguments.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.wait_until_ready().await;
    }

    /// A connection to this server.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    async fn wait_until_ready(&self) {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        for _ in 0..200 {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server at {} did not answer PING", self.url);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
