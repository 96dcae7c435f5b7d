//! Concurrent checks of one credential share one argon2 run.
//!
//! A client that opens with a burst (50 connections after a restart, before its credential is
//! cached) then costs one verifier slot instead of 50, and none of its requests is refused as
//! busy because of its own siblings. Checks are keyed by login and a digest of the stored
//! hash and the presented password, so different passwords never share an answer; an entry
//! lives only while its check runs.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
};

use tokio::sync::OnceCell;

use super::verifier::VerifierBusy;

type Key = (String, [u8; 32]);
type Outcome = Result<bool, VerifierBusy>;
type Cells = Mutex<HashMap<Key, Arc<OnceCell<Outcome>>>>;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct InFlight {
    checks: Cells,
}

/// Forgets a finished check when its caller is done (or gives up): an entry must never
/// outlive its check, or a stale "busy" would stick.
struct Finished<'a> {
    checks: &'a Cells,
    key: &'a Key,
    cell: &'a Arc<OnceCell<Outcome>>,
}

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        if !self.cell.initialized() {
            // Still running for other callers (or abandoned by all: the next caller runs it).
            return;
        }
        let mut checks = self.checks.lock().unwrap_or_else(|e| e.into_inner());
        if checks
            .get(self.key)
            .is_some_and(|current| Arc::ptr_eq(current, self.cell))
        {
            checks.remove(self.key);
        }
    }
}

impl InFlight {
    /// Runs `check` for `key`, or waits for the run already under way and takes its outcome.
    pub async fn run<F, Fut>(&self, key: Key, check: F) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome>,
    {
        let cell = self
            .checks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_default()
            .clone();
        let _finished = Finished {
            checks: &self.checks,
            key: &key,
            cell: &cell,
        };
        *cell.get_or_init(check).await
    }

    /// Checks under way.
    pub fn len(&self) -> usize {
        self.checks.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when no check is under way.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn key(login: &str, byte: u8) -> Key {
        (login.to_owned(), [byte; 32])
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_checks_of_one_key_run_once_and_others_run_apart() {
        let in_flight = InFlight::default();
        let runs = AtomicUsize::new(0);
        let check = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(true)
        };
        let same =
            futures_util::future::join_all((0..5).map(|_| in_flight.run(key("acme", 1), check)));
        let other = in_flight.run(key("acme", 2), check);
        let (same, other) = tokio::join!(same, other);
        assert!(same.iter().all(|outcome| *outcome == Ok(true)));
        assert_eq!(other, Ok(true));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert!(in_flight.is_empty(), "finished checks are forgotten");
        // A later check of the same key runs again: outcomes are not cached here.
        assert_eq!(in_flight.run(key("acme", 1), check).await, Ok(true));
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_outcome_does_not_stick_and_an_abandoned_check_is_rerun() {
        let in_flight = InFlight::default();
        let busy = in_flight.run(key("a", 1), || async { Err(VerifierBusy) });
        assert_eq!(busy.await, Err(VerifierBusy));
        assert_eq!(
            in_flight.run(key("a", 1), || async { Ok(false) }).await,
            Ok(false)
        );

        let abandoned = in_flight.run(key("b", 1), std::future::pending);
        assert!(tokio::time::timeout(Duration::from_millis(10), abandoned)
            .await
            .is_err());
        assert_eq!(
            in_flight.run(key("b", 1), || async { Ok(true) }).await,
            Ok(true)
        );
        assert!(in_flight.is_empty());
    }
}
