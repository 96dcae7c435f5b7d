//! SMPP 3.4 engine for smsgw: framing, one session state machine for both sides, a server with
//! bind authentication through a handler trait, an ESME client, a bind pool with a 30 s rebind
//! floor, and text encodings. It knows nothing of the gateway.
//!
//! - [`frame`]: split a byte stream into PDUs; malformed input gets a defined answer.
//! - [`session`]: one bind, either side: states, window, sequence numbers, enquire_link, unbind.
//! - [`server`] and [`registry`]: the SMSC side, bind authentication through [`BindHandler`],
//!   delivery on any receiving bind of an account, failed-bind lockout.
//! - [`client`] and [`pool`]: the ESME side, one bind or a [`BindPool`] over many SMSCs with a
//!   rebind floor of 30 s.
//! - [`encoding`]: GSM 03.38, Latin-1, UCS-2, segmentation, reassembly, delivery receipts.

pub mod bind;
pub mod client;
pub mod encoding;
pub mod frame;
pub mod pool;
pub mod registry;
pub mod server;
pub mod session;

pub use bind::{BindKind, BindRequest};
pub use client::{Client, ClientConfig, DeliverHandler};
pub use pool::{BindPool, Endpoint, PoolConfig};
pub use registry::{DeliverError, Delivered, Registry};
pub use rusmpp;
pub use server::{BindHandler, Server, ServerConfig};
pub use session::{
    RequestError, Response, SessionConfig, SessionHandle, SessionHandler, SessionId, SessionState,
    Side,
};
