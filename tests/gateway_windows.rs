//! Windows over real sockets with peers that ignore them: a carrier that writes 5,000 receipts
//! back to back without reading a response, and an independent client (python smpplib) that
//! pipelines submits far past its window. Both must be slowed down by TCP, never refused.

mod gateway;
mod redis_server;

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    process::Stdio,
    time::Duration,
};

use bytes::BytesMut;
use gateway::*;
use smsgw_smpp::{
    client::IncomingDeliver,
    encoding::{parse_receipt_text, receipt_deliver_sm, receipt_from_deliver_sm},
    frame::{self, FrameDecoder},
    rusmpp::{
        pdus::{BindTransceiverResp, SubmitSmResp},
        Command, CommandId, CommandStatus, Pdu,
    },
    BindKind,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{tcp::OwnedReadHalf, TcpListener},
    sync::mpsc::Receiver,
};

/// Receipts the hand-written carrier floods the connector with.
const RECEIPTS: usize = 5_000;
/// Bound on each wait for the whole flow; never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(180);

/// Reads PDUs off one half of a raw connection with the SMPP crate's framing.
struct PduReader {
    half: OwnedReadHalf,
    buffer: BytesMut,
    decoder: FrameDecoder,
}

impl PduReader {
    fn new(half: OwnedReadHalf) -> Self {
        Self {
            half,
            buffer: BytesMut::new(),
            decoder: FrameDecoder::default(),
        }
    }

    /// The next PDU, or None once the connection closed.
    async fn recv(&mut self) -> Option<Command> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buffer).unwrap() {
                return Some(frame.expect("well-formed PDU from the gateway"));
            }
            if self.half.read_buf(&mut self.buffer).await.unwrap_or(0) == 0 {
                return None;
            }
        }
    }
}

fn encoded(sequence: u32, pdu: impl Into<Pdu>) -> Vec<u8> {
    frame::encode_to_vec(&Command::new(CommandStatus::EsmeRok, sequence, pdu))
}

fn bind_response(sequence: u32) -> Vec<u8> {
    let resp = BindTransceiverResp::builder()
        .system_id("raw".parse().unwrap())
        .build();
    encoded(sequence, resp)
}

/// A DELIVRD receipt deliver_sm for the carrier's message `id`.
fn receipt(sequence: u32, id: &str) -> Vec<u8> {
    let text = format!("id:{id} sub:001 dlvrd:001 stat:DELIVRD err:000 text:");
    let receipt = parse_receipt_text(&text).unwrap();
    encoded(
        sequence,
        receipt_deliver_sm(&receipt, "447700900001", "447700900123"),
    )
}

/// A carrier SMSC written by hand on one connection: answers the connector's bind and
/// `count` submits with its own ids, then writes a DELIVRD receipt for each one back to back
/// in a single write, never reading; only then does another task read the responses.
/// Returns the deliver_sm_resp statuses.
async fn flooding_carrier(listener: TcpListener, count: usize) -> Vec<CommandStatus> {
    let (stream, _) = listener.accept().await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut reader = PduReader::new(read);
    let mut carrier_ids = Vec::with_capacity(count);
    while carrier_ids.len() < count {
        let command = reader.recv().await.expect("the connector stays bound");
        let sequence = command.sequence_number();
        let answer = match command.id() {
            CommandId::BindTransceiver => bind_response(sequence),
            CommandId::SubmitSm => {
                let id = format!("{}", 7_000_000 + carrier_ids.len());
                let resp = SubmitSmResp::new(id.parse().unwrap(), Vec::new());
                carrier_ids.push(id);
                encoded(sequence, resp)
            }
            CommandId::EnquireLink => encoded(sequence, Pdu::EnquireLinkResp),
            other => panic!("unexpected {other:?} from the connector"),
        };
        write.write_all(&answer).await.unwrap();
    }
    let mut flood = Vec::new();
    for (n, id) in carrier_ids.iter().enumerate() {
        flood.extend(receipt(1_000_000 + n as u32, id));
    }
    write.write_all(&flood).await.unwrap();
    let responses = tokio::spawn(async move {
        let mut statuses = Vec::with_capacity(count);
        while statuses.len() < count {
            match reader.recv().await {
                Some(command) if command.id() == CommandId::DeliverSmResp => {
                    statuses.push(command.status())
                }
                Some(command) => panic!("unexpected {:?} from the connector", command.id()),
                None => break,
            }
        }
        statuses
    });
    let statuses = responses.await.unwrap();
    drop(write);
    statuses
}

/// Accepts deliver_sm until `count` receipts came (or none for [`PATIENCE`]); returns how
/// many receipts each message id got.
async fn receipt_counts(
    mut incoming: Receiver<IncomingDeliver>,
    count: usize,
) -> HashMap<String, usize> {
    let mut receipts = HashMap::new();
    let mut received = 0;
    while received < count {
        let Ok(Some(deliver)) = tokio::time::timeout(PATIENCE, incoming.recv()).await else {
            break;
        };
        if let Ok(receipt) = receipt_from_deliver_sm(deliver.pdu()) {
            *receipts.entry(receipt.id).or_default() += 1;
            received += 1;
        }
        deliver.accept();
    }
    receipts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_flooding_receipts_without_reading_gets_every_one_taken_and_delivered() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let carrier_addr = listener.local_addr().unwrap();
    let carrier = tokio::spawn(flooding_carrier(listener, RECEIPTS));
    let dir = tempfile::tempdir().unwrap();
    // A narrow inbound window makes the flood hit it at once.
    let extra = ConfigExtra {
        connector: "inbound_window = 4",
        ..ConfigExtra::default()
    };
    let text = config_text_with(carrier_addr, dir.path(), extra);
    let config =
        smsgw::config::Config::from_str_named(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    let gateway = smsgw::node::Gateway::start(config).await.unwrap();
    let (client, incoming) = bind_to(gateway.smpp_addr(), BindKind::Transceiver).await;
    // Receipts are taken as they come: a client that stops reading is closed on its timers.
    let receiving = tokio::spawn(receipt_counts(incoming, RECEIPTS));

    let (load, acked) = submit_load(client, RECEIPTS, 64);
    tokio::time::timeout(PATIENCE, load)
        .await
        .expect("submits done")
        .unwrap();
    let acked: HashSet<String> = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), RECEIPTS, "every MT accepted");

    let statuses = tokio::time::timeout(PATIENCE, carrier)
        .await
        .expect("the carrier got its responses")
        .unwrap();
    assert_eq!(statuses.len(), RECEIPTS);
    let refused: Vec<_> = statuses
        .iter()
        .filter(|s| **s != CommandStatus::EsmeRok)
        .collect();
    assert!(refused.is_empty(), "refused receipts: {refused:?}");

    let receipts = receiving.await.unwrap();
    let missing = acked
        .iter()
        .filter(|id| !receipts.contains_key(*id))
        .count();
    assert_eq!(missing, 0, "receipts missing on the client's bind");
    assert!(receipts.values().all(|n| *n == 1), "one receipt per MT");
}

/// The python with smpplib: `SMSGW_PYTHON`, else the workspace's `.venv`.
fn python() -> PathBuf {
    std::env::var_os("SMSGW_PYTHON").map_or_else(
        || {
            PathBuf::from(
                std::env::var("CARGO_MANIFEST_DIR")
                    .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
            )
            .join(".venv/bin/python")
        },
        PathBuf::from,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpplib_pipelining_past_the_accounts_window_gets_every_submit_accepted() {
    const SUBMITS: usize = 1_000;
    // A narrow window for the account: smpplib sends every submit before reading anything.
    let test = TestGateway::start_with(Default::default(), "inbound_window = 8").await;
    let addr = test.gateway.smpp_addr();
    let script = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("tests/interop/smpplib_pipeline.py");
    let run = tokio::process::Command::new(python())
        .arg(script)
        .args([&addr.ip().to_string(), &addr.port().to_string(), "acme"])
        .arg(PASSWORD)
        .arg(SUBMITS.to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PATIENCE, run)
        .await
        .expect("smpplib run finished")
        .expect("python runs");
    assert!(
        output.status.success(),
        "python exited with {}",
        output.status
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json summary");
    assert_eq!(
        summary["statuses"],
        serde_json::json!({ "0": SUBMITS }),
        "submit_sm_resp statuses (0 = ESME_ROK): {summary}"
    );
    assert_eq!(summary["distinct_ids"], SUBMITS);
}

/// Writes one receipt and returns the status of its deliver_sm_resp (answering enquire_link
/// meanwhile).
async fn deliver_receipt(
    reader: &mut PduReader,
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    sequence: u32,
    id: &str,
) -> CommandStatus {
    write.write_all(&receipt(sequence, id)).await.unwrap();
    loop {
        let command = reader.recv().await.expect("the connector stays bound");
        match command.id() {
            CommandId::DeliverSmResp => {
                assert_eq!(command.sequence_number(), sequence);
                return command.status();
            }
            CommandId::EnquireLink => {
                let resp = encoded(command.sequence_number(), Pdu::EnquireLinkResp);
                write.write_all(&resp).await.unwrap();
            }
            other => panic!("unexpected {other:?} from the connector"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_the_store_refuses_gets_esme_rx_t_appn_and_is_taken_when_delivered_again() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut redis = redis_server::RedisServer::start().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = config_text_with(
        listener.local_addr().unwrap(),
        dir.path(),
        ConfigExtra::default(),
    ) + &redis_store_toml(&redis.url, "windows:");
    let config =
        smsgw::config::Config::from_str_named(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    let gateway = smsgw::node::Gateway::start(config).await.unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut reader = PduReader::new(read);
    let bind = reader.recv().await.unwrap();
    assert_eq!(bind.id(), CommandId::BindTransceiver);
    write
        .write_all(&bind_response(bind.sequence_number()))
        .await
        .unwrap();

    redis.kill();
    let status = deliver_receipt(&mut reader, &mut write, 10, "4242").await;
    assert_eq!(status, CommandStatus::EsmeRxTAppn, "the store is down");
    redis.restart().await;
    // Redelivered, as an SMSC does after a temporary error, until the store takes it.
    let taken = async {
        for sequence in 11.. {
            match deliver_receipt(&mut reader, &mut write, sequence, "4242").await {
                CommandStatus::EsmeRok => return,
                status => assert_eq!(status, CommandStatus::EsmeRxTAppn),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(PATIENCE, taken)
        .await
        .expect("the receipt is taken once the store is back");

    let metrics = metrics_text(gateway.admin_addr()).await;
    assert!(
        metrics
            .contains("upstream_deliver_store_refused_total{connector=\"sim\",kind=\"receipt\"}"),
        "{metrics}"
    );
}
