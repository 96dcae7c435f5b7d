//! An account's `max_binds` across the cluster: a bind claims one of the account's
//! `max_binds` places in the store (`Store::claim_slot`) when it authenticates, before it is
//! answered, so concurrent binds on any nodes cannot pass the limit together. The place is held
//! with a lease (10 s) renewed every third of it while the session lives, and given back when
//! the session closes; a node that dies stops renewing, and its places free themselves within
//! the lease. If the store cannot answer, the node counts its own binds against the limit.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::{debug, warn};

use crate::store::{HeldSlot, Store};

/// How long a place is held without renewal: a dead node's binds free theirs within it.
pub const BIND_LEASE: Duration = Duration::from_secs(10);

/// Claims places for client binds. See the module documentation.
pub struct BindLimits {
    store: Arc<dyn Store>,
    lease: Duration,
}

/// A bind's place: renewed until dropped (or [`BindSlot::release`]d), then given back.
#[derive(Debug)]
pub struct BindSlot {
    stop: CancellationToken,
    _release_on_drop: Option<DropGuard>,
}

impl BindSlot {
    /// Gives the place back now (the session closed).
    pub fn release(&self) {
        self.stop.cancel();
    }
}

impl BindLimits {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            lease: BIND_LEASE,
        }
    }

    /// A place for one more bind of `account` (`max_binds` places), or `None` when they are
    /// all held. `bound_here`: the account's binds on this node, the limit's measure when the
    /// store cannot answer.
    pub async fn claim(
        &self,
        account: &str,
        max_binds: u32,
        bound_here: usize,
    ) -> Option<BindSlot> {
        let key = format!("binds:{account}");
        match self.store.claim_slot(&key, max_binds, self.lease).await {
            Ok(Some(held)) => {
                let stop = CancellationToken::new();
                let renewal = Renewal {
                    store: self.store.clone(),
                    lease: self.lease,
                    max: max_binds,
                    held,
                };
                tokio::spawn(renewal.run(stop.clone()));
                Some(BindSlot {
                    _release_on_drop: Some(stop.clone().drop_guard()),
                    stop,
                })
            }
            Ok(None) => None,
            Err(error) => {
                super::fell_back("max_binds", account, &error);
                (bound_here < max_binds as usize).then(|| BindSlot {
                    stop: CancellationToken::new(),
                    _release_on_drop: None,
                })
            }
        }
    }
}

/// Keeps one place until stopped, then gives it back.
struct Renewal {
    store: Arc<dyn Store>,
    lease: Duration,
    max: u32,
    held: HeldSlot,
}

impl Renewal {
    async fn run(mut self, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.lease / 3) => {}
                () = stop.cancelled() => break,
            }
            match self.store.renew_slot(&mut self.held, self.lease).await {
                Ok(true) => {}
                // The store was out of reach longer than the lease: the place may be another
                // bind's now. The session stays; it takes a free place if there is one.
                Ok(false) => match self
                    .store
                    .claim_slot(&self.held.key, self.max, self.lease)
                    .await
                {
                    Ok(Some(again)) => self.held = again,
                    Ok(None) => {
                        warn!(key = %self.held.key, "a bind lost its place and none is free: the account is over max_binds until a bind closes")
                    }
                    Err(error) => {
                        warn!(key = %self.held.key, %error, "cannot claim a bind's place again")
                    }
                },
                Err(error) => warn!(key = %self.held.key, %error, "cannot renew a bind's place"),
            }
        }
        if let Err(error) = self.store.release_slot(&self.held).await {
            // Its lease ends it anyway.
            debug!(key = %self.held.key, %error, "cannot give a bind's place back");
        }
    }
}
