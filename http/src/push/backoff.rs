//! Retry delays for pushes: the shared schedule ([`smsgw_backoff::Backoff`]) from 1 s, doubling,
//! at most 10 min with its upward jitter, and on top the one rule of pushes: never shorter than
//! the receiver's `Retry-After`.
//!
//! The step stops doubling at 8 min and the jitter adds at most 25 %, so a delay stays within
//! 10 min.

use std::time::Duration;

use smsgw_backoff::Backoff;

/// Delay before the first retry (before jitter).
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// Longest delay the exponential schedule produces, jitter included.
pub const MAX_DELAY: Duration = Duration::from_secs(600);
/// Largest step before jitter, so that step * 1.25 <= [`MAX_DELAY`].
const MAX_STEP: Duration = Duration::from_secs(480);

/// The schedule of push retries, before `Retry-After`.
pub const PUSH_BACKOFF: Backoff = Backoff::new(FIRST_DELAY, MAX_STEP).with_upward_jitter(0.25);

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
    let delay = PUSH_BACKOFF.delay_with(attempt, rng);
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
        assert_eq!(PUSH_BACKOFF.longest(), MAX_DELAY);
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
