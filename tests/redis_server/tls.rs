//! A throwaway PKI for TLS tests against redis-server: a CA, a certificate for the servers
//! (`localhost` and 127.0.0.1, usable by them as clients too, for replication and Sentinels),
//! a client certificate, and the certificates in the form the store takes them.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use redis::{ClientTlsConfig, TlsCertificates};

/// PEM files in a temp dir: `ca.pem`, `server.pem` + `server.key`, `client.pem` +
/// `client.key`, and `other-ca.pem` (a CA that signed none of them).
pub struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    pub fn new() -> Self {
        let pki = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        let (ca, ca_key) = pki.ca("ca");
        pki.ca("other-ca");
        pki.leaf("server", &ca, &ca_key);
        pki.leaf("client", &ca, &ca_key);
        pki
    }

    /// The file `name` (e.g. `ca.pem`).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, pem: String) {
        std::fs::write(self.path(name), pem).unwrap();
    }

    fn ca(&self, name: &str) -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("smsgw test {name}"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let certificate = params.self_signed(&key).unwrap();
        self.write(&format!("{name}.pem"), certificate.pem());
        (certificate, key)
    }

    fn leaf(&self, name: &str, ca: &rcgen::Certificate, ca_key: &KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let certificate = params.signed_by(&key, ca, ca_key).unwrap();
        self.write(&format!("{name}.pem"), certificate.pem());
        self.write(&format!("{name}.key"), key.serialize_pem());
    }

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
