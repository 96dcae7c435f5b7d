//! Where the Redis store connects: one fixed Redis (a [`ConnectionManager`], which reconnects
//! to the same address by itself), or the primary that Redis Sentinel names at the moment (a
//! [`PrimaryConnection`], which asks the Sentinels again when its connection breaks or the
//! server it reaches has become a replica). Both are used the same way through
//! [`Connection`].
//!
//! TLS follows the URL scheme, as everywhere with Redis: `rediss://` is TLS, `redis://` is
//! not. With Sentinels, the Sentinels are reached with TLS when their entries are
//! `rediss://`, and the primary (and any server the Sentinels name) when the primary's URL
//! is `rediss://`, or, without such a URL, when the Sentinels are. [`Target::tls`] gives the
//! CA those servers' certificates are checked against (else the system's roots) and the
//! client certificate for servers that ask for one.

use std::time::Duration;

use redis::{
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType},
    Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo, Pipeline, RedisError,
    RedisFuture, RedisResult, TlsCertificates, TlsMode, Value,
};

use super::sentinel::PrimaryConnection;

/// What the store connects to, and the certificates for its TLS connections. `{:?}` masks
/// passwords (and any other URL credentials) and certificates.
#[derive(Clone, Debug)]
pub struct Target {
    pub servers: Servers,
    /// For `rediss://` connections: the CA (`root_cert`, PEM) and the client certificate and
    /// key; `None` for the system's roots and no client certificate.
    pub tls: Option<TlsCertificates>,
}

/// The Redis servers the store uses: one at a URL, or the primary Sentinels name.
#[derive(Clone, PartialEq, Eq)]
pub enum Servers {
    /// One Redis, as the `redis` crate takes it (`redis[s]://[[user]:password@]host[:port][/db]`).
    Url(String),
    /// The primary that these Sentinels know as `master_name`.
    Sentinel {
        /// Sentinel addresses: `host:port`, or `redis[s]://[[user]:password@]host:port` when
        /// the Sentinels ask for a password or speak TLS (all the same way).
        sentinels: Vec<String>,
        master_name: String,
        /// User, password and database for the primary, as a `redis[s]://` URL whose host is
        /// not used (the Sentinels say where the primary is); `None` for none.
        primary_url: Option<String>,
    },
}

/// A Redis URL fit for logs: user and password masked (a URL that does not parse is not
/// shown at all, as it may be a password pasted in the wrong place).
fn redact_url(url: &str) -> String {
    const MASK: &str = "***";
    let Some(mut shown) = redis::parse_redis_url(url) else {
        return "<unparsable redis URL>".into();
    };
    if !shown.username().is_empty() {
        let _ = shown.set_username(MASK);
    }
    if shown.password().is_some() {
        let _ = shown.set_password(Some(MASK));
    }
    shown.as_str().replace("%2A%2A%2A", MASK)
}

impl std::fmt::Debug for Servers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Servers::Url(url) => f.debug_tuple("Url").field(&redact_url(url)).finish(),
            Servers::Sentinel {
                sentinels,
                master_name,
                primary_url,
            } => {
                let sentinels: Vec<String> = sentinels
                    .iter()
                    .map(|address| redact_url(&sentinel_url(address)))
                    .collect();
                f.debug_struct("Sentinel")
                    .field("sentinels", &sentinels)
                    .field("master_name", master_name)
                    .field("primary_url", &primary_url.as_deref().map(redact_url))
                    .finish()
            }
        }
    }
}

impl From<Servers> for Target {
    fn from(servers: Servers) -> Self {
        Self { servers, tls: None }
    }
}

impl From<&str> for Target {
    fn from(url: &str) -> Self {
        Servers::Url(url.to_owned()).into()
    }
}

impl From<&String> for Target {
    fn from(url: &String) -> Self {
        Servers::Url(url.clone()).into()
    }
}

impl From<String> for Target {
    fn from(url: String) -> Self {
        Servers::Url(url).into()
    }
}

/// A Sentinel address as the `redis` crate takes it.
fn sentinel_url(address: &str) -> String {
    if address.contains("://") {
        address.to_owned()
    } else {
        format!("redis://{address}")
    }
}

/// One connection of the store: multiplexed, cheap to clone, reconnecting by itself.
#[derive(Clone)]
pub enum Connection {
    Fixed(ConnectionManager),
    Primary(PrimaryConnection),
}

/// Opens a connection to `target`; each command may take up to `response_timeout`.
pub async fn open(target: &Target, response_timeout: Duration) -> RedisResult<Connection> {
    match &target.servers {
        Servers::Url(url) => {
            let config =
                ConnectionManagerConfig::new().set_response_timeout(Some(response_timeout));
            Ok(Connection::Fixed(
                url_client(url, target.tls.as_ref())?
                    .get_connection_manager_with_config(config)
                    .await?,
            ))
        }
        Servers::Sentinel { primary_url, .. } => {
            let db = match primary_url {
                Some(url) => url.as_str().into_connection_info()?.redis_settings().db(),
                None => 0,
            };
            Ok(Connection::Primary(
                PrimaryConnection::open(sentinel_client(target)?, db, response_timeout).await?,
            ))
        }
    }
}

/// A client for the server `target` names now (the primary, for Sentinels): for connections
/// of another kind than the store's multiplexed ones (the wake-up subscription).
pub async fn client(target: &Target) -> RedisResult<redis::Client> {
    match &target.servers {
        Servers::Url(url) => url_client(url, target.tls.as_ref()),
        Servers::Sentinel { .. } => sentinel_client(target)?.async_get_client().await,
    }
}

/// A client for one Redis at `url`, with `tls`'s certificates if it is a `rediss://` URL.
fn url_client(url: &str, tls: Option<&TlsCertificates>) -> RedisResult<redis::Client> {
    let info = url.into_connection_info()?;
    match tls {
        Some(certificates) if is_tls(&info) => {
            redis::Client::build_with_tls(info, certificates.clone())
        }
        _ => redis::Client::open(info),
    }
}

fn is_tls(info: &ConnectionInfo) -> bool {
    matches!(info.addr(), ConnectionAddr::TcpTls { .. })
}

/// A client that asks `target`'s Sentinels for the primary; see the module documentation
/// for which connections use TLS.
pub(super) fn sentinel_client(target: &Target) -> RedisResult<SentinelClient> {
    let Servers::Sentinel {
        sentinels,
        master_name,
        primary_url,
    } = &target.servers
    else {
        return Err(invalid("not a Sentinel target"));
    };
    let sentinels = sentinels
        .iter()
        .map(|address| sentinel_url(address).into_connection_info())
        .collect::<RedisResult<Vec<_>>>()?;
    let Some(first) = sentinels.first() else {
        return Err(invalid("no Sentinel given"));
    };
    // The crate's builder takes one user and password for all Sentinels.
    let credentials = |info: &ConnectionInfo| {
        let settings = info.redis_settings();
        (
            settings.username().map(str::to_owned),
            settings.password().map(str::to_owned),
        )
    };
    let (user, password) = credentials(first);
    if sentinels
        .iter()
        .any(|info| credentials(info) != (user.clone(), password.clone()))
    {
        return Err(invalid(
            "the Sentinels must all have the same user and password",
        ));
    }
    let sentinel_tls = is_tls(first);
    if sentinels.iter().any(|info| is_tls(info) != sentinel_tls) {
        return Err(invalid(
            "the Sentinels must all use TLS (rediss://) or all not (redis:// or host:port)",
        ));
    }
    let mut builder = SentinelClientBuilder::new(
        sentinels.iter().map(|info| info.addr().clone()),
        master_name,
        SentinelServerType::Master,
    )?;
    if let Some(user) = &user {
        builder = builder.set_client_to_sentinel_username(user);
    }
    if let Some(password) = &password {
        builder = builder.set_client_to_sentinel_password(password);
    }
    if sentinel_tls {
        builder = builder.set_client_to_sentinel_tls_mode(TlsMode::Secure);
        if let Some(certificates) = &target.tls {
            builder = builder.set_client_to_sentinel_certificates(certificates.clone());
        }
    }
    let primary = primary_url
        .as_deref()
        .map(IntoConnectionInfo::into_connection_info)
        .transpose()?;
    if let Some(settings) = primary.as_ref().map(ConnectionInfo::redis_settings) {
        builder = builder.set_client_to_redis_db(settings.db());
        if let Some(user) = settings.username() {
            builder = builder.set_client_to_redis_username(user);
        }
        if let Some(password) = settings.password() {
            builder = builder.set_client_to_redis_password(password);
        }
    }
    if primary.as_ref().map_or(sentinel_tls, is_tls) {
        builder = builder.set_client_to_redis_tls_mode(TlsMode::Secure);
        if let Some(certificates) = &target.tls {
            builder = builder.set_client_to_redis_certificates(certificates.clone());
        }
    }
    builder.build()
}

fn invalid(what: &'static str) -> RedisError {
    RedisError::from((ErrorKind::InvalidClientConfig, what))
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Fixed(conn) => conn.req_packed_command(cmd),
            Self::Primary(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Fixed(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Primary(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Fixed(conn) => conn.get_db(),
            Self::Primary(conn) => conn.get_db(),
        }
    }
}
