//! A real `redis-server` for tests: started on a free port without persistence, in a temp
//! dir, and killed on drop. It is ready once it answers as itself (INFO's process_id is the
//! child's pid); a port someone else took meanwhile is given up for another. Extra arguments
//! make replicas, Sentinels or cluster nodes; an [`Access`] makes it TLS-only and/or
//! password-protected.
#![allow(dead_code)]

pub mod leases;
pub mod tls;

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use tls::TestPki;

/// How clients reach a server: plain and open by default.
#[derive(Clone, Default)]
pub struct Access {
    /// TLS only, with this PKI's certificates; `true`: clients must present one
    /// (`tls-auth-clients yes`).
    pub tls: Option<(Arc<TestPki>, bool)>,
    /// `requirepass` (and `masterauth`, for when it replicates from a server like itself).
    pub password: Option<String>,
}

impl Access {
    /// `redis://` or `rediss://`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "rediss://"
        } else {
            "redis://"
        }
    }

    /// The URL of a server on `port`, with the password.
    pub fn url(&self, port: u16) -> String {
        let password = self
            .password
            .as_ref()
            .map_or(String::new(), |password| format!(":{password}@"));
        format!("{}{password}127.0.0.1:{port}", self.scheme())
    }

    fn server_args(&self, port: u16) -> Vec<String> {
        let mut args = match &self.tls {
            Some((pki, client_certificates)) => pki.server_args(port, *client_certificates),
            None => Vec::new(),
        };
        if let Some(password) = &self.password {
            args.extend(["--requirepass", password, "--masterauth", password].map(str::to_owned));
        }
        args
    }

    /// A client with the password, trusting the PKI's CA and presenting its client
    /// certificate.
    pub fn client(&self, port: u16) -> redis::Client {
        let url = self.url(port);
        match &self.tls {
            Some((pki, _)) => {
                redis::Client::build_with_tls(url, pki.certificates("ca.pem", true)).unwrap()
            }
            None => redis::Client::open(url).unwrap(),
        }
    }
}

/// A `redis-server` process, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    pub url: String,
    args: Vec<String>,
    access: Access,
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
        Self::start_secured(Access::default(), config, args).await
    }

    /// [`Self::start_with`], reached as `access` says.
    pub async fn start_secured(access: Access, config: &str, args: &[&str]) -> Self {
        let mut server = Self {
            child: None,
            port: 0,
            url: String::new(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            access,
            dir: tempfile::tempdir().unwrap(),
        };
        for attempt in 1..=PORT_ATTEMPTS {
            server.port = free_port();
            server.url = server.access.url(server.port);
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
            .args(self.access.server_args(self.port))
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

    /// A client of this server, allowed in whatever its access asks.
    pub fn client(&self) -> redis::Client {
        self.access.client(self.port)
    }

    /// A connection to this server.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        self.client()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Waits until our own child answers on the port: a PONG alone could come from another
    /// server that took the port first (ours then fails to bind and exits).
    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let client = self.client();
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
