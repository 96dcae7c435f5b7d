//! The carrier simulator over real TCP on 127.0.0.1, with `smsgw_smpp::Client` as the gateway.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use smsgw::carrier_sim::{CarrierSim, CarrierSimConfig, CarrierSimStats, IdStyle};
use smsgw_smpp::{
    client::{ConnectError, DeliverStream, IncomingDeliver, SubmitError},
    encoding::{
        concat_udh, is_delivery_receipt, normalize_message_id, parse_receipt_text,
        receipt_from_deliver_sm,
    },
    rusmpp::{
        pdus::{DeliverSm, SubmitSm},
        types::OctetString,
        values::{EsmClass, MessageState},
        CommandStatus,
    },
    BindKind, BindRequest, Client, ClientConfig, DeliverHandler, SessionHandle,
};
use tokio::{net::TcpListener, sync::mpsc};

/// Bound on every wait for something that should happen; never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(10);

async fn start(config: CarrierSimConfig) -> CarrierSim {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    CarrierSim::start(listener, config).unwrap()
}

fn quick() -> CarrierSimConfig {
    CarrierSimConfig {
        dr_delay: Duration::from_millis(5),
        ..CarrierSimConfig::default()
    }
}

async fn bind(
    sim: &CarrierSim,
    kind: BindKind,
    system_id: &str,
) -> (Client, mpsc::Receiver<IncomingDeliver>) {
    let (handler, incoming) = DeliverStream::new(64);
    let config = ClientConfig::new(BindRequest::new(kind, system_id, "secret"));
    let client = Client::connect(sim.local_addr(), config, Arc::new(handler))
        .await
        .unwrap();
    (client, incoming)
}

fn mt(destination: &str, text: &str, registered_delivery: u8) -> SubmitSm {
    SubmitSm::builder()
        .source_addr("12345".parse().unwrap())
        .destination_addr(destination.parse().unwrap())
        .registered_delivery(registered_delivery.into())
        .short_message(text.as_bytes().try_into().unwrap())
        .build()
}

async fn next_deliver(incoming: &mut mpsc::Receiver<IncomingDeliver>) -> IncomingDeliver {
    tokio::time::timeout(PATIENCE, incoming.recv())
        .await
        .expect("a deliver_sm in time")
        .expect("the client is still up")
}

/// Waits until the simulator's stats satisfy `done`, and returns them.
async fn stats_when(sim: &CarrierSim, done: impl Fn(&CarrierSimStats) -> bool) -> CarrierSimStats {
    let wait = async {
        loop {
            let stats = sim.stats();
            if done(&stats) {
                return stats;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    match tokio::time::timeout(PATIENCE, wait).await {
        Ok(stats) => stats,
        Err(_) => panic!("stats never got there: {:?}", sim.stats()),
    }
}

fn text_of(deliver: &DeliverSm) -> String {
    String::from_utf8(deliver.short_message().as_ref().to_vec()).unwrap()
}

#[tokio::test]
async fn other_destinations_get_a_delivrd_receipt_naming_the_resp_id() {
    let sim = start(quick()).await;
    let (client, mut incoming) = bind(&sim, BindKind::Transceiver, "gw").await;
    let id = client
        .submit(mt("447700900123", "Hello from the gateway, long text", 1))
        .await
        .unwrap();

    let deliver = next_deliver(&mut incoming).await;
    let pdu = deliver.pdu().clone();
    deliver.accept();
    assert!(is_delivery_receipt(u8::from(pdu.esm_class)));
    assert_eq!(pdu.source_addr.as_str(), "447700900123");
    assert_eq!(pdu.destination_addr.as_str(), "12345");
    let text = text_of(&pdu);
    let parsed = parse_receipt_text(&text).unwrap();
    assert_eq!(parsed.id, id);
    assert_eq!(parsed.stat.unwrap().state, MessageState::Delivered);
    assert_eq!(parsed.err.as_deref(), Some("000"));
    assert_eq!(
        (parsed.sub.as_deref(), parsed.dlvrd.as_deref()),
        (Some("001"), Some("001"))
    );
    assert!(parsed.submit_date.is_some() && parsed.done_date.is_some());
    assert_eq!(parsed.text.as_deref(), Some("Hello from the gatew"));
    let from_tlvs = receipt_from_deliver_sm(&pdu).unwrap();
    assert_eq!(from_tlvs.id, id);
    assert_eq!(from_tlvs.stat.unwrap().state, MessageState::Delivered);

    let stats = stats_when(&sim, |s| s.drs_acked == 1).await;
    assert_eq!(
        (stats.submits_accepted, stats.drs_sent, stats.pending),
        (1, 1, 0)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn prefix_9990_also_echoes_the_text_back_as_an_mo() {
    let sim = start(quick()).await;
    let (client, mut incoming) = bind(&sim, BindKind::Transceiver, "gw").await;
    let id = client
        .submit(mt("99901234", "ping me back", 1))
        .await
        .unwrap();

    let (mut receipts, mut mos) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        let deliver = next_deliver(&mut incoming).await;
        let pdu = deliver.pdu().clone();
        deliver.accept();
        if is_delivery_receipt(u8::from(pdu.esm_class)) {
            receipts.push(pdu);
        } else {
            mos.push(pdu);
        }
    }
    assert_eq!((receipts.len(), mos.len()), (1, 1));
    assert_eq!(receipt_from_deliver_sm(&receipts[0]).unwrap().id, id);
    let mo = &mos[0];
    assert_eq!(u8::from(mo.esm_class), 0);
    assert_eq!(text_of(mo), "ping me back");
    assert_eq!(mo.source_addr.as_str(), "99901234");
    assert_eq!(mo.destination_addr.as_str(), "12345");
    let stats = stats_when(&sim, |s| s.mos_acked == 1 && s.drs_acked == 1).await;
    assert_eq!(stats.mos_sent, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn prefix_9991_is_undeliverable() {
    let sim = start(quick()).await;
    let (client, mut incoming) = bind(&sim, BindKind::Transceiver, "gw").await;
    let id = client.submit(mt("99915550", "lost", 1)).await.unwrap();
    let deliver = next_deliver(&mut incoming).await;
    let pdu = deliver.pdu().clone();
    deliver.accept();
    let parsed = parse_receipt_text(&text_of(&pdu)).unwrap();
    assert_eq!(parsed.id, id);
    assert_eq!(parsed.stat.unwrap().state, MessageState::Undeliverable);
    assert_eq!(parsed.err.as_deref(), Some("001"));
    assert_eq!(parsed.dlvrd.as_deref(), Some("000"));
    // The message_state TLV says the same.
    let mut only_tlvs = pdu.clone();
    only_tlvs.set_short_message(OctetString::empty());
    let from_tlvs = receipt_from_deliver_sm(&only_tlvs).unwrap();
    assert_eq!(from_tlvs.id, id);
    assert_eq!(from_tlvs.stat.unwrap().state, MessageState::Undeliverable);
    sim.shutdown().await;
}

#[tokio::test]
async fn prefix_9992_and_unrequested_receipts_never_come() {
    let sim = start(quick()).await;
    let (client, mut incoming) = bind(&sim, BindKind::Transceiver, "gw").await;
    client.submit(mt("99920000", "silent", 1)).await.unwrap();
    client
        .submit(mt("447700900123", "no receipt asked", 0))
        .await
        .unwrap();
    // Asked for failures only, and it is delivered: no receipt either.
    client
        .submit(mt("447700900124", "failures only", 2))
        .await
        .unwrap();
    let id = client.submit(mt("447700900125", "last", 1)).await.unwrap();

    let deliver = next_deliver(&mut incoming).await;
    assert_eq!(receipt_from_deliver_sm(deliver.pdu()).unwrap().id, id);
    deliver.accept();
    let stats = stats_when(&sim, |s| s.drs_acked == 1).await;
    assert_eq!(
        (stats.submits_accepted, stats.drs_sent, stats.pending),
        (4, 1, 0)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn prefix_9993_is_rejected_without_receipt() {
    let sim = start(quick()).await;
    let (client, _incoming) = bind(&sim, BindKind::Transceiver, "gw").await;
    let refused = client.submit(mt("99930000", "no", 1)).await.unwrap_err();
    assert_eq!(
        refused,
        SubmitError::Rejected(CommandStatus::EsmeRsubmitfail)
    );
    let stats = sim.stats();
    assert_eq!(
        (
            stats.submits_rejected,
            stats.submits_accepted,
            stats.pending
        ),
        (1, 0, 0)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn dr_ratio_zero_sends_no_receipt() {
    let sim = start(CarrierSimConfig {
        dr_ratio: 0.0,
        // Long enough that a wrongly scheduled receipt would still be pending below.
        dr_delay: Duration::from_secs(30),
        ..CarrierSimConfig::default()
    })
    .await;
    let (client, _incoming) = bind(&sim, BindKind::Transceiver, "gw").await;
    for n in 0..20 {
        client
            .submit(mt("447700900123", &format!("m{n}"), 1))
            .await
            .unwrap();
    }
    let stats = sim.stats();
    assert_eq!(
        (stats.submits_accepted, stats.pending, stats.drs_sent),
        (20, 0, 0)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn hex_style_answers_hex_and_reports_decimal() {
    let sim = start(CarrierSimConfig {
        id_style: IdStyle::Hex,
        ..quick()
    })
    .await;
    let (client, mut incoming) = bind(&sim, BindKind::Transceiver, "gw").await;
    let resp_id = client.submit(mt("447700900123", "hex", 1)).await.unwrap();
    let deliver = next_deliver(&mut incoming).await;
    let dr_id = receipt_from_deliver_sm(deliver.pdu()).unwrap().id;
    let text_id = parse_receipt_text(&text_of(deliver.pdu())).unwrap().id;
    deliver.accept();
    assert_eq!(dr_id, text_id);
    assert_ne!(resp_id, dr_id);
    assert_eq!(
        u64::from_str_radix(&resp_id, 16).unwrap(),
        dr_id.parse::<u64>().unwrap()
    );
    assert_eq!(
        IdStyle::Hex.receipt_id_format().response_form(&dr_id),
        Ok(normalize_message_id(&resp_id))
    );
    sim.shutdown().await;
}

/// Records, in order, receipts as they arrive and submit responses as they return.
#[derive(Default)]
struct Timeline(Mutex<Vec<String>>);

impl Timeline {
    fn push(&self, event: String) {
        self.0.lock().unwrap().push(event);
    }
}

impl DeliverHandler for Timeline {
    async fn on_deliver(&self, _: &SessionHandle, _: u32, deliver: DeliverSm) -> CommandStatus {
        let id = receipt_from_deliver_sm(&deliver).unwrap().id;
        self.push(format!("dr {id}"));
        CommandStatus::EsmeRok
    }
}

#[tokio::test]
async fn dr_before_resp_delivers_the_receipt_first() {
    let sim = start(CarrierSimConfig {
        dr_before_resp: true,
        ..quick()
    })
    .await;
    let timeline = Arc::new(Timeline::default());
    let config = ClientConfig::new(BindRequest::new(BindKind::Transceiver, "gw", "x"));
    let client = Client::connect(sim.local_addr(), config, timeline.clone())
        .await
        .unwrap();
    let mut expected = Vec::new();
    for n in 0..3 {
        let id = client
            .submit(mt("447700900123", &format!("early {n}"), 1))
            .await
            .unwrap();
        timeline.push(format!("resp {id}"));
        expected.extend([format!("dr {id}"), format!("resp {id}")]);
    }
    assert_eq!(*timeline.0.lock().unwrap(), expected);
    assert_eq!(sim.stats().drs_acked, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn throttle_answers_throttled_beyond_the_rate() {
    let sim = start(CarrierSimConfig {
        throttle: Some(5),
        ..quick()
    })
    .await;
    let (client, _incoming) = bind(&sim, BindKind::Transceiver, "gw").await;
    let submits = (0..100).map(|n| client.submit(mt("447700900123", &format!("t{n}"), 0)));
    let results = futures_util::future::join_all(submits).await;
    let throttled = results
        .iter()
        .filter(|r| r.as_ref().is_err_and(SubmitError::is_throttled))
        .count();
    let accepted = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(accepted + throttled, 100, "{results:?}");
    assert!(accepted >= 5, "the first second's burst passes: {accepted}");
    assert!(throttled > 0, "100 submits at once exceed 5/s");
    let stats = sim.stats();
    assert_eq!(
        (stats.submits_accepted, stats.submits_throttled),
        (accepted as u64, throttled as u64)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn receipt_waits_for_a_receiver_bind_and_is_retried() {
    let sim = start(CarrierSimConfig {
        retry_interval: Duration::from_millis(50),
        ..quick()
    })
    .await;
    let (transmitter, _none) = bind(&sim, BindKind::Transmitter, "gw").await;
    let id = transmitter
        .submit(mt("447700900123", "wait for me", 1))
        .await
        .unwrap();
    let stats = stats_when(&sim, |s| s.delivery_retries >= 2).await;
    assert_eq!((stats.drs_sent, stats.pending), (0, 1));

    // Another account's receiver does not get it.
    let (_other, mut other_incoming) = bind(&sim, BindKind::Receiver, "someone-else").await;
    let (_receiver, mut incoming) = bind(&sim, BindKind::Receiver, "gw").await;
    let deliver = next_deliver(&mut incoming).await;
    assert_eq!(receipt_from_deliver_sm(deliver.pdu()).unwrap().id, id);
    deliver.accept();
    let stats = stats_when(&sim, |s| s.drs_acked == 1).await;
    assert_eq!(stats.pending, 0);
    assert!(other_incoming.try_recv().is_err());
    sim.shutdown().await;
}

#[tokio::test]
async fn refused_receipt_is_sent_again() {
    let sim = start(CarrierSimConfig {
        retry_interval: Duration::from_millis(20),
        ..quick()
    })
    .await;
    let (client, mut incoming) = bind(&sim, BindKind::Transceiver, "gw").await;
    let id = client.submit(mt("447700900123", "again", 1)).await.unwrap();
    let first = next_deliver(&mut incoming).await;
    first.respond(CommandStatus::EsmeRxTAppn);
    let second = next_deliver(&mut incoming).await;
    assert_eq!(receipt_from_deliver_sm(second.pdu()).unwrap().id, id);
    second.accept();
    let stats = stats_when(&sim, |s| s.drs_acked == 1).await;
    assert_eq!((stats.drs_sent, stats.delivery_retries), (2, 1));
    sim.shutdown().await;
}

#[tokio::test]
async fn multipart_parts_each_get_an_id_and_a_receipt() {
    let sim = start(quick()).await;
    let (client, mut incoming) = bind(&sim, BindKind::Transceiver, "gw").await;
    let mut ids = Vec::new();
    for (seq, text) in [(1, "first half "), (2, "second half")] {
        let mut body = concat_udh(42, 2, seq).to_vec();
        body.extend_from_slice(text.as_bytes());
        let part = SubmitSm::builder()
            .source_addr("12345".parse().unwrap())
            .destination_addr("447700900123".parse().unwrap())
            .esm_class(EsmClass::from(0x40))
            .registered_delivery(1.into())
            .short_message(OctetString::from_vec(body).unwrap())
            .build();
        ids.push(client.submit(part).await.unwrap());
    }
    assert_ne!(ids[0], ids[1]);
    let mut reported = Vec::new();
    for _ in 0..2 {
        let deliver = next_deliver(&mut incoming).await;
        let receipt = receipt_from_deliver_sm(deliver.pdu()).unwrap();
        reported.push((receipt.id, receipt.text.unwrap()));
        deliver.accept();
    }
    reported.sort();
    let mut expected = vec![
        (ids[0].clone(), "first half".to_owned()),
        (ids[1].clone(), "second half".to_owned()),
    ];
    expected.sort();
    assert_eq!(reported, expected);
    sim.shutdown().await;
}

#[tokio::test]
async fn accounts_are_checked_when_configured() {
    let sim = start(CarrierSimConfig {
        accounts: Some(vec![
            ("gw".into(), "secret".into()),
            ("gw2".into(), "secret".into()),
        ]),
        ..quick()
    })
    .await;
    // A failed bind locks (address, system_id) out for 30 s, so the good bind uses another id.
    let wrong = ClientConfig::new(BindRequest::new(BindKind::Transceiver, "gw2", "nope"));
    let refused = Client::connect(sim.local_addr(), wrong, Arc::new(DeliverStream::new(1).0))
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        ConnectError::Rejected(CommandStatus::EsmeRinvpaswd)
    ));
    let unknown = ClientConfig::new(BindRequest::new(BindKind::Transceiver, "who", "secret"));
    let refused = Client::connect(sim.local_addr(), unknown, Arc::new(DeliverStream::new(1).0))
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        ConnectError::Rejected(CommandStatus::EsmeRinvsysid)
    ));
    let (client, _incoming) = bind(&sim, BindKind::Transceiver, "gw").await;
    assert!(client.is_bound());
    let stats = sim.stats();
    assert_eq!((stats.binds, stats.bound_sessions), (1, 1));
    sim.shutdown().await;
    client.closed().await;
    stats_when(&sim, |s| s.bound_sessions == 0).await;
}

#[tokio::test]
async fn spontaneous_mos_reach_a_receiving_bind() {
    let sim = start(CarrierSimConfig {
        mo_rate: 200.0,
        ..quick()
    })
    .await;
    let (_client, mut incoming) = bind(&sim, BindKind::Receiver, "gw").await;
    for _ in 0..3 {
        let deliver = next_deliver(&mut incoming).await;
        let pdu = deliver.pdu().clone();
        deliver.accept();
        assert!(!is_delivery_receipt(u8::from(pdu.esm_class)));
        assert_eq!(pdu.source_addr.as_str(), "447700900999");
        assert_eq!(pdu.destination_addr.as_str(), "12345");
        assert!(
            text_of(&pdu).starts_with("carrier-sim MO #"),
            "{}",
            text_of(&pdu)
        );
    }
    assert!(stats_when(&sim, |s| s.mos_acked >= 3).await.mos_sent >= 3);
    // MOs keep coming: stop consuming (they are answered ESME_RX_T_APPN) and shut down.
    drop(incoming);
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_settings_are_refused() {
    for config in [
        CarrierSimConfig {
            dr_ratio: 1.5,
            ..CarrierSimConfig::default()
        },
        CarrierSimConfig {
            mo_rate: f64::NAN,
            ..CarrierSimConfig::default()
        },
        CarrierSimConfig {
            throttle: Some(0),
            ..CarrierSimConfig::default()
        },
        CarrierSimConfig {
            mo_source: "x".repeat(30),
            ..CarrierSimConfig::default()
        },
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        assert!(CarrierSim::start(listener, config).is_err());
    }
}
