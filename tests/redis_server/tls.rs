//! The throwaway PKI of `tests/pki` in the forms redis-server and the Redis store take it.

use std::path::Path;

use redis::{ClientTlsConfig, TlsCertificates};

#[path = "../pki/mod.rs"]
mod pki;

pub use pki::TestPki;

impl TestPki {
    /// redis-server arguments: TLS only on `port`, with this PKI's server certificate,
    /// trusting its CA; `tls-auth-clients` as given.
    pub fn server_args(&self, port: u16, client_certificates: bool) -> Vec<String> {
        let file = |name: &str| self.path(name).display().to_string();
        let auth_clients = if client_certificates { "yes" } else { "no" };
        [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &file("server.pem"),
            "--tls-key-file",
            &file("server.key"),
            "--tls-ca-cert-file",
            &file("ca.pem"),
            "--tls-auth-clients",
            auth_clients,
            "--tls-replication",
            "yes",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// What the store trusts and presents: the CA in `ca` (e.g. `ca.pem`), and the client
    /// certificate if `client`.
    pub fn certificates(&self, ca: &str, client: bool) -> TlsCertificates {
        TlsCertificates {
            client_tls: client.then(|| ClientTlsConfig {
                client_cert: read(&self.path("client.pem")),
                client_key: read(&self.path("client.key")),
            }),
            root_cert: Some(read(&self.path(ca))),
        }
    }

    /// `[store.redis]` lines for this PKI's CA and, if `client`, the client certificate.
    pub fn store_config(&self, client: bool) -> String {
        let mut lines = format!("tls_ca = \"{}\"\n", self.path("ca.pem").display());
        if client {
            lines += &format!(
                "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
                self.path("client.pem").display(),
                self.path("client.key").display()
            );
        }
        lines
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}
