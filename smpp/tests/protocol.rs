//! Protocol conformance of the server, driven byte by byte from a raw TCP peer: framing
//! errors, bind states, the windows (a peer past them is read slower, not refused),
//! enquire_link and timers (paused clock), unbind ordering, failed binds (lockouts are the
//! handler's).

mod common;

use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use common::*;
use smsgw_smpp::{
    rusmpp::{Command, CommandId, CommandStatus, Pdu},
    server::{Server, ServerConfig},
    BindKind, BindRequest, DeliverError, RequestError, SessionWindows,
};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

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

/// Writes `count` submits from sequence 2 on, back to back, never reading.
/// Writes `count` submits back to back on another task, which hands the writer back: dropping
/// it would close our side of the connection and end the session.
fn write_submits(
    mut writer: RawPeer<OwnedWriteHalf>,
    count: u32,
) -> tokio::task::JoinHandle<RawPeer<OwnedWriteHalf>> {
    tokio::spawn(async move {
        for sequence in 2..2 + count {
            writer
                .send_pdu(sequence, submit_to("447700900001", "x"))
                .await;
        }
        writer
    })
}

/// Reads `count` responses; returns their sequence numbers, each checked ESME_ROK.
async fn read_ok_responses(reader: &mut RawPeer<OwnedReadHalf>, count: u32) -> Vec<u32> {
    let mut answered = Vec::new();
    for _ in 0..count {
        let response = reader.recv().await.expect("connection open");
        assert_eq!(
            (response.id(), response.status()),
            (CommandId::SubmitSmResp, CommandStatus::EsmeRok),
            "sequence {}",
            response.sequence_number()
        );
        answered.push(response.sequence_number());
    }
    answered.sort();
    answered
}

/// A transmitter bound to a server whose submits are held, with the server's inbound window
/// and the windows its bind handler gives, split into reader and writer.
async fn held_transmitter(
    inbound_window: usize,
    handler_windows: Option<SessionWindows>,
) -> (
    Server<TestSmsc>,
    Arc<TestSmsc>,
    RawPeer<OwnedReadHalf>,
    RawPeer<OwnedWriteHalf>,
) {
    let mut config = ServerConfig::default();
    config.session.inbound_window = inbound_window;
    let (server, smsc, addr) = start_server(config).await;
    *smsc.windows.lock().unwrap() = handler_windows;
    smsc.hold_submits.hold();
    let mut peer = RawPeer::connect(addr).await;
    peer.bind(BindKind::Transmitter).await;
    let (reader, writer) = peer.split();
    (server, smsc, reader, writer)
}

/// Waits until `full` submits are in the held handler, then lets the handler go on.
async fn release_when_in_handler(smsc: &TestSmsc, full: u64) {
    while smsc.submits_in_handler.load(Ordering::SeqCst) < full {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    smsc.hold_submits.release();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_past_the_inbound_window_is_read_slower_and_every_request_is_answered() {
    let (server, smsc, mut reader, writer) = held_transmitter(4, None).await;
    // Far more than the window and than the socket buffers hold: the writer is held up by
    // TCP while the handler is busy, instead of being answered ESME_RTHROTTLED.
    const COUNT: u32 = 5_000;
    let writing = write_submits(writer, COUNT);
    release_when_in_handler(&smsc, 4).await;
    let answered = tokio::time::timeout(
        Duration::from_secs(30),
        read_ok_responses(&mut reader, COUNT),
    )
    .await
    .expect("every submit answered");
    assert_eq!(answered, (2..2 + COUNT).collect::<Vec<_>>());
    let _writer = writing.await.unwrap();
    assert_eq!(smsc.submits.lock().unwrap().len(), COUNT as usize);
    assert_eq!(smsc.most_submits_in_handler.load(Ordering::SeqCst), 4);
    assert_eq!(server.registry().sessions("demo").len(), 1, "still bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bind_handlers_windows_replace_the_servers() {
    let windows = SessionWindows {
        window: 8,
        inbound_window: 2,
    };
    let (_server, smsc, mut reader, writer) = held_transmitter(64, Some(windows)).await;
    let writing = write_submits(writer, 50);
    release_when_in_handler(&smsc, 2).await;
    let answered = read_ok_responses(&mut reader, 50).await;
    assert_eq!(answered.len(), 50);
    let _writer = writing.await.unwrap();
    assert_eq!(smsc.most_submits_in_handler.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_stuck_handler_still_times_out_our_requests_and_closes_on_enquire_link() {
    let mut config = ServerConfig::default();
    config.session.inbound_window = 1;
    let (server, smsc, addr) = start_server(config).await;
    smsc.hold_submits.hold();
    let mut peer = RawPeer::connect(addr).await;
    peer.bind(BindKind::Transceiver).await;
    // One submit stuck in the handler, the next parked: nothing behind it is read.
    peer.send_pdu(2, submit_to("447700900001", "x")).await;
    peer.send_pdu(3, submit_to("447700900001", "y")).await;
    let registry = server.registry().clone();
    let delivery =
        tokio::spawn(async move { registry.deliver("demo", deliver_from("1", "x")).await });
    let deliver = peer.recv().await.unwrap();
    assert_eq!(deliver.id(), CommandId::DeliverSm);
    // Answered, but behind the parked submit: the server cannot see it and gives up.
    peer.send_pdu(
        deliver.sequence_number(),
        Pdu::DeliverSmResp(Default::default()),
    )
    .await;
    match delivery.await.unwrap() {
        Err(DeliverError::Request { error, .. }) => assert_eq!(error, RequestError::Timeout),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let probe = peer.recv().await.unwrap();
    assert_eq!(probe.id(), CommandId::EnquireLink);
    peer.send_pdu(probe.sequence_number(), Pdu::EnquireLinkResp)
        .await;
    // Neither submit was refused; the session closes because its link check went unanswered.
    assert!(peer.recv().await.is_none(), "closed without another PDU");
    tokio::task::yield_now().await;
    assert!(server.registry().sessions("demo").is_empty());
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
