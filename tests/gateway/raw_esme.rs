//! A client on a raw socket that keeps submits outstanding through a signal to the gateway,
//! for the SIGTERM test: it sees every PDU in order (each answer, the unbind, the close),
//! which a library client hides.

use std::collections::{HashMap, HashSet};

use bytes::BytesMut;
use smsgw_smpp::{
    frame::{self, FrameDecoder},
    rusmpp::{Command, CommandId, CommandStatus, Pdu},
    BindKind, BindRequest,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{submit, PASSWORD};

/// Submits the client keeps outstanding.
pub const WINDOW: usize = 64;

/// What the client saw from its bind until the gateway closed the connection.
#[derive(Debug, Default)]
pub struct Session {
    /// Sequence numbers of submits sent and never answered.
    pub unanswered: HashSet<u32>,
    /// Sequence numbers answered more than once.
    pub answered_twice: Vec<u32>,
    /// Submits outstanding (sent, not answered) when the signal was sent.
    pub in_flight_at_signal: HashSet<u32>,
    /// Each answered submit's status and, when OK, its message id.
    pub answers: HashMap<u32, (CommandStatus, Option<String>)>,
    /// Submits answered after the gateway's unbind arrived.
    pub answered_after_unbind: usize,
    /// Whether an unbind from the gateway arrived before the connection closed.
    pub unbound_by_gateway: bool,
}

fn encoded(sequence: u32, pdu: impl Into<Pdu>) -> Vec<u8> {
    frame::encode_to_vec(&Command::new(CommandStatus::EsmeRok, sequence, pdu))
}

async fn next_pdu(
    stream: &mut TcpStream,
    buffer: &mut BytesMut,
    decoder: &FrameDecoder,
) -> Option<Command> {
    loop {
        if let Some(frame) = decoder.decode(buffer).expect("framing from the gateway") {
            return Some(frame.expect("well-formed PDU from the gateway"));
        }
        if stream.read_buf(buffer).await.unwrap_or(0) == 0 {
            return None;
        }
    }
}

/// Binds to `addr`, submits until `answered_before_signal` submits are answered, calls
/// `signal` (with submits outstanding), and goes on submitting until the gateway unbinds.
pub async fn submit_through_a_signal(
    addr: std::net::SocketAddr,
    answered_before_signal: usize,
    signal: impl FnOnce(),
) -> Session {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut buffer = BytesMut::new();
    let decoder = FrameDecoder::default();
    let bind = BindRequest::new(BindKind::Transmitter, "acme", PASSWORD);
    stream
        .write_all(&encoded(1, bind.to_pdu().unwrap()))
        .await
        .unwrap();
    let bound = next_pdu(&mut stream, &mut buffer, &decoder).await.unwrap();
    assert_eq!(bound.status(), CommandStatus::EsmeRok, "{bound:?}");

    let mut session = Session::default();
    let mut next_sequence = 2u32;
    let mut signal = Some(signal);
    let submit_pdu = |sequence: u32| {
        let text = format!("sigterm {sequence}");
        encoded(sequence, submit("447700900001", &text, true))
    };
    let mut first = Vec::new();
    for _ in 0..WINDOW {
        first.extend(submit_pdu(next_sequence));
        session.unanswered.insert(next_sequence);
        next_sequence += 1;
    }
    stream.write_all(&first).await.unwrap();
    while let Some(command) = next_pdu(&mut stream, &mut buffer, &decoder).await {
        let sequence = command.sequence_number();
        match command.id() {
            CommandId::SubmitSmResp | CommandId::GenericNack => {
                if !session.unanswered.remove(&sequence) {
                    session.answered_twice.push(sequence);
                    continue;
                }
                let id = match command.pdu() {
                    Some(Pdu::SubmitSmResp(resp)) => Some(resp.message_id().as_str().to_owned()),
                    _ => None,
                };
                session.answers.insert(sequence, (command.status(), id));
                if session.unbound_by_gateway {
                    session.answered_after_unbind += 1;
                    continue;
                }
                if session.answers.len() >= answered_before_signal {
                    if let Some(signal) = signal.take() {
                        session.in_flight_at_signal = session.unanswered.clone();
                        signal();
                    }
                }
                stream.write_all(&submit_pdu(next_sequence)).await.unwrap();
                session.unanswered.insert(next_sequence);
                next_sequence += 1;
            }
            CommandId::Unbind => {
                // A polite client sends nothing more once asked to unbind.
                session.unbound_by_gateway = true;
                let resp = encoded(sequence, Pdu::UnbindResp);
                stream.write_all(&resp).await.unwrap();
            }
            CommandId::EnquireLink => {
                let resp = encoded(sequence, Pdu::EnquireLinkResp);
                stream.write_all(&resp).await.unwrap();
            }
            other => panic!("unexpected {other:?} from the gateway"),
        }
    }
    session
}
