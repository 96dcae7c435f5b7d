//! SMPP 3.4 engine for smsgw: framing, one session state machine for both sides, a server with
//! bind authentication through a handler trait, an ESME client, a bind pool with a 30 s rebind
//! floor, and text encodings. It knows nothing of the gateway.
//!
//! - [`frame`]: split a byte stream into PDUs; malformed input gets a defined answer.
//! - [`session`]: one bind, either side: states, window, sequence numbers, enquire_link, unbind.
//! - [`server`] and [`registry`]: the SMSC side, bind authentication through [`BindHandler`],
//!   delivery on any receiving bind of an account (failed-bind lockouts are the handler's).
//! - [`client`] and [`pool`]: the ESME side, one bind or a [`BindPool`] over many SMSCs with a
//!   rebind floor of 30 s.
//! - [`probe`]: one bind from a chosen local address and its answer's status, nothing else.
//! - [`operations`]: query_sm, cancel_sm and replace_sm as plain requests for the
//!   [`BindHandler`], and the query_sm_resp built from plain values.
//! - [`submissions`]: data_sm and submit_multi read as the submit_sm of each destination,
//!   and the submit_multi_resp with its unsuccessful destinations.
//! - [`encoding`]: GSM 03.38, Latin-1, UCS-2, segmentation, reassembly, delivery receipts.
//!
//! # Bound to two sites: failover for applications
//!
//! An application that must keep sending when a data centre dies binds to every site with one
//! [`BindPool`]. Submits go to any active bind; receipts and MOs arrive on every bind through
//! one [`DeliverHandler`]; a bind that drops is bound again no sooner than 30 s later
//! ([`pool::MIN_REBIND_DELAY`]). A submit in flight on a site that dies fails with a
//! [`pool::PoolError`] rather than vanishing: the caller sends it again and it lands on a
//! surviving site (a submit that was sent but not answered may have been taken there, so the
//! retry can duplicate it; [`pool::retry_is_safe`] tells the errors that cannot).
//! `examples/esme_failover.rs` is the whole program
//! (`cargo run -p smsgw-smpp --example esme_failover -- HOST:PORT HOST:PORT`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use smsgw_smpp::{client::DeliverStream, rusmpp::pdus::SubmitSm};
//! use smsgw_smpp::{BindKind, BindPool, BindRequest, ClientConfig, Endpoint, PoolConfig};
//!
//! let sites = vec![Endpoint::tcp("sms-a.example.com:2775"), Endpoint::tcp("sms-b.example.com:2775")];
//! let bind = BindRequest::new(BindKind::Transceiver, "demo", "demo1234");
//! let (handler, mut incoming) = DeliverStream::new(1024);
//! let pool = BindPool::start(PoolConfig::new(sites, ClientConfig::new(bind)), Arc::new(handler));
//! pool.wait_for_active(1).await;
//! tokio::spawn(async move {
//!     while let Some(deliver) = incoming.recv().await {
//!         println!("deliver_sm from {:?}", deliver.session().peer_addr());
//!         deliver.accept(); // deliver_sm_resp OK once handled
//!     }
//! });
//! let submit = SubmitSm::builder()
//!     .destination_addr("447700900123".parse()?)
//!     .short_message(b"hello".as_slice().try_into()?)
//!     .build();
//! loop {
//!     match pool.submit(submit.clone()).await {
//!         Ok(taken) => break println!("{} via {}", taken.message_id, taken.endpoint),
//!         Err(error) if error.is_refusal() => return Err(error.into()),
//!         Err(error) => eprintln!("{error}; sending again"),
//!     }
//!     tokio::time::sleep(std::time::Duration::from_secs(1)).await;
//! }
//! # Ok(()) }
//! ```

pub mod bind;
pub mod client;
pub mod encoding;
pub mod frame;
pub mod operations;
pub mod per_address;
pub mod pool;
pub mod probe;
pub mod registry;
pub mod server;
pub mod session;
pub mod submissions;

pub use bind::{BindKind, BindRequest};
pub use client::{Client, ClientConfig, DeliverHandler};
pub use operations::{CancelRequest, MessageStatus, QueryRequest, ReplaceRequest};
pub use pool::{BindPool, Endpoint, PoolConfig};
pub use registry::{DeliverError, Delivered, Registry};
pub use rusmpp;
pub use server::{BindHandler, Server, ServerConfig};
pub use session::{
    RequestError, Response, SessionConfig, SessionHandle, SessionHandler, SessionId, SessionState,
    SessionWindows, Side,
};
pub use submissions::{MultiDestination, MultiOutcome, RefusedDestination};
