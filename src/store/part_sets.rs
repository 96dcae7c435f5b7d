//! Parts of multipart MOs kept until their set is whole: one set per (connector, source,
//! destination, reference, total), read with its version and written or removed by a
//! [`Change`](super::Change) guarded by it, like a message record. The store keeps sets and
//! removes those older than the retention (a set never completed nor delivered by its
//! timeout); `upstream::mo` decides what a part does to its set.

use serde::{Deserialize, Serialize};

pub use crate::message::PartSetKey;
use crate::message::{now_ms, MoSegments};

/// The parts of one multipart MO received so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSet {
    /// The account the MO is routed to (when its first part came).
    pub account: String,
    /// The parts so far, in order of `seq`, each once.
    pub segments: MoSegments,
    /// When the first part was stored: the timeout and the retention count from here.
    pub started_ms: u64,
}

/// The version a part set's write gives it after `read` (0: there was none). Opaque to the
/// flows; the embedded and Redis stores keep it (NATS uses its stream sequences). A new set
/// starts from the clock, so a set removed and begun again never returns to a version a
/// reader of the old one holds (a set takes at most 255 writes, a millisecond is 256).
pub fn next_part_set_version(read: u64) -> u64 {
    if read == 0 {
        (now_ms() << 8).max(1)
    } else {
        read + 1
    }
}
