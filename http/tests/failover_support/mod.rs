//! Helpers for the failover tests: a minimal idempotent smsgw "site" (both submit APIs and
//! `/healthz`) on a chosen loopback address, which can be killed and restarted, and a tiny
//! UDP DNS responder.
#![allow(dead_code)]

pub mod dns;
pub mod site;
