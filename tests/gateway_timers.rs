//! Time in an MT's lifecycle, over real sockets against a running gateway: python smpplib
//! schedules an MT and gives it a validity, a carrier on a raw socket shows when it arrives and
//! what validity it carries, an ESME written by hand sends malformed times, an MT stuck behind
//! a connector that never binds expires, and a carrier that never reports (the simulator's
//! 9992 numbers, or the raw carrier until it reports late) leaves the MT UNKNOWN once.

mod gateway;

use std::{
    net::SocketAddr,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use gateway::{
    bind_to, config_text_with,
    deliveries::{deliveries_until, receipt_state},
    hand_pdus::{
        timed_submit_body, Answer, HandEsme, BIND_TRANSMITTER, GENERIC_NACK, RESPONSE, SUBMIT_SM,
    },
    http, json_of,
    raw_carrier::RawCarrier,
    smpplib_json_lines, ConfigExtra, TestGateway, PASSWORD,
};
use smsgw::{
    carrier_sim::CarrierSimConfig, config::Config, message::TIMER_ACCOUNT_PREFIX, node::Gateway,
};
use smsgw_smpp::{
    encoding::{receipt_deliver_sm, DeliveryReceipt, ReceiptStat, SmppTime},
    frame,
    rusmpp::{values::MessageState as SmppState, Command, CommandStatus},
    BindKind,
};

const ESME_RINVPARLEN: u32 = 0xC2;
const ESME_RINVSCHED: u32 = 0x61;
const ESME_RINVEXPIRY: u32 = 0x62;
/// SMPP message_state values.
const EXPIRED: u8 = 3;
const UNKNOWN: u8 = 7;

/// A gateway whose `sim` connector goes to `carrier` (the simulator or a raw carrier), with
/// `account` TOML lines for `acme`.
async fn gateway_for(carrier: SocketAddr, account: &str) -> (Gateway, tempfile::TempDir) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let extra = ConfigExtra {
        account,
        ..ConfigExtra::default()
    };
    let text = config_text_with(carrier, dir.path(), extra);
    let config = Config::from_str_named(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    (Gateway::start(config).await.unwrap(), dir)
}

/// smpplib's submit_sm_resp and the deliver_sm it got within `wait` seconds.
async fn smpplib_timed(
    addr: SocketAddr,
    destination: &str,
    schedule: &str,
    validity: &str,
    wait: u32,
) -> Vec<serde_json::Value> {
    let args = [
        addr.ip().to_string(),
        addr.port().to_string(),
        "acme".into(),
        PASSWORD.into(),
        destination.into(),
        schedule.into(),
        validity.into(),
        wait.to_string(),
    ];
    smpplib_json_lines("smpplib_timed_submit.py", &args).await
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_mt_reaches_the_carrier_when_due_with_the_rest_of_its_validity() {
    let mut carrier = RawCarrier::listen().await;
    let (gateway, _dir) = gateway_for(carrier.addr, "").await;
    let mut link = carrier.next_link().await;
    let addr = gateway.smpp_addr();

    let before = Instant::now();
    // Three seconds from now, valid for an hour.
    let answers = smpplib_timed(
        addr,
        "447700900001",
        "000000000003000R",
        "000000010000000R",
        0,
    )
    .await;
    assert_eq!(
        (&answers[0]["command"], &answers[0]["status"]),
        (&"submit_sm_resp".into(), &0.into()),
        "{answers:?}"
    );
    let submit = link.next_submit().await;
    let waited = before.elapsed();
    assert!(
        waited >= Duration::from_secs(3),
        "the carrier got a scheduled MT after {waited:?}, before its time"
    );
    let validity = SmppTime::parse(submit.validity_period.as_str().as_bytes())
        .unwrap()
        .expect("the carrier is told the validity");
    let SmppTime::Relative(left) = validity else {
        panic!("validity passed as an absolute time: {validity:?}");
    };
    assert!(
        left <= Duration::from_secs(3600 - 3) && left >= Duration::from_secs(3600 - 60),
        "what remains of an hour after the wait: {left:?}"
    );
    assert!(
        submit.schedule_delivery_time.as_str().is_empty(),
        "the carrier is not asked to schedule it again"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_impossible_times_are_refused_with_their_status_and_the_session_lives() {
    let test = TestGateway::start().await;
    let mut esme =
        HandEsme::bind(test.gateway.smpp_addr(), BIND_TRANSMITTER, "acme", PASSWORD).await;
    // A time field is 16 characters or empty: any other length is a malformed PDU.
    let answer = submit_timed(&mut esme, "2612011030", "").await;
    assert_eq!(
        (answer.command_id, answer.status),
        (GENERIC_NACK, ESME_RINVPARLEN),
        "a 10-character schedule_delivery_time"
    );
    let cases = [
        ("261301103000000+", "", ESME_RINVSCHED, "month 13"),
        ("", "000000000001000X", ESME_RINVEXPIRY, "unknown kind"),
        (
            "",
            "200101000000000+",
            ESME_RINVEXPIRY,
            "validity ended in 2020",
        ),
        (
            "000000000010000R",
            "000000000005000R",
            ESME_RINVEXPIRY,
            "validity ends before the schedule",
        ),
        ("020000000000000R", "", ESME_RINVSCHED, "two years ahead"),
    ];
    for (schedule, validity, status, why) in cases {
        let answer = submit_timed(&mut esme, schedule, validity).await;
        assert_eq!(
            (answer.command_id, answer.status),
            (SUBMIT_SM | RESPONSE, status),
            "{why}: schedule {schedule:?}, validity {validity:?}"
        );
    }
    esme.assert_alive().await;
    // And well-formed times in both formats are taken.
    let in_an_hour = SystemTime::now() + Duration::from_secs(3600);
    let absolute = smpp_absolute(in_an_hour);
    for (schedule, validity) in [
        ("", absolute.as_str()),
        ("000000000001000R", "000001000000000R"),
    ] {
        let answer = submit_timed(&mut esme, schedule, validity).await;
        assert_eq!(
            answer.status, 0,
            "schedule {schedule:?}, validity {validity:?}"
        );
    }
    drop(esme);
    test.gateway.shutdown().await;
}

/// A submit_sm with these time fields, and its answer.
async fn submit_timed(esme: &mut HandEsme, schedule: &str, validity: &str) -> Answer {
    let body = timed_submit_body("447700900001", "x", schedule, validity);
    esme.request(SUBMIT_SM, &body).await
}

/// `at` as an SMPP absolute time, written two hours ahead of UTC (`+08` quarters).
fn smpp_absolute(at: SystemTime) -> String {
    let local =
        time::OffsetDateTime::from(at).to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}008+",
        local.year() % 100,
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mt_stuck_past_its_validity_gets_an_expired_receipt() {
    // A carrier that never answers: the connector never binds and the MT stays queued.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (gateway, _dir) = gateway_for(closed, "").await;
    let answers = smpplib_timed(
        gateway.smpp_addr(),
        "447700900001",
        "-",
        "000000000002000R",
        12,
    )
    .await;
    let id = answers[0]["message_id"].as_str().unwrap().to_owned();
    let receipts: Vec<&serde_json::Value> = answers[1..]
        .iter()
        .filter(|a| a["receipted_message_id"] == id.as_str())
        .collect();
    assert_eq!(receipts.len(), 1, "one receipt: {answers:?}");
    assert_eq!(receipts[0]["message_state"], EXPIRED, "{answers:?}");
    assert!(
        receipts[0]["short_message"]
            .as_str()
            .unwrap()
            .contains("stat:EXPIRED"),
        "{answers:?}"
    );
    let waited = receipts[0]["at"].as_f64().unwrap() - answers[0]["at"].as_f64().unwrap();
    assert!(
        waited >= 1.9,
        "expired {waited} s after the submit, before its validity ended"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_that_never_reports_leaves_the_mt_unknown_once() {
    let test = TestGateway::start_with(CarrierSimConfig::default(), "dr_timeout = \"2s\"").await;
    let started = now_s();
    // 9992: the simulator accepts and never sends a receipt.
    let answers = smpplib_timed(test.gateway.smpp_addr(), "999200000001", "-", "-", 12).await;
    let id = answers[0]["message_id"].as_str().unwrap().to_owned();
    let receipts: Vec<&serde_json::Value> = answers[1..]
        .iter()
        .filter(|a| a["receipted_message_id"] == id.as_str())
        .collect();
    assert_eq!(receipts.len(), 1, "exactly one final receipt: {answers:?}");
    assert_eq!(receipts[0]["message_state"], UNKNOWN, "{answers:?}");
    assert!(receipts[0]["at"].as_f64().unwrap() - started >= 2.0);
    let status = json_of(
        http()
            .get(test.url(&format!("/v1/messages/{id}")))
            .basic_auth("acme", Some(PASSWORD)),
    )
    .await;
    assert_eq!(status["state"], "UNKNOWN", "{status}");
    test.gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_after_the_dr_timeout_joins_the_history_and_sends_no_second_receipt() {
    let mut carrier = RawCarrier::listen().await;
    let (gateway, _dir) = gateway_for(carrier.addr, "dr_timeout = \"1s\"").await;
    let mut link = carrier.next_link().await;
    let (_receiver, mut incoming) = bind_to(gateway.smpp_addr(), BindKind::Receiver).await;
    let mut esme = HandEsme::bind(gateway.smpp_addr(), BIND_TRANSMITTER, "acme", PASSWORD).await;
    let id = esme.submit("447700900001", "late", true).await;
    let (carrier_id, submit) = link.next_submit_with_id().await;
    assert_eq!(submit.destination_addr.as_str(), "447700900001");
    let seen = deliveries_until(&mut incoming, |seen| receipt_state(seen, &id).is_some()).await;
    assert_eq!(receipt_state(&seen, &id), Some(UNKNOWN));

    // The carrier reports now, late.
    let late = DeliveryReceipt {
        id: carrier_id,
        stat: Some(ReceiptStat::from_state(SmppState::Delivered)),
        err: Some("000".into()),
        ..DeliveryReceipt::default()
    };
    let pdu = receipt_deliver_sm(&late, "447700900001", "447700900123");
    link.send(&frame::encode_to_vec(&Command::new(
        CommandStatus::EsmeRok,
        77,
        pdu,
    )))
    .await;
    assert_eq!(link.answer(77).await, CommandStatus::EsmeRok);

    let http_addr = gateway.http_addr();
    let status = json_of(
        http()
            .get(format!("http://{http_addr}/v1/messages/{id}"))
            .basic_auth("acme", Some(PASSWORD)),
    )
    .await;
    assert_eq!(status["state"], "UNKNOWN", "{status}");
    let states: Vec<&str> = status["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.last(),
        Some(&"DELIVERED"),
        "the late receipt is in the history: {status}"
    );
    // No second receipt: anything else the bind gets within 2 s is not for this MT.
    let more = tokio::time::timeout(Duration::from_secs(2), incoming.recv()).await;
    if let Ok(Some(deliver)) = more {
        panic!(
            "a second deliver_sm after the final receipt: {:?}",
            deliver.pdu()
        );
    }
    drop(esme);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_clients_schedule_and_limit_validity_with_clear_refusals() {
    let test = TestGateway::start().await;
    let send_at = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let send_at = send_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let before = Instant::now();
    let accepted = json_of(
        http()
            .post(test.url("/v1/messages"))
            .basic_auth("acme", Some(PASSWORD))
            .json(&serde_json::json!({
                "to": "447700900001", "from": "ACME", "text": "later",
                "send_at": send_at, "validity": 3600,
            })),
    )
    .await;
    let id = accepted["id"].as_str().expect("accepted").to_owned();
    assert_eq!(accepted["state"], "ACCEPTED", "{accepted}");
    let delivered_after = loop {
        let status = json_of(
            http()
                .get(test.url(&format!("/v1/messages/{id}")))
                .basic_auth("acme", Some(PASSWORD)),
        )
        .await;
        if status["state"] == "DELIVERED" {
            break before.elapsed();
        }
        assert!(before.elapsed() < Duration::from_secs(20), "{status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        delivered_after >= Duration::from_secs(2),
        "delivered {delivered_after:?} after a send_at 3 s ahead"
    );

    let refused = |field: &'static str, value: &'static str| {
        let mut form = gateway::genesys_form("acme", &format!("m-{field}-{value}"), "ACME", "x");
        form.push((field.to_owned(), value.to_owned()));
        form
    };
    for (field, value) in [
        ("validity", "soon"),
        ("validity", "0"),
        ("send_at", "tomorrow"),
        ("send_at", "2099-01-01T00:00:00Z"),
    ] {
        let (status, body) = gateway::post_receiver(&test, &refused(field, value)).await;
        assert_eq!(status, 400, "{field}={value}: {body}");
        assert!(
            body.starts_with("result_code=1&") && body.contains(field),
            "{field}={value}: {body}"
        );
    }
    test.gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_dr_timeout_off_no_timer_is_written_for_an_mt() {
    let test = TestGateway::start_with(CarrierSimConfig::default(), "dr_timeout = \"off\"").await;
    let (_receiver, mut incoming) = test.bind(BindKind::Receiver).await;
    let mut esme =
        HandEsme::bind(test.gateway.smpp_addr(), BIND_TRANSMITTER, "acme", PASSWORD).await;
    let id = esme.submit("447700900001", "no timer", true).await;
    deliveries_until(&mut incoming, |seen| receipt_state(seen, &id).is_some()).await;
    let timers: Vec<(String, usize)> = test
        .gateway
        .store()
        .outbox_depths()
        .await
        .unwrap()
        .into_iter()
        .filter(|(account, _)| account.starts_with(TIMER_ACCOUNT_PREFIX))
        .collect();
    assert!(timers.is_empty(), "timers written: {timers:?}");
    drop(esme);
    test.gateway.shutdown().await;
}
