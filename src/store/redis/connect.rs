//! Where the Redis store connects: one fixed Redis (a [`ConnectionManager`], which reconnects
//! to the same address by itself), or the primary that Redis Sentinel names at the moment (a
//! [`PrimaryConnection`], which asks the Sentinels again when its connection breaks or the
//! server it reaches has become a replica). Both are used the same way through
//! [`Connection`].

use std::time::Duration;

use redis::{
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    Cmd, IntoConnectionInfo, Pipeline, RedisFuture, RedisResult, Value,
};

use super::sentinel::PrimaryConnection;

/// What the store connects to. `{:?}` masks passwords (and any other URL credentials).
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// One Redis, as the `redis` crate takes it (`redis://[:password@]host[:port][/db]`).
    Url(String),
    /// The primary that these Sentinels know as `master_name`.
    Sentinel {
        /// Sentinel addresses: `host:port`, or `redis://[:password@]host:port` when the
        /// Sentinels themselves ask for a password.
        sentinels: Vec<String>,
        master_name: String,
        /// User, password and database for the primary, as a `redis://` URL whose host is
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

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Url(url) => f.debug_tuple("Url").field(&redact_url(url)).finish(),
            Target::Sentinel {
                sentinels,
                master_name,
                primary_url,
            } => {
                let sentinels: Vec<String> = sentinels
                    .iter()
                    .map(|address| redact_url(&Target::sentinel_url(address)))
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

impl From<&str> for Target {
    fn from(url: &str) -> Self {
        Self::Url(url.to_owned())
    }
}

impl From<&String> for Target {
    fn from(url: &String) -> Self {
        Self::Url(url.clone())
    }
}

impl From<String> for Target {
    fn from(url: String) -> Self {
        Self::Url(url)
    }
}

impl Target {
    /// A Sentinel address as the `redis` crate takes it.
    pub(super) fn sentinel_url(address: &str) -> String {
        if address.contains("://") {
            address.to_owned()
        } else {
            format!("redis://{address}")
        }
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
    match target {
        Target::Url(url) => {
            let client = redis::Client::open(url.as_str())?;
            let config =
                ConnectionManagerConfig::new().set_response_timeout(Some(response_timeout));
            Ok(Connection::Fixed(
                client.get_connection_manager_with_config(config).await?,
            ))
        }
        Target::Sentinel {
            sentinels,
            master_name,
            primary_url,
        } => {
            let primary = match primary_url {
                Some(url) => Some(url.as_str().into_connection_info()?),
                None => None,
            };
            let urls = sentinels.iter().map(|a| Target::sentinel_url(a)).collect();
            Ok(Connection::Primary(
                PrimaryConnection::open(urls, master_name, primary, response_timeout).await?,
            ))
        }
    }
}

/// A client for the server `target` names now (the primary, for Sentinels): for connections
/// of another kind than the store's multiplexed ones (the wake-up subscription).
pub async fn client(target: &Target) -> RedisResult<redis::Client> {
    match target {
        Target::Url(url) => redis::Client::open(url.as_str()),
        Target::Sentinel {
            sentinels,
            master_name,
            primary_url,
        } => {
            let node = match primary_url {
                Some(url) => Some(
                    redis::sentinel::SentinelNodeConnectionInfo::default()
                        .set_redis_connection_info(
                            url.as_str()
                                .into_connection_info()?
                                .redis_settings()
                                .clone(),
                        ),
                ),
                None => None,
            };
            let mut sentinel = redis::sentinel::SentinelClient::build(
                sentinels.iter().map(|a| Target::sentinel_url(a)).collect(),
                master_name.clone(),
                node,
                redis::sentinel::SentinelServerType::Master,
            )?;
            sentinel.async_get_client().await
        }
    }
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
