//! End to end over real sockets: an SMPP client of the gateway, the gateway, the carrier
//! simulator. MTs in, receipts and MOs back on the client's binds.

mod gateway;

use std::{sync::Arc, time::Duration};

use gateway::*;
use smsgw::carrier_sim::{CarrierSimConfig, IdStyle};
use smsgw_smpp::{
    encoding::{receipt_from_deliver_sm, ESM_CLASS_DELIVERY_RECEIPT},
    rusmpp::{values::MessageState, CommandStatus},
    BindKind,
};

fn receipt_state(pdu: &smsgw_smpp::rusmpp::pdus::DeliverSm) -> (String, MessageState) {
    assert_eq!(u8::from(pdu.esm_class) & 0x3C, ESM_CLASS_DELIVERY_RECEIPT);
    let receipt = receipt_from_deliver_sm(pdu).unwrap();
    (receipt.id, receipt.stat.unwrap().state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_gets_our_id_and_a_delivered_receipt_on_the_same_bind() {
    let test = TestGateway::start().await;
    let (client, mut incoming) = test.bind(BindKind::Transceiver).await;
    let id = client
        .submit(submit("447700900001", "hello", true))
        .await
        .unwrap();
    assert!(id.starts_with("test-n1-"), "{id}");
    let pdu = next_deliver(&mut incoming).await;
    assert_eq!(receipt_state(&pdu), (id, MessageState::Delivered));
    assert_eq!(pdu.destination_addr.as_str(), "447700900123");
    assert_eq!(test.sim.stats().submits_accepted, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeliverable_and_rejected_mts_get_their_receipts() {
    let test = TestGateway::start().await;
    let (client, mut incoming) = test.bind(BindKind::Transceiver).await;
    let undeliv = client.submit(submit("99910001", "x", true)).await.unwrap();
    let rejected = client.submit(submit("99930001", "x", true)).await.unwrap();
    let mut seen = vec![
        receipt_state(&next_deliver(&mut incoming).await),
        receipt_state(&next_deliver(&mut incoming).await),
    ];
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![
        (undeliv, MessageState::Undeliverable),
        (rejected, MessageState::Rejected),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(seen, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mo_reaches_the_account_that_owns_the_number() {
    let test = TestGateway::start().await;
    let (client, mut incoming) = test.bind(BindKind::Transceiver).await;
    // 9990: the simulator loops the text back as an MO to our sender number.
    client
        .submit(submit("99900001", "ping back", false))
        .await
        .unwrap();
    let mo = next_deliver(&mut incoming).await;
    assert_eq!(u8::from(mo.esm_class) & 0x3C, 0, "an MO, not a receipt");
    assert_eq!(mo.short_message().as_ref(), b"ping back");
    assert_eq!(mo.source_addr.as_str(), "99900001");
    assert_eq!(mo.destination_addr.as_str(), "447700900123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_wait_for_a_receiver_bind_instead_of_being_dropped() {
    let test = TestGateway::start().await;
    let (transmitter, _none) = test.bind(BindKind::Transmitter).await;
    let id = transmitter
        .submit(submit("447700900001", "later", true))
        .await
        .unwrap();
    // The receipt is in the outbox before anyone binds to receive it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while outbox_depth(test.gateway.store().as_ref(), "acme").await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the receipt never reached the outbox"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_receiver, mut incoming) = test.bind(BindKind::Receiver).await;
    assert_eq!(
        receipt_state(&next_deliver(&mut incoming).await),
        (id, MessageState::Delivered)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_correlate_when_they_beat_the_resp_or_use_other_id_formats() {
    let early = CarrierSimConfig {
        dr_before_resp: true,
        ..Default::default()
    };
    let styles = [IdStyle::Hex, IdStyle::HexReceipts].map(|id_style| CarrierSimConfig {
        id_style,
        dr_before_resp: id_style == IdStyle::HexReceipts,
        ..Default::default()
    });
    for sim in std::iter::once(early).chain(styles) {
        // The connector is told how this carrier writes its ids; nothing is guessed.
        let setting = format!(
            "receipt_id_format = \"{}\"",
            sim.id_style.receipt_id_format()
        );
        let extra = ConfigExtra {
            connector: &setting,
            ..ConfigExtra::default()
        };
        let sim = start_sim(CarrierSimConfig {
            dr_delay: Duration::from_millis(10),
            ..sim
        })
        .await;
        let test = TestGateway::start_in(sim, tempfile::tempdir().unwrap(), extra).await;
        let (client, mut incoming) = test.bind(BindKind::Transceiver).await;
        let id = client
            .submit(submit("447700900001", "x", true))
            .await
            .unwrap();
        assert_eq!(
            receipt_state(&next_deliver(&mut incoming).await),
            (id, MessageState::Delivered)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_submits_get_smpp_errors_and_are_not_sent() {
    let test = TestGateway::start().await;
    let (client, _incoming) = test.bind(BindKind::Transmitter).await;
    let err = client.submit(submit("12ab", "x", false)).await.unwrap_err();
    assert_eq!(
        err,
        smsgw_smpp::client::SubmitError::Rejected(CommandStatus::EsmeRinvdstadr)
    );
    assert_eq!(test.sim.stats().submits_accepted, 0);
    // Wrong password: bind refused.
    let (handler, _rx) = smsgw_smpp::client::DeliverStream::new(1);
    let config = smsgw_smpp::ClientConfig::new(smsgw_smpp::BindRequest::new(
        BindKind::Transceiver,
        "acme",
        "wrong",
    ));
    let refused = smsgw_smpp::Client::connect(
        test.gateway.smpp_addr(),
        config,
        std::sync::Arc::new(handler),
    )
    .await;
    assert!(refused.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_spread_over_every_receiving_bind() {
    let test = TestGateway::start().await;
    let (client, _) = test.bind(BindKind::Transmitter).await;
    let (_r1, mut one) = test.bind(BindKind::Receiver).await;
    let (_r2, mut two) = test.bind(BindKind::Transceiver).await;
    for _ in 0..20 {
        client
            .submit(submit("447700900001", "x", true))
            .await
            .unwrap();
    }
    let mut counts = (0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while counts.0 + counts.1 < 20 && tokio::time::Instant::now() < deadline {
        tokio::select! {
            Some(d) = one.recv() => { d.accept(); counts.0 += 1; }
            Some(d) = two.recv() => { d.accept(); counts.1 += 1; }
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    assert_eq!(counts.0 + counts.1, 20);
    assert!(counts.0 > 0 && counts.1 > 0, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mts_move_to_the_routes_fallback_connector_when_the_first_stays_down() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The primary carrier refuses our credentials; the backup works.
    let primary = start_sim(CarrierSimConfig {
        accounts: Some(vec![("someone-else".into(), "x".into())]),
        ..Default::default()
    })
    .await;
    let backup = start_sim(CarrierSimConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = ConfigExtra {
        connector: "fallback_after = \"1s\"",
        ..ConfigExtra::default()
    };
    let text = config_text_with(primary.local_addr(), dir.path(), extra).replace(
        "connectors = [\"sim\"]",
        "connectors = [\"sim\", \"backup\"]",
    ) + &format!(
        "\n[[connectors]]\nname = \"backup\"\nendpoints = [\"{}\"]\nsystem_id = \"gw\"\npassword = \"pw\"\n",
        backup.local_addr()
    );
    let config =
        smsgw::config::Config::from_str_named(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    let gateway = smsgw::node::Gateway::start(config).await.unwrap();
    let (client, mut incoming) = bind_to(gateway.smpp_addr(), BindKind::Transceiver).await;
    let id = client
        .submit(submit("447700900001", "via backup", true))
        .await
        .unwrap();
    assert_eq!(
        receipt_state(&next_deliver(&mut incoming).await),
        (id, MessageState::Delivered)
    );
    assert_eq!(primary.stats().submits_accepted, 0);
    assert_eq!(backup.stats().submits_accepted, 1);
}

/// A carrier that never answers the first submit_sm it gets, and answers the rest.
struct SilentOnce {
    seen: std::sync::atomic::AtomicU32,
}

impl smsgw_smpp::server::BindHandler for SilentOnce {
    type Account = ();

    async fn authenticate(
        &self,
        _: &smsgw_smpp::BindRequest,
        _: std::net::SocketAddr,
    ) -> Result<(), CommandStatus> {
        Ok(())
    }

    async fn on_submit(
        &self,
        _: &(),
        _: &smsgw_smpp::SessionHandle,
        _: smsgw_smpp::rusmpp::pdus::SubmitSm,
    ) -> Result<String, CommandStatus> {
        let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == 0 {
            std::future::pending::<()>().await;
        }
        Ok(format!("c{n}"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_without_response_is_retried_and_the_mt_is_not_lost() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let carrier = Arc::new(SilentOnce {
        seen: Default::default(),
    });
    let server = smsgw_smpp::Server::new(Default::default(), carrier.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let carrier_addr = listener.local_addr().unwrap();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve(listener).await });

    let dir = tempfile::tempdir().unwrap();
    let extra = ConfigExtra {
        connector: "response_timeout = \"500ms\"",
        ..ConfigExtra::default()
    };
    let config = smsgw::config::Config::from_str_named(
        &config_text_with(carrier_addr, dir.path(), extra),
        "test.toml",
    )
    .unwrap();
    let gateway = smsgw::node::Gateway::start(config).await.unwrap();
    let (client, _incoming) = bind_to(gateway.smpp_addr(), BindKind::Transmitter).await;
    let id = client
        .submit(submit("447700900001", "retry me", false))
        .await
        .unwrap();
    let store = gateway.store().clone();
    let mut state = None;
    for _ in 0..100 {
        state = store
            .message(&smsgw::message::MessageId(id.clone()))
            .await
            .unwrap()
            .map(|r| r.state);
        if state == Some(smsgw::message::MessageState::Enroute) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, Some(smsgw::message::MessageState::Enroute));
    assert_eq!(
        carrier.seen.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "sent once more after the silence"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_needs_7_to_15_digits() {
    let test = TestGateway::start().await;
    let (client, _incoming) = test.bind(BindKind::Transmitter).await;
    for accepted in ["1234567", "123456789012345", "+447700900001"] {
        let submitted = client.submit(submit(accepted, "x", false)).await;
        assert!(submitted.is_ok(), "{accepted}: {submitted:?}");
    }
    for refused in ["123456", "1234567890123456"] {
        let err = client
            .submit(submit(refused, "x", false))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            smsgw_smpp::client::SubmitError::Rejected(CommandStatus::EsmeRinvdstadr),
            "{refused}"
        );
    }
}
