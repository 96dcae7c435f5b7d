//! `[auth]`: the failed-login lockout and the bounded password verifier.

use std::time::Duration;

use super::Resolver;
use crate::{
    auth::lockout::MIN_LOCKOUT,
    config::{raw::RawAuth, types::AuthSettings},
};

impl Resolver<'_, '_, '_> {
    pub(super) fn auth(&mut self, raw: Option<&RawAuth>) -> AuthSettings {
        let defaults = AuthSettings::default();
        let Some(raw) = raw else {
            return defaults;
        };
        let lockout = defaults.lockout;
        let count = |resolver: &mut Self, value, what, default: usize| {
            resolver
                .positive(value, what)
                .map_or(default, |count| count as usize)
        };
        let max_failures = self
            .positive(raw.lockout_failures.as_ref(), "lockout_failures")
            .unwrap_or(lockout.max_failures);
        let max_entries = count(
            self,
            raw.lockout_max_entries.as_ref(),
            "lockout_max_entries",
            lockout.max_entries,
        );
        let verifier_threads = count(
            self,
            raw.verifier_threads.as_ref(),
            "verifier_threads",
            defaults.verifier_threads,
        );
        AuthSettings {
            lockout: crate::auth::lockout::LockoutPolicy {
                max_failures,
                window: self.duration(
                    raw.lockout_window.as_ref(),
                    "lockout_window",
                    lockout.window,
                    Duration::from_secs(1),
                ),
                duration: self.duration(
                    raw.lockout_duration.as_ref(),
                    "lockout_duration",
                    lockout.duration,
                    MIN_LOCKOUT,
                ),
                max_entries,
            },
            verifier_threads,
            verifier_wait: self.duration(
                raw.verifier_wait.as_ref(),
                "verifier_wait",
                defaults.verifier_wait,
                Duration::ZERO,
            ),
        }
    }
}
