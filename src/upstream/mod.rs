//! Carrier connectors: bind pools to carriers' SMSCs, the workers that submit queued MTs on
//! them, the handler for what carriers send back (delivery receipts and MOs), and the flows
//! that record all of it in the store (`receipts`, `mo`, `mo_parts`).

pub mod connector;
pub mod inbound;
pub mod mo;
pub mod mo_parts;
pub mod receipts;
pub mod submit_pdu;

pub use connector::{Connector, ConnectorSettings};
pub use inbound::{CarrierInbound, MoRouter};
