//! The subcommands of the `smsgw` binary, one file each.

pub mod bench;
pub mod bench_flood;
mod bench_pushed;
pub mod carrier_sim;
pub mod check_config;
pub mod report;
pub mod send;
pub mod serve;
mod signal;

pub use signal::shutdown_signal;
