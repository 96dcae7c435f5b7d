//! `FailoverClient` itself: construction, the HTTP clients per endpoint, and the two public
//! send methods.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use reqwest::Url;
use tokio::time::Instant;

use super::answer::{genesys_accepted, json_accepted, status_answer, GenesysAccepted};
use super::dns::TtlResolver;
use super::outbound::Outbound;
use super::{Endpoint, EndpointSource, FailoverConfig, FailoverError};
use crate::api::{IdempotencyKey, MessageStatus, SubmitAccepted, SubmitBody};
use crate::credentials::Credentials;
use crate::receiver::ReceiverRequest;

/// A message taken by the gateway (or the answer to a status query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery<T> {
    /// The endpoint that took it (answered).
    pub endpoint: Endpoint,
    /// The gateway's answer.
    pub answer: T,
    /// HTTP attempts made, across endpoints (1 when the first one worked).
    pub attempts: u32,
}

/// A configured source, with the base URL of a resolved hostname built once.
#[derive(Debug)]
pub(crate) enum Source {
    Fixed(Endpoint),
    Resolved { base: Url, host: String },
}

/// Which endpoint is in use and since when the preferred one is not.
#[derive(Debug, Default)]
pub(crate) struct Stickiness {
    pub(crate) current: Option<Endpoint>,
    pub(crate) left_preferred_at: Option<Instant>,
}

/// Sends messages to smsgw, failing over between endpoints (see the [module
/// doc](super)). Cheap to clone; share one per process.
#[derive(Clone)]
pub struct FailoverClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: FailoverConfig,
    pub(crate) sources: Vec<Source>,
    pub(crate) resolver: Option<TtlResolver>,
    direct_http: reqwest::Client,
    pinned_http: Mutex<HashMap<SocketAddr, reqwest::Client>>,
    pub(crate) stickiness: Mutex<Stickiness>,
}

impl FailoverClient {
    /// Builds the client. Installs rustls' ring provider if none is installed yet (reqwest is
    /// built without one). Fails for no endpoint, a hostname that is not valid in a URL, or a
    /// DNS or TLS set-up error.
    pub fn new(config: FailoverConfig) -> Result<FailoverClient, FailoverError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        if config.endpoints.is_empty() {
            return Err(FailoverError::NoEndpoint("none configured".into()));
        }
        let mut sources = Vec::new();
        for source in &config.endpoints {
            sources.push(match source {
                EndpointSource::BaseUrl(url) => Source::Fixed(Endpoint::new(url.clone(), None)),
                EndpointSource::Resolved { scheme, host, port } => {
                    let base = Url::parse(&format!("{}://{host}:{port}/", scheme.as_str()))
                        .map_err(|e| {
                            FailoverError::NoEndpoint(format!("hostname {host:?}: {e}"))
                        })?;
                    Source::Resolved {
                        base,
                        host: host.clone(),
                    }
                }
            });
        }
        let resolver = if sources.iter().any(|s| matches!(s, Source::Resolved { .. })) {
            Some(TtlResolver::new(&config.name_servers)?)
        } else {
            None
        };
        let direct_http = http_builder(&config).build()?;
        Ok(FailoverClient {
            inner: Arc::new(Inner {
                config,
                sources,
                resolver,
                direct_http,
                pinned_http: Mutex::new(HashMap::new()),
                stickiness: Mutex::new(Stickiness::default()),
            }),
        })
    }

    /// Posts the Genesys form to `/httpapi/receiver`; every attempt carries the request's
    /// message_id.
    pub async fn send_genesys(
        &self,
        request: &ReceiverRequest,
    ) -> Result<Delivery<GenesysAccepted>, FailoverError> {
        self.inner
            .deliver(&Outbound::genesys(request), genesys_accepted)
            .await
    }

    /// Posts JSON to `/v1/messages` with Basic credentials; every attempt carries
    /// `idempotency_key`.
    pub async fn submit_json(
        &self,
        credentials: &Credentials,
        idempotency_key: &IdempotencyKey,
        body: &SubmitBody,
    ) -> Result<Delivery<SubmitAccepted>, FailoverError> {
        let outbound = Outbound::json(credentials, idempotency_key, body)?;
        self.inner.deliver(&outbound, json_accepted).await
    }

    /// `GET /v1/messages/{id}`: the message's state and history, from whichever endpoint
    /// answers (every site reads the same store), with the same retries and switching.
    pub async fn status(
        &self,
        credentials: &Credentials,
        id: &str,
    ) -> Result<Delivery<MessageStatus>, FailoverError> {
        let outbound = Outbound::status(credentials, id);
        self.inner.deliver(&outbound, status_answer).await
    }

    /// The endpoint the next request tries first, if one has taken a message yet.
    pub fn current_endpoint(&self) -> Option<Endpoint> {
        self.inner
            .stickiness
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .current
            .clone()
    }
}

impl Inner {
    /// The HTTP client for `endpoint`: the shared one for a base URL; for a resolved address,
    /// one that dials exactly that address while TLS and `Host` keep the hostname.
    pub(crate) fn http_for(&self, endpoint: &Endpoint) -> Result<reqwest::Client, FailoverError> {
        let (Some(address), Some(host)) = (endpoint.address(), endpoint.base().host_str()) else {
            return Ok(self.direct_http.clone());
        };
        let port = endpoint.base().port_or_known_default().unwrap_or(80);
        let socket = SocketAddr::new(address, port);
        let mut pinned = self.pinned_http.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(http) = pinned.get(&socket) {
            return Ok(http.clone());
        }
        let http = http_builder(&self.config).resolve(host, socket).build()?;
        pinned.insert(socket, http.clone());
        Ok(http)
    }

    /// Every endpoint in order of preference, resolving hostnames whose TTL has expired.
    pub(crate) async fn endpoints(&self) -> Result<Vec<Endpoint>, FailoverError> {
        let mut endpoints = Vec::new();
        let mut dns_errors = Vec::new();
        for source in &self.sources {
            match source {
                Source::Fixed(endpoint) => endpoints.push(endpoint.clone()),
                Source::Resolved { base, host } => {
                    let Some(resolver) = &self.resolver else {
                        continue;
                    };
                    match resolver.addresses(host).await {
                        Ok(addresses) => endpoints.extend(
                            addresses
                                .into_iter()
                                .map(|a: IpAddr| Endpoint::new(base.clone(), Some(a))),
                        ),
                        Err(error) => {
                            tracing::warn!(%error, "hostname skipped");
                            dns_errors.push(error.to_string());
                        }
                    }
                }
            }
        }
        if endpoints.is_empty() {
            return Err(FailoverError::NoEndpoint(dns_errors.join("; ")));
        }
        Ok(endpoints)
    }
}

fn http_builder(config: &FailoverConfig) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("smsgw-failover/", env!("CARGO_PKG_VERSION")))
}
