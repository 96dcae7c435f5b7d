//! SMPP written by hand, byte by byte, as an independent peer: an ESME that binds, sends
//! requests (well-formed or not) and reads each answer's command id, status and body. No
//! rusmpp here, so a mistake shared by our encoder and decoder cannot hide.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

pub const BIND_RECEIVER: u32 = 0x0000_0001;
pub const BIND_TRANSMITTER: u32 = 0x0000_0002;
pub const QUERY_SM: u32 = 0x0000_0003;
pub const SUBMIT_SM: u32 = 0x0000_0004;
pub const REPLACE_SM: u32 = 0x0000_0007;
pub const CANCEL_SM: u32 = 0x0000_0008;
pub const ENQUIRE_LINK: u32 = 0x0000_0015;
pub const SUBMIT_MULTI: u32 = 0x0000_0021;
pub const DATA_SM: u32 = 0x0000_0103;
/// The message_payload TLV's tag.
pub const MESSAGE_PAYLOAD: u16 = 0x0424;
pub const GENERIC_NACK: u32 = 0x8000_0000;
pub const RESPONSE: u32 = 0x8000_0000;

/// A PDU as read: its header fields and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub command_id: u32,
    pub status: u32,
    pub sequence: u32,
    pub body: Vec<u8>,
}

impl Answer {
    /// The C-strings at the start of the body, in order (what is left after them ignored).
    pub fn c_strings(&self, count: usize) -> Vec<String> {
        self.body
            .split(|b| *b == 0)
            .take(count)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }
}

/// Appends a C-string (the text and its NUL).
pub fn c_str(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.push(0);
}

/// A whole PDU: command_length, command_id, status 0, sequence, body.
pub fn pdu(command_id: u32, sequence: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(&(16 + body.len() as u32).to_be_bytes());
    out.extend_from_slice(&command_id.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// What follows the destination(s) in submit_sm and submit_multi: plain esm_class, no
/// schedule or validity, GSM default coding, `text` in short_message.
fn push_submit_fields(body: &mut Vec<u8>, text: &str, receipt: bool) {
    push_timed_submit_fields(body, text, receipt, "", "");
}

/// [`push_submit_fields`] with schedule_delivery_time and validity_period as given.
fn push_timed_submit_fields(
    body: &mut Vec<u8>,
    text: &str,
    receipt: bool,
    schedule: &str,
    validity: &str,
) {
    body.extend_from_slice(&[0, 0, 0]); // esm_class, protocol_id, priority_flag
    c_str(body, schedule); // schedule_delivery_time
    c_str(body, validity); // validity_period
    body.extend_from_slice(&[u8::from(receipt), 0, 0, 0]); // rd, replace, coding, default id
    body.push(text.len() as u8);
    body.extend_from_slice(text.as_bytes());
}

/// The start of a submit_sm or data_sm: no service_type, from 447700900123 to
/// `destination` (both international).
fn addressed(destination: &str) -> Vec<u8> {
    let mut body = Vec::new();
    c_str(&mut body, ""); // service_type
    body.extend_from_slice(&[1, 1]);
    c_str(&mut body, "447700900123");
    body.extend_from_slice(&[1, 1]);
    c_str(&mut body, destination);
    body
}

/// A submit_sm from 447700900123 (international) to `destination`, GSM default coding.
pub fn submit_body(destination: &str, text: &str, receipt: bool) -> Vec<u8> {
    let mut body = addressed(destination);
    push_submit_fields(&mut body, text, receipt);
    body
}

/// [`submit_body`] with an SMPP schedule_delivery_time and validity_period (written as given,
/// however malformed).
pub fn timed_submit_body(destination: &str, text: &str, schedule: &str, validity: &str) -> Vec<u8> {
    let mut body = addressed(destination);
    push_timed_submit_fields(&mut body, text, true, schedule, validity);
    body
}

/// A data_sm from 447700900123 (international) to `destination`, GSM default coding, the
/// text (if any) in a message_payload TLV.
pub fn data_sm_body(destination: &str, text: Option<&str>, receipt: bool) -> Vec<u8> {
    let mut body = addressed(destination);
    body.extend_from_slice(&[0, u8::from(receipt), 0]); // esm_class, rd, data_coding
    if let Some(text) = text {
        body.extend_from_slice(&MESSAGE_PAYLOAD.to_be_bytes());
        body.extend_from_slice(&(text.len() as u16).to_be_bytes());
        body.extend_from_slice(text.as_bytes());
    }
    body
}

/// A destination of a submit_multi.
#[derive(Debug, Clone, Copy)]
pub enum Dest<'a> {
    /// dest_flag 1: an international number.
    Sme(&'a str),
    /// dest_flag 2: a distribution list's name.
    List(&'a str),
}

/// A submit_multi from 447700900123 to `destinations` (number_of_dests is their count),
/// GSM default coding, `text` in short_message.
pub fn submit_multi_body(destinations: &[Dest], text: &str, receipt: bool) -> Vec<u8> {
    let mut body = Vec::new();
    c_str(&mut body, ""); // service_type
    body.extend_from_slice(&[1, 1]);
    c_str(&mut body, "447700900123");
    body.push(destinations.len() as u8);
    for destination in destinations {
        match destination {
            Dest::Sme(number) => {
                body.extend_from_slice(&[1, 1, 1]); // dest_flag, ton, npi
                c_str(&mut body, number);
            }
            Dest::List(name) => {
                body.push(2);
                c_str(&mut body, name);
            }
        }
    }
    push_submit_fields(&mut body, text, receipt);
    body
}

/// A destination a submit_multi_resp lists as unsuccessful.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsuccessful {
    pub ton: u8,
    pub npi: u8,
    pub address: String,
    pub status: u32,
}

/// A submit_multi_resp body read by hand: its message_id and unsuccess_sme entries.
pub fn read_submit_multi_resp(body: &[u8]) -> (String, Vec<Unsuccessful>) {
    fn c_string(body: &[u8], at: &mut usize) -> String {
        let end = *at + body[*at..].iter().position(|b| *b == 0).expect("NUL");
        let text = String::from_utf8_lossy(&body[*at..end]).into_owned();
        *at = end + 1;
        text
    }
    let mut at = 0;
    let message_id = c_string(body, &mut at);
    let count = body[at];
    at += 1;
    let mut unsuccessful = Vec::new();
    for _ in 0..count {
        let (ton, npi) = (body[at], body[at + 1]);
        at += 2;
        let address = c_string(body, &mut at);
        let status = u32::from_be_bytes(body[at..at + 4].try_into().unwrap());
        at += 4;
        unsuccessful.push(Unsuccessful {
            ton,
            npi,
            address,
            status,
        });
    }
    (message_id, unsuccessful)
}

/// A query_sm for `message_id` from 447700900123.
pub fn query_body(message_id: &str) -> Vec<u8> {
    let mut body = Vec::new();
    c_str(&mut body, message_id);
    body.extend_from_slice(&[1, 1]);
    c_str(&mut body, "447700900123");
    body
}

/// A cancel_sm of `message_id` (empty: SMPP's "all from source to destination" form).
pub fn cancel_body(message_id: &str, destination: &str) -> Vec<u8> {
    let mut body = Vec::new();
    c_str(&mut body, ""); // service_type
    c_str(&mut body, message_id);
    body.extend_from_slice(&[1, 1]);
    c_str(&mut body, "447700900123");
    body.extend_from_slice(&[1, 1]);
    c_str(&mut body, destination);
    body
}

/// A replace_sm of `message_id` with `text`, asking no receipt (which the gateway ignores).
pub fn replace_body(message_id: &str, text: &str) -> Vec<u8> {
    let mut body = Vec::new();
    c_str(&mut body, message_id);
    body.extend_from_slice(&[1, 1]);
    c_str(&mut body, "447700900123");
    c_str(&mut body, ""); // schedule_delivery_time
    c_str(&mut body, ""); // validity_period
    body.extend_from_slice(&[0, 0]); // registered_delivery, sm_default_msg_id
    body.push(text.len() as u8);
    body.extend_from_slice(text.as_bytes());
    body
}

/// One bound ESME over a plain TCP connection.
pub struct HandEsme {
    stream: TcpStream,
    sequence: u32,
}

impl HandEsme {
    /// Connects and binds as `command_id` (a bind command); panics unless the bind is OK.
    pub async fn bind(addr: SocketAddr, command_id: u32, system_id: &str, password: &str) -> Self {
        Self::try_bind(addr, command_id, system_id, password)
            .await
            .unwrap_or_else(|status| panic!("bind as {system_id}: status {status:#x}"))
    }

    /// Connects and binds as `command_id`: the bound ESME, or the bind_resp's status.
    pub async fn try_bind(
        addr: SocketAddr,
        command_id: u32,
        system_id: &str,
        password: &str,
    ) -> Result<Self, u32> {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut esme = Self {
            stream,
            sequence: 0,
        };
        let mut body = Vec::new();
        c_str(&mut body, system_id);
        c_str(&mut body, password);
        c_str(&mut body, ""); // system_type
        body.extend_from_slice(&[0x34, 0, 0]); // interface_version, ton, npi
        c_str(&mut body, ""); // address_range
        let answer = esme.request(command_id, &body).await;
        assert_eq!(
            answer.command_id,
            command_id | RESPONSE,
            "bind as {system_id}"
        );
        match answer.status {
            0 => Ok(esme),
            status => Err(status),
        }
    }

    /// Sends a request and reads its answer.
    pub async fn request(&mut self, command_id: u32, body: &[u8]) -> Answer {
        self.sequence += 1;
        let bytes = pdu(command_id, self.sequence, body);
        self.send_and_read(&bytes).await
    }

    /// Sends bytes as they are and reads the next answer (whatever it answers).
    pub async fn send_and_read(&mut self, bytes: &[u8]) -> Answer {
        self.stream.write_all(bytes).await.unwrap();
        self.read().await
    }

    /// The next PDU that is not an enquire_link (those are answered), within 10 s.
    pub async fn read(&mut self) -> Answer {
        loop {
            let answer = tokio::time::timeout(Duration::from_secs(10), self.read_one())
                .await
                .expect("no answer within 10 s")
                .expect("connection closed");
            if answer.command_id == ENQUIRE_LINK {
                let resp = pdu(ENQUIRE_LINK | RESPONSE, answer.sequence, &[]);
                self.stream.write_all(&resp).await.unwrap();
                continue;
            }
            return answer;
        }
    }

    async fn read_one(&mut self) -> std::io::Result<Answer> {
        let mut header = [0u8; 16];
        self.stream.read_exact(&mut header).await?;
        let word = |i: usize| u32::from_be_bytes(header[i..i + 4].try_into().unwrap());
        let mut body = vec![0u8; (word(0) as usize).saturating_sub(16)];
        self.stream.read_exact(&mut body).await?;
        Ok(Answer {
            command_id: word(4),
            status: word(8),
            sequence: word(12),
            body,
        })
    }

    /// Submits an MT; returns our message id.
    pub async fn submit(&mut self, destination: &str, text: &str, receipt: bool) -> String {
        let answer = self
            .request(SUBMIT_SM, &submit_body(destination, text, receipt))
            .await;
        assert_eq!(
            (answer.command_id, answer.status),
            (SUBMIT_SM | RESPONSE, 0),
            "submit_sm to {destination}"
        );
        answer.c_strings(1).remove(0)
    }

    /// Sends a cancel_sm of `message_id`; returns the status of its cancel_sm_resp.
    pub async fn cancel(&mut self, message_id: &str) -> u32 {
        self.expect_resp(CANCEL_SM, &cancel_body(message_id, ""))
            .await
    }

    /// Sends a replace_sm of `message_id` with `text`; returns the status of its response.
    pub async fn replace(&mut self, message_id: &str, text: &str) -> u32 {
        self.expect_resp(REPLACE_SM, &replace_body(message_id, text))
            .await
    }

    /// Sends a request; returns the status of its own response (anything else panics).
    async fn expect_resp(&mut self, command_id: u32, body: &[u8]) -> u32 {
        let answer = self.request(command_id, body).await;
        assert_eq!(
            answer.command_id,
            command_id | RESPONSE,
            "answer to {command_id:#x}: {answer:?}"
        );
        answer.status
    }

    /// The session still answers: an enquire_link gets its response.
    pub async fn assert_alive(&mut self) {
        let answer = self.request(ENQUIRE_LINK, &[]).await;
        assert_eq!(
            (answer.command_id, answer.status),
            (ENQUIRE_LINK | RESPONSE, 0)
        );
    }
}
