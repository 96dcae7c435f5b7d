//! The bounded password verifier: argon2 runs on blocking threads, at most `threads` at a
//! time. A check that cannot get a slot within `wait` is refused as [`VerifierBusy`] instead
//! of queueing without bound, so a flood of wrong passwords costs at most `threads` cores
//! (and `threads` x argon2's ~19 MiB) and never delays requests answered from the cache.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::sync::Semaphore;

use crate::credentials::verify_password;

/// The verifier had no free slot within its wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password verifier busy")]
pub struct VerifierBusy;

/// Default slots: every core but one, at least one, so hashing never takes every core from
/// the async workers that answer cached requests.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |cores| cores.get().saturating_sub(1))
        .max(1)
}

/// See the module documentation.
#[derive(Debug)]
pub struct Verifier {
    slots: Arc<Semaphore>,
    wait: Duration,
    runs: AtomicU64,
}

impl Verifier {
    /// At most `threads` (at least 1) verifications at once; a check waits at most `wait`
    /// for a slot (zero: only a free one).
    pub fn new(threads: usize, wait: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(threads.max(1))),
            wait,
            runs: AtomicU64::new(0),
        }
    }

    /// True when `password` matches the PHC `hash`; [`VerifierBusy`] when no slot freed up.
    pub async fn verify(&self, hash: &str, password: &str) -> Result<bool, VerifierBusy> {
        let slot = if self.wait.is_zero() {
            self.slots.clone().try_acquire_owned().ok()
        } else {
            let acquire = self.slots.clone().acquire_owned();
            tokio::time::timeout(self.wait, acquire)
                .await
                .ok()
                .and_then(Result::ok)
        }
        .ok_or(VerifierBusy)?;
        self.runs.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("auth_password_hashes_total").increment(1);
        let (hash, password) = (hash.to_owned(), password.to_owned());
        // The slot moves into the blocking task: if the caller gives up (client gone), the
        // slot stays taken until argon2 has really finished.
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            verify_password(&hash, &password)
        })
        .await
        .map_err(|_| VerifierBusy)
    }

    /// How many argon2 verifications ran (slots granted), for metrics and tests.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::hash_password;

    #[tokio::test]
    async fn verifies_and_counts_runs() {
        let hash = hash_password("right");
        let verifier = Verifier::new(1, Duration::from_secs(5));
        assert_eq!(verifier.verify(&hash, "right").await, Ok(true));
        assert_eq!(verifier.verify(&hash, "wrong").await, Ok(false));
        assert_eq!(verifier.runs(), 2);
    }

    #[tokio::test]
    async fn refuses_when_every_slot_is_taken() {
        let hash = hash_password("right");
        let verifier = Arc::new(Verifier::new(1, Duration::ZERO));
        let held = verifier.slots.clone().try_acquire_owned().unwrap();
        assert_eq!(verifier.verify(&hash, "right").await, Err(VerifierBusy));
        assert_eq!(verifier.runs(), 0, "a refused check runs no argon2");
        drop(held);
        assert_eq!(verifier.verify(&hash, "right").await, Ok(true));
    }

    #[tokio::test(start_paused = true)]
    async fn waits_at_most_the_configured_time_for_a_slot() {
        let hash = hash_password("right");
        let verifier = Verifier::new(1, Duration::from_millis(200));
        let held = verifier.slots.clone().try_acquire_owned().unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(verifier.verify(&hash, "right").await, Err(VerifierBusy));
        assert_eq!(started.elapsed(), Duration::from_millis(200));
        drop(held);
    }
}
