//! Carrier connectors: bind pools to carriers' SMSCs, the workers that submit queued MTs on
//! them, and the handler for what carriers send back (delivery receipts and MOs).

pub mod connector;
pub mod inbound;
pub mod submit_pdu;

pub use connector::{Connector, ConnectorSettings};
pub use inbound::{CarrierInbound, MoRouter};
