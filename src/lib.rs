//! smsgw, the gateway: domain types, shared state, and the wiring of the SMPP and HTTP edges
//! (`smsgw-smpp`, `smsgw-http`) into an SMS aggregation gateway. See ARCHITECTURE.md.

pub mod auth;
pub mod carrier_sim;
pub mod cluster;
pub mod config;
pub mod credentials;
pub mod delivery;
pub mod destination;
pub mod edge;
pub mod gateway;
pub mod gauges;
pub mod ingest;
pub mod message;
pub mod retention;
pub mod smsc;
pub mod store;
pub mod tls;
pub mod upstream;
pub mod web;
