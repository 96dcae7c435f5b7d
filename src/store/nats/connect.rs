//! What the NATS store connects to and how ([`NatsTarget`]: servers, namespace, copies,
//! lease, credentials, certificates), and the first connection: tried again while no server
//! can be reached (a cluster starting), but a refused login or a TLS failure is reported at
//! once, as itself, so a misconfigured node stops at start with the reason. After that the
//! client reconnects on its own, to any server of the cluster. `{:?}` masks the password.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use async_nats::{ConnectErrorKind, ConnectOptions};

use crate::store::StoreError;

/// How long the first connection is tried before `connect` gives up.
const CONNECT_PATIENCE: Duration = Duration::from_secs(15);

/// Certificate files for `tls://` servers (the routes between servers are the servers' own
/// configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatsTls {
    /// PEM certificates of the CA that signed the servers' certificates; `None`: the system's
    /// roots.
    pub ca: Option<PathBuf>,
    /// PEM client certificate chain and key, for servers that verify clients.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// See the module documentation.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsTarget {
    /// `nats://host:port` or `tls://host:port`: any one finds the cluster.
    pub servers: Vec<String>,
    /// Prefix of the subjects and name of the streams.
    pub namespace: String,
    /// Copies of each stream: 3 over three sites, 1 for a single server.
    pub replicas: usize,
    /// Streams the work is spread over, each with its own leader (see
    /// [`super::placement`]).
    pub shards: usize,
    /// Connectors placed on a shard of the operator's choice rather than by their name.
    pub pinned: BTreeMap<String, usize>,
    /// How long an MT or outbox entry stays with the node that took it.
    pub lease: Duration,
    /// User and password, when the servers ask for them.
    pub credentials: Option<(String, String)>,
    pub tls: NatsTls,
}

impl NatsTarget {
    /// A target on `servers` with the default lease, no credentials and no certificates.
    pub fn new(servers: Vec<String>, namespace: &str, replicas: usize) -> Self {
        Self {
            servers,
            namespace: namespace.to_owned(),
            replicas,
            shards: 1,
            pinned: BTreeMap::new(),
            lease: crate::store::redis::DEFAULT_LEASE,
            credentials: None,
            tls: NatsTls::default(),
        }
    }

    /// Whether the connection must be TLS: a `tls://` server, or certificates given.
    pub fn uses_tls(&self) -> bool {
        self.servers.iter().any(|url| url.starts_with("tls://"))
            || self.tls.ca.is_some()
            || self.tls.client.is_some()
    }

    /// Files that do not exist are named before any connection is tried.
    fn check_files(&self) -> Result<(), StoreError> {
        let (cert, key) = self.tls.client.clone().unzip();
        for (what, path) in [
            ("ca", self.tls.ca.clone()),
            ("certificate", cert),
            ("key", key),
        ] {
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
        if self.uses_tls() {
            options = options.require_tls(true);
        }
        if let Some(ca) = &self.tls.ca {
            options = options.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &self.tls.client {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        if let Some((user, password)) = &self.credentials {
            options = options.user_and_password(user.clone(), password.clone());
        }
        options
    }
}

impl std::fmt::Debug for NatsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsTarget")
            .field("servers", &self.servers)
            .field("namespace", &self.namespace)
            .field("replicas", &self.replicas)
            .field("shards", &self.shards)
            .field("pinned", &self.pinned)
            .field("lease", &self.lease)
            .field(
                "credentials",
                &self
                    .credentials
                    .as_ref()
                    .map(|(user, _)| (user, "<redacted>")),
            )
            .field("tls", &self.tls)
            .finish()
    }
}

/// Connects to any of `target`'s servers. See the module documentation.
pub async fn client(
    target: &NatsTarget,
    request_timeout: Duration,
) -> Result<async_nats::Client, StoreError> {
    target.check_files()?;
    let servers = target.servers.as_slice();
    let deadline = tokio::time::Instant::now() + CONNECT_PATIENCE;
    loop {
        let error = match target
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
        let mut target = NatsTarget::new(vec!["tls://127.0.0.1:4222".into()], "t", 1);
        target.tls.ca = Some("/nonexistent/ca.pem".into());
        let error = target.check_files().unwrap_err().to_string();
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
        let mut target = NatsTarget::new(vec!["nats://127.0.0.1:4222".into()], "t", 1);
        target.credentials = Some(("smsgw".into(), "s3cret".into()));
        let shown = format!("{target:?}");
        assert!(
            shown.contains("smsgw") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
