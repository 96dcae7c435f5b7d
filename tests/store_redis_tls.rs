//! The Redis store over TLS, on a real TLS-only `redis-server` (`--port 0 --tls-port N`) with
//! a throwaway CA: the store contract with a password and the CA from `tls_ca`; a server
//! that asks for client certificates refuses a store without one and takes one with it; a
//! server whose certificate the store's CA did not sign is refused with an error that says
//! so; a `redis://` URL does not reach a TLS-only server; and a `tls_ca` file that holds no
//! certificate stops the gateway's start with an error naming it.

mod redis_server;
#[macro_use]
mod store_suite;

use std::{sync::Arc, time::Duration};

use redis::TlsCertificates;
use redis_server::{tls::TestPki, Access, RedisServer};
use smsgw::{
    config::Config,
    node::Gateway,
    store::{RedisServers, RedisStore, RedisTarget, Store, StoreError},
};

const PASSWORD: &str = "st0re-Pa55";

/// A TLS-only server with a password; `client_certificates`: it asks clients for one.
async fn tls_server(client_certificates: bool) -> (RedisServer, Arc<TestPki>) {
    let pki = Arc::new(TestPki::new());
    let access = Access {
        tls: Some((pki.clone(), client_certificates)),
        password: Some(PASSWORD.into()),
    };
    (RedisServer::start_secured(access, "", &[]).await, pki)
}

/// A store on `url` with these certificates.
async fn connect(url: &str, tls: TlsCertificates) -> Result<Arc<RedisStore>, StoreError> {
    let target = RedisTarget {
        servers: RedisServers::Url(url.to_owned()),
        tls: Some(tls),
    };
    // Bounded: a refused handshake must be an error, not a hang (the connection manager
    // retries for some seconds first).
    tokio::time::timeout(
        Duration::from_secs(30),
        RedisStore::connect(target, "tls:", 0),
    )
    .await
    .expect("connect answered within 30 s")
}

async fn fresh() -> ((RedisServer, Arc<TestPki>), Arc<dyn Store>) {
    let (server, pki) = tls_server(false).await;
    assert!(
        server.url.starts_with("rediss://:st0re-Pa55@"),
        "{}",
        server.url
    );
    let store: Arc<dyn Store> = connect(&server.url, pki.certificates("ca.pem", false))
        .await
        .unwrap();
    ((server, pki), store)
}

store_contract_tests!(fresh);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_asking_for_client_certificates_takes_only_a_store_with_one() {
    let (server, pki) = tls_server(true).await;
    let refused = connect(&server.url, pki.certificates("ca.pem", false))
        .await
        .err()
        .expect("connected without a client certificate");
    assert!(
        refused.to_string().contains("CertificateRequired"),
        "{refused}"
    );

    let store = connect(&server.url, pki.certificates("ca.pem", true))
        .await
        .unwrap();
    store.take_mts("sim", 1).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_from_another_ca_is_refused_with_a_clear_error() {
    let (server, pki) = tls_server(false).await;
    let error = connect(&server.url, pki.certificates("other-ca.pem", false))
        .await
        .err()
        .expect("connected to a server its CA did not sign");
    let text = error.to_string();
    assert!(
        text.contains("certificate") && text.contains("UnknownIssuer"),
        "{text}"
    );
    // The password stays out of the error.
    assert!(!text.contains(PASSWORD), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_redis_url_does_not_reach_a_tls_only_server() {
    let (server, pki) = tls_server(false).await;
    let plain = server.url.replace("rediss://", "redis://");
    assert!(connect(&plain, pki.certificates("ca.pem", false))
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_file_without_a_certificate_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("redis-ca.pem");
    std::fs::write(&ca, "not a certificate\n").unwrap();
    let text = format!(
        "[store]\nkind = \"redis\"\n[store.redis]\nurl = \"rediss://127.0.0.1:1\"\n\
         tls_ca = \"{}\"\n",
        ca.display()
    );
    let config = Config::from_str_named(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    let error = Gateway::start(config)
        .await
        .err()
        .expect("the gateway started")
        .to_string();
    assert!(
        error.starts_with("[store.redis]")
            && error.contains(&format!("no certificate in {}", ca.display())),
        "{error}"
    );
}
