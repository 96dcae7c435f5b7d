//! A connection that follows a Sentinel failover: it reaches whatever Redis the Sentinels name
//! as primary, and asks them again when its connection breaks (I/O error, response timeout)
//! or when the server answers `READONLY` / `MASTERDOWN` (it was demoted to a replica). Every
//! [`CHECK_INTERVAL`] it also asks them in the background and leaves a primary they no longer
//! name: after a manual failover the old primary may take seconds to be demoted, and writes
//! it still took in between would be lost when it is (with `wait_replicas` they are refused,
//! as no replica follows it any more).
//!
//! A command that failed with `READONLY` did not run, so it is sent once more on the new
//! primary. A command whose connection broke may or may not have run, so its error goes back
//! to the caller (the gateway then does not acknowledge, and the client retries); the next
//! command uses a new connection. While no primary answers (the Sentinels have not finished
//! the failover), one lookup is made at a time, and at most one every [`RETRY_FLOOR`]:
//! commands in between fail at once instead of queueing behind lookups.

use std::{
    future::Future,
    sync::{Arc, Mutex, Weak},
    time::{Duration, Instant},
};

use redis::{
    aio::{ConnectionLike, MultiplexedConnection},
    sentinel::SentinelClient,
    AsyncConnectionConfig, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult,
    ServerErrorKind, Value,
};

/// Least time between two lookups of the primary while none answers.
const RETRY_FLOOR: Duration = Duration::from_millis(100);

/// How often the Sentinels are asked whether the primary in use is still theirs.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How long connecting to a Sentinel or the primary may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A multiplexed connection to the current primary; clones share it.
#[derive(Clone)]
pub struct PrimaryConnection(Arc<Shared>);

struct Shared {
    /// Held while looking the primary up, so a broken connection costs one lookup, not one
    /// per waiting command.
    resolver: tokio::sync::Mutex<Resolver>,
    current: Mutex<Option<Current>>,
    db: i64,
}

struct Resolver {
    sentinel: SentinelClient,
    config: AsyncConnectionConfig,
    generations: u64,
    /// When the last lookup failed, and why.
    failed: Option<(Instant, String)>,
}

/// The connection in use and a number telling it from the ones before.
#[derive(Clone)]
struct Current {
    generation: u64,
    /// The primary's address, as the Sentinels gave it.
    addr: String,
    conn: MultiplexedConnection,
}

impl PrimaryConnection {
    /// Connects to the primary `sentinel` names, on database `db`.
    pub async fn open(
        sentinel: SentinelClient,
        db: i64,
        response_timeout: Duration,
    ) -> RedisResult<Self> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(response_timeout));
        let connection = Self(Arc::new(Shared {
            resolver: tokio::sync::Mutex::new(Resolver {
                sentinel,
                config,
                generations: 0,
                failed: None,
            }),
            current: Mutex::new(None),
            db,
        }));
        connection.current().await?;
        tokio::spawn(check_primary(Arc::downgrade(&connection.0)));
        Ok(connection)
    }

    /// The connection in use, or a new one to the primary the Sentinels name now.
    async fn current(&self) -> RedisResult<Current> {
        if let Some(current) = self.in_use() {
            return Ok(current);
        }
        let mut resolver = self.0.resolver.lock().await;
        // Another command may have connected while this one waited.
        if let Some(current) = self.in_use() {
            return Ok(current);
        }
        if let Some((at, why)) = &resolver.failed {
            if at.elapsed() < RETRY_FLOOR {
                return Err(no_primary(why.clone()));
            }
        }
        match resolver.connect().await {
            Ok(current) => {
                resolver.failed = None;
                *self.0.current.lock().unwrap() = Some(current.clone());
                Ok(current)
            }
            Err(e) => {
                tracing::warn!(error = %e, "redis: no primary reachable through the Sentinels");
                resolver.failed = Some((Instant::now(), e.to_string()));
                Err(e)
            }
        }
    }

    fn in_use(&self) -> Option<Current> {
        self.0.current.lock().unwrap().clone()
    }

    fn forget(&self, generation: u64) {
        self.0.forget(generation)
    }

    /// Sends with `send` on the connection in use; see the module documentation.
    async fn request<T, F, Fut>(&self, send: F) -> RedisResult<T>
    where
        F: Fn(MultiplexedConnection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let current = self.current().await?;
        let result = send(current.conn).await;
        match &result {
            Err(e) if not_primary(e) => {
                tracing::warn!(error = %e, "redis: the server is no longer the primary");
                self.forget(current.generation);
                let current = self.current().await?;
                let retried = send(current.conn).await;
                if retried.as_ref().is_err_and(|e| not_primary(e) || broken(e)) {
                    self.forget(current.generation);
                }
                retried
            }
            Err(e) if broken(e) => {
                tracing::warn!(error = %e, "redis: connection to the primary lost");
                self.forget(current.generation);
                result
            }
            _ => result,
        }
    }
}

impl Shared {
    /// Stops using connection `generation` (if it is still the one in use).
    fn forget(&self, generation: u64) {
        let mut current = self.current.lock().unwrap();
        if current.as_ref().is_some_and(|c| c.generation == generation) {
            *current = None;
        }
    }
}

/// Every [`CHECK_INTERVAL`] while the connection lives: leaves the primary in use if the
/// Sentinels name (and can reach) another one.
async fn check_primary(shared: Weak<Shared>) {
    loop {
        tokio::time::sleep(CHECK_INTERVAL).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let Some(current) = shared.current.lock().unwrap().clone() else {
            continue;
        };
        let named = shared
            .resolver
            .lock()
            .await
            .sentinel
            .async_get_client()
            .await;
        if let Ok(client) = named {
            let addr = client.get_connection_info().addr().to_string();
            if addr != current.addr {
                tracing::warn!(
                    old = %current.addr, new = %addr,
                    "redis: the Sentinels name another primary"
                );
                shared.forget(current.generation);
            }
        }
    }
}

impl Resolver {
    async fn connect(&mut self) -> RedisResult<Current> {
        let client = self.sentinel.async_get_client().await?;
        let conn = client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        self.generations += 1;
        let addr = client.get_connection_info().addr().to_string();
        tracing::info!(primary = %addr, "redis: connected to the primary named by the Sentinels");
        Ok(Current {
            generation: self.generations,
            addr,
            conn,
        })
    }
}

/// The server is a replica now (or one cut off from its primary).
fn not_primary(error: &RedisError) -> bool {
    matches!(
        error.kind(),
        ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
    ) || error.to_string().contains("READONLY")
}

/// The connection cannot be trusted any more.
fn broken(error: &RedisError) -> bool {
    error.is_io_error() || error.is_connection_dropped() || error.is_unrecoverable_error()
}

fn no_primary(why: String) -> RedisError {
    RedisError::from((ErrorKind::Io, "no Redis primary reachable", why))
}

impl ConnectionLike for PrimaryConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.request(move |mut conn| async move { conn.send_packed_command(cmd).await }))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(self.request(move |mut conn| async move {
            conn.send_packed_commands(pipeline, offset, count).await
        }))
    }

    fn get_db(&self) -> i64 {
        self.0.db
    }
}
