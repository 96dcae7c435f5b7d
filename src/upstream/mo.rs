//! An MO from a carrier, once: deduped on the key the inbound handler derives (the carrier's
//! id, or the content within a time bucket), then appended to its account's outbox in the
//! same change.

use std::time::Duration;

use crate::{
    message::{Mo, OutboxItem},
    store::{Change, ClaimSpace, Committed, Store, StoreError, Write},
};

/// `false` if the dedupe key was seen before (nothing written), else the MO is in the outbox.
pub async fn carrier_mo<S: Store + ?Sized>(
    store: &S,
    dedupe_key: &str,
    mo: Mo,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let mut change = Change::acknowledged();
    change
        .claim(ClaimSpace::MoDedupe, dedupe_key, "", ttl)
        .write(Write::Outbox(OutboxItem::Mo(mo)));
    match store.commit(change).await? {
        Committed::Done => Ok(true),
        Committed::Claimed => Ok(false),
        // Nothing in this change can conflict; a backend saying so is broken.
        Committed::Conflict => Err(StoreError::Backend(
            "carrier_mo: unexpected conflict".into(),
        )),
    }
}
