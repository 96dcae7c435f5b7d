//! The NATS store over TLS with a password, on a real 3-server cluster whose clients and
//! routes all use TLS (routes with mutual TLS and their own password): the store commits and
//! reads through it; a wrong password, an untrusted CA or a plain connection are refused at
//! connect with an error that says so, never silently let through.

mod nats_server;
#[macro_use]
mod store_suite;

use std::{sync::Arc, time::Duration};

use nats_server::{NatsCluster, Secured, TestPki, USER};
use smsgw::{
    message::{IdGenerator, Priority},
    store::{Change, Committed, MessageRecord, NatsStore, NatsTarget, NatsTls, Store},
};
use store_suite::mt;

const PASSWORD: &str = "st0re-Pa55";

async fn secured_cluster() -> (NatsCluster, Arc<TestPki>) {
    let pki = Arc::new(TestPki::new());
    let cluster = NatsCluster::start_secured(Secured {
        pki: pki.clone(),
        password: PASSWORD.into(),
    })
    .await;
    (cluster, pki)
}

/// The store's settings for `cluster`, trusting `ca` and logging in with `password`.
fn target(cluster: &NatsCluster, pki: &TestPki, ca: &str, password: &str) -> NatsTarget {
    NatsTarget {
        credentials: Some((USER.into(), password.into())),
        tls: NatsTls {
            ca: Some(pki.path(ca)),
            client: None,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_a_password_the_store_commits_and_reads() {
    let (cluster, pki) = secured_cluster().await;
    let store = connect(&target(&cluster, &pki, "ca.pem", PASSWORD))
        .await
        .unwrap();
    let record = MessageRecord::accepted(&mt(&IdGenerator::new("a", "n1"), Priority::Bulk, 1));
    let mut change = Change::acknowledged();
    change.put_record(record.clone(), 0);
    assert_eq!(store.commit(change).await.unwrap(), Committed::Done);
    let stored = store.message(&record.mt.id).await.unwrap().unwrap();
    assert_eq!(stored.mt, record.mt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_an_untrusted_ca_or_no_tls_are_refused() {
    let (cluster, pki) = secured_cluster().await;
    let wrong_password = connect(&target(&cluster, &pki, "ca.pem", "guess")).await;
    assert!(
        wrong_password
            .as_ref()
            .is_err_and(|error| error.contains("authorization")),
        "{:?}",
        wrong_password.map(|_| ())
    );
    let other_ca = connect(&target(&cluster, &pki, "other-ca.pem", PASSWORD)).await;
    assert!(
        other_ca.as_ref().is_err_and(|error| error.contains("tls")
            || error.contains("TLS")
            || error.contains("certificate")),
        "{:?}",
        other_ca.map(|_| ())
    );
    // nats:// URLs and no certificates: the servers require TLS, and the system's roots do
    // not know the test CA.
    let plain = NatsTarget {
        credentials: Some((USER.into(), PASSWORD.into())),
        ..NatsTarget::new(
            cluster
                .urls()
                .iter()
                .map(|url| url.replace("tls://", "nats://"))
                .collect(),
            "tls",
            3,
        )
    };
    assert!(connect(&plain).await.is_err());
}
