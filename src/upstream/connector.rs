//! One carrier connector: a bind pool to the carrier's SMSCs and the worker that takes its
//! queued MTs and submits them, under the connector's throughput limit.
//!
//! Failures by kind:
//! - no bind up: nothing is taken from the queue (MTs wait there, in order);
//! - ESME_RTHROTTLED / ESME_RMSGQFUL: the whole connector pauses (exponential backoff) and
//!   the same part is retried, so order within a priority holds and nothing is dropped;
//! - another error status: permanent; the MT is REJECTD and the client gets that receipt;
//! - no response (timeout, bind lost after sending): the part is retried on any bind. The
//!   carrier may have taken the first copy, so this is the one place a duplicate SMS can
//!   arise; it is counted in `upstream_submit_retries_total{reason="no_response"}`.
//!
//! An MT held longer than [`HELD_RECHECK`] before its first part goes out has its record read
//! again: one its client cancelled is not sent, one it replaced goes out with the new body
//! (`lifecycle`). A cancel that lands between that read and the submit_sm is too late to stop
//! the SMS; the record stays DELETED (see `receipts::mt_submitted`).

use std::{
    num::NonZeroU32,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use smsgw_backoff::Backoff;
use smsgw_smpp::{
    client::SubmitError,
    encoding::ReceiptIdFormat,
    pool::{BindPool, Endpoint, PoolConfig, PoolError},
    rusmpp::{pdus::SubmitSm, CommandStatus},
    BindKind, BindRequest, ClientConfig, SessionConfig,
};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::{inbound::CarrierInbound, receipts, submit_pdu::submit_pdus};
use crate::{
    config::Secret,
    lifecycle,
    message::{now_ms, MessageState, Mt},
    store::{Change, Store, Write},
};

/// How a connector binds and sends. `{:?}` masks the password ([`Secret`]).
#[derive(Debug, Clone)]
pub struct ConnectorSettings {
    pub name: String,
    pub endpoints: Vec<Endpoint>,
    pub binds_per_endpoint: usize,
    pub system_id: String,
    pub password: Secret,
    pub system_type: String,
    /// How the carrier's receipts write the ids its submit_sm_resp gave.
    pub receipt_id_format: ReceiptIdFormat,
    /// Outstanding submits per bind.
    pub window: usize,
    /// The carrier's deliver_sm per bind being stored at once; past it the bind reads slower.
    pub inbound_window: usize,
    /// Submits per second over all binds.
    pub throughput: Option<NonZeroU32>,
    pub response_timeout: Duration,
    pub enquire_link_interval: Duration,
    pub rebind_delay: Duration,
    /// With no bind up this long, queued MTs move to the next connector of their route.
    pub fallback_after: Duration,
    /// How long after the submit an MT that asked for a receipt waits for a final one.
    pub dr_timeout: Duration,
}

impl ConnectorSettings {
    /// A connector to one SMSC with defaults (window 64, inbound window 128, 1 bind).
    pub fn new(name: &str, address: &str, system_id: &str, password: &str) -> Self {
        Self {
            name: name.to_owned(),
            endpoints: vec![Endpoint::tcp(address)],
            binds_per_endpoint: 1,
            system_id: system_id.to_owned(),
            password: Secret::new(password),
            system_type: String::new(),
            receipt_id_format: ReceiptIdFormat::Same,
            window: 64,
            inbound_window: 128,
            throughput: None,
            response_timeout: Duration::from_secs(10),
            enquire_link_interval: Duration::from_secs(30),
            rebind_delay: smsgw_smpp::pool::MIN_REBIND_DELAY,
            fallback_after: Duration::from_secs(60),
            dr_timeout: crate::config::defaults::DR_TIMEOUT,
        }
    }

    fn pool_config(&self) -> PoolConfig {
        let mut bind = BindRequest::new(
            BindKind::Transceiver,
            &self.system_id,
            self.password.expose(),
        );
        bind.system_type = self.system_type.clone();
        let mut client = ClientConfig::new(bind);
        client.session = SessionConfig {
            window: self.window,
            inbound_window: self.inbound_window,
            response_timeout: self.response_timeout,
            enquire_link_interval: self.enquire_link_interval,
            ..SessionConfig::default()
        };
        let mut pool = PoolConfig::new(self.endpoints.clone(), client);
        pool.binds_per_endpoint = self.binds_per_endpoint.max(1);
        pool.rebind_delay = self.rebind_delay;
        pool
    }
}

/// A running connector. See the module documentation.
pub struct Connector {
    settings: ConnectorSettings,
    pool: BindPool,
    store: Arc<dyn Store>,
    limiter: Option<DefaultDirectRateLimiter>,
    paused_until: Mutex<Option<Instant>>,
    in_flight: Arc<Semaphore>,
    /// Submit tasks not finished yet (sending, or recording the result).
    active_submits: AtomicUsize,
    /// Cancelled by [`Connector::shutdown`]: the submit worker takes no more MTs.
    stop: CancellationToken,
}

/// The pause after a throttling answer: 200 ms, doubled per consecutive one, at most 30 s.
const THROTTLE_BACKOFF: Backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));

impl Connector {
    /// Binds (in the background) and starts the submit worker.
    pub fn start(
        settings: ConnectorSettings,
        store: Arc<dyn Store>,
        inbound: CarrierInbound,
    ) -> Arc<Self> {
        let pool = BindPool::start(settings.pool_config(), Arc::new(inbound));
        let slots = settings.window.max(1)
            * settings.binds_per_endpoint.max(1)
            * settings.endpoints.len().max(1);
        let connector = Arc::new(Self {
            limiter: settings
                .throughput
                .map(|rate| RateLimiter::direct(Quota::per_second(rate))),
            in_flight: Arc::new(Semaphore::new(slots)),
            active_submits: AtomicUsize::new(0),
            settings,
            pool,
            store,
            paused_until: Mutex::new(None),
            stop: CancellationToken::new(),
        });
        tokio::spawn(connector.clone().run());
        connector
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    pub fn pool(&self) -> &BindPool {
        &self.pool
    }

    pub fn binds_up(&self) -> usize {
        self.pool.active().len()
    }

    /// Stops taking work, waits for in-flight submits, unbinds.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        // Every submit already sent finishes, including recording the carrier's id: a record
        // cut short here would send the MT again after the restart.
        let drained = async {
            while self.active_submits.load(Ordering::Acquire) > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        if tokio::time::timeout(self.settings.response_timeout * 2, drained)
            .await
            .is_err()
        {
            warn!(connector = %self.settings.name, "submits still in flight at shutdown");
        }
        self.pool.shutdown().await;
    }

    async fn run(self: Arc<Self>) {
        let stop = self.stop.clone();
        let name = self.settings.name.clone();
        let mut down_since: Option<Instant> = Some(Instant::now());
        loop {
            if stop.is_cancelled() {
                return;
            }
            if self.pool.active().is_empty() {
                // Nothing is taken while no bind is up: the queue keeps its order, unless the
                // connector stays down long enough for the routes' fallbacks to take over.
                let since = *down_since.get_or_insert_with(Instant::now);
                let moved = if since.elapsed() >= self.settings.fallback_after {
                    self.hand_over_to_fallbacks().await
                } else {
                    0
                };
                if moved == 0 {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(100)) => {}
                        () = stop.cancelled() => return,
                    }
                }
                continue;
            }
            down_since = None;
            let first = tokio::select! {
                permit = self.in_flight.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
                () = stop.cancelled() => return,
            };
            let max = (self.in_flight.available_permits() + 1).min(256);
            let mts = match self.store.take_mts(&name, max).await {
                Ok(mts) => mts,
                Err(err) => {
                    error!(connector = %name, %err, "taking queued MTs failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if mts.is_empty() {
                drop(first);
                tokio::select! {
                    () = self.store.wait_for_mts(&name, Duration::from_secs(1)) => {}
                    () = stop.cancelled() => return,
                }
                continue;
            }
            let taken_at = Instant::now();
            let mut permit = Some(first);
            for mt in mts {
                let slot = match permit.take() {
                    Some(slot) => slot,
                    None => match self.in_flight.clone().acquire_owned().await {
                        Ok(slot) => slot,
                        Err(_) => return,
                    },
                };
                self.active_submits.fetch_add(1, Ordering::AcqRel);
                let connector = self.clone();
                tokio::spawn(async move {
                    connector.clone().submit(mt, taken_at, slot).await;
                    connector.active_submits.fetch_sub(1, Ordering::AcqRel);
                });
            }
        }
    }

    /// Moves queued MTs that have a next connector in their route to it; MTs without one stay
    /// queued here, in order. Returns how many moved.
    async fn hand_over_to_fallbacks(&self) -> usize {
        let name = self.settings.name.as_str();
        let mts = match self.store.take_mts(name, 256).await {
            Ok(mts) => mts,
            Err(err) => {
                error!(connector = name, %err, "taking MTs for fallback failed");
                return 0;
            }
        };
        let mut moved = 0;
        // Released MTs are taken again in the order released, so those that stay keep theirs.
        for mt in &mts {
            let next = mt
                .connectors
                .iter()
                .skip_while(|c| c.as_str() != name)
                .nth(1);
            let target = next.map_or(name, String::as_str);
            if let Err(err) = self.store.release_mt(&mt.id, target).await {
                error!(connector = name, id = %mt.id, %err, "fallback release failed");
                continue;
            }
            if next.is_some() {
                moved += 1;
            }
        }
        if moved > 0 {
            metrics::counter!("upstream_fallback_total", "connector" => name.to_owned())
                .increment(moved as u64);
            warn!(
                connector = name,
                moved, "connector down; MTs moved to their fallback connectors"
            );
        }
        moved
    }

    async fn wait_until_sendable(&self) {
        loop {
            let paused = *self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
            match paused {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
    }

    fn pause(&self, consecutive: u32) -> Duration {
        let pause = THROTTLE_BACKOFF.delay(consecutive);
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        let until = Instant::now() + pause;
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
        pause
    }

    async fn submit(self: Arc<Self>, mut mt: Mt, taken_at: Instant, slot: OwnedSemaphorePermit) {
        let name = self.settings.name.as_str();
        let started = std::time::Instant::now();
        let Some(mut pdus) = self.pdus_or_reject(&mt).await else {
            return;
        };
        let mut carrier_ids = Vec::with_capacity(pdus.len());
        let mut throttled = 0u32;
        while let Some(pdu) = pdus.get(carrier_ids.len()).cloned() {
            self.wait_until_sendable().await;
            if carrier_ids.is_empty() && mt.timing.expired_at(now_ms()) {
                // Queued (or held here) past its validity: no carrier gets it.
                self.finish_expired(&mt).await;
                return;
            }
            if carrier_ids.is_empty() && taken_at.elapsed() >= HELD_RECHECK {
                // Held a while (throttled, paused, the throughput limit): the client may have
                // cancelled or replaced it meanwhile, on any node.
                match self.recheck(&mt).await {
                    Recheck::Unchanged => {}
                    Recheck::Replaced(fresh) => {
                        mt = *fresh;
                        let Some(fresh_pdus) = self.pdus_or_reject(&mt).await else {
                            return;
                        };
                        pdus = fresh_pdus;
                        continue;
                    }
                    Recheck::Gone => return,
                }
            }
            match self.pool.submit(pdu).await {
                Ok(submitted) => {
                    carrier_ids.push(submitted.message_id);
                    throttled = 0;
                }
                Err(PoolError::NoActiveBind) if carrier_ids.is_empty() => {
                    // Nothing left yet: back to the head of the queue.
                    self.back_to_queue(&mt).await;
                    return;
                }
                Err(PoolError::NoActiveBind) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(PoolError::Submit {
                    error: error @ SubmitError::Rejected(status),
                    ..
                }) if error.is_throttled() => {
                    let pause = self.pause(throttled);
                    throttled += 1;
                    metrics::counter!("upstream_submit_retries_total", "connector" => name.to_owned(), "reason" => "throttled").increment(1);
                    debug!(
                        connector = name,
                        ?status,
                        ?pause,
                        "carrier throttles; pausing the connector"
                    );
                }
                Err(PoolError::Submit {
                    error: SubmitError::Rejected(status),
                    ..
                }) => {
                    info!(connector = name, id = %mt.id, ?status, "carrier rejected the MT");
                    self.finish_rejected(&mt, rejection_text(status)).await;
                    return;
                }
                Err(PoolError::Submit {
                    error: SubmitError::Request(err),
                    endpoint,
                }) => {
                    metrics::counter!("upstream_submit_retries_total", "connector" => name.to_owned(), "reason" => "no_response").increment(1);
                    warn!(connector = name, id = %mt.id, %endpoint, %err, "no submit_sm_resp; retrying on another bind (the carrier may have it)");
                }
            }
        }
        // The carrier has it: the slot is free for the next MT while the record is written.
        drop(slot);
        metrics::histogram!("upstream_submit_seconds", "connector" => name.to_owned())
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("upstream_mt_submitted_total", "connector" => name.to_owned())
            .increment(1);
        // Zero is "off": no timer (one store write less per MT).
        let dr_timeout = mt
            .timing
            .dr_timeout_ms
            .map_or(self.settings.dr_timeout, Duration::from_millis);
        let dr_timeout = (mt.receipt && !dr_timeout.is_zero()).then_some(dr_timeout);
        if let Err(err) =
            receipts::mt_submitted(&*self.store, &mt.id, name, carrier_ids, dr_timeout).await
        {
            error!(connector = name, id = %mt.id, %err, "recording the submit failed");
        }
    }

    /// The MT's PDUs; one that cannot be encoded is rejected (and `None`).
    async fn pdus_or_reject(&self, mt: &Mt) -> Option<Vec<SubmitSm>> {
        match submit_pdus(mt, now_ms()) {
            Ok(pdus) => Some(pdus),
            Err(err) => {
                warn!(connector = %self.settings.name, id = %mt.id, %err, "MT cannot be encoded");
                self.finish_rejected(mt, format!("cannot encode: {err}"))
                    .await;
                None
            }
        }
    }

    /// Reads a held MT's record again before its first part goes out. An MT no longer
    /// ACCEPTED (cancelled, or submitted by a node that took it after this one's lease ran
    /// out) is not sent and this node's hold ends; a replaced one goes out with its new body.
    /// When the store cannot be read the MT goes back to its queue rather than out unchecked.
    async fn recheck(&self, mt: &Mt) -> Recheck {
        let name = self.settings.name.as_str();
        match self.store.record(&mt.id).await {
            Ok(Some(found)) if found.value.state != MessageState::Accepted => {
                info!(connector = name, id = %mt.id, state = ?found.value.state, "held MT left the queue (cancelled?); not sent");
                metrics::counter!("upstream_mt_dropped_total", "connector" => name.to_owned(), "reason" => "not_queued").increment(1);
                self.end_hold(mt).await;
                Recheck::Gone
            }
            Ok(Some(found)) if found.value.mt != *mt => Recheck::Replaced(Box::new(found.value.mt)),
            Ok(_) => Recheck::Unchanged,
            Err(err) => {
                warn!(connector = name, id = %mt.id, %err, "reading a held MT failed; back to its queue");
                self.back_to_queue(mt).await;
                Recheck::Gone
            }
        }
    }

    async fn finish_expired(&self, mt: &Mt) {
        let name = self.settings.name.as_str();
        match lifecycle::expire_mt(&*self.store, &mt.id, true).await {
            Ok(true) => {
                info!(connector = name, id = %mt.id, "validity ended while queued; EXPIRED, not sent");
                metrics::counter!("upstream_mt_expired_total", "connector" => name.to_owned())
                    .increment(1);
            }
            // It left the queue meanwhile (cancelled...): not sent, as after a recheck.
            Ok(false) => self.end_hold(mt).await,
            Err(err) => {
                warn!(connector = name, id = %mt.id, %err, "recording the expiry failed; back to its queue");
                self.back_to_queue(mt).await;
            }
        }
    }

    /// Gives a taken MT back to the head of its queue.
    async fn back_to_queue(&self, mt: &Mt) {
        let name = self.settings.name.as_str();
        if let Err(err) = self.store.release_mt(&mt.id, name).await {
            error!(connector = name, id = %mt.id, %err, "release failed");
        }
    }

    /// Ends this node's hold on a taken MT it will not send.
    async fn end_hold(&self, mt: &Mt) {
        let mut change = Change::default();
        change.write(Write::EndLease(mt.id.clone()));
        if let Err(err) = self.store.commit(change).await {
            error!(connector = %self.settings.name, id = %mt.id, %err, "ending the hold failed");
        }
    }

    async fn finish_rejected(&self, mt: &Mt, reason: String) {
        metrics::counter!("upstream_mt_rejected_total", "connector" => self.settings.name.clone())
            .increment(1);
        if let Err(err) = receipts::mt_rejected(&*self.store, &mt.id, reason).await {
            error!(connector = %self.settings.name, id = %mt.id, %err, "recording the rejection failed");
        }
    }
}

/// How long a taken MT may wait to be sent before its record is read again (see
/// [`Connector::recheck`]): MTs sent at once cost no extra read.
const HELD_RECHECK: Duration = Duration::from_millis(100);

/// What [`Connector::recheck`] found.
enum Recheck {
    Unchanged,
    /// The client replaced its body: send this one.
    Replaced(Box<Mt>),
    /// Not to be sent by this node.
    Gone,
}

/// The `err:` a client's receipt carries for a refused submit: the carrier's command_status,
/// three hex digits (0x45 ESME_RSUBMITFAIL -> "045"), as SMSCs write network errors.
fn rejection_text(status: CommandStatus) -> String {
    format!("{:03x}", u32::from(status) & 0xfff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttling_carrier_pauses_the_connector_200_ms_doubling_to_30_s() {
        assert_eq!(THROTTLE_BACKOFF.delay(0), Duration::from_millis(200));
        let steps: Vec<u128> = (0..10)
            .map(|consecutive| THROTTLE_BACKOFF.delay(consecutive).as_millis())
            .collect();
        assert_eq!(
            steps,
            [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]
        );
        assert_eq!(THROTTLE_BACKOFF.delay(u32::MAX), Duration::from_secs(30));
    }
}
