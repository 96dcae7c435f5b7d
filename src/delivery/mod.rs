//! Outbox consumers: each account's receipts and MOs go to the client on any of its receiving
//! SMPP binds (deliver_sm) or by HTTP push, and leave the outbox only once the client took
//! them (deliver_sm_resp OK, HTTP 2xx). Until then they wait, bounded by the account's TTL.

pub mod deliver_pdu;
mod event_batch;
pub mod push;
mod refusal_log;
pub mod worker;

pub use push::PushRoute;
pub use worker::{AccountDelivery, DeliveryRoute};
