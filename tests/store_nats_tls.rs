//! The NATS store over TLS with a password, on a real 3-server cluster whose every connection
//! is mutual TLS (clients and routes show certificates the test CA signed) with passwords:
//! an accepted MT commits on three copies over the TLS routes and is taken back; a wrong or
//! missing password, an untrusted server certificate or a missing client certificate are
//! refused at connect with the reason, never retried out of sight or let through.

mod nats_server;
#[macro_use]
mod store_suite;

use std::{sync::Arc, time::Duration};

use nats_server::{NatsCluster, Secured, TestPki, USER};
use smsgw::{
    message::{IdGenerator, Priority},
    store::{NatsStore, NatsTarget, NatsTls, Store},
};
use store_suite::{mt, Flows};

const PASSWORD: &str = "st0re-Pa55";

/// The store's settings for a secured cluster: its CA, a client certificate, the password.
fn trusted(cluster: &NatsCluster, pki: &TestPki) -> NatsTarget {
    NatsTarget {
        credentials: Some((USER.into(), PASSWORD.into())),
        tls: NatsTls {
            ca: Some(pki.path("ca.pem")),
            client: Some((pki.path("client.pem"), pki.path("client.key"))),
        },
        ..NatsTarget::new(cluster.urls(), "tls", 3)
    }
}

/// What `connect` answered, within a bound (a refusal must not hang the start).
async fn connect(target: &NatsTarget) -> Result<Arc<NatsStore>, String> {
    tokio::time::timeout(Duration::from_secs(60), NatsStore::connect(target))
        .await
        .expect("connect answered")
        .map_err(|error| error.to_string())
}

/// The reason `target` is refused.
async fn refusal(target: NatsTarget) -> String {
    match connect(&target).await {
        Ok(_) => panic!("connected with settings the cluster must refuse: {target:?}"),
        Err(error) => error,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_mutual_tls_with_passwords_the_store_serves_only_clients_it_trusts() {
    let pki = Arc::new(TestPki::new());
    let cluster = NatsCluster::start_secured(Secured {
        pki: pki.clone(),
        password: PASSWORD.into(),
    })
    .await;
    let trusted = trusted(&cluster, &pki);
    let store = connect(&trusted).await.unwrap();
    let message = mt(&IdGenerator::new("a", "n1"), Priority::Bulk, 1);
    store.accept_mt(message.clone(), None).await.unwrap();
    assert_eq!(
        store.take_mts("sim", 10).await.unwrap(),
        std::slice::from_ref(&message)
    );

    let wrong_password = NatsTarget {
        credentials: Some((USER.into(), "guess".into())),
        ..trusted.clone()
    };
    let error = refusal(wrong_password).await;
    assert!(error.contains("authorization"), "{error}");
    let no_password = NatsTarget {
        credentials: None,
        ..trusted.clone()
    };
    let error = refusal(no_password).await;
    assert!(error.contains("authorization"), "{error}");
    let other_ca = NatsTarget {
        tls: NatsTls {
            ca: Some(pki.path("other-ca.pem")),
            ..trusted.tls.clone()
        },
        ..trusted.clone()
    };
    let error = refusal(other_ca).await;
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    let no_client_certificate = NatsTarget {
        tls: NatsTls {
            client: None,
            ..trusted.tls.clone()
        },
        ..trusted.clone()
    };
    let error = refusal(no_client_certificate).await;
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    eprintln!("refused as expected; the last reason: {error}");
}
