//! TLS settings for the gateway's edges, built with rustls and its `ring` provider (passed
//! explicitly, so nothing depends on a process-wide default being installed):
//! - [`server_config`]: the HTTPS and SMPP-over-TLS listeners, from a PEM certificate chain
//!   and a PEM private key, with errors that name the file and what is wrong with it;
//! - [`client_config`]: SMPP over TLS to carriers, trusting the connector's `ca` PEM bundle
//!   when it has one, else the operating system's roots (through `rustls-native-certs`, so an
//!   operator manages carrier trust the way they manage the rest of the host's);
//! - [`server_name`]: the name a carrier's certificate is verified against, the host part of
//!   its `host:port` endpoint.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName},
    ClientConfig, RootCertStore, ServerConfig,
};

/// Why a TLS setting could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not valid PEM: {error}")]
    Pem {
        path: PathBuf,
        error: rustls::pki_types::pem::Error,
    },
    #[error("no certificate in {0} (expected a PEM \"BEGIN CERTIFICATE\" section)")]
    NoCertificate(PathBuf),
    #[error("no private key in {0} (expected a PEM PKCS#8, PKCS#1 or SEC1 private key)")]
    NoKey(PathBuf),
    #[error("the private key in {key} does not match the certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("certificate {cert} with key {key} not usable: {error}")]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        error: rustls::Error,
    },
    #[error("{path}: a certificate is not usable as a trusted root: {error}")]
    BadRoot { path: PathBuf, error: rustls::Error },
    #[error(
        "no trusted root certificates found on this system ({0}); give the connector a `ca` bundle"
    )]
    NoSystemRoots(String),
    #[error("endpoint {0:?}: the host is not a valid TLS server name or IP address")]
    ServerName(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_error(path: &Path, error: rustls::pki_types::pem::Error) -> TlsError {
    match error {
        rustls::pki_types::pem::Error::Io(error) => TlsError::Read {
            path: path.to_owned(),
            error,
        },
        error => TlsError::Pem {
            path: path.to_owned(),
            error,
        },
    }
}

/// Every certificate in a PEM file, in file order; at least one.
pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, e))?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certificates)
}

/// The first private key in a PEM file.
pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|error| match error {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey(path.to_owned()),
        error => pem_error(path, error),
    })
}

/// A listener's TLS settings: the chain in `cert` (leaf first) and the key in `key`, which
/// must match the leaf; TLS 1.2 and 1.3, no client certificates.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = load_certificates(cert)?;
    let private_key = load_private_key(key)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|error| match error {
            rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
            },
            error => TlsError::Unusable {
                cert: cert.to_owned(),
                key: key.to_owned(),
                error,
            },
        })?;
    Ok(Arc::new(config))
}

/// The roots a carrier connection trusts: only the certificates in `ca` when given, else the
/// operating system's roots.
pub fn trusted_roots(ca: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            for certificate in load_certificates(path)? {
                roots.add(certificate).map_err(|error| TlsError::BadRoot {
                    path: path.to_owned(),
                    error,
                })?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
            if roots.is_empty() {
                let why = match native.errors.first() {
                    Some(error) => error.to_string(),
                    None => "none installed".to_owned(),
                };
                return Err(TlsError::NoSystemRoots(why));
            }
        }
    }
    Ok(roots)
}

/// A carrier connection's TLS settings (see [`trusted_roots`]); no client certificate.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default protocol versions")
        .with_root_certificates(trusted_roots(ca)?)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name to verify for a `host:port` endpoint: its host (a DNS name, an IPv4 address or a
/// bracketed IPv6 address).
pub fn server_name(endpoint: &str) -> Result<ServerName<'static>, TlsError> {
    let invalid = || TlsError::ServerName(endpoint.to_owned());
    let (host, _port) = endpoint.rsplit_once(':').ok_or_else(invalid)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(host.to_owned()).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_name_is_the_host_of_the_endpoint() {
        assert_eq!(
            server_name("smsc.example.com:3550").unwrap(),
            ServerName::try_from("smsc.example.com").unwrap()
        );
        assert_eq!(
            server_name("127.0.0.1:2775").unwrap(),
            ServerName::try_from("127.0.0.1").unwrap()
        );
        assert_eq!(
            server_name("[::1]:2775").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
        assert!(matches!(
            server_name("no-port"),
            Err(TlsError::ServerName(_))
        ));
        assert!(matches!(
            server_name("bad host:1"),
            Err(TlsError::ServerName(_))
        ));
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let err = server_config(Path::new("/nonexistent/cert.pem"), Path::new("/x")).unwrap_err();
        assert!(matches!(err, TlsError::Read { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
    }
}
