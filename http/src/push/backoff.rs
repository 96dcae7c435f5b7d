//! Retry delays for pushes: exponential from 1 s, doubling, at most 10 min, with upward jitter,
//! and never shorter than the receiver's `Retry-After`.
//!
//! Upward jitter (add 0..25 % to the exponential step) rather than full jitter: full jitter can
//! pick a delay near zero and hammer a receiver that just failed, while upward jitter never
//! retries earlier than the schedule yet still spreads a burst of pushes that failed together.
//! The step stops doubling at 8 min so that step + jitter stays within 10 min.

use std::time::Duration;

/// Delay before the first retry (before jitter).
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// Longest delay the exponential schedule produces, jitter included.
pub const MAX_DELAY: Duration = Duration::from_secs(600);
/// Largest step before jitter, so that step * 1.25 <= [`MAX_DELAY`].
const MAX_STEP: Duration = Duration::from_secs(480);

/// The delay before retry number `attempt + 1` (`attempt` = failed attempts so far minus one,
/// so `attempt = 0` after the first failure). A larger `retry_after` (already capped at 1 h by
/// [`crate::retry_after::parse`]) wins.
pub fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    backoff_with(attempt, retry_after, &mut fastrand::Rng::new())
}

/// [`backoff`] with a given random source, for reproducible tests.
pub fn backoff_with(
    attempt: u32,
    retry_after: Option<Duration>,
    rng: &mut fastrand::Rng,
) -> Duration {
    let step = FIRST_DELAY
        .saturating_mul(2u32.saturating_pow(attempt.min(31)))
        .min(MAX_STEP);
    let jitter = step.mul_f64(rng.f64() * 0.25);
    let delay = (step + jitter).min(MAX_DELAY);
    match retry_after {
        Some(after) => delay.max(after.min(crate::retry_after::MAX_RETRY_AFTER)),
        None => delay,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;

    #[test]
    fn doubles_from_one_second_with_upward_jitter_and_caps() {
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 0..40 {
            let step = Duration::from_secs(1u64 << attempt.min(20)).min(MAX_STEP);
            for _ in 0..50 {
                let delay = backoff_with(attempt, None, &mut rng);
                assert!(delay >= step, "attempt {attempt}: {delay:?} < {step:?}");
                assert!(delay <= step.mul_f64(1.25), "attempt {attempt}: {delay:?}");
                assert!(delay <= MAX_DELAY);
            }
        }
        assert!(backoff_with(u32::MAX, None, &mut rng) <= MAX_DELAY);
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut rng = fastrand::Rng::with_seed(1);
        let delays: std::collections::HashSet<_> =
            (0..20).map(|_| backoff_with(3, None, &mut rng)).collect();
        assert!(delays.len() > 1);
    }

    #[test]
    fn a_larger_retry_after_wins_a_smaller_one_does_not() {
        let mut rng = fastrand::Rng::with_seed(3);
        let long = Duration::from_secs(900);
        assert_eq!(backoff_with(0, Some(long), &mut rng), long);
        let short = Duration::from_millis(10);
        assert!(backoff_with(4, Some(short), &mut rng) >= Duration::from_secs(16));
        let huge = Duration::from_secs(86_400);
        assert_eq!(
            backoff_with(0, Some(huge), &mut rng),
            crate::retry_after::MAX_RETRY_AFTER
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_sleeping_on_backoff_wakes_within_the_jitter_window() {
        // Attempt 3: step 8 s, jitter up to 2 s.
        let woke = Arc::new(AtomicBool::new(false));
        let flag = woke.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(backoff(3, None)).await;
            flag.store(true, Ordering::SeqCst);
        });
        tokio::time::advance(Duration::from_millis(7_999)).await;
        tokio::task::yield_now().await;
        assert!(!woke.load(Ordering::SeqCst), "woke before the 8 s step");
        tokio::time::advance(Duration::from_millis(2_002)).await;
        task.await.unwrap();
        assert!(woke.load(Ordering::SeqCst));
    }
}
