//! Wiring: a running gateway from a [`Config`]: the store, the built-in carrier simulator when
//! asked for, carrier connectors, the SMPP server for clients, outbox deliverers, the HTTP
//! edge, and when configured SMPP over TLS and HTTPS listeners and TLS to carriers; and an
//! orderly shutdown (stop accepting, unbind clients, finish in-flight writes).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use smsgw_smpp::server::{Listening, Server, ServerConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{info, warn};

use super::{
    connectors::connector_settings,
    delivery_routes::delivery_route,
    listeners::{acceptor, addressing, http_listener, listen, listen_at},
    store::open_store,
};
use crate::{
    carrier_sim::{CarrierSim, CarrierSimConfig, CarrierSimError},
    config::Config,
    delivery::AccountDelivery,
    edge::{http_api::GatewayHttp, smpp_server::GatewaySmsc, tls::TlsError, TrustedProxies},
    ingest::Ingest,
    optout::MoKeywords,
    store::{Store, StoreError},
    upstream::{CarrierInbound, Connector, MoRouter},
};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {address}: {error}")]
    Listen {
        address: SocketAddr,
        error: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("built-in carrier simulator: {0}")]
    Simulator(#[from] CarrierSimError),
    /// `context` names the listener or connector, e.g. `https listener`.
    #[error("{context}: {error}")]
    Tls {
        context: String,
        error: Box<TlsError>,
    },
    #[error("{0}")]
    Unsupported(String),
}

/// A running gateway.
pub struct Gateway {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    ingest: Arc<Ingest>,
    smpp: Server<GatewaySmsc>,
    smpp_addr: SocketAddr,
    http_addr: SocketAddr,
    admin_addr: SocketAddr,
    smpp_tls_addr: Option<SocketAddr>,
    https_addr: Option<SocketAddr>,
    connectors: Vec<Arc<Connector>>,
    simulator: Option<CarrierSim>,
    /// Cancelled by [`Gateway::shutdown`] once the SMPP server has stopped: the listeners and
    /// background tasks, each on a child of it, finish and return.
    stop: CancellationToken,
    /// Cancels `stop` when the gateway is dropped without a shutdown.
    _cancel_on_drop: DropGuard,
    tasks: Vec<JoinHandle<()>>,
}

impl Gateway {
    /// Opens the store and starts every part of the gateway.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let config = Arc::new(config);
        // Every certificate, key and CA file is checked before anything starts.
        let smpp_tls = match &config.listeners.smpp_tls {
            Some(listener) => Some((listener, acceptor(listener, "smpp_tls")?)),
            None => None,
        };
        let https = match &config.listeners.https {
            Some(listener) => Some((listener, acceptor(listener, "https")?)),
            None => None,
        };
        let admin = super::admin::acceptor(&config.admin)?;
        let connector_settings = config
            .connectors()
            .iter()
            .map(connector_settings)
            .collect::<Result<Vec<_>, _>>()?;

        warn_of_accounts_with_any_sender(&config);
        super::lease_warnings::warn_of_leases_shorter_than_responses(&config);
        let store = open_store(&config.store).await?;
        let ingest = Arc::new(Ingest::new(config.clone(), store.clone()));
        let stop = CancellationToken::new();

        // Started first so the connectors find it on their first bind.
        let simulator = match &config.builtin_simulator {
            Some(settings) => {
                let listener = listen(settings.listen).await?;
                let simulator = CarrierSim::start(
                    listener,
                    CarrierSimConfig {
                        dr_delay: settings.dr_delay,
                        ..CarrierSimConfig::default()
                    },
                )?;
                info!(address = %simulator.local_addr(), "built-in carrier simulator listening");
                Some(simulator)
            }
            None => None,
        };
        let mut tasks = Vec::new();

        let mo_config = config.clone();
        let mo_router: MoRouter = Arc::new(move |destination| {
            mo_config
                .mo_account(destination)
                .map(|a| a.system_id.clone())
        });
        let keywords = Arc::new(MoKeywords::new(ingest.clone()));
        let mut connectors = Vec::new();
        for (settings, connector) in connector_settings.into_iter().zip(config.connectors()) {
            let inbound = CarrierInbound::new(
                &settings.name,
                settings.receipt_id_format,
                settings.response_timeout,
                store.clone(),
                mo_router.clone(),
            )
            .with_keywords(keywords.clone())
            .with_multipart_timeout(connector.mo_multipart_timeout);
            connectors.push(Connector::start(settings, store.clone(), inbound));
        }

        let edge = &config.listeners.edge;
        let trusted = Arc::new(TrustedProxies::new(edge.trusted_proxies.clone()));
        let proxy_protocol = edge.proxy_protocol;
        let handler = Arc::new(GatewaySmsc::new(ingest.clone()));
        let smpp_config = ServerConfig {
            max_connections: edge.max_connections as usize,
            max_unbound_per_address: edge.max_unauthenticated_per_address as usize,
            ..ServerConfig::default()
        };
        let smpp = Server::new(smpp_config, handler.clone());
        handler.set_registry(smpp.registry().clone());
        let (listener, smpp_addr) = listen_at(config.listeners.smpp).await?;
        let serving = smpp.clone();
        let listening = Listening {
            tls: None,
            client_address: addressing(edge, &trusted, "smpp", proxy_protocol.smpp).smpp_hook(),
        };
        tasks.push(tokio::spawn(async move {
            let _ = serving.serve_listening(listener, listening).await;
        }));
        info!(%smpp_addr, "SMPP server listening");
        let smpp_tls_addr = match smpp_tls {
            Some((settings, acceptor)) => {
                let (listener, address) = listen_at(settings.address).await?;
                let serving = smpp.clone();
                let addressing = addressing(edge, &trusted, "smpp_tls", proxy_protocol.smpp_tls);
                let listening = Listening {
                    tls: Some(acceptor),
                    client_address: addressing.smpp_hook(),
                };
                tasks.push(tokio::spawn(async move {
                    let _ = serving.serve_listening(listener, listening).await;
                }));
                info!(%address, "SMPP over TLS listening");
                Some(address)
            }
            None => None,
        };

        for account in config.accounts() {
            let delivery = AccountDelivery {
                account: account.system_id.clone(),
                store: store.clone(),
                route: delivery_route(account, smpp.registry())?,
                outbox_ttl: account.outbox_ttl,
                mo_multipart: account.mo_multipart,
            };
            tasks.push(tokio::spawn(delivery.run(stop.child_token())));
        }

        tasks.push(super::retention::spawn(store.clone(), stop.child_token()));
        tasks.extend(crate::event_log::spawn(
            store.clone(),
            &config.events,
            stop.child_token(),
        ));
        tasks.push(crate::lifecycle::timers::spawn(
            store.clone(),
            stop.child_token(),
        ));
        tasks.push(super::gauges::spawn(
            store.clone(),
            connectors.clone(),
            smpp.registry().clone(),
            stop.child_token(),
        ));

        let web = Arc::new(GatewayHttp {
            ingest: ingest.clone(),
            connectors: connectors.clone(),
        });
        tasks.push(super::cluster::spawn_heartbeat(
            store.clone(),
            super::cluster::ThisNode {
                node_id: config.node_id.clone(),
                site: config.site.clone(),
                started_ms: crate::message::now_ms(),
                registry: smpp.registry().clone(),
                connectors: connectors.clone(),
                fixed_roles: fixed_roles(&config),
            },
            stop.child_token(),
        ));
        let router = smsgw_http::opt_outs::router(web.clone()).merge(smsgw_http::app::router(
            web.clone(),
            web.clone(),
            web,
        ));
        let https_addr = match https {
            Some((settings, acceptor)) => {
                let (listener, address) = listen_at(settings.address).await?;
                let addressing = addressing(edge, &trusted, "https", proxy_protocol.https);
                tasks.push(tokio::spawn(crate::edge::http_server::serve(
                    listener,
                    http_listener(edge, addressing, Some(acceptor)),
                    router.clone(),
                    stop.child_token(),
                )));
                info!(%address, "HTTPS listening");
                Some(address)
            }
            None => None,
        };
        let (admin_addr, admin_task) = super::admin::start(
            &config,
            admin,
            super::admin::routes(store.clone()),
            &trusted,
            stop.child_token(),
        )
        .await?;
        tasks.push(admin_task);
        let (listener, http_addr) = listen_at(config.listeners.http).await?;
        let addressing = addressing(edge, &trusted, "http", proxy_protocol.http);
        tasks.push(tokio::spawn(crate::edge::http_server::serve(
            listener,
            http_listener(edge, addressing, None),
            router,
            stop.child_token(),
        )));
        info!(%http_addr, "HTTP listening");

        Ok(Self {
            config,
            store,
            ingest,
            smpp,
            smpp_addr,
            http_addr,
            admin_addr,
            smpp_tls_addr,
            https_addr,
            connectors,
            simulator,
            _cancel_on_drop: stop.clone().drop_guard(),
            stop,
            tasks,
        })
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn ingest(&self) -> &Arc<Ingest> {
        &self.ingest
    }

    /// Where clients bind (the configured address, with the real port if it was 0).
    pub fn smpp_addr(&self) -> SocketAddr {
        self.smpp_addr
    }

    /// Where the HTTP API listens (the real port if it was 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Where the operators' listener (`[admin]`: /metrics, /cluster, the admin API) listens
    /// (the real port if it was 0).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Where clients bind over TLS, when configured (the real port if it was 0).
    pub fn smpp_tls_addr(&self) -> Option<SocketAddr> {
        self.smpp_tls_addr
    }

    /// Where the HTTPS API listens, when configured (the real port if it was 0).
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    pub fn connectors(&self) -> &[Arc<Connector>] {
        &self.connectors
    }

    /// Stops accepting, unbinds clients (answering their in-flight submits), finishes
    /// in-flight submits to carriers and unbinds from them.
    pub async fn shutdown(self) {
        info!("shutting down");
        self.smpp.shutdown().await;
        self.stop.cancel();
        for connector in &self.connectors {
            connector.shutdown().await;
        }
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        if let Some(simulator) = &self.simulator {
            simulator.shutdown().await;
        }
    }
}

/// The roles a node reports in its heartbeat that do not change while it runs.
fn fixed_roles(config: &Config) -> Vec<String> {
    let listeners = &config.listeners;
    let optional = [
        ("https", listeners.https.is_some()),
        ("smpp_tls", listeners.smpp_tls.is_some()),
        ("simulator", config.builtin_simulator.is_some()),
    ];
    ["http", "smpp"]
        .into_iter()
        .chain(
            optional
                .into_iter()
                .filter(|(_, on)| *on)
                .map(|(role, _)| role),
        )
        .map(str::to_owned)
        .collect()
}

/// An account without `allowed_senders` may send from any sender id (the documented
/// default); said once at start, so that an operator sees every such account.
fn warn_of_accounts_with_any_sender(config: &Config) {
    for account in config
        .accounts()
        .iter()
        .filter(|account| account.allowed_senders.is_empty())
    {
        warn!(account = %account.system_id, "account has no allowed_senders: it may send from any sender id");
    }
}
