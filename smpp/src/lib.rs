//! SMPP 3.4 engine for smsgw: framing, one session state machine for both sides, a server with
//! bind authentication through a handler trait, an ESME client, a bind pool with a 30 s rebind
//! floor, and text encodings. It knows nothing of the gateway.

pub mod encoding;
pub mod frame;
