//! A carrier (SMSC) on a raw socket for the gateway's connectors to bind to: it sends the
//! exact deliver_sm PDUs a test writes (the same bytes twice, as a carrier that never got the
//! deliver_sm_resp does) and hands each deliver_sm_resp back, which the simulator hides.

use std::net::SocketAddr;

use bytes::BytesMut;
use smsgw_smpp::{
    frame::{self, FrameDecoder},
    rusmpp::{
        pdus::{DeliverSm, SubmitSm, SubmitSmResp},
        tlvs::MessageDeliveryRequestTlvValue,
        types::{COctetString, OctetString},
        Command, CommandId, CommandStatus, Pdu,
    },
    BindKind,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{tcp::OwnedWriteHalf, TcpListener, TcpStream},
    sync::{mpsc, Mutex},
};

/// A deliver_sm MO from `source` to `destination` with `text` as its GSM short_message, and
/// the carrier's id for it (`receipted_message_id`) when `carrier_id` is given.
pub fn mo_pdu(
    sequence: u32,
    source: &str,
    destination: &str,
    text: &str,
    carrier_id: Option<&str>,
) -> Vec<u8> {
    let mut builder = DeliverSm::builder()
        .source_addr(source.parse::<COctetString<1, 21>>().unwrap())
        .destination_addr(destination.parse::<COctetString<1, 21>>().unwrap())
        .short_message(OctetString::from_vec(text.as_bytes().to_vec()).unwrap());
    if let Some(id) = carrier_id {
        builder = builder.push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(
            id.parse().unwrap(),
        ));
    }
    frame::encode_to_vec(&Command::new(
        CommandStatus::EsmeRok,
        sequence,
        builder.build(),
    ))
}

/// The carrier's listening socket; each connector bind is answered OK.
pub struct RawCarrier {
    pub addr: SocketAddr,
    links: mpsc::Receiver<CarrierLink>,
}

/// One bound session from the gateway.
pub struct CarrierLink {
    writer: std::sync::Arc<Mutex<OwnedWriteHalf>>,
    deliver_resps: mpsc::UnboundedReceiver<(u32, CommandStatus)>,
    /// Each submit_sm with the id its submit_sm_resp gave.
    submits: mpsc::UnboundedReceiver<(String, SubmitSm)>,
}

impl RawCarrier {
    pub async fn listen() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, links) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sender = sender.clone();
                tokio::spawn(async move {
                    if let Some(link) = serve(stream).await {
                        let _ = sender.send(link).await;
                    }
                });
            }
        });
        Self { addr, links }
    }

    /// The next session the gateway bound; panics after 10 s.
    pub async fn next_link(&mut self) -> CarrierLink {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.links.recv())
            .await
            .expect("no bind from the gateway within 10 s")
            .unwrap()
    }
}

impl CarrierLink {
    /// The next submit_sm the gateway sent on this session; panics after 10 s.
    pub async fn next_submit(&mut self) -> SubmitSm {
        self.next_submit_with_id().await.1
    }

    /// The next submit_sm and the carrier id its submit_sm_resp gave; panics after 10 s.
    pub async fn next_submit_with_id(&mut self) -> (String, SubmitSm) {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.submits.recv())
            .await
            .expect("no submit_sm within 10 s")
            .expect("session closed")
    }

    /// Writes `pdu` (encoded bytes) on the session.
    pub async fn send(&self, pdu: &[u8]) {
        self.writer.lock().await.write_all(pdu).await.unwrap();
    }

    /// The status of the next deliver_sm_resp, which must answer `sequence`; panics after
    /// 10 s.
    pub async fn answer(&mut self, sequence: u32) -> CommandStatus {
        let (answered, status) = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.deliver_resps.recv(),
        )
        .await
        .expect("no deliver_sm_resp within 10 s")
        .expect("session closed");
        assert_eq!(answered, sequence, "deliver_sm_resp for another PDU");
        status
    }
}

fn encoded(sequence: u32, pdu: impl Into<Pdu>) -> Vec<u8> {
    frame::encode_to_vec(&Command::new(CommandStatus::EsmeRok, sequence, pdu))
}

/// Answers the bind, then keeps the session: enquire_link and unbind answered, each
/// deliver_sm_resp passed to the link. `None` when the peer left before binding.
async fn serve(stream: TcpStream) -> Option<CarrierLink> {
    let (mut reader, writer) = stream.into_split();
    let writer = std::sync::Arc::new(Mutex::new(writer));
    let decoder = FrameDecoder::default();
    let mut buffer = BytesMut::new();
    let bind = next_command(&mut reader, &mut buffer, &decoder).await?;
    let kind = BindKind::of_request(bind.id()).expect("a bind first");
    let resp = encoded(bind.sequence_number(), kind.response_pdu("raw"));
    writer.lock().await.write_all(&resp).await.ok()?;
    let (resps, deliver_resps) = mpsc::unbounded_channel();
    let (submitted, submits) = mpsc::unbounded_channel();
    let session_writer = writer.clone();
    tokio::spawn(async move {
        while let Some(command) = next_command(&mut reader, &mut buffer, &decoder).await {
            let sequence = command.sequence_number();
            let answer = match command.id() {
                CommandId::DeliverSmResp => {
                    let _ = resps.send((sequence, command.status()));
                    None
                }
                CommandId::SubmitSm => {
                    let id = format!("raw{sequence}");
                    if let Some(Pdu::SubmitSm(submit)) = command.pdu() {
                        let _ = submitted.send((id.clone(), submit.clone()));
                    }
                    let resp = SubmitSmResp::new(id.parse().unwrap(), Vec::new());
                    Some(encoded(sequence, resp))
                }
                CommandId::EnquireLink => Some(encoded(sequence, Pdu::EnquireLinkResp)),
                CommandId::Unbind => Some(encoded(sequence, Pdu::UnbindResp)),
                _ => None,
            };
            if let Some(answer) = answer {
                if session_writer
                    .lock()
                    .await
                    .write_all(&answer)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    Some(CarrierLink {
        writer,
        deliver_resps,
        submits,
    })
}

async fn next_command(
    reader: &mut (impl AsyncReadExt + Unpin),
    buffer: &mut BytesMut,
    decoder: &FrameDecoder,
) -> Option<Command> {
    loop {
        if let Some(frame) = decoder.decode(buffer).ok()? {
            return frame.ok();
        }
        if reader.read_buf(buffer).await.unwrap_or(0) == 0 {
            return None;
        }
    }
}
