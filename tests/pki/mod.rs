//! A throwaway PKI for TLS tests against real store servers: a CA, a certificate for the
//! servers (`localhost` and 127.0.0.1, usable by them as clients too, for replication, routes
//! and Sentinels), a client certificate, and a CA that signed none of them.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

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
}
