//! BindPool: many binds to many SMSCs, kept bound, with submits on any active bind.
//!
//! Each bind slot has a supervisor task that connects, binds, waits for the bind to end and
//! binds again. The rebind delay never goes below a floor of 30 s (an SMSC that refuses or
//! drops a bind must not be stormed), grows exponentially for repeated failures, and gets
//! jitter only upwards. Submits go to a bound slot (round-robin or least outstanding); a slot
//! that is down is skipped, never queued on.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use rusmpp::{pdus::SubmitSm, Command, CommandStatus, Pdu};
use smsgw_backoff::Backoff;
use tokio::time::Instant;
use tokio_rustls::{rustls::pki_types::ServerName, TlsConnector};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{info, warn};

use crate::{
    client::{submit_on, Client, ClientConfig, ConnectError, DeliverHandler, SubmitError},
    session::{RequestError, SessionHandle, SessionId},
};

/// The shortest wait before a slot binds again after a failed or dropped bind.
pub const MIN_REBIND_DELAY: Duration = Duration::from_secs(30);

/// One SMSC to bind to.
#[derive(Clone)]
pub struct Endpoint {
    /// `host:port`.
    pub address: String,
    /// TLS connector and the name to verify, for SMPP over TLS.
    pub tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("address", &self.address)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Endpoint {
    pub fn tcp(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            tls: None,
        }
    }
}

/// How a submit picks among the bound slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    #[default]
    RoundRobin,
    /// The bind with the fewest requests awaiting a response.
    LeastOutstanding,
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub endpoints: Vec<Endpoint>,
    pub binds_per_endpoint: usize,
    pub client: ClientConfig,
    pub strategy: Strategy,
    /// Wait after the first failure; raised to [`MIN_REBIND_DELAY`] when lower.
    pub rebind_delay: Duration,
    /// Ceiling of the exponential backoff.
    pub max_rebind_delay: Duration,
    /// A bind that stayed up this long counts as healthy: its next drop starts the backoff
    /// from the floor again.
    pub stable_after: Duration,
}

impl PoolConfig {
    pub fn new(endpoints: Vec<Endpoint>, client: ClientConfig) -> Self {
        Self {
            endpoints,
            binds_per_endpoint: 1,
            client,
            strategy: Strategy::RoundRobin,
            rebind_delay: MIN_REBIND_DELAY,
            max_rebind_delay: Duration::from_secs(600),
            stable_after: Duration::from_secs(60),
        }
    }
}

/// What a slot is doing, for status pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindStatus {
    pub endpoint: String,
    pub slot: usize,
    pub up: bool,
    pub session: Option<SessionId>,
    /// Consecutive failed or short-lived binds.
    pub failures: u32,
    /// When a slot that is down binds again.
    pub next_attempt: Option<Instant>,
    pub last_error: Option<String>,
    /// The bind_resp status of the last attempt, when the SMSC refused the bind itself
    /// (e.g. wrong password), as opposed to a connection that failed.
    pub last_refusal: Option<CommandStatus>,
}

/// A submit accepted by an SMSC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub endpoint: String,
    pub session: SessionId,
    pub message_id: String,
}

/// Why the pool could not submit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// No bind is up: nothing was sent.
    #[error("no active bind")]
    NoActiveBind,
    #[error("{endpoint}: {error}")]
    Submit {
        endpoint: String,
        error: SubmitError,
    },
}

impl PoolError {
    /// The SMSC refused the message itself (an error status other than throttling): sending
    /// it again cannot help. Every other error is worth another attempt: no bind was up, the
    /// SMSC asked to slow down, or the bind was lost or silent with the submit in flight (it
    /// may have been taken, so that retry can duplicate it; see [`retry_is_safe`]).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            PoolError::Submit { error: error @ SubmitError::Rejected(_), .. } if !error.is_throttled()
        )
    }
}

struct Slot {
    endpoint: usize,
    index: usize,
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    session: Option<SessionHandle>,
    failures: u32,
    next_attempt: Option<Instant>,
    last_error: Option<String>,
    last_refusal: Option<CommandStatus>,
}

struct Inner {
    config: PoolConfig,
    slots: Vec<Slot>,
    cursor: AtomicUsize,
}

/// A set of binds to one or more SMSCs. Cloning shares the pool.
#[derive(Clone)]
pub struct BindPool {
    inner: Arc<Inner>,
    /// Cancelled by [`BindPool::shutdown`]; each supervisor watches a child of it.
    stop: CancellationToken,
    /// Held only by pool handles: when the last one is dropped it cancels `stop`, so the
    /// supervisors unbind and stop as on [`BindPool::shutdown`].
    _cancel_on_last_drop: Arc<DropGuard>,
}

impl std::fmt::Debug for BindPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BindPool")
            .field("status", &self.status())
            .finish()
    }
}

impl BindPool {
    /// Starts one supervisor per slot; binds happen in the background.
    pub fn start<H: DeliverHandler>(config: PoolConfig, handler: Arc<H>) -> Self {
        let slots = (0..config.endpoints.len())
            .flat_map(|endpoint| {
                (0..config.binds_per_endpoint.max(1)).map(move |index| Slot {
                    endpoint,
                    index,
                    state: Mutex::new(SlotState::default()),
                })
            })
            .collect();
        let stop = CancellationToken::new();
        let pool = Self {
            inner: Arc::new(Inner {
                config,
                slots,
                cursor: AtomicUsize::new(0),
            }),
            _cancel_on_last_drop: Arc::new(stop.clone().drop_guard()),
            stop,
        };
        for slot in 0..pool.inner.slots.len() {
            let stop = pool.stop.child_token();
            tokio::spawn(supervise(pool.inner.clone(), slot, handler.clone(), stop));
        }
        pool
    }

    /// Sessions that are bound right now.
    pub fn active(&self) -> Vec<SessionHandle> {
        self.inner
            .slots
            .iter()
            .filter_map(|slot| slot.bound_session())
            .collect()
    }

    /// Waits until at least `count` binds are up.
    pub async fn wait_for_active(&self, count: usize) {
        while self.active().len() < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn status(&self) -> Vec<BindStatus> {
        self.inner
            .slots
            .iter()
            .map(|slot| {
                let state = slot.lock();
                let session = state.session.as_ref().filter(|s| s.bind_kind().is_some());
                BindStatus {
                    endpoint: self.inner.config.endpoints[slot.endpoint].address.clone(),
                    slot: slot.index,
                    up: session.is_some(),
                    session: session.map(SessionHandle::id),
                    failures: state.failures,
                    next_attempt: state.next_attempt,
                    last_error: state.last_error.clone(),
                    last_refusal: state.last_refusal,
                }
            })
            .collect()
    }

    /// Submits on one active bind. A bind that goes away before the PDU left is skipped for
    /// the next; any other failure is returned with the endpoint it happened on.
    pub async fn submit(&self, submit: SubmitSm) -> Result<Submitted, PoolError> {
        let mut tried = Vec::new();
        while let Some((slot, session)) = self.pick(&tried) {
            tried.push(slot);
            let endpoint = self.endpoint_of(slot);
            match submit_on(&session, submit.clone()).await {
                Ok(message_id) => {
                    return Ok(Submitted {
                        endpoint,
                        session: session.id(),
                        message_id,
                    })
                }
                Err(SubmitError::Request(error)) if error.never_sent() => continue,
                Err(error) => return Err(PoolError::Submit { endpoint, error }),
            }
        }
        Err(PoolError::NoActiveBind)
    }

    /// Sends any request on one active bind.
    pub async fn request(&self, pdu: impl Into<Pdu>) -> Result<Command, PoolError> {
        let pdu = pdu.into();
        let mut tried = Vec::new();
        while let Some((slot, session)) = self.pick(&tried) {
            tried.push(slot);
            match session.request(pdu.clone()).await {
                Ok(response) => return Ok(response),
                Err(error) if error.never_sent() => continue,
                Err(error) => {
                    return Err(PoolError::Submit {
                        endpoint: self.endpoint_of(slot),
                        error: SubmitError::Request(error),
                    })
                }
            }
        }
        Err(PoolError::NoActiveBind)
    }

    /// Stops rebinding and unbinds every bind.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let sessions = self.active();
        futures_util::future::join_all(sessions.iter().map(|s| async move {
            let _ = s.unbind().await;
            s.closed().await;
        }))
        .await;
    }

    fn endpoint_of(&self, slot: usize) -> String {
        let endpoint = self.inner.slots[slot].endpoint;
        self.inner.config.endpoints[endpoint].address.clone()
    }

    fn pick(&self, tried: &[usize]) -> Option<(usize, SessionHandle)> {
        let slots = &self.inner.slots;
        let candidates = (0..slots.len())
            .filter(|i| !tried.contains(i))
            .filter_map(|i| {
                let session = slots[i].bound_session()?;
                session
                    .bind_kind()
                    .is_some_and(|k| k.can_transmit())
                    .then_some((i, session))
            });
        match self.inner.config.strategy {
            Strategy::LeastOutstanding => candidates.min_by_key(|(_, s)| s.outstanding()),
            Strategy::RoundRobin => {
                let start = self.inner.cursor.fetch_add(1, Ordering::Relaxed) % slots.len();
                candidates.min_by_key(|(i, _)| (i + slots.len() - start) % slots.len())
            }
        }
    }
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bound_session(&self) -> Option<SessionHandle> {
        self.lock()
            .session
            .clone()
            .filter(|s| s.bind_kind().is_some())
    }
}

/// The rebind schedule of `config`: its floor (never below [`MIN_REBIND_DELAY`]) doubled per
/// further failure up to its ceiling, plus up to 10 % jitter upwards.
pub fn rebind_backoff(config: &PoolConfig) -> Backoff {
    let floor = config.rebind_delay.max(MIN_REBIND_DELAY);
    Backoff::new(floor, config.max_rebind_delay).with_upward_jitter(0.1)
}

/// The wait before the next bind after `failures` consecutive failures (>= 1).
pub fn rebind_delay(config: &PoolConfig, failures: u32) -> Duration {
    rebind_backoff(config).delay(failures.saturating_sub(1))
}

async fn supervise<H: DeliverHandler>(
    inner: Arc<Inner>,
    slot_index: usize,
    handler: Arc<H>,
    stop: CancellationToken,
) {
    let slot = &inner.slots[slot_index];
    let endpoint = inner.config.endpoints[slot.endpoint].clone();
    loop {
        if stop.is_cancelled() {
            return;
        }
        let attempt = connect(&endpoint, inner.config.client.clone(), handler.clone());
        let outcome = tokio::select! {
            outcome = attempt => outcome,
            () = stop.cancelled() => return,
        };
        let refusal = match &outcome {
            Err(ConnectError::Rejected(status)) => Some(*status),
            _ => None,
        };
        let failure = match outcome {
            Ok(client) => {
                let session = client.session().clone();
                info!(endpoint = %endpoint.address, slot = slot.index, session = %session.id(), "bound");
                metrics::gauge!("smpp_pool_binds_up").increment(1.0);
                let bound_at = Instant::now();
                {
                    let mut state = slot.lock();
                    state.session = Some(session.clone());
                    state.next_attempt = None;
                }
                tokio::select! {
                    () = session.closed() => {}
                    () = stop.cancelled() => {
                        let _ = session.unbind().await;
                    }
                }
                metrics::gauge!("smpp_pool_binds_up").decrement(1.0);
                let mut state = slot.lock();
                state.session = None;
                if Instant::now() - bound_at >= inner.config.stable_after {
                    state.failures = 0;
                }
                "bind dropped".to_owned()
            }
            Err(err) => err.to_string(),
        };
        if stop.is_cancelled() {
            return;
        }
        let delay = {
            let mut state = slot.lock();
            state.failures = state.failures.saturating_add(1);
            let delay = rebind_delay(&inner.config, state.failures);
            state.next_attempt = Some(Instant::now() + delay);
            state.last_error = Some(failure.clone());
            state.last_refusal = refusal;
            delay
        };
        warn!(endpoint = %endpoint.address, slot = slot.index, error = %failure, ?delay, "bind down; rebinding later");
        metrics::counter!("smpp_pool_bind_failures_total").increment(1);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stop.cancelled() => return,
        }
    }
}

async fn connect<H: DeliverHandler>(
    endpoint: &Endpoint,
    config: ClientConfig,
    handler: Arc<H>,
) -> Result<Client, ConnectError> {
    match &endpoint.tls {
        None => Client::connect(endpoint.address.as_str(), config, handler).await,
        Some((tls, name)) => {
            Client::connect_tls(
                endpoint.address.as_str(),
                name.clone(),
                tls.clone(),
                config,
                handler,
            )
            .await
        }
    }
}

/// Request errors a caller may retry on another bind without risking a duplicate.
pub fn retry_is_safe(error: &PoolError) -> bool {
    match error {
        PoolError::NoActiveBind => true,
        PoolError::Submit {
            error: SubmitError::Request(e),
            ..
        } => RequestError::never_sent(e),
        PoolError::Submit { error, .. } => error.is_throttled(),
    }
}
