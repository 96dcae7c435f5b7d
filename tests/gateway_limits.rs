//! End to end: the limits and refusals an operator configures, and a carrier that throttles.
//! Account throughput (result_code 6 / ESME_RTHROTTLED), allowed senders, malformed PDUs sent
//! to the gateway's SMPP port, a throttling carrier whose MTs all get through in the end,
//! one receipt for a multipart MT, and signed JSON pushes.

mod gateway;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{http::HeaderMap, routing::post, Router};
use gateway::*;
use smsgw::carrier_sim::CarrierSimConfig;
use smsgw_smpp::{
    client::SubmitError,
    rusmpp::{CommandId, CommandStatus},
    BindKind,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn genesys(message_id: &str, sender: &str, text: &str) -> Vec<(String, String)> {
    genesys_form("acme", message_id, sender, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_throughput_and_allowed_senders_are_enforced() {
    let test = TestGateway::start_with(
        CarrierSimConfig::default(),
        "throughput = 1\nallowed_senders = [\"ACME\", \"4477*\"]",
    )
    .await;
    let (status, body) = post_receiver(&test, &genesys("t-1", "OTHER", "x")).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.starts_with("result_code=1&") && body.contains("sender"),
        "{body}"
    );

    let (status, _) = post_receiver(&test, &genesys("t-2", "ACME", "x")).await;
    assert_eq!(status, 200);
    // The account allows 1 MT/s: the next one in the same second is throttled.
    let response = http()
        .post(test.url("/httpapi/receiver"))
        .form(&genesys("t-3", "447700900555", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().contains_key("retry-after"));
    assert!(response.text().await.unwrap().starts_with("result_code=6&"));

    let (client, _incoming) = test.bind(BindKind::Transmitter).await;
    let err = client
        .submit(submit("447700900001", "x", false))
        .await
        .unwrap_err();
    assert_eq!(err, SubmitError::Rejected(CommandStatus::EsmeRthrottled));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_pdus_to_the_gateway_get_generic_nack_and_the_bind_goes_on() {
    let test = TestGateway::start().await;
    let mut stream = tokio::net::TcpStream::connect(test.gateway.smpp_addr())
        .await
        .unwrap();
    // An enquire_link with 2 stray body bytes, then a valid enquire_link.
    let mut bytes = Vec::new();
    for v in [18u32, 0x15, 0, 7] {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    bytes.extend_from_slice(&[0xde, 0xad]);
    for v in [16u32, 0x15, 0, 8] {
        bytes.extend_from_slice(&v.to_be_bytes());
    }
    stream.write_all(&bytes).await.unwrap();
    let mut answers = [0u8; 32];
    stream.read_exact(&mut answers).await.unwrap();
    let word = |i: usize| u32::from_be_bytes(answers[i * 4..i * 4 + 4].try_into().unwrap());
    assert_eq!((word(1), word(3)), (u32::from(CommandId::GenericNack), 7));
    assert_eq!(
        (word(5), word(6), word(7)),
        (u32::from(CommandId::EnquireLinkResp), 0, 8)
    );
    // A length that cannot be a PDU (in a complete header): nack and close.
    stream
        .write_all(&[0, 0, 0, 4, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 9])
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
        .await
        .expect("the connection is still open 10 s after a PDU that cannot be framed");
    // A reset also closes it, but a generic_nack lost to one would fail below.
    if let Err(error) = closed {
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    }
    assert_eq!(
        rest.len(),
        16,
        "one generic_nack, then the connection closes"
    );
    assert_eq!(u32::from_be_bytes(rest[8..12].try_into().unwrap()), 0x02);
    assert_eq!(u32::from_be_bytes(rest[12..16].try_into().unwrap()), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_carrier_delays_mts_but_every_one_gets_through() {
    const MTS: usize = 150;
    let test = TestGateway::start_with(
        CarrierSimConfig {
            throttle: Some(50),
            ..Default::default()
        },
        "",
    )
    .await;
    let (client, mut incoming) = test.bind(BindKind::Transceiver).await;
    // All submitted at once (not one after the other, which a slow box could pace below the
    // carrier's 50/s): the connector has 150 MTs queued and runs into the throttle however
    // slowly it runs.
    let (load, acked) = submit_load(client, MTS, MTS);
    tokio::time::timeout(Duration::from_secs(60), load)
        .await
        .expect("submits answered within 60 s")
        .unwrap();
    let ids = acked.lock().unwrap().clone();
    assert_eq!(ids.len(), MTS, "every MT accepted");
    let receipts = collect_receipts(&mut incoming, &ids, Duration::from_secs(60)).await;
    let missing = ids.iter().filter(|id| !receipts.contains_key(*id)).count();
    assert_eq!(missing, 0, "MTs without a receipt after 60 s");
    assert!(
        test.sim.stats().submits_throttled > 0,
        "the carrier never throttled"
    );
    assert_eq!(
        carrier_submits_settled(&test.sim, MTS as u64).await,
        MTS as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_json_pushes_carry_one_receipt_for_a_multipart_mt() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let received: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
    let app = {
        let received = received.clone();
        Router::new().route(
            "/push",
            post(move |headers: HeaderMap, body: String| {
                let received = received.clone();
                async move {
                    received.lock().unwrap().push((headers, body));
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let extra = format!(
        "push = {{ url = \"{url}\", format = \"json\", signing_secret = \"{secret}\", \
         allow_private_targets = [\"127.0.0.1\"] }}"
    );
    let test = TestGateway::start_with(CarrierSimConfig::default(), &extra).await;

    let long = "a long message that needs three parts. ".repeat(10);
    let (status, _) = post_receiver(&test, &genesys("mp-1", "ACME", &long)).await;
    assert_eq!(status, 200);
    assert_eq!(carrier_submits_settled(&test.sim, 3).await, 3);

    let pushed = push_receiver::wait_until(Duration::from_secs(20), || {
        !received.lock().unwrap().is_empty()
    })
    .await;
    assert!(pushed, "no receipt pushed within 20 s");
    // A push per part would follow the first at once.
    tokio::time::sleep(QUIET).await;
    let pushes = received.lock().unwrap().clone();
    assert_eq!(
        pushes.len(),
        1,
        "one receipt for the three parts: {pushes:?}"
    );
    let (headers, body) = &pushes[0];
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["message_id"], "mp-1", "{json}");
    let verifier = standardwebhooks::Webhook::new(secret).unwrap();
    verifier
        .verify(body.as_bytes(), headers)
        .expect("the push signature verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_nobody_binds_for_expire_after_the_outbox_ttl_and_are_counted() {
    let test = TestGateway::start_with(CarrierSimConfig::default(), "outbox_ttl = \"1s\"").await;
    let (status, _) = post_receiver(&test, &genesys("ttl-1", "ACME", "nobody listens")).await;
    assert_eq!(status, 200);
    let store = test.gateway.store().clone();
    let mut queued = false;
    // A 1 s TTL, watched for up to 20 s: a slow box is waited for.
    for _ in 0..200 {
        if outbox_depth(store.as_ref(), "acme").await > 0 {
            queued = true;
        } else if queued {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(queued, "the receipt never reached the outbox");
    assert_eq!(outbox_depth(store.as_ref(), "acme").await, 0, "not expired");
    let metrics = metrics_text(test.gateway.admin_addr()).await;
    assert!(
        metrics.contains("delivery_expired_total{account=\"acme\"} 1"),
        "{metrics}"
    );
    let (_receiver, mut incoming) = test.bind(BindKind::Receiver).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(700), incoming.recv())
            .await
            .is_err(),
        "an expired receipt was delivered"
    );
}

/// A submit_sm whose `message_payload` the carrier would split into `septets` / 153 parts.
fn submit_with_payload(septets: usize) -> smsgw_smpp::rusmpp::pdus::SubmitSm {
    use smsgw_smpp::rusmpp::{
        tlvs::MessageSubmissionRequestTlvValue, types::AnyOctetString, values::MessagePayload,
    };
    let mut pdu = submit("447700900001", "", false);
    pdu.push_tlv(MessageSubmissionRequestTlvValue::MessagePayload(
        MessagePayload::new(AnyOctetString::from_vec(vec![b'a'; septets])),
    ));
    pdu
}

/// max_segments (10 by default) holds on SMPP as on HTTP, counted by the one rule of
/// `segmentation::count_parts`: 10 x 153 septets pass, one more is refused, however the text
/// came (HTTP text, or an SMPP message_payload that the carrier would split).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_segments_holds_for_an_smpp_message_payload_as_for_http_text() {
    let test = TestGateway::start().await;
    let (client, _incoming) = test.bind(BindKind::Transmitter).await;
    client
        .submit(submit_with_payload(10 * 153))
        .await
        .expect("10 parts are within max_segments");
    let err = client
        .submit(submit_with_payload(10 * 153 + 1))
        .await
        .unwrap_err();
    assert_eq!(err, SubmitError::Rejected(CommandStatus::EsmeRinvmsglen));
    // 60 KB, within the 64 KiB a PDU may be: 393 parts, not one.
    let err = client
        .submit(submit_with_payload(60_000))
        .await
        .unwrap_err();
    assert_eq!(err, SubmitError::Rejected(CommandStatus::EsmeRinvmsglen));

    let (status, _) = post_receiver(&test, &genesys("p-1", "ACME", &"a".repeat(10 * 153))).await;
    assert_eq!(status, 200);
    let text = "a".repeat(10 * 153 + 1);
    let (status, body) = post_receiver(&test, &genesys("p-2", "ACME", &text)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.starts_with("result_code=8&"), "{body}");
    // The bind goes on, and only the MTs within the limit reach the carrier: the payload in
    // one submit_sm (the carrier splits it), the HTTP text in 10, and one more.
    client
        .submit(submit("447700900001", "after", false))
        .await
        .unwrap();
    assert_eq!(carrier_submits_settled(&test.sim, 12).await, 12);
}

/// An account without allowed_senders may send from any sender id: the gateway says so at
/// start, for that account only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_without_allowed_senders_is_warned_of_at_start() {
    let sim = start_sim(CarrierSimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let hash = smsgw::credentials::hash_password(PASSWORD);
    let restricted = format!(
        "[[accounts]]\nsystem_id = \"beta\"\npassword_hash = \"{hash}\"\nallowed_senders = [\"BETA\"]\n"
    );
    let extra = ConfigExtra {
        tables: &restricted,
        ..ConfigExtra::default()
    };
    let config = dir.path().join("smsgw.toml");
    std::fs::write(
        &config,
        config_text_with(sim.local_addr(), dir.path(), extra),
    )
    .unwrap();
    let (_process, output) = spawn_gateway_process_logging(&config, "info").await;
    let warned = warned(&output, "no allowed_senders", "account");
    assert_eq!(warned, ["acme"]);
}
