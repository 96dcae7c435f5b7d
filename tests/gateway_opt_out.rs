//! Opt-outs end to end over real sockets: a handset's STOP (any case, spaces around) reaches
//! the account as an MO and refuses later MTs to that number on SMPP (status 0x400) and HTTP
//! (403, result_code 110) until START; HELP gets the configured auto-reply; the account lists,
//! adds and removes opt-outs over the JSON API; a second node on the same Redis sees them.

mod gateway;
mod redis_server;

use gateway::{raw_carrier::*, *};
use redis_server::RedisServer;
use smsgw::{config::Config, edge::smpp_server::OPTED_OUT_STATUS, node::Gateway};
use smsgw_smpp::{
    client::{IncomingDeliver, SubmitError},
    rusmpp::CommandStatus,
    BindKind, Client,
};
use tokio::sync::mpsc::Receiver;

const HANDSET: &str = "447700900001";
const OTHER_HANDSET: &str = "447700900002";
/// One of the account's MO numbers, and the sender of its MTs in these tests.
const NUMBER: &str = "447700900123";
/// The account's other MO number.
const SHORT_CODE: &str = "12345";
const HELP_REPLY: &str = "Acme alerts: reply STOP to stop";
const STOP_REPLY: &str = "Acme: no more messages. Reply START to resubscribe";

const OPT_OUT: &str = r#"
[accounts.opt_out]
enabled = true
help_reply = "Acme alerts: reply STOP to stop"
stop_reply = "Acme: no more messages. Reply START to resubscribe"
"#;

/// A gateway with opt-outs on, bound to a raw carrier, with `store` TOML appended.
async fn gateway_on(
    carrier: &mut RawCarrier,
    dir: &std::path::Path,
    node: &str,
    store: &str,
) -> (Gateway, CarrierLink) {
    gateway_with(carrier, dir, node, OPT_OUT, store).await
}

/// [`gateway_on`] with `opt_out` as the account's extra TOML.
async fn gateway_with(
    carrier: &mut RawCarrier,
    dir: &std::path::Path,
    node: &str,
    opt_out: &str,
    store: &str,
) -> (Gateway, CarrierLink) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let text = config_text(carrier.addr, dir, opt_out)
        .replace("node_id = \"n1\"", &format!("node_id = \"{node}\""))
        + store;
    let config = Config::from_str_named(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    let gateway = Gateway::start(config).await.unwrap();
    let link = carrier.next_link().await;
    (gateway, link)
}

/// The carrier sends `text` from `handset` to the account's number; the carrier's answer is OK
/// and the account's bind gets the MO with the same text.
async fn mo(
    link: &mut CarrierLink,
    incoming: &mut Receiver<IncomingDeliver>,
    sequence: u32,
    handset: &str,
    text: &str,
) {
    link.send(&mo_pdu(sequence, handset, NUMBER, text, None))
        .await;
    assert_eq!(link.answer(sequence).await, CommandStatus::EsmeRok);
    let deliver = next_deliver(incoming).await;
    assert_eq!(
        String::from_utf8_lossy(deliver.short_message().as_ref()),
        text
    );
    assert_eq!(deliver.source_addr.as_str(), handset);
}

async fn smpp_mt(client: &Client, destination: &str) -> Result<String, SubmitError> {
    client.submit(submit(destination, "offer", false)).await
}

/// POSTs an MT to the JSON API; returns the status and the body.
async fn api_mt(http_addr: std::net::SocketAddr, destination: &str) -> (u16, serde_json::Value) {
    let response = http()
        .post(format!("http://{http_addr}/v1/messages"))
        .basic_auth("acme", Some(PASSWORD))
        .json(&serde_json::json!({"to": destination, "from": NUMBER, "text": "offer"}))
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or_default(),
    )
}

fn opted_out() -> SubmitError {
    SubmitError::Rejected(CommandStatus::Other(OPTED_OUT_STATUS))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_refuses_mts_to_the_number_until_start_and_the_account_gets_both_mos() {
    let mut carrier = RawCarrier::listen().await;
    let dir = tempfile::tempdir().unwrap();
    let (gateway, mut link) = gateway_on(&mut carrier, dir.path(), "n1", "").await;
    let (client, mut incoming) = bind_to(gateway.smpp_addr(), BindKind::Transceiver).await;
    smpp_mt(&client, HANDSET)
        .await
        .expect("accepted before STOP");

    // Lower case with spaces around is the STOP keyword; the account still gets the MO.
    mo(&mut link, &mut incoming, 1, HANDSET, " stop ").await;
    assert_eq!(smpp_mt(&client, HANDSET).await.unwrap_err(), opted_out());
    let (status, body) = api_mt(gateway.http_addr(), HANDSET).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &110.into()),
        "{body}"
    );
    let form = genesys_form("acme", "g-1", NUMBER, "offer");
    let response = http()
        .post(format!("http://{}/httpapi/receiver", gateway.http_addr()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert!(response
        .text()
        .await
        .unwrap()
        .starts_with("result_code=110&"));
    // Only that number.
    smpp_mt(&client, OTHER_HANDSET)
        .await
        .expect("another number is not opted out");
    let metrics = metrics_text(gateway.admin_addr()).await;
    let refused = metrics
        .lines()
        .find(|l| l.starts_with("optout_refused_total{account=\"acme\"}"))
        .unwrap_or_else(|| panic!("no refusal counted:\n{metrics}"));
    // The recorder is the process's: other tests of this file count into it too.
    let count: u64 = refused.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3, "{refused}");

    mo(&mut link, &mut incoming, 2, HANDSET, "Start").await;
    smpp_mt(&client, HANDSET)
        .await
        .expect("accepted after START");
    // The STOP's PDU resent (its answer lost): a duplicate, whose keyword is not applied again.
    link.send(&mo_pdu(1, HANDSET, NUMBER, " stop ", None)).await;
    assert_eq!(link.answer(1).await, CommandStatus::EsmeRok);
    smpp_mt(&client, HANDSET)
        .await
        .expect("a resent STOP does not undo the START");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_and_stop_get_their_auto_replies_from_the_number_written_to() {
    let mut carrier = RawCarrier::listen().await;
    let dir = tempfile::tempdir().unwrap();
    let (gateway, mut link) = gateway_on(&mut carrier, dir.path(), "n1", "").await;
    let (_client, mut incoming) = bind_to(gateway.smpp_addr(), BindKind::Receiver).await;

    for (sequence, text, reply) in [(1, "HELP", HELP_REPLY), (2, "stop", STOP_REPLY)] {
        mo(&mut link, &mut incoming, sequence, HANDSET, text).await;
        let sent = link.next_submit().await;
        assert_eq!(sent.source_addr.as_str(), NUMBER);
        assert_eq!(sent.destination_addr.as_str(), HANDSET);
        assert_eq!(
            String::from_utf8_lossy(sent.short_message().as_ref()),
            reply
        );
    }
    // An MO that is no keyword gets no reply.
    mo(&mut link, &mut incoming, 3, HANDSET, "stop please").await;
    assert!(
        tokio::time::timeout(QUIET, link.next_submit())
            .await
            .is_err(),
        "a reply to an MO that is no keyword"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_lists_adds_and_removes_its_opt_outs_over_the_api() {
    let mut carrier = RawCarrier::listen().await;
    let dir = tempfile::tempdir().unwrap();
    let (gateway, mut link) = gateway_on(&mut carrier, dir.path(), "n1", "").await;
    let (client, mut incoming) = bind_to(gateway.smpp_addr(), BindKind::Transceiver).await;
    let url = |path: &str| format!("http://{}{path}", gateway.http_addr());
    let list = || async {
        json_of(
            http()
                .get(url("/v1/opt-outs"))
                .basic_auth("acme", Some(PASSWORD)),
        )
        .await
    };
    assert_eq!(list().await, serde_json::json!({"opt_outs": []}));

    mo(&mut link, &mut incoming, 1, HANDSET, "STOP").await;
    let added = http()
        .put(url(&format!("/v1/opt-outs/{OTHER_HANDSET}")))
        .basic_auth("acme", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status().as_u16(), 200);
    assert_eq!(
        smpp_mt(&client, OTHER_HANDSET).await.unwrap_err(),
        opted_out()
    );

    let listed = list().await;
    let entries = listed["opt_outs"].as_array().unwrap();
    let numbers: Vec<_> = entries
        .iter()
        .map(|e| (&e["number"], &e["source"]))
        .collect();
    assert_eq!(
        numbers,
        vec![
            (&HANDSET.into(), &"STOP".into()),
            (&OTHER_HANDSET.into(), &"api".into())
        ],
        "{listed}"
    );

    let remove = || {
        http()
            .delete(url(&format!("/v1/opt-outs/{HANDSET}")))
            .basic_auth("acme", Some(PASSWORD))
            .send()
    };
    assert_eq!(remove().await.unwrap().status().as_u16(), 204);
    assert_eq!(remove().await.unwrap().status().as_u16(), 404);
    smpp_mt(&client, HANDSET)
        .await
        .expect("lifted over the API");

    let stranger = http()
        .get(url("/v1/opt-outs"))
        .basic_auth("acme", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status().as_u16(), 401);
    let bad = http()
        .put(url("/v1/opt-outs/not-a-number"))
        .basic_auth("acme", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_sender_scope_a_stop_refuses_only_mts_from_the_number_it_was_sent_to() {
    let mut carrier = RawCarrier::listen().await;
    let dir = tempfile::tempdir().unwrap();
    let scope = "[accounts.opt_out]\nenabled = true\nscope = \"sender\"\n";
    let (gateway, mut link) = gateway_with(&mut carrier, dir.path(), "n1", scope, "").await;
    let (client, mut incoming) = bind_to(gateway.smpp_addr(), BindKind::Transceiver).await;
    let from_short_code = |destination: &str| {
        let mut mt = submit(destination, "offer", false);
        mt.source_addr = SHORT_CODE.parse().unwrap();
        mt
    };

    link.send(&mo_pdu(1, HANDSET, SHORT_CODE, "QUIT", None))
        .await;
    assert_eq!(link.answer(1).await, CommandStatus::EsmeRok);
    next_deliver(&mut incoming).await;
    assert_eq!(
        client.submit(from_short_code(HANDSET)).await.unwrap_err(),
        opted_out()
    );
    smpp_mt(&client, HANDSET)
        .await
        .expect("another sender of the account still reaches the number");

    // Over the API, per sender too.
    let url = format!(
        "http://{}/v1/opt-outs/{OTHER_HANDSET}?sender={NUMBER}",
        gateway.http_addr()
    );
    let added = json_of(http().put(&url).basic_auth("acme", Some(PASSWORD))).await;
    assert_eq!(added["sender"], NUMBER, "{added}");
    assert_eq!(
        smpp_mt(&client, OTHER_HANDSET).await.unwrap_err(),
        opted_out()
    );
    client
        .submit(from_short_code(OTHER_HANDSET))
        .await
        .expect("only the sender named");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_on_the_same_redis_refuses_after_a_stop_on_the_first() {
    let redis = RedisServer::start().await;
    let store = redis_store_toml(&redis.url, "opt-out:");
    let (mut carrier_a, mut carrier_b) = (RawCarrier::listen().await, RawCarrier::listen().await);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, mut link_a) = gateway_on(&mut carrier_a, dir_a.path(), "a1", &store).await;
    let (b, mut link_b) = gateway_on(&mut carrier_b, dir_b.path(), "b1", &store).await;
    let (_receiver, mut incoming) = bind_to(a.smpp_addr(), BindKind::Receiver).await;
    let (client_b, _) = bind_to(b.smpp_addr(), BindKind::Transmitter).await;

    mo(&mut link_a, &mut incoming, 1, HANDSET, "Unsubscribe").await;
    assert_eq!(smpp_mt(&client_b, HANDSET).await.unwrap_err(), opted_out());
    let (status, _) = api_mt(b.http_addr(), HANDSET).await;
    assert_eq!(status, 403);

    // START on B lifts it for A too.
    link_b
        .send(&mo_pdu(1, HANDSET, NUMBER, "START", None))
        .await;
    assert_eq!(link_b.answer(1).await, CommandStatus::EsmeRok);
    let (client_a, _) = bind_to(a.smpp_addr(), BindKind::Transmitter).await;
    smpp_mt(&client_a, HANDSET)
        .await
        .expect("lifted on the other node");
    a.shutdown().await;
    b.shutdown().await;
}
