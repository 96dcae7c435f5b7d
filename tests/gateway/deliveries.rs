//! What a client's receiving bind got, read as receipts (id and state) and MOs (text).

use std::time::Duration;

use smsgw_smpp::{
    client::IncomingDeliver,
    encoding::receipt_from_deliver_sm,
    rusmpp::{pdus::DeliverSm, tlvs::TlvValue},
};
use tokio::sync::mpsc::Receiver;

/// What a client's receiving bind got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Receipt { id: String, state: u8 },
    Mo { text: String },
}

/// Reads deliver_sm (answering each) until `done` holds for what arrived; panics after 20 s.
pub async fn deliveries_until(
    incoming: &mut Receiver<IncomingDeliver>,
    done: impl Fn(&[Delivered]) -> bool,
) -> Vec<Delivered> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done(&seen) {
        let deliver = tokio::time::timeout_at(deadline, incoming.recv())
            .await
            .unwrap_or_else(|_| panic!("still waiting after 20 s; got {seen:?}"))
            .expect("receiving bind closed");
        let pdu = deliver.pdu().clone();
        deliver.accept();
        seen.push(if u8::from(pdu.esm_class) & 0x3c == 0x04 {
            let receipt = receipt_from_deliver_sm(&pdu).expect("a receipt");
            let state = receipt.stat.map_or(0, |s| u8::from(s.state));
            Delivered::Receipt {
                id: receipt.id,
                state,
            }
        } else {
            Delivered::Mo {
                text: String::from_utf8_lossy(&mo_body(&pdu)).into_owned(),
            }
        });
    }
    seen
}

/// An MO's text: short_message, or the message_payload TLV when that is empty.
fn mo_body(pdu: &DeliverSm) -> Vec<u8> {
    let short = pdu.short_message().as_ref();
    if !short.is_empty() {
        return short.to_vec();
    }
    pdu.tlvs()
        .iter()
        .find_map(|tlv| match tlv.value() {
            Some(TlvValue::MessagePayload(payload)) => Some(payload.value.to_vec()),
            _ => None,
        })
        .unwrap_or_default()
}

pub fn has_receipt(seen: &[Delivered], id: &str) -> bool {
    receipt_state(seen, id).is_some()
}

/// The SMPP message_state of the first receipt for `id` among `seen`.
pub fn receipt_state(seen: &[Delivered], id: &str) -> Option<u8> {
    seen.iter().find_map(|d| match d {
        Delivered::Receipt { id: got, state } if got == id => Some(*state),
        _ => None,
    })
}

/// The texts of the MOs among `seen` (the simulated handsets echo what they got).
pub fn mo_texts(seen: &[Delivered]) -> Vec<&str> {
    seen.iter()
        .filter_map(|d| match d {
            Delivered::Mo { text } => Some(text.as_str()),
            Delivered::Receipt { .. } => None,
        })
        .collect()
}
