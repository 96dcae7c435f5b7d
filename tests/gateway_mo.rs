//! MOs end to end over real sockets, from a carrier to the client's bind: dropped as
//! duplicates only when provably the same MO (the carrier's id again, or the same PDU resent
//! after its deliver_sm_resp was lost); the same text twice is two MOs.

mod gateway;

use std::{collections::HashMap, time::Duration};

use gateway::{raw_carrier::*, *};
use smsgw::{config::Config, node::Gateway};
use smsgw_smpp::{
    client::IncomingDeliver,
    rusmpp::{pdus::DeliverSm, CommandStatus},
    BindKind,
};
use tokio::sync::mpsc::Receiver;

const HANDSET: &str = "447700900001";
const SHORT_CODE: &str = "12345";

/// Accepts MOs on `incoming` until `expected` arrived, then for [`QUIET`] more (so that a
/// duplicate right behind shows); returns how many came with each text.
async fn mo_texts_settled(
    incoming: &mut Receiver<IncomingDeliver>,
    expected: usize,
) -> HashMap<String, usize> {
    let mut texts = HashMap::new();
    let mut count = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let limit = if count < expected {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        } else {
            QUIET
        };
        let Ok(Some(deliver)) = tokio::time::timeout(limit, incoming.recv()).await else {
            break;
        };
        let pdu: &DeliverSm = deliver.pdu();
        let text = String::from_utf8_lossy(pdu.short_message().as_ref()).into_owned();
        *texts.entry(text).or_default() += 1;
        count += 1;
        deliver.accept();
    }
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_text_twice_is_two_mos_and_a_resent_pdu_is_one() {
    let mut carrier = RawCarrier::listen().await;
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(carrier.addr, dir.path(), "");
    let config = Config::from_str_named(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    let gateway = Gateway::start(config).await.unwrap();
    let mut link = carrier.next_link().await;
    let (_client, mut incoming) = bind_to(gateway.smpp_addr(), BindKind::Receiver).await;

    // A vote sent twice: two PDUs, each answered.
    for sequence in [1, 2] {
        link.send(&mo_pdu(sequence, HANDSET, SHORT_CODE, "YES", None))
            .await;
        assert_eq!(link.answer(sequence).await, CommandStatus::EsmeRok);
    }
    // The carrier did not get the answer to "NO" in time and sends the same PDU again.
    let no = mo_pdu(3, HANDSET, SHORT_CODE, "NO", None);
    for _ in 0..2 {
        link.send(&no).await;
        assert_eq!(link.answer(3).await, CommandStatus::EsmeRok);
    }
    // A carrier that names its MOs resends "STOP" as a new PDU with the same id.
    for sequence in [4, 5] {
        link.send(&mo_pdu(sequence, HANDSET, SHORT_CODE, "STOP", Some("c-77")))
            .await;
        assert_eq!(link.answer(sequence).await, CommandStatus::EsmeRok);
    }

    let texts = mo_texts_settled(&mut incoming, 4).await;
    let expected: HashMap<String, usize> = [("YES", 2), ("NO", 1), ("STOP", 1)]
        .into_iter()
        .map(|(text, count)| (text.to_owned(), count))
        .collect();
    assert_eq!(texts, expected);
    gateway.shutdown().await;
}

/// The issue as measured: a handset answering "YES" twice through the simulator's 9990 loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handset_repeating_itself_through_the_simulator_reaches_the_client_twice() {
    let test = TestGateway::start().await;
    let (client, mut incoming) = test.bind(BindKind::Transceiver).await;
    for _ in 0..2 {
        client
            .submit(submit("99900001", "YES", false))
            .await
            .unwrap();
    }
    let texts = mo_texts_settled(&mut incoming, 2).await;
    assert_eq!(texts.get("YES"), Some(&2), "{texts:?}");
}
