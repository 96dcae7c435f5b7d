//! A cap on how many connections one client address may hold in some state at once (here:
//! connected but not yet authenticated), so one host cannot take every connection slot of a
//! listener. [`PerAddressLimit::try_acquire`] hands out an [`AddressSlot`]; dropping the slot
//! gives it back. Generic over what "the state" is: the SMPP server counts unbound sessions
//! (TLS handshakes included), the gateway's HTTP edge counts connections before their first
//! request.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

/// Per-address counters with a fixed maximum.
#[derive(Debug)]
pub struct PerAddressLimit {
    max: usize,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One counted connection of an address; the count goes down when this is dropped.
#[derive(Debug)]
pub struct AddressSlot {
    address: IpAddr,
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerAddressLimit {
    /// At most `max` slots per address (0 is taken as 1: a limit that refuses everyone would
    /// make the listener useless).
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            counts: Arc::default(),
        }
    }

    /// A slot for `address`, or `None` when it already holds the maximum.
    pub fn try_acquire(&self, address: IpAddr) -> Option<AddressSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(address).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            address,
            counts: self.counts.clone(),
        })
    }

    /// Slots `address` holds now.
    pub fn held_by(&self, address: IpAddr) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(&address).copied().unwrap_or(0)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.address) {
            *count -= 1;
            // Addresses without slots are forgotten, so the map is bounded by open connections.
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_at_most_max_slots_and_others_are_not_affected() {
        let limit = PerAddressLimit::new(2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = limit.try_acquire(a).unwrap();
        let _second = limit.try_acquire(a).unwrap();
        assert!(limit.try_acquire(a).is_none());
        assert!(limit.try_acquire(b).is_some());
        drop(first);
        assert!(limit.try_acquire(a).is_some());
    }

    #[test]
    fn released_addresses_are_forgotten() {
        let limit = PerAddressLimit::new(1);
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        drop(limit.try_acquire(a).unwrap());
        assert_eq!(limit.held_by(a), 0);
        assert!(limit.counts.lock().unwrap().is_empty());
    }
}
