//! Running a node: [`Gateway::start`] wires the store, the carrier connectors, the outbox
//! deliverers and the listeners (the public ones, and [`admin`]: the operators' one); beside
//! it the tasks every node runs (the heartbeat behind `GET /cluster`, the gauges, the
//! retention sweep).

mod admin;
pub mod cluster;
mod connectors;
mod delivery_routes;
pub mod gateway;
pub mod gauges;
mod lease_warnings;
mod listeners;
mod metrics;
pub mod retention;
mod store;

pub use gateway::{Gateway, StartError};
