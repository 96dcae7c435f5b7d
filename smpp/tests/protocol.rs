//! Protocol conformance of the server, driven byte by byte from a raw TCP peer: framing
//! errors, bind states, the window, enquire_link and timers (paused clock), unbind ordering,
//! failed binds (lockouts are the handler's).

mod common;

use std::{sync::atomic::Ordering, time::Duration};

use common::*;
use smsgw_smpp::{
    rusmpp::{Command, CommandId, CommandStatus, Pdu},
    server::ServerConfig,
    BindKind, BindRequest, DeliverError, RequestError,
};

fn header(length: u32, id: u32, status: u32, sequence: u32) -> Vec<u8> {
    [length, id, status, sequence]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

#[tokio::test]
async fn command_length_below_16_gets_generic_nack_rinvcmdlen_and_close() {
    let (_server, _smsc, addr) = start_server(Default::default()).await;
    let mut peer = RawPeer::connect(addr).await;
    peer.send_bytes(&header(12, 0x15, 0, 7)).await;
    let nack = peer.recv().await.unwrap();
    assert_eq!(nack.id(), CommandId::GenericNack);
    assert_eq!(nack.status(), CommandStatus::EsmeRinvcmdlen);
    assert_eq!(nack.sequence_number(), 7);
    assert!(peer.recv().await.is_none(), "connection stays open");
}

#[tokio::test]
async fn command_length_above_the_maximum_gets_generic_nack_and_close_without_buffering() {
    let mut config = ServerConfig::default();
    config.session.max_pdu_len = 1024;
    let (_server, _smsc, addr) = start_server(config).await;
    let mut peer = RawPeer::connect(addr).await;
    peer.send_bytes(&header(1_000_000, 0x04, 0, 9)).await;
    let nack = peer.recv().await.unwrap();
    assert_eq!(
        (nack.id(), nack.status()),
        (CommandId::GenericNack, CommandStatus::EsmeRinvcmdlen)
    );
    assert!(peer.recv().await.is_none());
}

#[tokio::test]
async fn unknown_command_id_gets_generic_nack_rinvcmdid_and_the_session_goes_on() {
    let (_server, _smsc, addr) = start_server(Default::default()).await;
    let mut peer = RawPeer::connect(addr).await;
    peer.bind(BindKind::Transceiver).await;
    peer.send_bytes(&header(16, 0x0000_1234, 0, 41)).await;
    let nack = peer.recv().await.unwrap();
    assert_eq!(
        (nack.id(), nack.status(), nack.sequence_number()),
        (CommandId::GenericNack, CommandStatus::EsmeRinvcmdid, 41)
    );
    peer.send_pdu(42, Pdu::EnquireLink).await;
    let response = peer.recv().await.unwrap();
    assert_eq!(
        (response.id(), response.sequence_number()),
        (CommandId::EnquireLinkResp, 42)
    );
}

#[tokio::test]
async fn a_body_with_trailing_bytes_gets_generic_nack_and_the_next_pdu_is_served() {
    let (_server, smsc, addr) = start_server(Default::default()).await;
    let mut peer = RawPeer::connect(addr).await;
    peer.bind(BindKind::Transmitter).await;
    let mut bad = smsgw_smpp::frame::encode_to_vec(&Command::new(
        CommandStatus::EsmeRok,
        5,
        submit_to("447700900001", "bad"),
    ));
    bad.extend_from_slice(&[0xAB; 3]);
    let length = bad.len() as u32;
    bad[..4].copy_from_slice(&length.to_be_bytes());
    peer.send_bytes(&bad).await;
    let nack = peer.recv().await.unwrap();
    assert_eq!(
        (nack.id(), nack.sequence_number()),
        (CommandId::GenericNack, 5)
    );
    assert_ne!(nack.status(), CommandStatus::EsmeRok);

    peer.send_pdu(6, submit_to("447700900001", "good")).await;
    let response = peer.recv().await.unwrap();
    assert_eq!(
        (response.id(), response.status(), response.sequence_number()),
        (CommandId::SubmitSmResp, CommandStatus::EsmeRok, 6)
    );
    assert_eq!(
        smsc.submits.lock().unwrap().len(),
        1,
        "the malformed submit was accepted"
    );
}

#[tokio::test]
async fn submit_before_bind_gets_rinvbndsts_and_enquire_link_is_answered_in_open() {
    let (_server, smsc, addr) = start_server(Default::default()).await;
    let mut peer = RawPeer::connect(addr).await;
    peer.send_pdu(3, submit_to("447700900001", "x")).await;
    let response = peer.recv().await.unwrap();
    assert_eq!(
        (response.id(), response.status(), response.sequence_number()),
        (CommandId::SubmitSmResp, CommandStatus::EsmeRinvbndsts, 3)
    );
    peer.send_pdu(4, Pdu::EnquireLink).await;
    assert_eq!(peer.recv().await.unwrap().id(), CommandId::EnquireLinkResp);
    assert!(smsc.submits.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_receiver_may_not_submit() {
    let (_server, _smsc, addr) = start_server(Default::default()).await;
    let mut peer = RawPeer::connect(addr).await;
    peer.bind(BindKind::Receiver).await;
    peer.send_pdu(2, submit_to("447700900001", "x")).await;
    let response = peer.recv().await.unwrap();
    assert_eq!(response.status(), CommandStatus::EsmeRinvbndsts);
}

#[tokio::test]
async fn a_second_bind_gets_ralybnd() {
    let (_server, smsc, addr) = start_server(Default::default()).await;
    let mut peer = RawPeer::connect(addr).await;
    peer.bind(BindKind::Transceiver).await;
    let bind = BindRequest::new(BindKind::Transmitter, "demo", "demo1234")
        .to_pdu()
        .unwrap();
    peer.send_pdu(2, bind).await;
    let response = peer.recv().await.unwrap();
    assert_eq!(
        (response.id(), response.status()),
        (CommandId::BindTransmitterResp, CommandStatus::EsmeRalybnd)
    );
    assert_eq!(smsc.authentications.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_does_not_bind_is_closed_after_session_init_timer() {
    let (server, _smsc, addr) = start_server(Default::default()).await;
    let mut peer = RawPeer::connect(addr).await;
    let start = tokio::time::Instant::now();
    assert!(peer.recv().await.is_none());
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
        "{waited:?}"
    );
    tokio::task::yield_now().await;
    assert_eq!(server.connection_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn idle_bind_gets_enquire_link_and_is_closed_when_it_goes_unanswered() {
    let (server, _smsc, addr) = start_server(Default::default()).await;
    let mut peer = RawPeer::connect(addr).await;
    peer.bind(BindKind::Transceiver).await;
    let bound = tokio::time::Instant::now();

    let probe = peer.recv().await.unwrap();
    assert_eq!(probe.id(), CommandId::EnquireLink);
    assert!(bound.elapsed() >= Duration::from_secs(30));
    peer.send_pdu(probe.sequence_number(), Pdu::EnquireLinkResp)
        .await;
    // Stay silent after the next probe: the server gives up after the response timeout.
    let probe = peer.recv().await.unwrap();
    assert_eq!(probe.id(), CommandId::EnquireLink);
    let sent = tokio::time::Instant::now();
    assert!(peer.recv().await.is_none());
    assert!(sent.elapsed() >= Duration::from_secs(10));
    tokio::task::yield_now().await;
    assert!(server.registry().sessions("demo").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_deliver_without_response_fails_with_timeout_for_the_caller() {
    let (server, _smsc, addr) = start_server(Default::default()).await;
    let mut peer = RawPeer::connect(addr).await;
    peer.bind(BindKind::Receiver).await;
    let registry = server.registry().clone();
    let delivery =
        tokio::spawn(async move { registry.deliver("demo", deliver_from("1", "x")).await });
    let deliver = peer.recv().await.unwrap();
    assert_eq!(deliver.id(), CommandId::DeliverSm);
    match delivery.await.unwrap() {
        Err(DeliverError::Request { error, .. }) => assert_eq!(error, RequestError::Timeout),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn a_saturated_handler_answers_rthrottled_instead_of_buffering() {
    let mut config = ServerConfig::default();
    config.session.window = 4;
    let (_server, smsc, addr) = start_server(config).await;
    smsc.hold_submits.hold();
    let mut peer = RawPeer::connect(addr).await;
    peer.bind(BindKind::Transmitter).await;
    for sequence in 10..16 {
        peer.send_pdu(sequence, submit_to("447700900001", "x"))
            .await;
    }
    // Four are with the handler; the fifth and sixth are refused at once.
    for expected in [14, 15] {
        let response = peer.recv().await.unwrap();
        assert_eq!(
            (response.status(), response.sequence_number()),
            (CommandStatus::EsmeRthrottled, expected)
        );
    }
    smsc.hold_submits.release();
    let mut accepted = Vec::new();
    for _ in 0..4 {
        let response = peer.recv().await.unwrap();
        assert_eq!(response.status(), CommandStatus::EsmeRok);
        accepted.push(response.sequence_number());
    }
    accepted.sort();
    assert_eq!(accepted, vec![10, 11, 12, 13]);
}

#[tokio::test]
async fn unbind_is_answered_after_the_in_flight_submits() {
    let (_server, smsc, addr) = start_server(Default::default()).await;
    smsc.hold_submits.hold();
    let mut peer = RawPeer::connect(addr).await;
    peer.bind(BindKind::Transmitter).await;
    peer.send_pdu(2, submit_to("447700900001", "x")).await;
    peer.send_pdu(3, Pdu::Unbind).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    smsc.hold_submits.release();
    let first = peer.recv().await.unwrap();
    assert_eq!(
        (first.id(), first.status()),
        (CommandId::SubmitSmResp, CommandStatus::EsmeRok)
    );
    let second = peer.recv().await.unwrap();
    assert_eq!(
        (second.id(), second.sequence_number()),
        (CommandId::UnbindResp, 3)
    );
    assert!(peer.recv().await.is_none());
}

#[tokio::test]
async fn a_failed_bind_closes_the_connection_and_lockouts_are_left_to_the_handler() {
    let (_server, smsc, addr) = start_server(Default::default()).await;
    let bind_with = |password: &str| {
        BindRequest::new(BindKind::Transceiver, "demo", password)
            .to_pdu()
            .unwrap()
    };
    let mut peer = RawPeer::connect(addr).await;
    peer.send_pdu(1, bind_with("wrong")).await;
    assert_eq!(
        peer.recv().await.unwrap().status(),
        CommandStatus::EsmeRinvpaswd
    );
    assert!(
        peer.recv().await.is_none(),
        "a failed bind closes the connection"
    );
    // The server keeps no lockout of its own: the handler decides every bind (the gateway's
    // handler locks out per client address and account, counting only real failures).
    let mut peer = RawPeer::connect(addr).await;
    peer.send_pdu(1, bind_with("demo1234")).await;
    assert_eq!(peer.recv().await.unwrap().status(), CommandStatus::EsmeRok);
    assert_eq!(smsc.authentications.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn deliver_on_a_transmitter_session_is_refused_before_sending() {
    let (server, _smsc, addr) = start_server(Default::default()).await;
    let mut peer = RawPeer::connect(addr).await;
    peer.bind(BindKind::Transmitter).await;
    let session = server.registry().sessions("demo").pop().unwrap();
    let err = session.request(deliver_from("1", "x")).await.unwrap_err();
    assert!(matches!(err, RequestError::InvalidState(_)));
    assert!(err.never_sent());
}
