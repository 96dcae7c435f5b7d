//! Shared counters for limits that hold across nodes (see docs/design/cluster-limits.md):
//! tokens taken from a per-window counter that never passes its limit
//! ([`super::Store::take_tokens`]), and places among at most N holders, each held for a
//! renewable lease ([`super::Store::claim_slot`]). The store knows no account and no rule:
//! keys, windows, limits and leases come from the caller.
//!
//! [`LocalLimits`] is the in-process version, for the embedded store (one node: its memory is
//! the whole cluster, and a restart ends every bind it counted anyway).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// One window's token counter: `key`'s tokens taken in `window`, never more than `limit`,
/// forgotten `ttl` after it was begun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenWindow<'a> {
    pub key: &'a str,
    pub window: u64,
    pub limit: u32,
    pub ttl: Duration,
}

/// A place among at most `max` holders of `key`, held until its lease runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSlot {
    pub key: String,
    /// Which place (0 .. max; the Redis and embedded stores use 0 for every holder).
    pub slot: u32,
    /// Unique per claim.
    pub holder: String,
    /// The backend's version of the claim (NATS: the stream sequence of its last write).
    pub version: u64,
}

impl HeldSlot {
    /// A claim of `key`'s place `slot` by a new, unique holder.
    pub fn new(key: &str, slot: u32, version: u64) -> Self {
        Self {
            key: key.to_owned(),
            slot,
            holder: format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
            version,
        }
    }
}

/// Counters and slots in this process's memory. See the module documentation.
#[derive(Debug, Default)]
pub struct LocalLimits {
    /// (key, window) -> tokens taken, and when the counter is forgotten.
    tokens: Mutex<HashMap<(String, u64), (u32, Instant)>>,
    /// key -> holder -> lease end.
    slots: Mutex<HashMap<String, HashMap<String, Instant>>>,
}

impl LocalLimits {
    /// [`super::Store::take_tokens`].
    pub fn take_tokens(&self, counter: &TokenWindow<'_>, want: u32) -> u32 {
        let now = Instant::now();
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.retain(|_, (_, forget_at)| *forget_at > now);
        let (taken, _) = tokens
            .entry((counter.key.to_owned(), counter.window))
            .or_insert((0, now + counter.ttl));
        let granted = want.min(counter.limit.saturating_sub(*taken));
        *taken += granted;
        granted
    }

    /// [`super::Store::claim_slot`].
    pub fn claim_slot(&self, key: &str, max: u32, lease: Duration) -> Option<HeldSlot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let holders = live_holders(&mut slots, key);
        if holders.len() >= max as usize {
            return None;
        }
        let claim = HeldSlot::new(key, 0, 0);
        holders.insert(claim.holder.clone(), Instant::now() + lease);
        Some(claim)
    }

    /// [`super::Store::renew_slot`].
    pub fn renew_slot(&self, slot: &HeldSlot, lease: Duration) -> bool {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match live_holders(&mut slots, &slot.key).get_mut(&slot.holder) {
            Some(until) => {
                *until = Instant::now() + lease;
                true
            }
            None => false,
        }
    }

    /// [`super::Store::release_slot`].
    pub fn release_slot(&self, slot: &HeldSlot) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        live_holders(&mut slots, &slot.key).remove(&slot.holder);
    }
}

/// `key`'s holders whose lease has not run out.
fn live_holders<'a>(
    slots: &'a mut HashMap<String, HashMap<String, Instant>>,
    key: &str,
) -> &'a mut HashMap<String, Instant> {
    let now = Instant::now();
    let holders = slots.entry(key.to_owned()).or_default();
    holders.retain(|_, until| *until > now);
    holders
}
