//! The application's view of a site dying (as in `examples/esme_failover.rs`): a BindPool bound
//! to two SMSCs on 127.0.0.1, one killed with submits in flight. Every submit gets a message id
//! or an error; retried, those land on the surviving site; every message ends with exactly one
//! id; the dead site is bound again only after 30 s (tokio's paused clock).

mod common;

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};

use common::*;
use smsgw_smpp::{
    client::{DeliverStream, IncomingDeliver, SubmitError},
    pool::{BindPool, Endpoint, PoolConfig, PoolError, Submitted},
    BindKind, RequestError, SessionHandle,
};
use tokio::{sync::mpsc::Receiver, time::Instant};

const MESSAGES: usize = 40;

fn pool_to(sites: &[&Site]) -> (BindPool, Receiver<IncomingDeliver>) {
    let endpoints = sites
        .iter()
        .map(|s| Endpoint::tcp(s.addr.to_string()))
        .collect();
    let (handler, incoming) = DeliverStream::new(64);
    let config = PoolConfig::new(endpoints, demo_client(BindKind::Transceiver));
    (BindPool::start(config, Arc::new(handler)), incoming)
}

fn bind_to(pool: &BindPool, site: &Site) -> Option<SessionHandle> {
    pool.active()
        .into_iter()
        .find(|s| s.peer_addr() == Some(site.addr))
}

/// Texts each site took, with how many times.
fn taken_texts(site: &Site) -> Vec<String> {
    site.smsc
        .submits
        .lock()
        .unwrap()
        .iter()
        .map(|s| String::from_utf8_lossy(s.short_message().as_ref()).into_owned())
        .collect()
}

/// An MO from each site reaches the application, whichever bind it came in on.
async fn an_mo_from_each_site_arrives(sites: [&Site; 2], incoming: &mut Receiver<IncomingDeliver>) {
    let sends: Vec<_> = sites
        .iter()
        .map(|site| {
            let registry = site.server.registry().clone();
            tokio::spawn(async move {
                registry
                    .deliver("demo", deliver_from("447700900123", "hello"))
                    .await
            })
        })
        .collect();
    let mut from = HashSet::new();
    for _ in 0..2 {
        let deliver = incoming.recv().await.unwrap();
        from.insert(deliver.session().peer_addr().unwrap());
        deliver.accept();
    }
    let expected: HashSet<SocketAddr> = sites.iter().map(|s| s.addr).collect();
    assert_eq!(from, expected);
    for send in sends {
        send.await.unwrap().unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_site_killed_mid_run_loses_no_submit_and_is_rebound_only_after_30_s() {
    let mut a = Site::start(Default::default()).await;
    let b = Site::start(Default::default()).await;
    let (pool, mut incoming) = pool_to(&[&a, &b]);
    pool.wait_for_active(2).await;
    an_mo_from_each_site_arrives([&a, &b], &mut incoming).await;

    // Site A stops answering, then dies with its share of the submits in flight.
    a.smsc.hold_submits.hold();
    let a_bind = bind_to(&pool, &a).unwrap();
    let submits: Vec<_> = (0..MESSAGES)
        .map(|n| {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.submit(submit_to("447700900001", &format!("m{n}")))
                    .await
            })
        })
        .collect();
    while submits.iter().filter(|s| s.is_finished()).count() + a_bind.outstanding() < MESSAGES {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let in_flight_on_a = a_bind.outstanding();
    assert!(in_flight_on_a > 0, "nothing in flight on the site killed");
    a.kill();
    a_bind.closed().await;
    let dropped_at = Instant::now();

    // Each submit has an answer: an id, or an error the caller can act on.
    let mut ids: HashMap<usize, Vec<Submitted>> = HashMap::new();
    let mut to_retry = Vec::new();
    for (n, submit) in submits.into_iter().enumerate() {
        match submit.await.unwrap() {
            Ok(taken) => ids.entry(n).or_default().push(taken),
            // Sent, then the bind closed or the answer timed out: it may or may not have
            // been taken, and the caller decides to send it again.
            Err(PoolError::Submit {
                endpoint,
                error: SubmitError::Request(RequestError::Closed | RequestError::Timeout),
            }) => {
                assert_eq!(endpoint, a.addr.to_string());
                to_retry.push(n);
            }
            Err(other) => panic!("message {n}: unexpected {other:?}"),
        }
    }
    assert_eq!(to_retry.len(), in_flight_on_a);

    // Retried, they land on the surviving site.
    for n in to_retry {
        let taken = pool
            .submit(submit_to("447700900001", &format!("m{n}")))
            .await
            .unwrap();
        assert_eq!(taken.endpoint, b.addr.to_string(), "retry of m{n}");
        ids.entry(n).or_default().push(taken);
    }
    assert_eq!(ids.len(), MESSAGES);
    assert!(ids.values().all(|taken| taken.len() == 1));
    let mut texts = taken_texts(&a);
    texts.extend(taken_texts(&b));
    let distinct: HashSet<&String> = texts.iter().collect();
    assert_eq!(texts.len(), MESSAGES, "each message taken once: {texts:?}");
    assert_eq!(distinct.len(), MESSAGES);

    // A comes back at once, but the pool waits out the 30 s floor before binding to it.
    a.smsc.hold_submits.release();
    a.restart().await;
    tokio::time::sleep_until(dropped_at + Duration::from_secs(29)).await;
    assert_eq!(a.smsc.bind_attempts.lock().unwrap().len(), 1);
    assert!(bind_to(&pool, &a).is_none());
    let submitted = pool.submit(submit_to("447700900001", "late")).await;
    assert_eq!(submitted.unwrap().endpoint, b.addr.to_string());

    pool.wait_for_active(2).await;
    let attempts = a.smsc.bind_attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 2);
    let waited = attempts[1].0 - dropped_at;
    assert!(
        waited >= Duration::from_secs(30) && waited <= Duration::from_secs(34),
        "{waited:?}"
    );
    an_mo_from_each_site_arrives([&a, &b], &mut incoming).await;
    pool.shutdown().await;
}
