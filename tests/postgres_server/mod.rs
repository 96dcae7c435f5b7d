//! A real PostgreSQL server for tests: `initdb` into a temp dir (trust auth, fsync off), then
//! `postgres` on 127.0.0.1 and a free (or given) port, killed on drop. The binaries come from
//! `SMSGW_POSTGRES_BIN` or Debian's `/usr/lib/postgresql/<newest>/bin` (the README's test
//! command installs the `postgresql` package). PostgreSQL refuses to run as root, so as root
//! the server runs as the `postgres` user the package creates.
#![allow(dead_code)]

use std::{
    net::TcpListener,
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

/// A running server, killed on drop.
pub struct PostgresServer {
    child: Child,
    pub port: u16,
    pub url: String,
    _dir: tempfile::TempDir,
}

fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("SMSGW_POSTGRES_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: apt-get install postgresql (see README)")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions.pop().expect("no PostgreSQL version installed").1
}

/// The uid and gid to run as: the `postgres` user when we are root, else ourselves.
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc_getuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&"postgres"))
            .then(|| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
            .flatten()
    })
}

extern "C" {
    #[link_name = "getuid"]
    fn libc_getuid() -> u32;
}

fn command(program: PathBuf, user: Option<(u32, u32)>) -> Command {
    let mut command = Command::new(program);
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
    command
}

/// A free port on 127.0.0.1 (for a server started later: see [`PostgresServer::start_on`]).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The URL of a server on `port`.
pub fn url_on(port: u16) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

impl PostgresServer {
    pub async fn start() -> Self {
        Self::start_on(free_port()).await
    }

    /// A server on `port`, ready to take connections.
    pub async fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let user = run_as();
        let data = dir.path().join("data");
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let bin = bin_dir();
        let status = command(bin.join("initdb"), user)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let child = command(bin.join("postgres"), user)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("postgres starts");
        let server = Self {
            child,
            port,
            url: url_on(port),
            _dir: dir,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if tokio_postgres::connect(&server.url, tokio_postgres::NoTls)
                .await
                .is_ok()
            {
                return server;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "PostgreSQL did not start on {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A client (its connection driven on the runtime).
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
