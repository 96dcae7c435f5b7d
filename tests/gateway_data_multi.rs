//! data_sm and submit_multi from clients, over real sockets against a running gateway: python
//! smpplib submits with data_sm, an ESME written by hand (bytes, no rusmpp) with submit_multi
//! and malformed PDUs, and the carrier simulator shows what reached the carrier (its
//! handsets at 9990... send the text they got back as an MO).

mod gateway;

use std::net::SocketAddr;

use gateway::{
    deliveries::{deliveries_until, has_receipt, mo_texts, Delivered},
    hand_pdus::{
        data_sm_body, pdu, read_submit_multi_resp, submit_multi_body, Dest, HandEsme, Unsuccessful,
        BIND_RECEIVER, BIND_TRANSMITTER, DATA_SM, GENERIC_NACK, MESSAGE_PAYLOAD, RESPONSE,
        SUBMIT_MULTI,
    },
    smpplib_json_lines, TestGateway, PASSWORD,
};
use smsgw::carrier_sim::CarrierSimConfig;
use smsgw_smpp::BindKind;

const ESME_RINVBNDSTS: u32 = 0x04;
const ESME_RINVDSTADR: u32 = 0x0B;
const ESME_RINVNUMDESTS: u32 = 0x33;
const ESME_RINVDLNAME: u32 = 0x34;
const ESME_RTHROTTLED: u32 = 0x58;

/// smpplib's answers to one data_sm with `text` to each of `destinations`.
async fn smpplib_data_sm(
    addr: SocketAddr,
    text: &str,
    destinations: &[&str],
) -> Vec<serde_json::Value> {
    let mut args = vec![
        addr.ip().to_string(),
        addr.port().to_string(),
        "acme".to_owned(),
        PASSWORD.to_owned(),
        text.to_owned(),
    ];
    args.extend(destinations.iter().map(|d| d.to_string()));
    smpplib_json_lines("smpplib_data_sm.py", &args).await
}

fn receipt_ids(seen: &[Delivered]) -> Vec<&str> {
    seen.iter()
        .filter_map(|d| match d {
            Delivered::Receipt { id, .. } => Some(id.as_str()),
            Delivered::Mo { .. } => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_sm_is_an_mt_its_receipt_comes_back_and_the_carrier_gets_its_text() {
    let test = TestGateway::start().await;
    let addr = test.gateway.smpp_addr();
    let (_receiver, mut incoming) = test.bind(BindKind::Receiver).await;

    let answers = smpplib_data_sm(addr, "sent by data_sm", &["999000001", "12"]).await;
    assert_eq!(answers.len(), 2, "{answers:?}");
    let (good, bad) = (&answers[0], &answers[1]);
    assert_eq!(
        (&good["command"], &good["status"]),
        (&"data_sm_resp".into(), &0.into()),
        "{good}"
    );
    let id = good["message_id"].as_str().unwrap().to_owned();
    assert!(!id.is_empty(), "data_sm_resp names the MT: {good}");
    assert_eq!(
        (&bad["command"], &bad["status"]),
        (&"data_sm_resp".into(), &ESME_RINVDSTADR.into()),
        "an invalid destination: {bad}"
    );
    let seen = deliveries_until(&mut incoming, |seen| {
        has_receipt(seen, &id) && !mo_texts(seen).is_empty()
    })
    .await;
    assert_eq!(mo_texts(&seen), ["sent by data_sm"], "what the handset got");
    assert_eq!(test.sim.stats().submits_accepted, 1, "MTs the carrier got");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_multi_is_one_mt_per_address_and_lists_each_refused_one() {
    let test = TestGateway::start().await;
    let (_receiver, mut incoming) = test.bind(BindKind::Receiver).await;
    let mut esme =
        HandEsme::bind(test.gateway.smpp_addr(), BIND_TRANSMITTER, "acme", PASSWORD).await;

    let destinations = [
        Dest::Sme("999000001"),
        Dest::Sme("12"),
        Dest::Sme("999000002"),
        Dest::List("friends"),
        Dest::Sme("999000003"),
    ];
    let answer = esme
        .request(
            SUBMIT_MULTI,
            &submit_multi_body(&destinations, "to many", true),
        )
        .await;
    assert_eq!(
        (answer.command_id, answer.status),
        (SUBMIT_MULTI | RESPONSE, 0)
    );
    let (first_id, unsuccessful) = read_submit_multi_resp(&answer.body);
    assert!(!first_id.is_empty(), "the first MT's id: {answer:?}");
    assert_eq!(
        unsuccessful,
        [
            Unsuccessful {
                ton: 1,
                npi: 1,
                address: "12".into(),
                status: ESME_RINVDSTADR
            },
            Unsuccessful {
                ton: 0,
                npi: 0,
                address: "friends".into(),
                status: ESME_RINVDLNAME
            },
        ]
    );

    let seen = deliveries_until(&mut incoming, |seen| {
        receipt_ids(seen).len() == 3 && mo_texts(seen).len() == 3
    })
    .await;
    let mut ids = receipt_ids(&seen);
    assert!(ids.contains(&first_id.as_str()), "{seen:?}");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        3,
        "one MT, one id, one receipt per address: {seen:?}"
    );
    assert_eq!(mo_texts(&seen), ["to many"; 3], "what the handsets got");
    assert_eq!(test.sim.stats().submits_accepted, 3, "MTs the carrier got");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_multi_with_only_refused_addresses_is_answered_with_each() {
    let test = TestGateway::start().await;
    let mut esme =
        HandEsme::bind(test.gateway.smpp_addr(), BIND_TRANSMITTER, "acme", PASSWORD).await;
    let destinations = [Dest::List("everyone"), Dest::Sme("1")];
    let answer = esme
        .request(
            SUBMIT_MULTI,
            &submit_multi_body(&destinations, "nobody", false),
        )
        .await;
    assert_eq!(
        (answer.command_id, answer.status),
        (SUBMIT_MULTI | RESPONSE, 0)
    );
    let (first_id, unsuccessful) = read_submit_multi_resp(&answer.body);
    assert_eq!(first_id, "", "no MT was accepted");
    let statuses: Vec<u32> = unsuccessful.iter().map(|u| u.status).collect();
    assert_eq!(statuses, [ESME_RINVDLNAME, ESME_RINVDSTADR]);
    assert_eq!(test.sim.stats().submits_accepted, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_throughput_limit_refuses_addresses_and_data_sm_like_submit_sm() {
    // One MT a second, no burst: of three addresses at once, one is accepted.
    let test = TestGateway::start_with(CarrierSimConfig::default(), "throughput = 1").await;
    let mut esme =
        HandEsme::bind(test.gateway.smpp_addr(), BIND_TRANSMITTER, "acme", PASSWORD).await;
    let destinations = [
        Dest::Sme("447700900001"),
        Dest::Sme("447700900002"),
        Dest::Sme("447700900003"),
    ];
    let answer = esme
        .request(
            SUBMIT_MULTI,
            &submit_multi_body(&destinations, "busy", false),
        )
        .await;
    assert_eq!(
        (answer.command_id, answer.status),
        (SUBMIT_MULTI | RESPONSE, 0)
    );
    let (first_id, unsuccessful) = read_submit_multi_resp(&answer.body);
    assert!(!first_id.is_empty(), "one address accepted: {answer:?}");
    let statuses: Vec<u32> = unsuccessful.iter().map(|u| u.status).collect();
    assert_eq!(statuses, [ESME_RTHROTTLED; 2], "{unsuccessful:?}");

    // data_sm goes through the same limit: of a few sent back to back, some share a second
    // with another and are refused (a margin a slow box never hits: five answers > 1 s each).
    let mut statuses = Vec::new();
    for n in 0..5 {
        let answer = esme
            .request(
                DATA_SM,
                &data_sm_body(&format!("44770090001{n}"), Some("busy"), false),
            )
            .await;
        assert_eq!(answer.command_id, DATA_SM | RESPONSE);
        statuses.push(answer.status);
    }
    assert!(
        statuses.contains(&ESME_RTHROTTLED),
        "no data_sm was throttled: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [0, ESME_RTHROTTLED].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_data_sm_and_submit_multi_are_answered_and_the_session_goes_on() {
    let test = TestGateway::start().await;
    let addr = test.gateway.smpp_addr();
    let mut esme = HandEsme::bind(addr, BIND_TRANSMITTER, "acme", PASSWORD).await;

    let none = submit_multi_body(&[], "x", false);
    let too_many = vec![Dest::Sme("999000001"); 255];
    let too_many = submit_multi_body(&too_many, "x", false);
    let mut miscounted = submit_multi_body(
        &[Dest::Sme("999000001"), Dest::Sme("999000002")],
        "x",
        false,
    );
    // service_type NUL, ton, npi, "447700900123" NUL: number_of_dests follows.
    let count_at = 1 + 2 + 13;
    miscounted[count_at] = 3;
    let mut bad_flag = submit_multi_body(&[Dest::Sme("999000001")], "x", false);
    bad_flag[count_at + 1] = 7;
    let truncated_multi = submit_multi_body(&[Dest::Sme("999000001")], "x", false)[..20].to_vec();
    let mut bad_tlv = data_sm_body("999000001", Some("x"), false);
    let tlv_length_at = bad_tlv.len() - 3;
    bad_tlv[tlv_length_at..tlv_length_at + 2].copy_from_slice(&200u16.to_be_bytes());
    let mut half_tlv = data_sm_body("999000001", None, false);
    half_tlv.extend_from_slice(&MESSAGE_PAYLOAD.to_be_bytes()[..1]);
    let truncated_data = data_sm_body("999000001", Some("x"), false)[..10].to_vec();
    let malformed: [(&str, u32, Vec<u8>, Option<u32>); 8] = [
        (
            "submit_multi to no one",
            SUBMIT_MULTI,
            none,
            Some(ESME_RINVNUMDESTS),
        ),
        (
            "submit_multi to 255",
            SUBMIT_MULTI,
            too_many,
            Some(ESME_RINVNUMDESTS),
        ),
        (
            "submit_multi counting 3 of 2",
            SUBMIT_MULTI,
            miscounted,
            None,
        ),
        (
            "submit_multi with dest_flag 7",
            SUBMIT_MULTI,
            bad_flag,
            None,
        ),
        (
            "submit_multi cut short",
            SUBMIT_MULTI,
            truncated_multi,
            None,
        ),
        (
            "data_sm with a TLV longer than the PDU",
            DATA_SM,
            bad_tlv,
            None,
        ),
        ("data_sm with half a TLV tag", DATA_SM, half_tlv, None),
        ("data_sm cut short", DATA_SM, truncated_data, None),
    ];
    for (sequence, (what, command_id, body, status)) in (1000u32..).zip(malformed) {
        let answer = esme.send_and_read(&pdu(command_id, sequence, &body)).await;
        assert!(
            answer.command_id == GENERIC_NACK || answer.command_id == command_id | RESPONSE,
            "{what}: answered with {:#010x}",
            answer.command_id
        );
        match status {
            Some(status) => assert_eq!(
                (answer.command_id, answer.status),
                (command_id | RESPONSE, status),
                "{what}"
            ),
            None => assert_ne!(answer.status, 0, "{what} accepted"),
        }
        assert_eq!(answer.sequence, sequence, "{what}: sequence echoed");
        esme.assert_alive().await;
    }
    assert_eq!(
        test.sim.stats().submits_accepted,
        0,
        "none of them was sent"
    );

    // Still able to submit on the same session.
    let answer = esme
        .request(
            DATA_SM,
            &data_sm_body("999000001", Some("after all"), false),
        )
        .await;
    assert_eq!((answer.command_id, answer.status), (DATA_SM | RESPONSE, 0));
    assert!(!answer.c_strings(1)[0].is_empty());

    // A receiver may not submit: the bind state says so, and the session stays.
    let mut receiver = HandEsme::bind(addr, BIND_RECEIVER, "acme", PASSWORD).await;
    for (command_id, body) in [
        (DATA_SM, data_sm_body("999000001", Some("x"), false)),
        (
            SUBMIT_MULTI,
            submit_multi_body(&[Dest::Sme("999000001")], "x", false),
        ),
    ] {
        let answer = receiver.request(command_id, &body).await;
        assert_eq!(
            answer.status, ESME_RINVBNDSTS,
            "{command_id:#x} from a receiver"
        );
        receiver.assert_alive().await;
    }
}
