//! Failed-login lockout per (client address, account), shared by SMPP binds and HTTP logins.
//!
//! A few wrong passwords for one account from one address within a window lock that pair for
//! a while; while locked, new passwords are refused without hashing (see [`super`] for what
//! still passes). Only *known* accounts are recorded: an unknown login costs an argon2 run
//! against a dummy hash (bounded by the verifier) but never an entry here, so a scan of
//! random ids can neither fill the table nor evict real entries.
//!
//! The table is bounded: at the limit, the entry touched longest ago is evicted. Entries are
//! only made after a failed argon2 verification, so the rate at which anyone can push entries
//! out is bounded by the verifier, not by request rate.
//!
//! Time is tokio's clock, so tests run it paused.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::Mutex,
    time::Duration,
};

use tokio::time::Instant;

/// The shortest lockout accepted: shorter ones let a guesser retry too soon.
pub const MIN_LOCKOUT: Duration = Duration::from_secs(30);

/// When failures lock a (client address, account) pair, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Wrong passwords within `window` that lock the pair (at least 1).
    pub max_failures: u32,
    /// Failures older than this (counted from the first of a series) are forgotten.
    pub window: Duration,
    /// How long a locked pair stays locked; raised to [`MIN_LOCKOUT`] when lower.
    pub duration: Duration,
    /// Most pairs remembered; the least recently touched one is evicted beyond it.
    pub max_entries: usize,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window: Duration::from_secs(60),
            duration: Duration::from_secs(60),
            max_entries: 100_000,
        }
    }
}

type Key = (IpAddr, String);

#[derive(Debug)]
struct Entry {
    failures: u32,
    series_start: Instant,
    locked_until: Option<Instant>,
    /// Position in [`Table::by_age`].
    touched: u64,
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<Key, Entry>,
    /// Keys by last touch, oldest first, for eviction.
    by_age: BTreeMap<u64, Key>,
    next_touch: u64,
}

impl Table {
    fn touch(&mut self, key: &Key) {
        let stamp = self.next_touch;
        self.next_touch += 1;
        if let Some(entry) = self.entries.get_mut(key) {
            self.by_age.remove(&entry.touched);
            entry.touched = stamp;
            self.by_age.insert(stamp, key.clone());
        }
    }

    fn remove(&mut self, key: &Key) {
        if let Some(entry) = self.entries.remove(key) {
            self.by_age.remove(&entry.touched);
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((_, key)) = self.by_age.pop_first() {
            self.entries.remove(&key);
        }
    }
}

/// What a failure did to its pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Counted; the pair is not locked (yet).
    Counted,
    /// This failure locked the pair.
    Locked,
}

/// The lockout table. See the module documentation.
#[derive(Debug)]
pub struct Lockout {
    policy: LockoutPolicy,
    table: Mutex<Table>,
}

impl Lockout {
    pub fn new(policy: LockoutPolicy) -> Self {
        Self {
            policy: LockoutPolicy {
                max_failures: policy.max_failures.max(1),
                duration: policy.duration.max(MIN_LOCKOUT),
                max_entries: policy.max_entries.max(1),
                ..policy
            },
            table: Mutex::new(Table::default()),
        }
    }

    pub fn policy(&self) -> &LockoutPolicy {
        &self.policy
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding the lock cannot leave the table inconsistent: keep using it.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How much longer `account` is locked for `client`, `None` when it is not.
    pub fn locked_for(&self, client: IpAddr, account: &str) -> Option<Duration> {
        let now = Instant::now();
        let table = self.table();
        let until = table
            .entries
            .get(&(client, account.to_owned()))?
            .locked_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a wrong password for a known `account` from `client`.
    pub fn record_failure(&self, client: IpAddr, account: &str) -> FailureOutcome {
        let now = Instant::now();
        let key = (client, account.to_owned());
        let mut table = self.table();
        if !table.entries.contains_key(&key) {
            if table.entries.len() >= self.policy.max_entries {
                table.evict_oldest();
            }
            table.entries.insert(
                key.clone(),
                Entry {
                    failures: 0,
                    series_start: now,
                    locked_until: None,
                    touched: 0,
                },
            );
        }
        table.touch(&key);
        let entry = table.entries.get_mut(&key).expect("inserted above");
        if entry.locked_until.is_some_and(|until| until > now) {
            // A verification that started before the lock: the lock stands as it is.
            return FailureOutcome::Locked;
        }
        if entry.locked_until.is_some()
            || now.duration_since(entry.series_start) > self.policy.window
        {
            // A lock that ended, or a series too old: count afresh.
            entry.failures = 0;
            entry.series_start = now;
            entry.locked_until = None;
        }
        entry.failures += 1;
        if entry.failures >= self.policy.max_failures {
            entry.locked_until = Some(now + self.policy.duration);
            FailureOutcome::Locked
        } else {
            FailureOutcome::Counted
        }
    }

    /// Forgets the failures of `account` from `client` (its right password was verified).
    pub fn clear(&self, client: IpAddr, account: &str) {
        self.table().remove(&(client, account.to_owned()));
    }

    /// Pairs remembered, locked or counting.
    pub fn len(&self) -> usize {
        self.table().entries.len()
    }

    /// True when no pair is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn lockout(max_entries: usize) -> Lockout {
        Lockout::new(LockoutPolicy {
            max_failures: 3,
            window: Duration::from_secs(60),
            duration: Duration::from_secs(30),
            max_entries,
        })
    }

    fn fail(lockout: &Lockout, client: IpAddr, account: &str, times: u32) -> FailureOutcome {
        (0..times)
            .map(|_| lockout.record_failure(client, account))
            .last()
            .expect("at least one failure")
    }

    #[tokio::test(start_paused = true)]
    async fn locks_after_max_failures_and_only_that_pair() {
        let lockout = lockout(100);
        assert_eq!(fail(&lockout, ip(1), "acme", 2), FailureOutcome::Counted);
        assert_eq!(lockout.locked_for(ip(1), "acme"), None);
        assert_eq!(fail(&lockout, ip(1), "acme", 1), FailureOutcome::Locked);
        assert_eq!(
            lockout.locked_for(ip(1), "acme"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(lockout.locked_for(ip(2), "acme"), None, "other address");
        assert_eq!(lockout.locked_for(ip(1), "other"), None, "other account");
    }

    #[tokio::test(start_paused = true)]
    async fn lock_lasts_at_least_30_s_and_then_ends() {
        let lockout = Lockout::new(LockoutPolicy {
            duration: Duration::from_secs(1),
            ..LockoutPolicy::default()
        });
        assert_eq!(lockout.policy().duration, MIN_LOCKOUT);
        fail(&lockout, ip(1), "acme", 5);
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(lockout.locked_for(ip(1), "acme").is_some());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(lockout.locked_for(ip(1), "acme"), None);
        // Counting starts afresh after a lock: one more failure does not re-lock.
        assert_eq!(fail(&lockout, ip(1), "acme", 1), FailureOutcome::Counted);
        assert_eq!(lockout.locked_for(ip(1), "acme"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_spread_beyond_the_window_do_not_lock() {
        let lockout = lockout(100);
        fail(&lockout, ip(1), "acme", 2);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(fail(&lockout, ip(1), "acme", 2), FailureOutcome::Counted);
        assert_eq!(lockout.locked_for(ip(1), "acme"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn clear_forgets_the_series() {
        let lockout = lockout(100);
        fail(&lockout, ip(1), "acme", 2);
        lockout.clear(ip(1), "acme");
        assert!(lockout.is_empty());
        assert_eq!(fail(&lockout, ip(1), "acme", 2), FailureOutcome::Counted);
    }

    #[tokio::test(start_paused = true)]
    async fn table_is_bounded_evicting_the_least_recently_touched() {
        let lockout = lockout(3);
        fail(&lockout, ip(1), "a", 3); // locked, then touched again below
        fail(&lockout, ip(2), "b", 1);
        fail(&lockout, ip(3), "c", 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        fail(&lockout, ip(1), "a", 1);
        fail(&lockout, ip(4), "d", 1); // evicts b, the oldest untouched
        assert_eq!(lockout.len(), 3);
        assert!(lockout.locked_for(ip(1), "a").is_some(), "recently touched");
        // b's series was forgotten: two more failures do not lock it.
        assert_eq!(fail(&lockout, ip(2), "b", 2), FailureOutcome::Counted);
        assert_eq!(lockout.len(), 3);
    }
}
