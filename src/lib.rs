//! smsgw, the gateway: domain types, shared state, and the wiring of the SMPP and HTTP edges
//! (`smsgw-smpp`, `smsgw-http`) into an SMS aggregation gateway. See ARCHITECTURE.md.

pub mod account_limits;
pub mod auth;
pub mod carrier_sim;
pub mod config;
pub mod credentials;
pub mod delivery;
pub mod destination;
pub mod edge;
pub mod event;
pub mod event_log;
pub mod ingest;
pub mod lifecycle;
pub mod message;
pub mod node;
pub mod optout;
pub mod routing;
pub mod segmentation;
pub mod store;
pub mod upstream;
