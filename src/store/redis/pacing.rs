//! Paces takes from one queue on this node: a take that came back with fewer items than
//! asked means the queue is being drained as fast as it fills, and taking again at once would
//! cost a Redis round trip per item. The next take of that queue then waits until
//! [`LINGER`] has passed since the short one, so items that arrive meanwhile are taken
//! together. A take that came back full (a backlog) or empty (the caller then waits for work
//! anyway) does not slow the next.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use tokio::time::Instant;

/// How long a queue drained to the last item rests before it is taken from again.
pub const LINGER: Duration = Duration::from_millis(2);

/// Remembers, per queue, when a take last came back short.
#[derive(Default)]
pub struct TakePacer {
    short_takes: Mutex<HashMap<String, Instant>>,
}

impl TakePacer {
    /// Waits, if the last take of `queue` came back short less than [`LINGER`] ago.
    pub async fn before_take(&self, queue: &str) {
        let since = self.lock().get(queue).copied();
        if let Some(at) = since {
            tokio::time::sleep_until(at + LINGER).await;
        }
    }

    /// Records how a take of `queue` went.
    pub fn after_take(&self, queue: &str, asked: usize, got: usize) {
        let mut short_takes = self.lock();
        if got > 0 && got < asked {
            short_takes.insert(queue.to_owned(), Instant::now());
        } else {
            short_takes.remove(queue);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.short_takes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn only_a_take_after_a_short_one_waits_and_only_for_the_linger() {
        let pacer = TakePacer::default();
        let started = Instant::now();
        pacer.before_take("q").await;
        assert_eq!(started.elapsed(), Duration::ZERO, "first take waits");

        pacer.after_take("q", 10, 10);
        pacer.before_take("q").await;
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "full take slows the next"
        );

        pacer.after_take("q", 10, 0);
        pacer.before_take("q").await;
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "empty take slows the next"
        );

        pacer.after_take("q", 10, 3);
        pacer.before_take("other").await;
        assert_eq!(started.elapsed(), Duration::ZERO, "queues are paced apart");
        pacer.before_take("q").await;
        assert_eq!(started.elapsed(), LINGER);
    }
}
