//! Our client against our server over real TCP on 127.0.0.1: bind, submit, deliver, unbind.

mod common;

use std::sync::Arc;

use common::*;
use smsgw_smpp::{
    client::{AcceptAll, Client, ConnectError, DeliverStream, SubmitError},
    rusmpp::CommandStatus,
    BindKind, DeliverError, SessionState,
};

#[tokio::test]
async fn transceiver_submits_and_receives_a_deliver_on_the_same_bind() {
    let (server, smsc, addr) = start_server(Default::default()).await;
    let (handler, mut incoming) = DeliverStream::new(8);
    let client = Client::connect(addr, demo_client(BindKind::Transceiver), Arc::new(handler))
        .await
        .unwrap();
    assert_eq!(
        client.session().state(),
        SessionState::Bound(BindKind::Transceiver)
    );

    let id = client
        .submit(submit_to("447700900001", "hello"))
        .await
        .unwrap();
    assert_eq!(id, "m0");
    assert_eq!(
        smsc.submits.lock().unwrap()[0].short_message().as_ref(),
        b"hello"
    );

    let registry = server.registry().clone();
    let delivery = tokio::spawn(async move {
        registry
            .deliver("demo", deliver_from("447700900001", "reply"))
            .await
    });
    let deliver = incoming.recv().await.unwrap();
    assert_eq!(deliver.pdu().short_message().as_ref(), b"reply");
    deliver.accept();
    let delivered = delivery.await.unwrap().unwrap();
    assert_eq!(delivered.status, CommandStatus::EsmeRok);

    client.unbind().await.unwrap();
    assert!(client.session().is_closed());
}

#[tokio::test]
async fn the_client_decides_the_deliver_sm_resp_status() {
    let (server, _smsc, addr) = start_server(Default::default()).await;
    let (handler, mut incoming) = DeliverStream::new(8);
    let _client = Client::connect(addr, demo_client(BindKind::Receiver), Arc::new(handler))
        .await
        .unwrap();
    let registry = server.registry().clone();
    let delivery =
        tokio::spawn(async move { registry.deliver("demo", deliver_from("1", "x")).await });
    incoming
        .recv()
        .await
        .unwrap()
        .respond(CommandStatus::EsmeRxTAppn);
    assert_eq!(
        delivery.await.unwrap().unwrap().status,
        CommandStatus::EsmeRxTAppn
    );
}

#[tokio::test]
async fn wrong_password_is_refused_with_the_handlers_status() {
    let (_server, _smsc, addr) = start_server(Default::default()).await;
    let mut config = demo_client(BindKind::Transceiver);
    config.bind.password = "wrong".into();
    let err = Client::connect(addr, config, Arc::new(AcceptAll))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ConnectError::Rejected(CommandStatus::EsmeRinvpaswd)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_rejected_submit_reports_the_status() {
    let (_server, _smsc, addr) = start_server(Default::default()).await;
    let client = Client::connect(
        addr,
        demo_client(BindKind::Transmitter),
        Arc::new(AcceptAll),
    )
    .await
    .unwrap();
    let err = client.submit(submit_to("99930001", "x")).await.unwrap_err();
    assert_eq!(err, SubmitError::Rejected(CommandStatus::EsmeRsubmitfail));
}

#[tokio::test]
async fn deliver_goes_only_to_receiving_binds_and_waits_for_none() {
    let (server, _smsc, addr) = start_server(Default::default()).await;
    let _tx = Client::connect(
        addr,
        demo_client(BindKind::Transmitter),
        Arc::new(AcceptAll),
    )
    .await
    .unwrap();
    assert_eq!(server.registry().sessions("demo").len(), 1);
    let err = server
        .registry()
        .deliver("demo", deliver_from("1", "x"))
        .await
        .unwrap_err();
    assert_eq!(err, DeliverError::NoReceiver("demo".into()));
}

#[tokio::test]
async fn deliveries_spread_over_every_receiving_bind() {
    let (server, _smsc, addr) = start_server(Default::default()).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let client = Client::connect(
            addr,
            demo_client(BindKind::Transceiver),
            Arc::new(AcceptAll),
        )
        .await
        .unwrap();
        clients.push(client);
    }
    let mut used = std::collections::HashSet::new();
    for _ in 0..6 {
        let delivered = server
            .registry()
            .deliver("demo", deliver_from("1", "x"))
            .await
            .unwrap();
        used.insert(delivered.session);
    }
    assert_eq!(used.len(), 3);
}

#[tokio::test]
async fn server_shutdown_unbinds_clients() {
    let (server, _smsc, addr) = start_server(Default::default()).await;
    let client = Client::connect(
        addr,
        demo_client(BindKind::Transceiver),
        Arc::new(AcceptAll),
    )
    .await
    .unwrap();
    server.shutdown().await;
    client.closed().await;
    assert_eq!(server.connection_count(), 0);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err() || server.connection_count() == 0);
}

#[tokio::test]
async fn server_shutdown_answers_in_flight_submits_before_closing() {
    let (server, smsc, addr) = start_server(Default::default()).await;
    let client = Client::connect(
        addr,
        demo_client(BindKind::Transmitter),
        Arc::new(AcceptAll),
    )
    .await
    .unwrap();
    smsc.hold_submits.hold();
    let submitting = {
        let client = client.clone();
        tokio::spawn(async move { client.submit(submit_to("447700900001", "in flight")).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let shutdown = {
        let server = server.clone();
        tokio::spawn(async move { server.shutdown().await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(
        !shutdown.is_finished(),
        "shutdown did not wait for the in-flight submit"
    );
    smsc.hold_submits.release();
    assert_eq!(submitting.await.unwrap().unwrap(), "m0");
    shutdown.await.unwrap();
    client.closed().await;
}
