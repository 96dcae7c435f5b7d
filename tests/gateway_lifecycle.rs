//! query_sm, cancel_sm and replace_sm from clients, over real sockets against a running
//! gateway: python smpplib asks the state of MTs, an ESME written by hand (bytes, no rusmpp)
//! cancels and replaces them, and the carrier simulator shows what reached the carrier.
//!
//! The `sim` connector sends one MT per second with one in flight, so MTs submitted behind
//! two others wait in the store long enough to be cancelled or replaced (or, with a wide
//! window, wait taken by the connector's worker for their turn); the `down` connector never
//! binds, so an MT routed to it stays queued.

mod gateway;

use std::{net::SocketAddr, time::Duration};

use gateway::{
    bind_to, config_text_with,
    deliveries::{deliveries_until, has_receipt, mo_texts, receipt_state},
    hand_pdus::{
        cancel_body, pdu, query_body, replace_body, HandEsme, BIND_RECEIVER, BIND_TRANSMITTER,
        CANCEL_SM, GENERIC_NACK, QUERY_SM, REPLACE_SM, RESPONSE,
    },
    smpplib_json_lines, start_sim, ConfigExtra, PASSWORD,
};
use smsgw::{
    carrier_sim::{CarrierSim, CarrierSimConfig},
    config::Config,
    credentials::hash_password,
    node::Gateway,
};
use smsgw_smpp::BindKind;

const ESME_RINVBNDSTS: u32 = 0x04;
const ESME_RCANCELFAIL: u32 = 0x11;
const ESME_RREPLACEFAIL: u32 = 0x13;
const ESME_RQUERYFAIL: u32 = 0x67;
/// SMPP message_state values.
const DELIVERED: u64 = 2;
const DELETED: u8 = 4;
const ACCEPTED: u64 = 6;

/// A destination the `down` connector owns: MTs to it stay queued.
const STUCK: &str = "447700900500";

struct Lifecycle {
    gateway: Gateway,
    sim: CarrierSim,
    _dir: tempfile::TempDir,
}

impl Lifecycle {
    /// One MT a second, one in flight: MTs wait in the store's queue.
    async fn start() -> Self {
        Self::start_with("throughput = 1\nwindow = 1").await
    }

    /// `sim` connector settings as TOML lines.
    async fn start_with(connector: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = start_sim(CarrierSimConfig {
            dr_delay: Duration::from_millis(10),
            ..CarrierSimConfig::default()
        })
        .await;
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let tables = format!(
            r#"
[[connectors]]
name = "down"
endpoints = ["{closed}"]
system_id = "gw"
password = "pw"

[[routes]]
prefix = "{STUCK}"
connectors = ["down"]

[[accounts]]
system_id = "other"
password_hash = "{hash}"
"#,
            hash = hash_password(PASSWORD)
        );
        let dir = tempfile::tempdir().unwrap();
        let extra = ConfigExtra {
            connector,
            tables: &tables,
            ..ConfigExtra::default()
        };
        let text = config_text_with(sim.local_addr(), dir.path(), extra);
        let config = Config::from_str_named(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
        let gateway = Gateway::start(config).await.unwrap();
        let sim_connector = gateway
            .connectors()
            .iter()
            .find(|c| c.name() == "sim")
            .expect("sim connector");
        tokio::time::timeout(
            Duration::from_secs(10),
            sim_connector.pool().wait_for_active(1),
        )
        .await
        .expect("sim connector did not bind");
        Self {
            gateway,
            sim,
            _dir: dir,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.gateway.smpp_addr()
    }

    async fn esme(&self, system_id: &str) -> HandEsme {
        HandEsme::bind(self.addr(), BIND_TRANSMITTER, system_id, PASSWORD).await
    }
}

/// smpplib's answers to a query_sm for each of `ids`, bound as `system_id`.
async fn smpplib_query(addr: SocketAddr, system_id: &str, ids: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec![
        addr.ip().to_string(),
        addr.port().to_string(),
        system_id.to_owned(),
        PASSWORD.to_owned(),
    ];
    args.extend(ids.iter().map(|id| id.to_string()));
    smpplib_json_lines("smpplib_query.py", &args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_sm_tells_the_sender_the_state_of_its_own_mts_only() {
    let test = Lifecycle::start().await;
    let (_receiver, mut incoming) = bind_to(test.addr(), BindKind::Receiver).await;
    let mut esme = test.esme("acme").await;
    let queued = esme.submit(STUCK, "waits", true).await;
    let delivered = esme.submit("447700900001", "goes", true).await;
    deliveries_until(&mut incoming, |seen| has_receipt(seen, &delivered)).await;

    let unknown = format!("{queued}x");
    let answers = smpplib_query(test.addr(), "acme", &[&queued, &delivered, &unknown]).await;
    assert_eq!(answers.len(), 3, "{answers:?}");
    let (q, d, u) = (&answers[0], &answers[1], &answers[2]);
    assert_eq!(
        (
            &q["status"],
            &q["message_id"],
            &q["message_state"],
            &q["final_date"]
        ),
        (
            &0.into(),
            &queued.as_str().into(),
            &ACCEPTED.into(),
            &"".into()
        ),
        "queued: {q}"
    );
    assert_eq!(
        (&d["status"], &d["message_state"], &d["error_code"]),
        (&0.into(), &DELIVERED.into(), &0.into()),
        "delivered: {d}"
    );
    let final_date = d["final_date"].as_str().unwrap();
    assert!(
        final_date.len() == 16 && final_date.ends_with("00+"),
        "final_date in SMPP absolute time: {final_date:?}"
    );
    assert_eq!(
        (&u["command"], &u["status"]),
        (&"query_sm_resp".into(), &ESME_RQUERYFAIL.into()),
        "unknown id: {u}"
    );

    let others = smpplib_query(test.addr(), "other", &[&queued, &delivered]).await;
    for answer in &others {
        assert_eq!(
            (&answer["command"], &answer["status"]),
            (&"query_sm_resp".into(), &ESME_RQUERYFAIL.into()),
            "another account's id: {answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_mt_never_reaches_the_carrier_and_its_client_gets_deleted() {
    let test = Lifecycle::start().await;
    let (_receiver, mut incoming) = bind_to(test.addr(), BindKind::Receiver).await;
    let mut esme = test.esme("acme").await;
    // Two ahead of it: the carrier gets one MT a second, so it waits in the queue.
    let ahead = [
        esme.submit("447700900001", "first", true).await,
        esme.submit("447700900002", "second", true).await,
    ];
    let cancelled = esme.submit("447700900003", "cancel me", true).await;
    let after = esme.submit("447700900004", "after", true).await;

    let mut other = test.esme("other").await;
    assert_eq!(
        other.cancel(&cancelled).await,
        ESME_RCANCELFAIL,
        "another account cancelled it"
    );
    assert_eq!(esme.cancel(&cancelled).await, 0);

    let seen = deliveries_until(&mut incoming, |seen| has_receipt(seen, &after)).await;
    assert_eq!(
        receipt_state(&seen, &cancelled),
        Some(DELETED),
        "a DELETED receipt for the cancelled MT: {seen:?}"
    );
    for id in ahead.iter().chain([&after]) {
        assert!(has_receipt(&seen, id), "receipt for {id}: {seen:?}");
    }
    // The MT queued after it reached the carrier, so the cancelled one was passed over.
    assert_eq!(
        test.sim.stats().submits_accepted,
        3,
        "the carrier got the cancelled MT"
    );

    for (id, what) in [(&cancelled, "cancelled"), (&after, "delivered")] {
        assert_eq!(
            esme.cancel(id).await,
            ESME_RCANCELFAIL,
            "cancel of a {what} MT"
        );
    }
    // SMPP's group form (no id: all from a source to a destination) is not supported.
    let group = esme
        .request(CANCEL_SM, &cancel_body("", "447700900004"))
        .await;
    assert_eq!(
        (group.command_id, group.status),
        (CANCEL_SM | RESPONSE, ESME_RCANCELFAIL)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_mt_reaches_the_carrier_with_its_new_text() {
    let test = Lifecycle::start().await;
    let (_receiver, mut incoming) = bind_to(test.addr(), BindKind::Receiver).await;
    let mut esme = test.esme("acme").await;
    esme.submit("447700900001", "first", false).await;
    esme.submit("447700900002", "second", false).await;
    // 9990...: the simulated handset sends the text it got back as an MO.
    let replaced = esme.submit("999000001", "old text", true).await;

    let mut other = test.esme("other").await;
    assert_eq!(
        other.replace(&replaced, "theirs").await,
        ESME_RREPLACEFAIL,
        "another account replaced it"
    );
    assert_eq!(esme.replace(&replaced, "new text").await, 0);

    let seen = deliveries_until(&mut incoming, |seen| {
        has_receipt(seen, &replaced) && !mo_texts(seen).is_empty()
    })
    .await;
    assert_eq!(mo_texts(&seen), ["new text"], "what the handset got");
    assert_eq!(test.sim.stats().submits_accepted, 3);

    assert_eq!(
        esme.replace(&replaced, "too late").await,
        ESME_RREPLACEFAIL,
        "replace after delivery"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mts_a_throttled_worker_holds_are_still_cancelled_or_replaced() {
    // A wide window: the worker takes every MT at once and holds them for their turn.
    let test = Lifecycle::start_with("throughput = 1\nwindow = 64").await;
    let (_receiver, mut incoming) = bind_to(test.addr(), BindKind::Receiver).await;
    let mut esme = test.esme("acme").await;
    let ahead = [
        esme.submit("447700900001", "first", true).await,
        esme.submit("447700900002", "second", true).await,
    ];
    let cancelled = esme.submit("999000001", "cancel me", true).await;
    let replaced = esme.submit("999000002", "old text", true).await;
    assert_eq!(esme.cancel(&cancelled).await, 0);
    assert_eq!(esme.replace(&replaced, "new text").await, 0);
    let seen = deliveries_until(&mut incoming, |seen| {
        // Held MTs go in no particular order: wait for every one.
        ahead.iter().all(|id| has_receipt(seen, id))
            && has_receipt(seen, &cancelled)
            && has_receipt(seen, &replaced)
            && !mo_texts(seen).is_empty()
    })
    .await;
    assert_eq!(receipt_state(&seen, &cancelled), Some(DELETED), "{seen:?}");
    assert_eq!(mo_texts(&seen), ["new text"], "what the handsets got");
    assert_eq!(
        test.sim.stats().submits_accepted,
        3,
        "the carrier got the cancelled MT"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_queries_cancels_and_replaces_are_answered_and_the_session_goes_on() {
    let test = Lifecycle::start().await;
    let mut esme = test.esme("acme").await;
    let queued = esme.submit(STUCK, "stays", false).await;

    let too_long_id = "9".repeat(70);
    let mut short_body = replace_body(&queued, "abc");
    let sm_length = short_body.len() - 4;
    short_body[sm_length] = 200; // claims 200 octets, has 3
    let malformed: [(&str, u32, Vec<u8>); 4] = [
        ("query_sm without a NUL", QUERY_SM, b"abc".to_vec()),
        ("query_sm with nothing", QUERY_SM, Vec::new()),
        (
            "cancel_sm with a 70-digit id",
            CANCEL_SM,
            cancel_body(&too_long_id, ""),
        ),
        (
            "replace_sm shorter than its sm_length",
            REPLACE_SM,
            short_body,
        ),
    ];
    for (sequence, (what, command_id, body)) in (1000u32..).zip(malformed) {
        let answer = esme.send_and_read(&pdu(command_id, sequence, &body)).await;
        assert!(
            answer.command_id == GENERIC_NACK || answer.command_id == command_id | RESPONSE,
            "{what}: answered with {:#010x}",
            answer.command_id
        );
        assert_ne!(answer.status, 0, "{what} accepted");
        assert_eq!(answer.sequence, sequence, "{what}: sequence echoed");
        esme.assert_alive().await;
    }
    // Still queued and unchanged: none of them did anything.
    let answer = esme.request(QUERY_SM, &query_body(&queued)).await;
    assert_eq!((answer.command_id, answer.status), (QUERY_SM | RESPONSE, 0));
    assert_eq!(answer.c_strings(2), [queued.clone(), String::new()]);
    assert_eq!(answer.body[answer.body.len() - 2], ACCEPTED as u8);

    // A receiver may not ask: the bind state says so, and the session stays.
    let mut receiver = HandEsme::bind(test.addr(), BIND_RECEIVER, "acme", PASSWORD).await;
    let answer = receiver.request(QUERY_SM, &query_body(&queued)).await;
    assert_eq!(answer.status, ESME_RINVBNDSTS);
    receiver.assert_alive().await;
}
