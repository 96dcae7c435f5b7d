//! How the NATS store connects: its options (lease, TLS, user and password) and the first
//! connection. The first connection is tried again while the servers cannot be reached (a
//! cluster starting), but a refused login or a TLS failure is reported at once, as itself;
//! after that the client reconnects on its own, to any server of the cluster.

use std::{path::PathBuf, time::Duration};

use async_nats::{ConnectErrorKind, ConnectOptions};

use crate::store::StoreError;

/// How long the first connection is tried before `connect` gives up.
const CONNECT_PATIENCE: Duration = Duration::from_secs(15);

/// TLS of the client connection (the routes between servers are the servers' own
/// configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsTls {
    /// CA certificates (PEM) the servers are checked against; `None`: the system's roots.
    pub ca: Option<PathBuf>,
    /// This node's certificate and key (PEM), for servers that verify their clients.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// A NATS user and its password.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for NatsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsCredentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How a [`NatsStore`](super::NatsStore) connects and behaves, beyond its servers, namespace
/// and replicas.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// How long an MT or outbox entry stays with the node that took it.
    pub lease: Duration,
    /// TLS for the connection (`None`: plain, unless a `tls://` URL asks for it).
    pub tls: Option<NatsTls>,
    pub credentials: Option<NatsCredentials>,
}

impl Default for NatsOptions {
    fn default() -> Self {
        Self {
            lease: crate::store::redis::DEFAULT_LEASE,
            tls: None,
            credentials: None,
        }
    }
}

impl NatsOptions {
    /// Files that do not exist are named before any connection is tried.
    fn check_files(&self) -> Result<(), StoreError> {
        let Some(tls) = &self.tls else {
            return Ok(());
        };
        let (cert, key) = tls.client_cert.clone().unzip();
        for (what, path) in [("ca", tls.ca.clone()), ("certificate", cert), ("key", key)] {
            if let Some(path) = path.filter(|path| !path.is_file()) {
                return Err(StoreError::io(
                    &path,
                    format!("nats TLS {what}: no such file"),
                ));
            }
        }
        Ok(())
    }

    fn client_options(&self, request_timeout: Duration) -> ConnectOptions {
        let mut options = ConnectOptions::new()
            .request_timeout(Some(request_timeout))
            // Without end: a site that comes back is found again.
            .max_reconnects(None);
        if let Some(tls) = &self.tls {
            options = options.require_tls(true);
            if let Some(ca) = &tls.ca {
                options = options.add_root_certificates(ca.clone());
            }
            if let Some((cert, key)) = &tls.client_cert {
                options = options.add_client_certificate(cert.clone(), key.clone());
            }
        }
        if let Some(credentials) = &self.credentials {
            options =
                options.user_and_password(credentials.user.clone(), credentials.password.clone());
        }
        options
    }
}

/// Connects to any of `servers`. See the module documentation.
pub async fn client(
    servers: &[String],
    options: &NatsOptions,
    request_timeout: Duration,
) -> Result<async_nats::Client, StoreError> {
    options.check_files()?;
    let deadline = tokio::time::Instant::now() + CONNECT_PATIENCE;
    loop {
        let error = match options
            .client_options(request_timeout)
            .connect(servers)
            .await
        {
            Ok(client) => return Ok(client),
            Err(error) => error,
        };
        let refused = matches!(
            error.kind(),
            ConnectErrorKind::Authentication
                | ConnectErrorKind::AuthorizationViolation
                | ConnectErrorKind::Tls
                | ConnectErrorKind::ServerParse
        ) || is_tls_failure(&error);
        if refused || tokio::time::Instant::now() >= deadline {
            return Err(StoreError::Backend(format!(
                "nats {}: {error}",
                servers.join(",")
            )));
        }
        tracing::debug!(%error, "nats: no server reachable yet; trying again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether a TLS handshake failed (a certificate not trusted, by either side): the client
/// reports that as an IO error around rustls's.
fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        let inner = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        if error.is::<rustls::Error>() || inner.is_some_and(|inner| inner.is::<rustls::Error>()) {
            return true;
        }
        cause = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tls_file_is_named() {
        let options = NatsOptions {
            tls: Some(NatsTls {
                ca: Some("/nonexistent/ca.pem".into()),
                client_cert: None,
            }),
            ..NatsOptions::default()
        };
        let error = options.check_files().unwrap_err().to_string();
        assert!(error.contains("/nonexistent/ca.pem"), "{error}");
        assert!(error.contains("ca"), "{error}");
    }

    #[test]
    fn a_handshake_failure_is_told_from_an_unreachable_server() {
        let refused = std::io::Error::other(rustls::Error::DecryptError);
        assert!(is_tls_failure(&refused));
        let unreachable = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!is_tls_failure(&unreachable));
    }

    #[test]
    fn passwords_stay_out_of_logs() {
        let credentials = NatsCredentials {
            user: "smsgw".into(),
            password: "s3cret".into(),
        };
        let shown = format!("{credentials:?}");
        assert!(
            shown.contains("smsgw") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
