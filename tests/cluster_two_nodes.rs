//! Two gateway nodes in two sites sharing one real Redis: an MT submitted on node A gets its
//! receipt on a bind of node B; the same client message_id sent to both nodes at once is one
//! SMS; a receipt is correlated whichever node's carrier bind it arrives on; `GET /cluster`
//! on either node lists both.

mod gateway;
mod redis_server;

use std::time::Duration;

use gateway::*;
use redis_server::RedisServer;
use smsgw::{carrier_sim::CarrierSimConfig, node::Gateway};
use smsgw_smpp::{encoding::receipt_from_deliver_sm, BindKind};

async fn node(
    sim: std::net::SocketAddr,
    redis: &str,
    node: &str,
    site: &str,
    dir: &std::path::Path,
) -> Gateway {
    let text = config_text(sim, dir, "")
        .replace("node_id = \"n1\"", &format!("node_id = \"{node}\""))
        .replace("site = \"test\"", &format!("site = \"{site}\""))
        + &format!(
            "\n[store]\nkind = \"redis\"\n\n[store.redis]\nurl = \"{redis}\"\nkey_prefix = \"two-nodes:\"\n"
        );
    start_bound(&text).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_reach_a_bind_on_the_other_node_and_idempotency_holds_across_nodes() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let redis = RedisServer::start().await;
    let sim = start_sim(CarrierSimConfig::default()).await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(sim.local_addr(), &redis.url, "a1", "siteA", dir_a.path()).await;
    let b = node(sim.local_addr(), &redis.url, "b1", "siteB", dir_b.path()).await;

    // Transmitter on A, receiver on B.
    let (transmitter, _) = bind_to(a.smpp_addr(), BindKind::Transmitter).await;
    let (_receiver, mut incoming) = bind_to(b.smpp_addr(), BindKind::Receiver).await;
    let mut ids = std::collections::HashSet::new();
    for n in 0..20 {
        let id = transmitter
            .submit(submit("447700900001", &format!("cross-site {n}"), true))
            .await
            .unwrap();
        assert!(id.starts_with("siteA-a1-"), "{id}");
        ids.insert(id);
    }
    while !ids.is_empty() {
        let pdu = next_deliver(&mut incoming).await;
        let receipt = receipt_from_deliver_sm(&pdu).unwrap();
        assert!(
            ids.remove(&receipt.id),
            "unexpected or duplicate receipt {}",
            receipt.id
        );
    }

    // The same Genesys message_id to both nodes at once: one SMS.
    let before = sim.stats().submits_accepted;
    let form: Vec<(String, String)> = [
        ("login", "acme"),
        ("password", PASSWORD),
        ("phone_number", "447700900002"),
        ("sender", "ACME"),
        ("message", "once"),
        ("message_id", "both-sites-1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let send = |addr: std::net::SocketAddr| {
        let form = form.clone();
        async move {
            http()
                .post(format!("http://{addr}/httpapi/receiver"))
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let (to_a, to_b) = tokio::join!(send(a.http_addr()), send(b.http_addr()));
    assert_eq!((to_a, to_b), (200, 200));
    assert_eq!(carrier_submits_settled(&sim, before + 1).await, before + 1);

    // Either node lists both, with their sites and what each serves.
    let cluster: serde_json::Value =
        json_of(http().get(format!("http://{}/cluster", b.admin_addr()))).await;
    let nodes: Vec<(String, String)> = cluster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["node_id"].as_str().unwrap().to_owned(),
                n["site"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        nodes,
        [("a1".into(), "siteA".into()), ("b1".into(), "siteB".into())],
        "{cluster}"
    );
    // Both listen for HTTP and SMPP, and report their carrier binds up once a heartbeat
    // after binding has gone out (they beat every ~3 s).
    let roles_of = |cluster: &serde_json::Value| -> Vec<Vec<String>> {
        cluster["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| {
                node["roles"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            })
            .collect()
    };
    let serving = vec!["http".to_owned(), "smpp".into(), "carrier".into()];
    let mut roles = roles_of(&cluster);
    for _ in 0..100 {
        if roles.iter().all(|r| *r == serving) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let cluster: serde_json::Value =
            json_of(http().get(format!("http://{}/cluster", a.admin_addr()))).await;
        roles = roles_of(&cluster);
    }
    assert_eq!(roles, [serving.clone(), serving], "roles");
}

/// A carrier that accepts every bind and lets the test send deliver_sm on each of them.
struct Carrier;

impl smsgw_smpp::server::BindHandler for Carrier {
    type Account = ();

    async fn authenticate(
        &self,
        _: &smsgw_smpp::BindRequest,
        _: std::net::SocketAddr,
    ) -> Result<(), smsgw_smpp::rusmpp::CommandStatus> {
        Ok(())
    }

    async fn on_submit(
        &self,
        _: &(),
        _: &smsgw_smpp::SessionHandle,
        _: smsgw_smpp::rusmpp::pdus::SubmitSm,
    ) -> Result<String, smsgw_smpp::rusmpp::CommandStatus> {
        Ok("1".into())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_mo_arriving_at_both_sites_is_delivered_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let redis = RedisServer::start().await;
    let carrier = smsgw_smpp::Server::new(Default::default(), std::sync::Arc::new(Carrier));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let carrier_addr = listener.local_addr().unwrap();
    let serving = carrier.clone();
    tokio::spawn(async move { serving.serve(listener).await });
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(carrier_addr, &redis.url, "a1", "siteA", dir_a.path()).await;
    let b = node(carrier_addr, &redis.url, "b1", "siteB", dir_b.path()).await;
    let (_client, mut incoming) = bind_to(b.smpp_addr(), BindKind::Receiver).await;

    // The carrier delivers the same MO, with its id for it, on its bind to each site (it
    // retried elsewhere). Without the carrier's id, two MOs answered on two binds are two
    // MOs: a handset may send the same text twice (tests/gateway_mo.rs).
    let sessions = carrier.registry().sessions("gw");
    assert_eq!(sessions.len(), 2, "one carrier bind per site");
    let mo = smsgw_smpp::rusmpp::pdus::DeliverSm::builder()
        .esm_class(smsgw_smpp::rusmpp::values::EsmClass::from(0))
        .source_addr("447700900777".parse().unwrap())
        .destination_addr("12345".parse().unwrap())
        .short_message(b"STOP".as_slice().try_into().unwrap())
        .push_tlv(
            smsgw_smpp::rusmpp::tlvs::MessageDeliveryRequestTlvValue::ReceiptedMessageId(
                "mo-77".parse().unwrap(),
            ),
        )
        .build();
    for session in &sessions {
        let response = session.request(mo.clone()).await.unwrap();
        assert_eq!(
            response.status(),
            smsgw_smpp::rusmpp::CommandStatus::EsmeRok
        );
    }
    let first = next_deliver(&mut incoming).await;
    assert_eq!(first.short_message().as_ref(), b"STOP");
    let second = tokio::time::timeout(Duration::from_secs(2), incoming.recv()).await;
    assert!(second.is_err(), "the MO was delivered twice");
    drop(a);
}

/// A shared store whose lease is under twice a response timeout (a client bind's 10 s and
/// the connector's default 10 s, against 15 s) is warned of at start, each wait by name:
/// another node would take a slow peer's work and send it twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_under_twice_a_response_timeout_is_warned_of_at_start() {
    let redis = RedisServer::start().await;
    let sim = start_sim(CarrierSimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(sim.local_addr(), dir.path(), "")
        + &format!(
            "\n[store]\nkind = \"redis\"\n\n[store.redis]\nurl = \"{}\"\nkey_prefix = \"lease:\"\nlease = \"15s\"\n",
            redis.url
        );
    let config = dir.path().join("smsgw.toml");
    std::fs::write(&config, text).unwrap();
    let (_process, output) = spawn_gateway_process_logging(&config, "info").await;
    let warned = warned(&output, "under twice this response timeout", "what");
    assert_eq!(warned, ["client binds", "connector sim"]);
}
