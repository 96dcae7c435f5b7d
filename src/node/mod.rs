//! Running a node: [`Gateway::start`] wires the store, the carrier connectors, the outbox
//! deliverers and the listeners; beside it the tasks every node runs (the heartbeat behind
//! `GET /cluster`, the gauges, the retention sweep).

pub mod cluster;
pub mod gateway;
pub mod gauges;
pub mod retention;

pub use gateway::{Gateway, StartError};
