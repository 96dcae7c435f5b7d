//! A real haproxy for tests, on 127.0.0.1: started from a config the test writes, ready once
//! it listens on every address the test names, killed with SIGKILL (as in a site's power loss)
//! and on drop. Needs `haproxy` on PATH (scripts/test.sh installs it).
#![allow(dead_code)]

use std::{net::SocketAddr, process::Stdio, time::Duration};

/// A running haproxy; see the module documentation.
pub struct Haproxy {
    child: Option<std::process::Child>,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// Starts haproxy with `config` and waits until it listens on each of `listening`.
    pub async fn start(config: &str, listening: &[SocketAddr]) -> Haproxy {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        // Owned by the guard at once: killed and reaped on every path, panics included.
        let haproxy = Haproxy {
            child: Some(
                std::process::Command::new("haproxy")
                    .args(["-db", "-f"])
                    .arg(&path)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("haproxy on PATH"),
            ),
            _dir: dir,
        };
        for address in listening {
            let mut tries = 0;
            while tokio::net::TcpStream::connect(address).await.is_err() {
                tries += 1;
                assert!(tries < 100, "haproxy did not listen on {address}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        haproxy
    }

    /// A site's balancer: SMPP on `smpp` and HTTP on `http`, each spread round-robin over the
    /// `nodes` (their SMPP and HTTP addresses), plain TCP.
    pub async fn site(
        smpp: SocketAddr,
        http: SocketAddr,
        nodes: &[(SocketAddr, SocketAddr)],
    ) -> Haproxy {
        let servers = |pick: fn(&(SocketAddr, SocketAddr)) -> SocketAddr| {
            nodes
                .iter()
                .enumerate()
                .map(|(n, node)| format!("    server node{n} {}\n", pick(node)))
                .collect::<String>()
        };
        let config = format!(
            "global\n    maxconn 1000\n\
             defaults\n    mode tcp\n    balance roundrobin\n    timeout connect 5s\n    \
             timeout client 120s\n    timeout server 120s\n\
             frontend smpp_in\n    bind {smpp}\n    default_backend smpp\n\
             backend smpp\n{smpp_servers}\
             frontend http_in\n    bind {http}\n    default_backend http\n\
             backend http\n{http_servers}",
            smpp_servers = servers(|node| node.0),
            http_servers = servers(|node| node.1),
        );
        Self::start(&config, &[smpp, http]).await
    }

    /// SIGKILL: gone at once with its connections.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
