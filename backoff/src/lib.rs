//! The one exponential retry schedule of smsgw, shared by the SMPP crate (rebinds), the HTTP
//! crate (pushes, failover) and the gateway (delivery retries, throttle pauses). It knows
//! nothing of either protocol: each caller names its own floor, ceiling and jitter.
//!
//! The schedule is backon's [`ExponentialBuilder`] (the floor doubling up to the ceiling),
//! without backon's jitter: that adds up to 100 % of the step and may go past the ceiling, so
//! a 30 s rebind floor could become 59 s and a 10 min push ceiling 20 min. Instead the jitter
//! here is upward only and bounded by a fraction the caller picks: a retry never comes earlier
//! than its step (an SMSC or a receiver that just failed is not hammered), yet failures that
//! happened together spread out.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// A retry schedule: `floor`, doubling per retry up to `ceiling`, plus up to `jitter` times
/// the step on top. See the crate documentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    floor: Duration,
    ceiling: Duration,
    jitter: f64,
}

/// Doublings after which every schedule has reached its ceiling (a floor of 1 ns doubled 64
/// times is past any `Duration` that matters), so retry counts are clamped here and a huge
/// count costs no more than this.
const MAX_DOUBLINGS: u32 = 64;

impl Backoff {
    /// The first retry waits `floor`, each further one twice the last, never more than
    /// `ceiling` (raised to `floor` when lower). No jitter until [`Backoff::with_upward_jitter`].
    pub const fn new(floor: Duration, ceiling: Duration) -> Backoff {
        let ceiling = if ceiling.as_nanos() < floor.as_nanos() {
            floor
        } else {
            ceiling
        };
        Backoff {
            floor,
            ceiling,
            jitter: 0.0,
        }
    }

    /// Adds a random 0..`fraction` of the step to every delay (`0.1` = up to 10 % later).
    pub const fn with_upward_jitter(mut self, fraction: f64) -> Backoff {
        self.jitter = fraction;
        self
    }

    /// The shortest delay this schedule gives (its first retry).
    pub const fn floor(&self) -> Duration {
        self.floor
    }

    /// The longest delay this schedule gives, jitter included.
    pub fn longest(&self) -> Duration {
        self.ceiling.mul_f64(1.0 + self.jitter)
    }

    /// The delay before retry number `retry + 1` (`retry` = 0 after the first failure).
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_with(retry, &mut fastrand::Rng::new())
    }

    /// [`Backoff::delay`] with a given random source, for reproducible tests.
    pub fn delay_with(&self, retry: u32, rng: &mut fastrand::Rng) -> Duration {
        let step = self.step(retry);
        step + step.mul_f64(rng.f64() * self.jitter)
    }

    /// The delay before jitter: exactly `floor` first and exactly `ceiling` once reached
    /// (backon computes the steps between in f32, so they may be off by nanoseconds).
    pub fn step(&self, retry: u32) -> Duration {
        ExponentialBuilder::new()
            .with_min_delay(self.floor)
            .with_max_delay(self.ceiling)
            .without_max_times()
            .build()
            .nth(retry.min(MAX_DOUBLINGS) as usize)
            .unwrap_or(self.ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REBIND: Backoff =
        Backoff::new(Duration::from_secs(30), Duration::from_secs(600)).with_upward_jitter(0.1);

    #[test]
    fn starts_at_the_floor_doubles_and_stops_at_the_ceiling() {
        let plain = Backoff::new(Duration::from_secs(30), Duration::from_secs(600));
        let steps: Vec<u64> = (0..8).map(|retry| plain.step(retry).as_secs()).collect();
        assert_eq!(steps, [30, 60, 120, 240, 480, 600, 600, 600]);
        assert_eq!(
            plain.delay(0),
            Duration::from_secs(30),
            "no jitter unless asked"
        );
        assert_eq!(plain.step(u32::MAX), Duration::from_secs(600));
    }

    #[test]
    fn jitter_is_upward_and_bounded_by_its_fraction() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut seen = std::collections::HashSet::new();
        for retry in [0, 1, 5, 40, u32::MAX] {
            let step = REBIND.step(retry);
            for _ in 0..200 {
                let delay = REBIND.delay_with(retry, &mut rng);
                assert!(
                    delay >= step && delay <= step.mul_f64(1.1),
                    "{retry}: {delay:?}"
                );
                assert!(delay >= REBIND.floor() && delay <= REBIND.longest());
                seen.insert(delay);
            }
        }
        assert!(seen.len() > 100, "jitter spreads delays");
        assert_eq!(REBIND.longest(), Duration::from_secs(660));
    }

    #[test]
    fn a_ceiling_below_the_floor_is_the_floor() {
        let backoff = Backoff::new(Duration::from_secs(30), Duration::from_secs(1));
        assert_eq!(backoff.step(0), Duration::from_secs(30));
        assert_eq!(backoff.step(9), Duration::from_secs(30));
    }
}
