//! Cancel and replace reach an MT queued by another node: two gateway nodes share one real
//! Redis, a client submits on node A and cancels or replaces on node B, and the carrier gets
//! only what should go out.

mod gateway;
mod redis_server;

use std::time::Duration;

use gateway::{
    bind_to, config_text_with,
    deliveries::{deliveries_until, has_receipt, mo_texts, receipt_state},
    hand_pdus::{HandEsme, BIND_TRANSMITTER},
    start_bound, start_sim, ConfigExtra, PASSWORD,
};
use redis_server::RedisServer;
use smsgw::{carrier_sim::CarrierSimConfig, node::Gateway};
use smsgw_smpp::BindKind;

const DELETED: u8 = 4;

/// A node whose `sim` connector sends one MT a second with one in flight, on the shared Redis.
async fn node(
    sim: std::net::SocketAddr,
    redis: &str,
    node: &str,
    dir: &std::path::Path,
) -> Gateway {
    let extra = ConfigExtra {
        connector: "throughput = 1\nwindow = 1",
        ..ConfigExtra::default()
    };
    let text = config_text_with(sim, dir, extra).replace("node_id = \"n1\"", &format!("node_id = \"{node}\""))
        + &format!(
            "\n[store]\nkind = \"redis\"\n\n[store.redis]\nurl = \"{redis}\"\nkey_prefix = \"lifecycle:\"\n"
        );
    start_bound(&text).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mt_queued_through_one_node_is_cancelled_or_replaced_through_the_other() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let redis = RedisServer::start().await;
    let sim = start_sim(CarrierSimConfig {
        dr_delay: Duration::from_millis(10),
        ..CarrierSimConfig::default()
    })
    .await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(sim.local_addr(), &redis.url, "a1", dir_a.path()).await;
    let b = node(sim.local_addr(), &redis.url, "b1", dir_b.path()).await;
    let (_receiver, mut incoming) = bind_to(b.smpp_addr(), BindKind::Receiver).await;
    let mut on_a = HandEsme::bind(a.smpp_addr(), BIND_TRANSMITTER, "acme", PASSWORD).await;
    let mut on_b = HandEsme::bind(b.smpp_addr(), BIND_TRANSMITTER, "acme", PASSWORD).await;
    // Four ahead: the two nodes send two MTs a second between them.
    let mut ahead = Vec::new();
    for n in 1..=4 {
        ahead.push(on_a.submit(&format!("44770090000{n}"), "ahead", true).await);
    }
    let cancelled = on_a.submit("999000001", "cancel me", true).await;
    let replaced = on_a.submit("999000002", "old text", true).await;
    let after = on_a.submit("447700900009", "after", true).await;
    assert_eq!(on_b.cancel(&cancelled).await, 0);
    assert_eq!(on_b.replace(&replaced, "new text").await, 0);
    let seen = deliveries_until(&mut incoming, |seen| {
        ahead
            .iter()
            .chain([&replaced, &after])
            .all(|id| has_receipt(seen, id))
            && has_receipt(seen, &cancelled)
            && !mo_texts(seen).is_empty()
    })
    .await;
    assert_eq!(receipt_state(&seen, &cancelled), Some(DELETED), "{seen:?}");
    assert_eq!(mo_texts(&seen), ["new text"], "what the handsets got");
    assert_eq!(
        sim.stats().submits_accepted,
        6,
        "the carrier got the cancelled MT"
    );
}
