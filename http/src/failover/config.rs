//! `FailoverConfig`: where smsgw is (base URLs and/or a hostname resolved on every A/AAAA
//! address), how long to retry one endpoint before switching, and when to go back to the
//! preferred one.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::Url;

/// One configured place to send to, in order of preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointSource {
    /// A base URL used as given (e.g. `https://sms-a.example.com:8443/`); a hostname in it is
    /// resolved by the HTTP client's own resolver, as one endpoint.
    BaseUrl(Url),
    /// A hostname resolved with hickory: every A and AAAA address becomes one endpoint (A
    /// first), re-resolved only when the records' TTL has expired. TLS and the `Host` header
    /// still use `host`.
    Resolved {
        /// `http` or `https`.
        scheme: Scheme,
        /// The hostname, e.g. `smsgw.example.com`.
        host: String,
        /// The port on every address.
        port: u16,
    },
}

/// URL scheme of a [`EndpointSource::Resolved`] endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Which DNS servers resolve [`EndpointSource::Resolved`] hostnames.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NameServers {
    /// The system's (`/etc/resolv.conf`, with its search domains).
    #[default]
    System,
    /// These servers over UDP, no search domains, no hosts file (tests point this at a local
    /// responder).
    Udp(Vec<SocketAddr>),
}

/// How the client fails over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverConfig {
    /// Where to send, most preferred first.
    pub endpoints: Vec<EndpointSource>,
    /// DNS servers for resolved hostnames.
    pub name_servers: NameServers,
    /// How long one endpoint is retried (connect errors, time-outs, 5xx, 429) before the next
    /// one is tried; default 30 s.
    pub retry_window: Duration,
    /// After this long on a non-preferred endpoint, the next request first probes
    /// `GET /healthz` on the preferred one and goes back to it if it answers 2xx; `None` stays
    /// on the working endpoint. Default 60 s.
    pub return_to_preferred_after: Option<Duration>,
    /// Longest wait for a TCP (and TLS) connection; default 5 s.
    pub connect_timeout: Duration,
    /// Longest wait for one whole request; default 15 s.
    pub request_timeout: Duration,
    /// Longest wait for the `/healthz` probe; default 2 s.
    pub probe_timeout: Duration,
}

impl FailoverConfig {
    /// Defaults for the given endpoints, most preferred first.
    pub fn new(endpoints: Vec<EndpointSource>) -> FailoverConfig {
        FailoverConfig {
            endpoints,
            name_servers: NameServers::System,
            retry_window: Duration::from_secs(30),
            return_to_preferred_after: Some(Duration::from_secs(60)),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            probe_timeout: Duration::from_secs(2),
        }
    }
}
