//! Helpers shared by the integration tests: a real server on an ephemeral loopback port and a
//! real reqwest client.
#![allow(dead_code)]

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

/// Serves `router` on 127.0.0.1:<ephemeral> and returns the address. Each request carries
/// its socket peer, which the handlers read as the client address.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let _ = axum::serve(listener, service).await;
    });
    addr
}

/// A reqwest client with the ring provider installed.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("client")
}

/// Push settings for receivers on loopback, which the default policy refuses.
pub fn loopback_push_config() -> smsgw_http::PushConfig {
    smsgw_http::PushConfig {
        addresses: smsgw_http::AddressPolicy::allowing(["127.0.0.0/8".parse().unwrap()]),
        ..smsgw_http::PushConfig::default()
    }
}

/// Decodes a form-encoded answer into pairs.
pub fn form(body: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(body).expect("form body")
}

/// The value of `name` in a form-encoded answer.
pub fn field(body: &str, name: &str) -> Option<String> {
    form(body)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}
