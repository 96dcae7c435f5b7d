//! Counters of what the simulator did, for tests and benchmarks (also exported as `metrics`).

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the simulator's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CarrierSimStats {
    /// Successful binds since start.
    pub binds: u64,
    /// Sessions bound right now.
    pub bound_sessions: u64,
    pub submits_accepted: u64,
    /// Refused by a rule (prefix `9993`): ESME_RSUBMITFAIL.
    pub submits_rejected: u64,
    /// Refused beyond the throttle rate: ESME_RTHROTTLED.
    pub submits_throttled: u64,
    /// Receipts sent on a bind (whatever the answer, including no answer in time).
    pub drs_sent: u64,
    /// Receipts answered deliver_sm_resp OK.
    pub drs_acked: u64,
    pub mos_sent: u64,
    pub mos_acked: u64,
    /// Delivery attempts that failed and were scheduled again.
    pub delivery_retries: u64,
    /// Receipts and MOs dropped because the outbox was full.
    pub dropped_queue_full: u64,
    /// Receipts and MOs dropped after their last retry.
    pub dropped_expired: u64,
    /// Receipts and MOs waiting or in flight.
    pub pending: u64,
}

/// The live counters behind [`CarrierSimStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub binds: AtomicU64,
    pub bound_sessions: AtomicU64,
    pub submits_accepted: AtomicU64,
    pub submits_rejected: AtomicU64,
    pub submits_throttled: AtomicU64,
    pub drs_sent: AtomicU64,
    pub drs_acked: AtomicU64,
    pub mos_sent: AtomicU64,
    pub mos_acked: AtomicU64,
    pub delivery_retries: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub dropped_expired: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub fn snapshot(&self, pending: u64) -> CarrierSimStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CarrierSimStats {
            binds: get(&self.binds),
            bound_sessions: get(&self.bound_sessions),
            submits_accepted: get(&self.submits_accepted),
            submits_rejected: get(&self.submits_rejected),
            submits_throttled: get(&self.submits_throttled),
            drs_sent: get(&self.drs_sent),
            drs_acked: get(&self.drs_acked),
            mos_sent: get(&self.mos_sent),
            mos_acked: get(&self.mos_acked),
            delivery_retries: get(&self.delivery_retries),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_expired: get(&self.dropped_expired),
            pending,
        }
    }
}
