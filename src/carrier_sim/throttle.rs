//! A token bucket on tokio's clock (so tests can drive it with a paused clock): submits beyond
//! the configured rate are answered ESME_RTHROTTLED.
//!
//! governor is not used here: its clock is not tokio's, so paused-clock tests could not drive it.

use std::sync::Mutex;

use tokio::time::Instant;

/// Allows `rate` takes per second on average, with bursts of up to `rate` (one second's worth).
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket; `rate` must be at least 1.
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Self {
            rate,
            capacity: rate,
            state: Mutex::new(BucketState {
                tokens: rate,
                refilled_at: Instant::now(),
            }),
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&self) -> bool {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(state.refilled_at);
        state.tokens = (state.tokens + elapsed.as_secs_f64() * self.rate).min(self.capacity);
        state.refilled_at = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_to_capacity_then_refills_at_the_rate() {
        let bucket = TokenBucket::new(10);
        let burst = (0..25).filter(|_| bucket.try_take()).count();
        assert_eq!(burst, 10);
        tokio::time::advance(Duration::from_millis(250)).await;
        let refilled = (0..25).filter(|_| bucket.try_take()).count();
        assert_eq!(refilled, 2);
        tokio::time::advance(Duration::from_secs(60)).await;
        let capped = (0..25).filter(|_| bucket.try_take()).count();
        assert_eq!(capped, 10);
    }
}
