//! `RefusalLog`: says when a repeated refusal is due to be logged again, so that an outbox
//! full of entries for a refused target gives one log line per interval (with how many were
//! refused since), not one per entry and retry.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

pub struct RefusalLog {
    every: Duration,
    /// When the last line was logged, and refusals since (including the one logged).
    state: Mutex<(Option<Instant>, u64)>,
}

impl RefusalLog {
    pub fn new(every: Duration) -> RefusalLog {
        RefusalLog {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// Notes one refusal. `Some(count)` when a line is due: the refusals since the last line,
    /// this one included.
    pub fn note(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last, count) = &mut *state;
        *count += 1;
        let now = Instant::now();
        if last.is_some_and(|at| now < at + self.every) {
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn logs_the_first_refusal_then_once_per_interval_with_the_count() {
        let log = RefusalLog::new(Duration::from_secs(60));
        assert_eq!(log.note(), Some(1));
        for _ in 0..5 {
            assert_eq!(log.note(), None);
        }
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(log.note(), None);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(log.note(), Some(7), "six suppressed and this one");
        assert_eq!(log.note(), None);
    }
}
