//! Where clients' connections enter the gateway, before any protocol: who the client is
//! (the socket peer, or behind a trusted balancer the PROXY protocol header or
//! `X-Forwarded-For`), and how much of the listener one client may hold.
//!
//! - [`proxy_header`]: reads a PROXY v1/v2 header off a stream, bounded.
//! - [`trusted`]: [`TrustedProxies`] and the `X-Forwarded-For` rule.
//! - [`client_address`]: [`ClientAddressing`], one listener's rule, also as the SMPP server's
//!   hook.
//! - [`http_server`]: the HTTP/HTTPS listeners with timeouts and connection caps; requests
//!   carry [`smsgw_http::ClientAddr`].
//! - [`admin`]: the operators' listener's routes by role ([`admin::AdminRoutes`]) and its
//!   HTTP Basic users' check.
//! - [`tls`]: certificates and rustls configurations for the TLS listeners and connectors.
//!
//! And the glue between the protocol crates and the gateway, once a client is in:
//! - [`smpp_server`]: the `smsgw-smpp` server's [`smsgw_smpp::BindHandler`] (binds, submits).
//! - [`http_api`]: the `smsgw-http` handler traits (receiver, JSON API, readiness, metrics).

pub mod admin;
pub mod client_address;
pub mod http_api;
pub mod http_server;
pub mod opt_out_api;
pub mod proxy_header;
pub mod smpp_server;
pub mod tls;
pub mod trusted;

pub use client_address::ClientAddressing;
pub use http_server::{HttpLimits, HttpListener};
pub use trusted::TrustedProxies;
