//! A real `redis-server` for tests: started on a free port without persistence, in a temp
//! dir, and killed on drop. It is ready once it answers as itself (INFO's process_id is the
//! child's pid); a port someone else took meanwhile is given up for another. Extra arguments make replicas, Sentinels or cluster nodes.
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

/// Ports tried before giving up: another process may take a free port between our probe
/// and redis-server's bind, and then redis-server exits (or someone else answers).
const PORT_ATTEMPTS: usize = 5;

impl RedisServer {
    pub async fn start() -> Self {
        Self::start_with("", &[]).await
    }

    /// A server whose config file holds `config` (Sentinel rewrites it: it must be a file),
    /// with `args` after the port, bind address and persistence settings.
    pub async fn start_with(config: &str, args: &[&str]) -> Self {
        let mut server = Self {
            child: None,
            port: 0,
            url: String::new(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            dir: tempfile::tempdir().unwrap(),
        };
        for attempt in 1..=PORT_ATTEMPTS {
            server.port = free_port();
            server.url = format!("redis://127.0.0.1:{}", server.port);
            std::fs::write(server.config_file(), config).unwrap();
            server.spawn();
            match server.wait_until_ready().await {
                Ok(()) => return server,
                Err(why) => {
                    server.kill();
                    assert!(attempt < PORT_ATTEMPTS, "redis-server never started: {why}");
                    eprintln!("redis-server: {why}; trying another port");
                }
            }
        }
        unreachable!("the last attempt returns or panics")
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
        if let Err(why) = self.wait_until_ready().await {
            panic!("redis-server did not come back: {why}");
        }
    }

    /// A connection to this server.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Waits until our own child answers on the port: a PONG alone could come from another
    /// server that took the port first (ours then fails to bind and exits).
    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let client = redis::Client::open(self.url.as_str()).unwrap();
        for _ in 0..200 {
            let child = self.child.as_mut().expect("spawned");
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited ({status}) on port {}", self.port));
            }
            let ours = child.id();
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let info: Result<String, _> = redis::cmd("INFO")
                    .arg("server")
                    .query_async(&mut conn)
                    .await;
                if let Ok(info) = info {
                    let answering = info
                        .lines()
                        .find_map(|line| line.strip_prefix("process_id:"))
                        .and_then(|pid| pid.trim().parse::<u32>().ok());
                    return match answering {
                        Some(pid) if pid == ours => Ok(()),
                        other => Err(format!(
                            "port {} answered by process {other:?}, not by our redis-server \
                             {ours}",
                            self.port
                        )),
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(format!("no answer on port {} within 5 s", self.port))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
