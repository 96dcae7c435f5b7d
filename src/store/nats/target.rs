//! What the NATS store connects to and how: the servers, the namespace and copies of its
//! streams, the lease of taken work, and the credentials and certificates of the connection.
//! `{:?}` masks the password.

use std::{path::PathBuf, time::Duration};

/// Certificate files for `tls://` servers.
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
    /// How long taken work stays a node's own before the cluster hands it to another.
    pub lease: Duration,
    /// User and password, when the servers ask for them.
    pub credentials: Option<(String, String)>,
    pub tls: NatsTls,
}

impl NatsTarget {
    /// A target on `servers` with the defaults of a three-site deployment, no credentials and
    /// no client certificates.
    pub fn new(servers: Vec<String>, namespace: &str, replicas: usize) -> Self {
        Self {
            servers,
            namespace: namespace.to_owned(),
            replicas,
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

    /// The client options these settings ask for (the caller adds timeouts and the like).
    pub fn connect_options(&self) -> async_nats::ConnectOptions {
        let mut options = async_nats::ConnectOptions::new();
        if let Some((user, password)) = &self.credentials {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if self.uses_tls() {
            options = options.require_tls(true);
        }
        if let Some(ca) = &self.tls.ca {
            options = options.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &self.tls.client {
            options = options.add_client_certificate(cert.clone(), key.clone());
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
            .field("lease", &self.lease)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(user, _)| (user, "***")),
            )
            .field("tls", &self.tls)
            .finish()
    }
}
