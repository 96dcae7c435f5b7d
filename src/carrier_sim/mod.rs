//! A carrier simulator: an SMPP SMSC (built on [`smsgw_smpp::Server`]) that the gateway binds
//! to as an upstream carrier, for demos, tests and benchmarks (`smsgw carrier-sim`).
//!
//! It accepts submit_sm, answers with a carrier message id that is never reused within a run,
//! and reports back by destination prefix (see [`rules`]): `9990` DELIVRD and the text looped
//! back as an MO, `9991` UNDELIV, `9992` no receipt, `9993` ESME_RSUBMITFAIL, anything else
//! DELIVRD after `dr_delay`. Receipts go only to submits that ask for one (registered_delivery),
//! a `dr_ratio` share of them. Receipts and MOs go out on any receiver or transceiver bind of
//! the submitting system_id; when none is up or a delivery fails they are retried from a
//! bounded outbox (see [`outbox`]). Options reproduce carrier habits the gateway must survive:
//! hex ids in submit_sm_resp with decimal ids in receipts, receipts before submit_sm_resp, a
//! slow submit_sm_resp, and ESME_RTHROTTLED above a rate.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use smsgw::carrier_sim::{CarrierSim, CarrierSimConfig};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2776").await?;
//! let sim = CarrierSim::start(listener, CarrierSimConfig::default())?;
//! println!("carrier-sim on {}: {:?}", sim.local_addr(), sim.stats());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

pub mod ids;
mod mo_source;
mod outbox;
pub mod outgoing;
pub mod rules;
mod smsc;
mod stats;
mod throttle;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use smsgw_smpp::{Server, ServerConfig, SessionConfig};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{info, warn};

pub use ids::IdStyle;
pub use stats::CarrierSimStats;

use self::{
    ids::MessageIds,
    mo_source::MoSource,
    outbox::{run_deliveries, Outbox, RetryPolicy},
    outgoing::Party,
    smsc::SimSmsc,
    stats::Counters,
    throttle::TokenBucket,
};

/// How the simulated carrier behaves.
#[derive(Debug, Clone)]
pub struct CarrierSimConfig {
    /// system_id in bind responses.
    pub system_id: String,
    /// `(system_id, password)` pairs allowed to bind; `None` accepts any credentials.
    pub accounts: Option<Vec<(String, String)>>,
    /// Time from submit_sm to its receipt (and `9990` echo).
    pub dr_delay: Duration,
    /// Share of receipt-requesting submits that get a receipt, 0..=1.
    pub dr_ratio: f64,
    /// Spontaneous MOs per second (0: none).
    pub mo_rate: f64,
    /// Source (the "handset") of spontaneous MOs.
    pub mo_source: String,
    /// Destination (the short code) of spontaneous MOs.
    pub mo_destination: String,
    /// Text of spontaneous MOs; a running number is appended.
    pub mo_text: String,
    /// Account spontaneous MOs are for; `None`: each account with a receiving bind in turn.
    pub mo_system_id: Option<String>,
    pub id_style: IdStyle,
    /// Send (and wait for the answer to) the receipt before submit_sm_resp; `dr_delay` is
    /// then not applied to receipts.
    pub dr_before_resp: bool,
    /// How long each submit_sm waits for its submit_sm_resp (a slow carrier); zero: at once.
    pub submit_resp_delay: Duration,
    /// Submits per second (all binds together) above which submit_sm_resp is
    /// ESME_RTHROTTLED; bursts of one second's worth pass.
    pub throttle: Option<u32>,
    /// Pause between delivery attempts of a receipt or MO that could not be delivered.
    pub retry_interval: Duration,
    /// A receipt or MO still undelivered this long after it was due is dropped (counted).
    pub max_retry_age: Duration,
    /// Receipts and MOs the outbox holds at most; beyond, new ones are dropped (counted).
    pub max_pending: usize,
    /// Deliveries (deliver_sm waiting for deliver_sm_resp) in flight at most, over all binds.
    pub max_deliveries_in_flight: usize,
    /// Window of each bind in each direction: our deliver_sm awaiting responses, and the
    /// client's submits in hand (past it the bind reads slower, it does not refuse).
    pub window: usize,
    /// Other session timers (enquire_link, response timeout); `system_id` and `window` above
    /// take precedence over the ones in here.
    pub session: SessionConfig,
}

impl Default for CarrierSimConfig {
    fn default() -> Self {
        Self {
            system_id: "carrier-sim".to_owned(),
            accounts: None,
            dr_delay: Duration::from_millis(50),
            dr_ratio: 1.0,
            mo_rate: 0.0,
            mo_source: "447700900999".to_owned(),
            mo_destination: "12345".to_owned(),
            mo_text: "carrier-sim MO".to_owned(),
            mo_system_id: None,
            id_style: IdStyle::Decimal,
            dr_before_resp: false,
            submit_resp_delay: Duration::ZERO,
            throttle: None,
            retry_interval: Duration::from_secs(1),
            max_retry_age: Duration::from_secs(600),
            max_pending: 1_000_000,
            max_deliveries_in_flight: 4096,
            window: 256,
            session: SessionConfig::default(),
        }
    }
}

/// A configuration the simulator cannot run with, or a listener it cannot use.
#[derive(Debug, thiserror::Error)]
pub enum CarrierSimError {
    #[error("dr_ratio must be between 0 and 1, got {0}")]
    DrRatio(f64),
    #[error("mo_rate must be a finite number >= 0, got {0}")]
    MoRate(f64),
    #[error("throttle must be at least 1 submit per second")]
    Throttle,
    #[error("{field} must be at least 1")]
    Zero { field: &'static str },
    #[error("{field} {value:?} is not an SMPP address (ASCII, at most 20 characters)")]
    Address { field: &'static str, value: String },
    #[error("system_id {0:?} must be ASCII and at most 15 characters")]
    SystemId(String),
    #[error("listener: {0}")]
    Listener(#[from] std::io::Error),
}

impl CarrierSimConfig {
    /// Checks every setting; [`CarrierSim::start`] calls it.
    pub fn validate(&self) -> Result<(), CarrierSimError> {
        if !(0.0..=1.0).contains(&self.dr_ratio) {
            return Err(CarrierSimError::DrRatio(self.dr_ratio));
        }
        if !self.mo_rate.is_finite() || self.mo_rate < 0.0 {
            return Err(CarrierSimError::MoRate(self.mo_rate));
        }
        if self.throttle == Some(0) {
            return Err(CarrierSimError::Throttle);
        }
        for (field, value) in [
            ("max_pending", self.max_pending),
            ("max_deliveries_in_flight", self.max_deliveries_in_flight),
            ("window", self.window),
        ] {
            if value == 0 {
                return Err(CarrierSimError::Zero { field });
            }
        }
        for (field, value) in [
            ("mo_source", &self.mo_source),
            ("mo_destination", &self.mo_destination),
        ] {
            if Party::from_address(value).is_none() {
                return Err(CarrierSimError::Address {
                    field,
                    value: value.clone(),
                });
            }
        }
        if !self.system_id.is_ascii() || self.system_id.len() > 15 {
            return Err(CarrierSimError::SystemId(self.system_id.clone()));
        }
        Ok(())
    }
}

/// A running carrier simulator. Dropping the handle leaves it running; call
/// [`CarrierSim::shutdown`] to stop it.
pub struct CarrierSim {
    server: Server<SimSmsc>,
    outbox: Arc<Outbox>,
    counters: Arc<Counters>,
    local_addr: SocketAddr,
    /// Cancelled by [`CarrierSim::shutdown`]: the delivery and MO tasks stop.
    stop: CancellationToken,
    /// Cancels `stop` when the simulator is dropped without a shutdown.
    _cancel_on_drop: DropGuard,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl CarrierSim {
    /// Serves SMPP on `listener` in background tasks (call inside a tokio runtime).
    pub fn start(listener: TcpListener, config: CarrierSimConfig) -> Result<Self, CarrierSimError> {
        Self::start_serving(listener, None, config)
    }

    /// Serves SMPP over TLS on `listener`, like [`CarrierSim::start`].
    pub fn start_tls(
        listener: TcpListener,
        tls: TlsAcceptor,
        config: CarrierSimConfig,
    ) -> Result<Self, CarrierSimError> {
        Self::start_serving(listener, Some(tls), config)
    }

    fn start_serving(
        listener: TcpListener,
        tls: Option<TlsAcceptor>,
        config: CarrierSimConfig,
    ) -> Result<Self, CarrierSimError> {
        config.validate()?;
        let local_addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let retry = RetryPolicy {
            interval: config.retry_interval,
            max_age: config.max_retry_age,
        };
        let outbox = Arc::new(Outbox::new(
            config.max_pending,
            retry,
            config.id_style,
            counters.clone(),
        ));
        let mut session = config.session.clone();
        session.system_id = config.system_id.clone();
        session.window = config.window;
        session.inbound_window = config.window;
        let server_config = ServerConfig {
            session,
            ..ServerConfig::default()
        };
        let mo_source = (config.mo_rate > 0.0).then(|| MoSource {
            rate: config.mo_rate,
            from: Party::from_address(&config.mo_source).expect("validated"),
            to: Party::from_address(&config.mo_destination).expect("validated"),
            text: config.mo_text.clone(),
            system_id: config.mo_system_id.as_deref().map(Arc::from),
        });
        let max_in_flight = config.max_deliveries_in_flight;
        let handler = Arc::new(SimSmsc {
            ids: MessageIds::starting_now(),
            throttle: config.throttle.map(TokenBucket::new),
            outbox: outbox.clone(),
            counters: counters.clone(),
            registry: OnceLock::new(),
            config,
        });
        let server = Server::new(server_config, handler.clone());
        let registry = server.registry().clone();
        let _ = handler.registry.set(registry.clone());

        let stop = CancellationToken::new();
        let mut tasks = vec![tokio::spawn(run_deliveries(
            outbox.clone(),
            registry.clone(),
            max_in_flight,
            stop.child_token(),
        ))];
        if let Some(mo_source) = mo_source {
            tasks.push(tokio::spawn(mo_source.run(
                outbox.clone(),
                registry,
                stop.child_token(),
            )));
        }
        let serving = server.clone();
        tasks.push(tokio::spawn(async move {
            let served = match tls {
                Some(tls) => serving.serve_tls(listener, tls).await,
                None => serving.serve(listener).await,
            };
            if let Err(err) = served {
                warn!(%err, "carrier-sim listener failed");
            }
        }));
        info!(%local_addr, "carrier-sim listening");
        Ok(Self {
            server,
            outbox,
            counters,
            local_addr,
            _cancel_on_drop: stop.clone().drop_guard(),
            stop,
            tasks: Mutex::new(tasks),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn stats(&self) -> CarrierSimStats {
        self.counters.snapshot(self.outbox.pending())
    }

    /// Stops accepting, unbinds every session and stops delivering; pending receipts and MOs
    /// are discarded.
    pub async fn shutdown(&self) {
        // Producers first, so no new deliver_sm goes out while the sessions unbind.
        self.stop.cancel();
        let tasks: Vec<_> = self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        self.server.shutdown().await;
        for task in tasks {
            let _ = task.await;
        }
        info!(stats = ?self.stats(), "carrier-sim stopped");
    }
}
