//! Which shard holds what. A connector's shard is the operator's pin for it, else a stable
//! function of its name: the first 8 bytes of the SHA-256 of the name (UTF-8), big-endian,
//! modulo the number of shards. Every node computes the same, in any version, on any
//! machine; changing `shards` (or a pin) moves connectors, so it is done on a drained
//! deployment (docs/design/multi-site-store.md, "Sharding").
//!
//! A message id names the shard of its first connector with a tag `s<k>` that the ingest puts
//! at its end ([`crate::message::IdGenerator::next_tagged`]): a read by id goes to that shard
//! (and follows the pointer a move left there). With one shard there is no tag, so ids are
//! the same as every other store's.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::store::StoreError;

/// More shards than this is a mistake (each is a stream with its own Raft group).
pub const MAX_SHARDS: usize = 64;

/// Where connectors, ids and lone claims go. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    shards: usize,
    pinned: BTreeMap<String, usize>,
}

/// A stable 64-bit hash of `name` (see the module documentation).
fn stable_hash(name: &str) -> u64 {
    let digest = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

impl Placement {
    /// `shards` streams, connectors in `pinned` on the shard named there.
    pub fn new(shards: usize, pinned: BTreeMap<String, usize>) -> Result<Self, StoreError> {
        if !(1..=MAX_SHARDS).contains(&shards) {
            return Err(StoreError::Backend(format!(
                "nats shards must be 1 to {MAX_SHARDS}, not {shards}"
            )));
        }
        if let Some((connector, shard)) = pinned.iter().find(|(_, shard)| **shard >= shards) {
            return Err(StoreError::Backend(format!(
                "connector {connector:?} is pinned to shard {shard}, but shards are 0 to {}",
                shards - 1
            )));
        }
        Ok(Self { shards, pinned })
    }

    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The shard of a connector: its pin, else the hash of its name.
    pub fn of_connector(&self, connector: &str) -> usize {
        match self.pinned.get(connector) {
            Some(shard) => *shard,
            None => self.of_key(connector),
        }
    }

    /// The shard a free-standing key hashes to (claims in a change that names nothing else).
    pub fn of_key(&self, key: &str) -> usize {
        (stable_hash(key) % self.shards as u64) as usize
    }

    /// The tag of ids whose first connector is `connector`; none with one shard.
    pub fn id_tag(&self, connector: &str) -> Option<String> {
        (self.shards > 1).then(|| format!("s{}", self.of_connector(connector)))
    }

    /// The shard an id's tag names; `None` for an id without one (made by a one-shard store
    /// or another backend), or naming a shard this deployment does not have.
    pub fn of_id(&self, id: &str) -> Option<usize> {
        if self.shards == 1 {
            return Some(0);
        }
        let (_, tag) = id.rsplit_once('-')?;
        let shard: usize = tag.strip_prefix('s')?.parse().ok()?;
        (shard < self.shards).then_some(shard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::IdGenerator;

    fn placement(shards: usize, pins: &[(&str, usize)]) -> Placement {
        let pinned = pins.iter().map(|(c, s)| ((*c).to_owned(), *s)).collect();
        Placement::new(shards, pinned).unwrap()
    }

    #[test]
    fn a_connector_hashes_to_the_same_shard_everywhere() {
        let three = placement(3, &[]);
        // Fixed values: a change here moves connectors of running deployments.
        assert_eq!(stable_hash("sim"), 0x507a_9a8b_e3d1_45a8);
        assert_eq!(
            three.of_connector("sim"),
            (0x507a_9a8b_e3d1_45a8u64 % 3) as usize
        );
        let spread: std::collections::BTreeSet<usize> = (0..30)
            .map(|n| three.of_connector(&format!("carrier-{n}")))
            .collect();
        assert_eq!(spread.len(), 3, "30 connectors use every shard");
        assert_eq!(placement(1, &[]).of_connector("anything"), 0);
    }

    #[test]
    fn a_pin_overrides_the_hash() {
        let pinned = placement(3, &[("sim", 2), ("other", 0)]);
        assert_eq!(pinned.of_connector("sim"), 2);
        assert_eq!(pinned.of_connector("other"), 0);
        assert!(Placement::new(3, [("sim".to_owned(), 3)].into()).is_err());
        assert!(Placement::new(0, BTreeMap::new()).is_err());
        assert!(Placement::new(MAX_SHARDS + 1, BTreeMap::new()).is_err());
    }

    #[test]
    fn an_id_names_its_first_connectors_shard() {
        let three = placement(3, &[("sim", 1)]);
        let ids = IdGenerator::new("site_a", "node_1");
        let tag = three.id_tag("sim");
        assert_eq!(tag.as_deref(), Some("s1"));
        let id = ids.next_tagged(tag.as_deref());
        assert_eq!(three.of_id(id.as_str()), Some(1));
        assert!(id.as_str().len() <= 64);
        assert_eq!(three.of_id(ids.next().as_str()), None, "no tag");
        assert_eq!(three.of_id("a-b-c-d-s7"), None, "no such shard");
        assert_eq!(three.of_id("m1"), None);
        let one = placement(1, &[]);
        assert_eq!(
            one.id_tag("sim"),
            None,
            "one shard: ids as every store makes them"
        );
        assert_eq!(one.of_id("m1"), Some(0));
    }
}
