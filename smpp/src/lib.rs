//! SMPP 3.4 engine for smsgw: framing, one session state machine for both sides, a server with
//! bind authentication through a handler trait, an ESME client, a bind pool with a 30 s rebind
//! floor, and text encodings. It knows nothing of the gateway.

pub mod bind;
pub mod frame;
pub mod session;

pub use bind::{BindKind, BindRequest};
pub use rusmpp;
pub use session::{
    RequestError, Response, SessionConfig, SessionHandle, SessionHandler, SessionId, SessionState,
    Side,
};
pub mod registry;
pub mod server;

pub use registry::{DeliverError, Delivered, Registry};
pub use server::{BindHandler, Server, ServerConfig};
pub mod client;

pub use client::{Client, ClientConfig, DeliverHandler};
pub mod pool;

pub use pool::{BindPool, Endpoint, PoolConfig};
