//! Multipart MOs end to end over real sockets, from a raw carrier's deliver_sm PDUs to the
//! client: the parts with their UDH (8- or 16-bit reference) or SAR values on one bind, or one
//! deliver_sm with message_payload (`mo_multipart = "payload"`), or one push with the whole
//! text; out of order and resent parts; unusable UDH or SAR values delivered as plain MOs.

mod gateway;

use std::{sync::atomic::Ordering, time::Duration};

use gateway::{
    multipart::*,
    push_receiver::{wait_until, Answer, PushReceiver},
    raw_carrier::*,
    *,
};
use smsgw::{config::Config, node::Gateway};
use smsgw_smpp::BindKind;

/// A gateway whose connector binds to a raw carrier, with `account_extra` in its account.
async fn start(account_extra: &str) -> (Gateway, CarrierLink, tempfile::TempDir, RawCarrier) {
    start_with(ConfigExtra {
        account: account_extra,
        ..ConfigExtra::default()
    })
    .await
}

/// [`start`] with lines added to the config's tables.
async fn start_with(
    extra: ConfigExtra<'_>,
) -> (Gateway, CarrierLink, tempfile::TempDir, RawCarrier) {
    let mut carrier = RawCarrier::listen().await;
    let dir = tempfile::tempdir().unwrap();
    let text = config_text_with(carrier.addr, dir.path(), extra);
    let config = Config::from_str_named(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    let gateway = Gateway::start(config).await.unwrap();
    let link = carrier.next_link().await;
    (gateway, link, dir, carrier)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udh_parts_reach_a_bind_in_order_with_their_udh_intact() {
    let (gateway, mut link, _dir, _carrier) = start("").await;
    let (_client, mut incoming) = bind_to(gateway.smpp_addr(), BindKind::Receiver).await;

    // 8-bit reference, GSM: out of order, part 1 resent as the same PDU (answer lost).
    let texts = ["Hello ", "multipart ", "world"];
    let part8 = |seq: u8| {
        part_pdu(
            u32::from(seq),
            0,
            &udh8(0x42, 3, seq),
            texts[usize::from(seq) - 1].as_bytes(),
            None,
        )
    };
    send_all(
        &mut link,
        &[(3, part8(3)), (1, part8(1)), (1, part8(1)), (2, part8(2))],
    )
    .await;
    let got = delivered(&mut incoming, 3).await;
    let expected: Vec<Seen> = (1..=3u8)
        .map(|seq| Seen {
            esm_class: 0x40,
            ..plain(
                0,
                &[
                    udh8(0x42, 3, seq),
                    texts[usize::from(seq) - 1].as_bytes().to_vec(),
                ]
                .concat(),
            )
        })
        .collect();
    assert_eq!(got, expected);

    // 16-bit reference, UCS-2: the data_coding and the 16-bit UDH go through unchanged.
    let words = ["Grüße ", "aus ", "Köln"];
    let part16 = |seq: u8| {
        let user_data = ucs2(words[usize::from(seq) - 1]);
        part_pdu(
            10 + u32::from(seq),
            8,
            &udh16(0x1234, 3, seq),
            &user_data,
            None,
        )
    };
    send_all(
        &mut link,
        &[(12, part16(2)), (13, part16(3)), (11, part16(1))],
    )
    .await;
    let got = delivered(&mut incoming, 3).await;
    let expected: Vec<Seen> = (1..=3u8)
        .map(|seq| Seen {
            esm_class: 0x40,
            ..plain(
                8,
                &[udh16(0x1234, 3, seq), ucs2(words[usize::from(seq) - 1])].concat(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sar_set_reaches_a_bind_with_its_sar_values() {
    let (gateway, mut link, _dir, _carrier) = start("").await;
    let (_client, mut incoming) = bind_to(gateway.smpp_addr(), BindKind::Transceiver).await;
    let texts = ["first ", "second"];
    let sar = |seq: u8| {
        part_pdu(
            u32::from(seq),
            0,
            &[],
            texts[usize::from(seq) - 1].as_bytes(),
            Some((700, 2, seq)),
        )
    };
    send_all(&mut link, &[(2, sar(2)), (1, sar(1))]).await;
    let got = delivered(&mut incoming, 2).await;
    let expected: Vec<Seen> = (1..=2u8)
        .map(|seq| Seen {
            sar: Some((700, 2, seq)),
            ..plain(0, texts[usize::from(seq) - 1].as_bytes())
        })
        .collect();
    assert_eq!(got, expected);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mo_multipart_payload_a_bind_gets_one_message_payload() {
    let (gateway, mut link, _dir, _carrier) = start("mo_multipart = \"payload\"").await;
    let (_client, mut incoming) = bind_to(gateway.smpp_addr(), BindKind::Receiver).await;
    let words = ["Grüße ", "aus ", "Köln"];
    let part16 = |seq: u8| {
        let user_data = ucs2(words[usize::from(seq) - 1]);
        part_pdu(u32::from(seq), 8, &udh16(0xBEEF, 3, seq), &user_data, None)
    };
    send_all(&mut link, &[(3, part16(3)), (1, part16(1)), (2, part16(2))]).await;
    let sar = |seq: u8| part_pdu(10 + u32::from(seq), 0, &[], b"ab", Some((9, 2, seq)));
    send_all(&mut link, &[(11, sar(1)), (12, sar(2))]).await;
    let got = delivered(&mut incoming, 2).await;
    assert_eq!(
        got,
        [
            Seen {
                message_payload: Some(ucs2("Grüße aus Köln")),
                ..plain(8, &[])
            },
            Seen {
                message_payload: Some(b"abab".to_vec()),
                ..plain(0, &[])
            },
        ]
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_segment_values_are_answered_ok_and_delivered_as_plain_mos() {
    let (gateway, mut link, _dir, _carrier) = start("").await;
    let (_client, mut incoming) = bind_to(gateway.smpp_addr(), BindKind::Receiver).await;
    send_all(
        &mut link,
        &[
            // Place 0, place past the total, a total of 0: the header dropped, the text kept.
            (1, part_pdu(1, 0, &udh8(1, 3, 0), b"zero", None)),
            (2, part_pdu(2, 0, &udh8(2, 3, 4), b"four", None)),
            (3, part_pdu(3, 0, &udh8(3, 0, 1), b"none", None)),
            // Part 1 of 1 is a whole message.
            (4, part_pdu(4, 0, &udh8(4, 1, 1), b"single", None)),
            // A UDH longer than the message: kept as it came.
            (5, part_pdu(5, 0, &[9, 0, 3], b"", None)),
            // SAR with a place past its total.
            (6, part_pdu(6, 0, &[], b"sar", Some((5, 2, 3)))),
        ],
    )
    .await;
    let got = delivered(&mut incoming, 6).await;
    let texts: Vec<Seen> = ["zero", "four", "none", "single"]
        .iter()
        .map(|text| plain(0, text.as_bytes()))
        .chain([plain(0, &[9, 0, 3]), plain(0, b"sar")])
        .collect();
    // Delivered as single MOs (in whatever order the outbox hands them out); the session stays
    // up for the next one.
    let mut got_texts = got.clone();
    got_texts.sort_by_key(|seen| seen.short_message.clone());
    let mut want = texts.clone();
    want.sort_by_key(|seen| seen.short_message.clone());
    assert_eq!(got_texts, want);
    send_all(&mut link, &[(7, part_pdu(7, 0, &[], b"after", None))]).await;
    assert_eq!(delivered(&mut incoming, 1).await, [plain(0, b"after")]);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_account_gets_one_push_with_the_whole_text() {
    let receiver = PushReceiver::start(Answer::Status(200)).await;
    let push = format!(
        "push = {{ url = \"{}\", allow_private_targets = [\"127.0.0.1\"] }}",
        receiver.url()
    );
    let (gateway, mut link, _dir, _carrier) = start(&push).await;
    let texts = ["The whole ", "text in ", "one push"];
    let part = |seq: u8| {
        part_pdu(
            u32::from(seq),
            0,
            &udh8(7, 3, seq),
            texts[usize::from(seq) - 1].as_bytes(),
            None,
        )
    };
    send_all(&mut link, &[(2, part(2)), (1, part(1)), (3, part(3))]).await;
    assert!(
        wait_until(Duration::from_secs(10), || receiver
            .seen
            .requests
            .load(Ordering::SeqCst)
            >= 1)
        .await
    );
    tokio::time::sleep(QUIET).await;
    let bodies = receiver.seen.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(
        bodies[0].contains("type=MO") && bodies[0].contains("message=The+whole+text+in+one+push"),
        "{bodies:?}"
    );
    gateway.shutdown().await;
}

/// The deliver_sm an independent client (python smpplib) receives, `count` of them.
async fn smpplib_received(gateway: &Gateway, count: usize) -> Vec<serde_json::Value> {
    let args = [
        "127.0.0.1".to_owned(),
        gateway.smpp_addr().port().to_string(),
        "acme".to_owned(),
        PASSWORD.to_owned(),
        count.to_string(),
    ];
    smpplib_json_lines("smpplib_receive.py", &args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smpplib_client_gets_the_parts_with_their_udh_or_one_message_payload() {
    for (mode, expected) in [("parts", 3), ("payload", 1)] {
        let (gateway, mut link, _dir, _carrier) =
            start(&format!("mo_multipart = \"{mode}\"")).await;
        let texts = ["Hello ", "from ", "smpplib"];
        let part = |seq: u8| {
            let user_data = texts[usize::from(seq) - 1].as_bytes();
            part_pdu(u32::from(seq), 0, &udh16(0x0102, 3, seq), user_data, None)
        };
        send_all(&mut link, &[(2, part(2)), (3, part(3)), (1, part(1))]).await;
        let got = smpplib_received(&gateway, expected).await;
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let seen: Vec<(u64, String, String)> = got
            .iter()
            .map(|pdu| {
                (
                    pdu["esm_class"].as_u64().unwrap(),
                    pdu["short_message"].as_str().unwrap().to_owned(),
                    pdu["message_payload"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let want: Vec<(u64, String, String)> = if mode == "parts" {
            (1..=3u8)
                .map(|seq| {
                    let body = [
                        udh16(0x0102, 3, seq),
                        texts[usize::from(seq) - 1].as_bytes().to_vec(),
                    ];
                    (0x40, hex(&body.concat()), String::new())
                })
                .collect()
        } else {
            vec![(0, String::new(), hex(b"Hello from smpplib"))]
        };
        assert_eq!(seen, want, "{mode}");
        gateway.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opt_out_keyword_counts_in_the_whole_text_not_in_a_part() {
    let (gateway, mut link, _dir, _carrier) =
        start("mo_multipart = \"payload\"\n[accounts.opt_out]\nenabled = true").await;
    let (client, mut incoming) = bind_to(gateway.smpp_addr(), BindKind::Transceiver).await;
    let mt = || client.submit(submit(HANDSET, "offer", false));
    // A part that reads STOP, of a message that does not.
    let not_a_stop = [
        (1, b"STOP".as_slice()),
        (2, b" sending me jokes".as_slice()),
    ]
    .map(|(seq, text)| {
        (
            u32::from(seq),
            part_pdu(u32::from(seq), 0, &udh8(1, 2, seq), text, None),
        )
    });
    send_all(&mut link, &not_a_stop).await;
    assert_eq!(delivered(&mut incoming, 1).await.len(), 1);
    mt().await.expect("not opted out by a part");
    // STOP split in two parts.
    let stop = [(1, b"ST".as_slice()), (2, b"OP".as_slice())].map(|(seq, text)| {
        (
            10 + u32::from(seq),
            part_pdu(10 + u32::from(seq), 0, &udh8(2, 2, seq), text, None),
        )
    });
    send_all(&mut link, &stop).await;
    assert_eq!(
        delivered(&mut incoming, 1).await,
        [Seen {
            message_payload: Some(b"STOP".to_vec()),
            ..plain(0, &[])
        }]
    );
    assert!(mt().await.is_err(), "opted out by the whole STOP");
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_with_its_udh_in_message_payload_joins_its_set() {
    let (gateway, mut link, _dir, _carrier) = start("mo_multipart = \"payload\"").await;
    let (_client, mut incoming) = bind_to(gateway.smpp_addr(), BindKind::Receiver).await;
    let first = part_pdu_in_payload(1, &udh8(5, 2, 1), b"in payload, ");
    let second = part_pdu(2, 0, &udh8(5, 2, 2), b"in short_message", None);
    send_all(&mut link, &[(1, first), (2, second)]).await;
    assert_eq!(
        delivered(&mut incoming, 1).await,
        [Seen {
            message_payload: Some(b"in payload, in short_message".to_vec()),
            ..plain(0, &[])
        }]
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parts_go_together_on_one_of_the_accounts_binds() {
    let (gateway, mut link, _dir, _carrier) = start("").await;
    let (_first, mut on_first) = bind_to(gateway.smpp_addr(), BindKind::Receiver).await;
    let (_second, mut on_second) = bind_to(gateway.smpp_addr(), BindKind::Transceiver).await;
    for reference in 1..=4u8 {
        let part = |seq: u8| {
            let sequence = u32::from(reference) * 10 + u32::from(seq);
            (
                sequence,
                part_pdu(sequence, 0, &udh8(reference, 3, seq), b"x", None),
            )
        };
        send_all(&mut link, &[part(1), part(2), part(3)]).await;
    }
    let (first, second) = tokio::join!(delivered(&mut on_first, 1), delivered(&mut on_second, 1));
    assert_eq!(first.len() + second.len(), 12, "{first:?} {second:?}");
    // Each set went whole to one bind, its places in order (sets may interleave).
    let mut seen_on = std::collections::HashMap::new();
    for (bind, got) in [first, second].into_iter().enumerate() {
        for seen in got {
            let (reference, place) = (seen.short_message[3], seen.short_message[5]);
            seen_on
                .entry(reference)
                .or_insert_with(Vec::new)
                .push((bind, place));
        }
    }
    for (reference, places) in seen_on {
        let bind = places[0].0;
        assert_eq!(places, [(bind, 1), (bind, 2), (bind, 3)], "set {reference}");
    }
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incomplete_set_reaches_the_bind_part_by_part_after_the_connector_timeout() {
    let (gateway, mut link, _dir, _carrier) = start_with(ConfigExtra {
        connector: "mo_multipart_timeout = \"1s\"",
        ..ConfigExtra::default()
    })
    .await;
    let (_client, mut incoming) = bind_to(gateway.smpp_addr(), BindKind::Receiver).await;

    // Parts 1 and 3 of 3; part 2 never comes.
    let part = |seq: u8, text: &str| {
        part_pdu(
            u32::from(seq),
            0,
            &udh8(0x51, 3, seq),
            text.as_bytes(),
            None,
        )
    };
    let sent = std::time::Instant::now();
    send_all(&mut link, &[(1, part(1, "first ")), (3, part(3, "third"))]).await;
    let got = delivered(&mut incoming, 2).await;
    let waited = sent.elapsed();
    let expected: Vec<Seen> = [(1u8, "first "), (3, "third")]
        .iter()
        .map(|(seq, text)| Seen {
            esm_class: 0x40,
            ..plain(0, &[udh8(0x51, 3, *seq), text.as_bytes().to_vec()].concat())
        })
        .collect();
    assert_eq!(
        got, expected,
        "the parts that came, each with its UDH, once"
    );
    assert!(
        waited >= Duration::from_secs(1),
        "delivered after {waited:?}, before the set's timeout"
    );
    let metrics = metrics_text(gateway.admin_addr()).await;
    assert!(
        metrics.contains("upstream_mo_incomplete_total{connector=\"sim\"} 1"),
        "{metrics}"
    );
    gateway.shutdown().await;
}
