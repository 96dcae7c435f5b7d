//! Two gateway nodes sharing one real Redis, each with its own bind to the same carrier: the
//! parts of one multipart MO arriving on different nodes (the last two at once, one resent on
//! the other node) reach the client as one whole message, once.

mod gateway;
mod redis_server;

use gateway::{multipart::*, raw_carrier::*, *};
use redis_server::RedisServer;
use smsgw::node::Gateway;
use smsgw_smpp::{rusmpp::CommandStatus, BindKind};

async fn node(
    carrier: std::net::SocketAddr,
    redis: &str,
    node: &str,
    dir: &std::path::Path,
) -> Gateway {
    let text = config_text(carrier, dir, "mo_multipart = \"payload\"")
        .replace("node_id = \"n1\"", &format!("node_id = \"{node}\""))
        + &format!(
            "\n[store]\nkind = \"redis\"\n\n[store.redis]\nurl = \"{redis}\"\nkey_prefix = \"mo-parts:\"\n"
        );
    start_bound(&text).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_of_one_mo_on_two_nodes_reach_the_client_whole_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let redis = RedisServer::start().await;
    let mut carrier = RawCarrier::listen().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(carrier.addr, &redis.url, "a1", dir_a.path()).await;
    let mut link_a = carrier.next_link().await;
    let b = node(carrier.addr, &redis.url, "b1", dir_b.path()).await;
    let mut link_b = carrier.next_link().await;
    // The client is bound to B only: whatever A stored reaches it through the store.
    let (_client, mut incoming) = bind_to(b.smpp_addr(), BindKind::Receiver).await;

    let texts = ["one ", "two ", "three"];
    let part = |sequence: u32, reference: u8, seq: u8| {
        part_pdu(
            sequence,
            0,
            &udh8(reference, 3, seq),
            texts[usize::from(seq) - 1].as_bytes(),
            None,
        )
    };
    // Set 1: part 1 on A, part 3 on B, part 2 on A and resent on B (another bind: not
    // provably the same PDU, still not a second part).
    send_all(&mut link_a, &[(1, part(1, 1, 1))]).await;
    send_all(&mut link_b, &[(1, part(1, 1, 3))]).await;
    send_all(&mut link_a, &[(2, part(2, 1, 2))]).await;
    send_all(&mut link_b, &[(2, part(2, 1, 2))]).await;
    // Set 2: part 1 on B, then the last two on A and B at the same moment.
    send_all(&mut link_b, &[(3, part(3, 2, 1))]).await;
    link_a.send(&part(3, 2, 2)).await;
    link_b.send(&part(4, 2, 3)).await;
    assert_eq!(link_a.answer(3).await, CommandStatus::EsmeRok);
    assert_eq!(link_b.answer(4).await, CommandStatus::EsmeRok);

    let got = delivered(&mut incoming, 2).await;
    let whole = Seen {
        message_payload: Some(b"one two three".to_vec()),
        ..plain(0, &[])
    };
    assert_eq!(got, [whole.clone(), whole]);
    a.shutdown().await;
    b.shutdown().await;
}
