//! A tiny UDP DNS responder: every A question gets the current addresses with a fixed TTL,
//! every other question an empty NOERROR answer. It counts the A questions, so a test can
//! tell when the client asked again.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;

const TYPE_A: u16 = 1;

pub struct DnsResponder {
    pub addr: SocketAddr,
    addresses: Arc<Mutex<Vec<Ipv4Addr>>>,
    a_questions: Arc<AtomicUsize>,
}

impl DnsResponder {
    /// Answers with `addresses` and `ttl` seconds, on 127.0.0.1:<ephemeral>.
    pub async fn start(addresses: Vec<Ipv4Addr>, ttl: u32) -> DnsResponder {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind dns");
        let addr = socket.local_addr().expect("dns addr");
        let current = Arc::new(Mutex::new(addresses));
        let a_questions = Arc::new(AtomicUsize::new(0));
        let (answers, counter) = (current.clone(), a_questions.clone());
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let addresses = answers.lock().unwrap().clone();
                if let Some((reply, is_a)) = answer(&buf[..len], &addresses, ttl) {
                    if is_a {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    let _ = socket.send_to(&reply, peer).await;
                }
            }
        });
        DnsResponder {
            addr,
            addresses: current,
            a_questions,
        }
    }

    /// Answers with `addresses` from now on.
    pub fn set_addresses(&self, addresses: Vec<Ipv4Addr>) {
        *self.addresses.lock().unwrap() = addresses;
    }

    /// A questions answered so far.
    pub fn a_questions(&self) -> usize {
        self.a_questions.load(Ordering::SeqCst)
    }
}

/// The reply to one query (header, the question copied, the A records), and whether the
/// question was for A records; `None` for a packet that is not a one-question query.
fn answer(query: &[u8], addresses: &[Ipv4Addr], ttl: u32) -> Option<(Vec<u8>, bool)> {
    if query.len() < 12 || query[4..6] != [0, 1] {
        return None;
    }
    let mut end = 12;
    while *query.get(end)? != 0 {
        end += usize::from(query[end]) + 1;
    }
    let question_end = end + 1 + 4;
    let question = query.get(12..question_end)?;
    let qtype = u16::from_be_bytes([query[end + 1], query[end + 2]]);
    let is_a = qtype == TYPE_A;
    let records: &[Ipv4Addr] = if is_a { addresses } else { &[] };

    let mut reply = Vec::with_capacity(512);
    reply.extend_from_slice(&query[0..2]); // id
    let recursion_desired = query[2] & 0x01;
    reply.extend_from_slice(&[0x80 | recursion_desired, 0x80]); // QR, RD as asked, RA, NOERROR
    reply.extend_from_slice(&1u16.to_be_bytes()); // questions
    reply.extend_from_slice(&(records.len() as u16).to_be_bytes()); // answers
    reply.extend_from_slice(&[0, 0, 0, 0]); // authority, additional
    reply.extend_from_slice(question);
    for address in records {
        reply.extend_from_slice(&[0xC0, 0x0C]); // name: pointer to the question
        reply.extend_from_slice(&TYPE_A.to_be_bytes());
        reply.extend_from_slice(&1u16.to_be_bytes()); // class IN
        reply.extend_from_slice(&ttl.to_be_bytes());
        reply.extend_from_slice(&4u16.to_be_bytes());
        reply.extend_from_slice(&address.octets());
    }
    Some((reply, is_a))
}
