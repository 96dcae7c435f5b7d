//! Fuzz target for reading data_sm and submit_multi: any body, framed as either, that decodes
//! is read as the submit_sm of each destination, and the answer that refuses every one of them
//! encodes, without panicking; the destinations are the addresses, in order.
//!
//! The submit_multi's time fields are parsed as SMPP times.
//!
//! Input layout: the first byte picks the command (even: submit_multi, odd: data_sm).

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rusmpp::{Command, CommandStatus, Pdu};
use smsgw_smpp::{
    encoding::SmppTime,
    frame::{encode, FrameDecoder},
    submissions::{
        check_number_of_dests, destinations_of_submit_multi, submit_of_data_sm, MultiOutcome,
        RefusedDestination, MAX_DESTINATIONS,
    },
};

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let command_id: u32 = if first % 2 == 0 { 0x21 } else { 0x103 };
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&(16 + body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&command_id.to_be_bytes());
    buf.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    buf.extend_from_slice(body);
    let Ok(Some(Ok(command))) = FrameDecoder::default().decode(&mut buf) else {
        return;
    };
    match command.pdu() {
        Some(Pdu::SubmitMulti(multi)) => {
            let destinations = destinations_of_submit_multi(multi);
            // The time fields a client sends are parsed as the gateway does, never panicking.
            for field in [&multi.schedule_delivery_time, &multi.validity_period] {
                if let Ok(Some(time)) = SmppTime::parse(field.as_str().as_bytes()) {
                    let _ = time.at_ms(u64::MAX);
                }
            }
            assert_eq!(destinations.len(), multi.dest_address().len());
            assert_eq!(
                check_number_of_dests(multi).is_ok(),
                (1..=MAX_DESTINATIONS).contains(&destinations.len())
            );
            let outcome = MultiOutcome {
                message_id: None,
                refused: destinations
                    .iter()
                    .map(|d| RefusedDestination::of(d, CommandStatus::EsmeRinvdstadr))
                    .collect(),
            };
            if let Ok(pdu) = outcome.to_pdu() {
                encode(
                    &Command::new(CommandStatus::EsmeRok, 1, pdu),
                    &mut BytesMut::new(),
                );
            }
        }
        Some(Pdu::DataSm(data)) => {
            let submit = submit_of_data_sm(data);
            assert_eq!(submit.tlvs().len(), data.tlvs().len());
        }
        _ => {}
    }
});
