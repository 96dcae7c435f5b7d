//! FLOWS: an account's limits held across the cluster, through the store's shared counters
//! (`Store::take_tokens`, `Store::claim_slot`), not per node (docs/design/cluster-limits.md).
//!
//! - [`throughput`]: `throughput` MT/s per account, a per-second token window in the store
//!   taken from in grants of a tenth, spent locally.
//! - [`binds`]: `max_binds` client binds per account, each bind holding one of the account's
//!   places with a lease renewed while the session lives.
//!
//! When the store cannot answer, each falls back to what this node alone knows (its own rate
//! limiter, its own binds), logged and counted in
//! `account_limits_store_fallback_total{limit}`, rather than refusing every client.

pub mod binds;
pub mod throughput;

pub use binds::{BindLimits, BindSlot};
pub use throughput::Throughput;

/// Counts a fallback to the node's own limit, and logs it (at most once per ten seconds).
fn fell_back(limit: &'static str, account: &str, error: &crate::store::StoreError) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST_WARNED_S: AtomicU64 = AtomicU64::new(0);
    metrics::counter!("account_limits_store_fallback_total", "limit" => limit).increment(1);
    let now_s = crate::message::now_ms() / 1000;
    let last = LAST_WARNED_S.load(Ordering::Relaxed);
    if now_s >= last + 10
        && LAST_WARNED_S
            .compare_exchange(last, now_s, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(limit, %account, %error,
            "store unreachable: the account limit holds per node until it answers again");
    }
}
