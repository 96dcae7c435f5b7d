//! The ESME side against a hand-driven SMSC over TCP: deliver_sm handling per bind state,
//! SMSC-initiated unbind, enquire_link when idle, error and missing submit responses, window.

mod common;

use std::{sync::Arc, time::Duration};

use common::*;
use smsgw_smpp::{
    client::{AcceptAll, Client, DeliverStream, SubmitError},
    rusmpp::{pdus::SubmitSmResp, Command, CommandId, CommandStatus, Pdu},
    BindKind, ClientConfig, RequestError, SessionConfig,
};
use tokio::net::TcpListener;

/// Accepts one connection and answers its bind; returns the peer for the test to drive.
async fn raw_smsc() -> (TcpListener, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

async fn accept_bind(listener: &TcpListener) -> RawPeer {
    let (stream, _) = listener.accept().await.unwrap();
    let mut peer = RawPeer::from_stream(stream);
    let bind = peer.recv().await.unwrap();
    let kind = BindKind::of_request(bind.id()).unwrap();
    peer.send_pdu(bind.sequence_number(), kind.response_pdu("rawsmsc"))
        .await;
    peer
}

async fn connect(
    addr: std::net::SocketAddr,
    config: ClientConfig,
) -> (
    Client,
    tokio::sync::mpsc::Receiver<smsgw_smpp::client::IncomingDeliver>,
) {
    let (handler, incoming) = DeliverStream::new(8);
    let client = Client::connect(addr, config, Arc::new(handler))
        .await
        .unwrap();
    (client, incoming)
}

#[tokio::test]
async fn a_receiver_answers_deliver_sm_with_the_handlers_verdict() {
    let (listener, addr) = raw_smsc().await;
    let smsc = tokio::spawn(async move {
        let mut peer = accept_bind(&listener).await;
        peer.send_pdu(7, deliver_from("447700900001", "MO text"))
            .await;
        peer.recv().await.unwrap()
    });
    let (_client, mut incoming) = connect(addr, demo_client(BindKind::Receiver)).await;
    let deliver = incoming.recv().await.unwrap();
    assert_eq!(deliver.pdu().short_message().as_ref(), b"MO text");
    deliver.accept();
    let response = smsc.await.unwrap();
    assert_eq!(
        (response.id(), response.status(), response.sequence_number()),
        (CommandId::DeliverSmResp, CommandStatus::EsmeRok, 7)
    );
}

#[tokio::test]
async fn a_transmitter_refuses_deliver_sm_with_rinvbndsts() {
    let (listener, addr) = raw_smsc().await;
    let smsc = tokio::spawn(async move {
        let mut peer = accept_bind(&listener).await;
        peer.send_pdu(8, deliver_from("1", "x")).await;
        peer.recv().await.unwrap()
    });
    let (_client, _incoming) = connect(addr, demo_client(BindKind::Transmitter)).await;
    let response = smsc.await.unwrap();
    assert_eq!(
        (response.id(), response.status()),
        (CommandId::DeliverSmResp, CommandStatus::EsmeRinvbndsts)
    );
}

#[tokio::test]
async fn smsc_initiated_unbind_is_answered_and_closes_the_client() {
    let (listener, addr) = raw_smsc().await;
    let smsc = tokio::spawn(async move {
        let mut peer = accept_bind(&listener).await;
        peer.send_pdu(9, Pdu::Unbind).await;
        let response = peer.recv().await.unwrap();
        (response, peer.recv().await)
    });
    let (client, _incoming) = connect(addr, demo_client(BindKind::Transceiver)).await;
    client.closed().await;
    let (response, after) = smsc.await.unwrap();
    assert_eq!(
        (response.id(), response.sequence_number()),
        (CommandId::UnbindResp, 9)
    );
    assert!(after.is_none());
    let err = client.submit(submit_to("1", "x")).await.unwrap_err();
    assert!(matches!(err, SubmitError::Request(e) if e.never_sent()));
}

#[tokio::test(start_paused = true)]
async fn an_idle_client_sends_enquire_link_and_answers_the_smscs() {
    let (listener, addr) = raw_smsc().await;
    let smsc = tokio::spawn(async move {
        let mut peer = accept_bind(&listener).await;
        let start = tokio::time::Instant::now();
        peer.send_pdu(11, Pdu::EnquireLink).await;
        let answer = peer.recv().await.unwrap();
        let probe = peer.recv().await.unwrap();
        (answer, probe, start.elapsed())
    });
    let (_client, _incoming) = connect(addr, demo_client(BindKind::Transceiver)).await;
    let (answer, probe, waited) = smsc.await.unwrap();
    assert_eq!(
        (answer.id(), answer.sequence_number()),
        (CommandId::EnquireLinkResp, 11)
    );
    assert_eq!(probe.id(), CommandId::EnquireLink);
    assert!(waited >= Duration::from_secs(30), "{waited:?}");
}

#[tokio::test]
async fn throttled_submit_is_reported_as_throttled_without_body() {
    let (listener, addr) = raw_smsc().await;
    tokio::spawn(async move {
        let mut peer = accept_bind(&listener).await;
        let submit = peer.recv().await.unwrap();
        // header-only error response, as SMPP 3.4 SMSCs send them
        let mut bytes = Vec::new();
        for v in [16u32, 0x8000_0004, 0x58, submit.sequence_number()] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        peer.send_bytes(&bytes).await;
        peer.recv().await
    });
    let (client, _incoming) = connect(addr, demo_client(BindKind::Transmitter)).await;
    let err = client.submit(submit_to("1", "x")).await.unwrap_err();
    assert_eq!(err, SubmitError::Rejected(CommandStatus::EsmeRthrottled));
    assert!(err.is_throttled());
}

#[tokio::test(start_paused = true)]
async fn a_missing_submit_sm_resp_resolves_to_timeout() {
    let (listener, addr) = raw_smsc().await;
    tokio::spawn(async move {
        let mut peer = accept_bind(&listener).await;
        while peer.recv().await.is_some() {}
    });
    let (client, _incoming) = connect(addr, demo_client(BindKind::Transmitter)).await;
    let started = tokio::time::Instant::now();
    let err = client.submit(submit_to("1", "x")).await.unwrap_err();
    assert_eq!(err, SubmitError::Request(RequestError::Timeout));
    assert!(!RequestError::Timeout.never_sent());
    assert!(started.elapsed() >= Duration::from_secs(10));
}

#[tokio::test]
async fn the_client_never_has_more_than_its_window_outstanding() {
    let (listener, addr) = raw_smsc().await;
    let smsc = tokio::spawn(async move {
        let mut peer = accept_bind(&listener).await;
        // Read what arrives before answering anything.
        let mut first = Vec::new();
        while let Ok(Some(c)) = tokio::time::timeout(Duration::from_millis(200), peer.recv()).await
        {
            first.push(c);
        }
        let seen = first.len();
        let mut answered = 0;
        let mut queue = first;
        while answered < 5 {
            for c in queue.drain(..) {
                let resp =
                    SubmitSmResp::new(format!("c{}", c.sequence_number()).parse().unwrap(), vec![]);
                peer.send(&Command::new(
                    CommandStatus::EsmeRok,
                    c.sequence_number(),
                    resp,
                ))
                .await;
                answered += 1;
            }
            if answered < 5 {
                queue.push(peer.recv().await.unwrap());
            }
        }
        seen
    });
    let mut config = demo_client(BindKind::Transmitter);
    config.session = SessionConfig {
        window: 2,
        ..SessionConfig::default()
    };
    let client = Client::connect(addr, config, Arc::new(AcceptAll))
        .await
        .unwrap();
    let submits = (0..5).map(|_| client.submit(submit_to("1", "x")));
    let results = futures_util::future::join_all(submits).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(smsc.await.unwrap(), 2, "more than the window in flight");
}
