//! Who may log in, for SMPP binds and HTTP requests alike, without letting wrong passwords
//! take the CPU that serves everybody else.
//!
//! One [`Authenticator`] decides, in this order:
//! 1. **Unknown login**: checked against a dummy hash with the same argon2 parameters (through
//!    the bounded verifier), so it costs what a known login costs and timing does not tell
//!    which logins exist; then refused. Never recorded in the lockout table (a scan of random
//!    ids must neither fill it nor evict real entries); a flood of them is bounded by the
//!    verifier alone.
//! 2. **Cached credential**: the exact password verified recently for this account passes at
//!    once, with no argon2, no blocking thread and no verifier slot, *even while the client's
//!    address is locked out*. So an attacker who shares an address with a customer (behind a
//!    balancer without PROXY protocol, behind a NAT) cannot lock the customer out while the
//!    customer's credential is cached (HTTP clients authenticate on every request, so it
//!    stays cached while they are active). What the lock stops is the hashing of *new*
//!    passwords.
//! 3. **Locked (client address, account)**: refused at once, no hashing.
//! 4. Otherwise the **bounded verifier** runs argon2; with no free slot within its wait the
//!    login is refused as busy (HTTP 503 + Retry-After, SMPP ESME_RBINDFAIL), not queued.
//!    Concurrent checks of the same login and password share one run (a client's burst
//!    before its credential is cached costs one slot). A success is cached and clears the
//!    pair's failures; a failure counts towards the lock.
//!
//! The client address comes from the edge (the HTTP `ClientAddr` extractor, the SMPP peer),
//! so it is the real client once the edge reads PROXY protocol / X-Forwarded-For.
//!
//! Accounts and the admin listener's users log in through it alike ([`Login`]), each listener
//! with its own `Authenticator` (its own lockout table and verifier slots).
//!
//! Metrics, labelled by `interface` (`http`, `smpp`, `admin`): `auth_failures_total` (with `reason`
//! `wrong_password` or `unknown_login`), `auth_lockouts_total` (pairs that got locked),
//! `auth_lockout_refusals_total`, `auth_verifier_busy_total`; and `auth_password_hashes_total`,
//! the argon2 runs.

pub mod in_flight;
pub mod lockout;
pub mod verifier;

use std::{net::IpAddr, time::Duration};

use tracing::{debug, warn};

use crate::{
    config::{Account, AdminUser, AuthSettings},
    credentials::{credential_digest, dummy_hash_like, CredentialCache},
};
use in_flight::InFlight;
use lockout::{FailureOutcome, Lockout};
use verifier::Verifier;

/// How long a client refused as busy should wait before retrying.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Why a login was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Unknown login or wrong password.
    #[error("authentication failed")]
    Rejected,
    /// Too many wrong passwords for this account from this address; refused without hashing.
    #[error("authentication failed (locked out for another {0:?})")]
    Locked(Duration),
    /// Every verifier slot is taken; nothing was checked. Retry after [`BUSY_RETRY_AFTER`].
    #[error("password verifier busy")]
    Busy,
}

/// Who a login names, with the stored hash its password is checked against.
pub trait Login {
    /// The name lockouts and the cache are kept under.
    fn login_name(&self) -> &str;
    /// argon2 PHC string.
    fn password_hash(&self) -> &str;
}

impl Login for Account {
    fn login_name(&self) -> &str {
        &self.system_id
    }
    fn password_hash(&self) -> &str {
        &self.password_hash
    }
}

impl Login for AdminUser {
    fn login_name(&self) -> &str {
        &self.name
    }
    fn password_hash(&self) -> &str {
        &self.password_hash
    }
}

/// One login attempt as an edge saw it.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// Where it came in (`http`, `smpp`, `admin`): the metrics' and logs' label.
    pub interface: &'static str,
    /// The client's address (see the module documentation).
    pub client: IpAddr,
    /// The login (HTTP) or system_id (SMPP) as presented.
    pub login: &'a str,
    pub password: &'a str,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Authenticator {
    cache: CredentialCache,
    lockout: Lockout,
    verifier: Verifier,
    in_flight: InFlight,
    dummy_hash: String,
}

impl Authenticator {
    /// `model_hash`: an account's hash whose argon2 parameters the dummy hash copies.
    pub fn new(settings: &AuthSettings, model_hash: Option<&str>) -> Self {
        Self {
            cache: CredentialCache::default(),
            lockout: Lockout::new(settings.lockout),
            verifier: Verifier::new(settings.verifier_threads, settings.verifier_wait),
            in_flight: InFlight::default(),
            dummy_hash: dummy_hash_like(model_hash),
        }
    }

    /// The account (or user) if `attempt` holds its password; `account` is `None` for an
    /// unknown login.
    pub async fn check<'a, L: Login>(
        &self,
        account: Option<&'a L>,
        attempt: Attempt<'_>,
    ) -> Result<&'a L, AuthError> {
        let interface = attempt.interface;
        let Some(account) = account else {
            self.verify(&self.dummy_hash, attempt, None).await?;
            metrics::counter!("auth_failures_total", "interface" => interface, "reason" => "unknown_login")
                .increment(1);
            return Err(AuthError::Rejected);
        };
        let (name, hash) = (account.login_name(), account.password_hash());
        if self.cache.is_cached(name, hash, attempt.password) {
            return Ok(account);
        }
        if let Some(remaining) = self.lockout.locked_for(attempt.client, name) {
            metrics::counter!("auth_lockout_refusals_total", "interface" => interface).increment(1);
            debug!(client = %attempt.client, account = %name, interface, "login refused: locked out");
            return Err(AuthError::Locked(remaining));
        }
        if self.verify(hash, attempt, Some(name)).await? {
            self.lockout.clear(attempt.client, name);
            return Ok(account);
        }
        metrics::counter!("auth_failures_total", "interface" => interface, "reason" => "wrong_password")
            .increment(1);
        if self.lockout.record_failure(attempt.client, name) == FailureOutcome::Locked {
            metrics::counter!("auth_lockouts_total", "interface" => interface).increment(1);
            warn!(client = %attempt.client, account = %name, interface,
                "too many wrong passwords: locked out for {:?}", self.lockout.policy().duration);
        }
        metrics::gauge!("auth_lockout_entries").set(self.lockout.len() as f64);
        Err(AuthError::Rejected)
    }

    /// Runs argon2 through the verifier, sharing the run with concurrent checks of the same
    /// login and password; a success for `account` is cached before the run ends, so a
    /// request that arrives after it finds the cache, not a second run.
    async fn verify(
        &self,
        hash: &str,
        attempt: Attempt<'_>,
        account: Option<&str>,
    ) -> Result<bool, AuthError> {
        let password = attempt.password;
        let key = (attempt.login.to_owned(), credential_digest(hash, password));
        let check = || async {
            if let Some(name) = account {
                // A run that just ended (after this request missed the cache) succeeded.
                if self.cache.is_cached(name, hash, password) {
                    return Ok(true);
                }
            }
            let verified = self.verifier.verify(hash, password).await?;
            if let (true, Some(name)) = (verified, account) {
                self.cache.remember_success(name, hash, password);
            }
            Ok(verified)
        };
        self.in_flight.run(key, check).await.map_err(|_| {
            let interface = attempt.interface;
            metrics::counter!("auth_verifier_busy_total", "interface" => interface).increment(1);
            debug!(client = %attempt.client, interface, "login refused: verifier busy");
            AuthError::Busy
        })
    }

    /// How many argon2 verifications ran (dummy ones included), for metrics and tests.
    pub fn password_hashes(&self) -> u64 {
        self.verifier.runs()
    }

    /// (client address, account) pairs with failures on record.
    pub fn lockout_entries(&self) -> usize {
        self.lockout.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn demo() -> Account {
        Config::default().accounts()[0].clone()
    }

    fn authenticator(max_failures: u32) -> Authenticator {
        let settings = AuthSettings {
            lockout: lockout::LockoutPolicy {
                max_failures,
                ..lockout::LockoutPolicy::default()
            },
            verifier_threads: 1,
            verifier_wait: Duration::from_secs(5),
        };
        Authenticator::new(&settings, None)
    }

    fn attempt(client: [u8; 4], password: &str) -> Attempt<'_> {
        Attempt {
            interface: "smpp",
            client: IpAddr::from(client),
            login: "demo",
            password,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_locked_pair_refuses_new_passwords_unhashed_but_passes_a_cached_one() {
        let auth = authenticator(2);
        let demo = demo();
        let here = [10, 0, 0, 1];
        assert!(auth
            .check(Some(&demo), attempt(here, "demo1234"))
            .await
            .is_ok());
        for guess in ["a", "b"] {
            let refused = auth.check(Some(&demo), attempt(here, guess)).await;
            assert_eq!(refused.unwrap_err(), AuthError::Rejected);
        }
        let hashes = auth.password_hashes();
        let locked = auth.check(Some(&demo), attempt(here, "demo1234x")).await;
        assert!(matches!(locked, Err(AuthError::Locked(_))), "{locked:?}");
        assert_eq!(auth.password_hashes(), hashes, "no argon2 while locked");
        assert!(auth
            .check(Some(&demo), attempt(here, "demo1234"))
            .await
            .is_ok());
        assert_eq!(
            auth.password_hashes(),
            hashes,
            "the cached password needs none"
        );

        tokio::time::advance(auth.lockout.policy().duration).await;
        let after = auth.check(Some(&demo), attempt(here, "c")).await;
        assert_eq!(after.unwrap_err(), AuthError::Rejected, "checked again");
        assert_eq!(auth.password_hashes(), hashes + 1);
    }

    #[tokio::test]
    async fn an_unknown_login_costs_one_check_and_no_lockout_entry() {
        let auth = authenticator(1);
        for n in 0..3u8 {
            let refused = auth
                .check::<Account>(None, attempt([10, 0, 0, n], "x"))
                .await;
            assert_eq!(refused.unwrap_err(), AuthError::Rejected);
        }
        assert_eq!(auth.password_hashes(), 3);
        assert_eq!(auth.lockout_entries(), 0);
    }

    #[tokio::test]
    async fn a_verified_password_clears_the_pairs_failures() {
        let auth = authenticator(2);
        let demo = demo();
        let here = [10, 0, 0, 1];
        let _ = auth.check(Some(&demo), attempt(here, "typo")).await;
        assert_eq!(auth.lockout_entries(), 1);
        assert!(auth
            .check(Some(&demo), attempt(here, "demo1234"))
            .await
            .is_ok());
        assert_eq!(auth.lockout_entries(), 0);
    }
}
