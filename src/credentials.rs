//! Account passwords: argon2id hashes in PHC string form, and a cache of recent successful
//! verifications.
//!
//! argon2id is deliberately slow (tens of milliseconds and ~19 MiB per check). The HTTP
//! receiver authenticates login + password on every request, thousands per second, so
//! [`CredentialCache`] remembers successful checks for a short time. Only successes are
//! cached: a wrong password always pays the full argon2 price, which is what slows guessing.
//! argon2 runs on the calling thread; the gateway runs it through the bounded
//! [`crate::auth::verifier::Verifier`] on a miss.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use sha2::{Digest, Sha256};

/// Hashes `plain` with argon2id (default parameters, random salt) into a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$...`), the form `password_hash` takes in the config.
///
/// # Panics
/// Only if the operating system cannot provide random bytes for the salt.
pub fn hash_password(plain: &str) -> String {
    Argon2::default()
        .hash_password(plain.as_bytes())
        .expect("the OS random number generator failed while salting a password hash")
        .to_string()
}

/// A hash of a random password (its value does not matter: an unknown login is refused
/// whatever the check says) with the argon2 parameters of `model` (a PHC string;
/// the defaults when it is absent or unreadable), so that checking an unknown login against
/// it costs what checking a real account costs.
pub fn dummy_hash_like(model: Option<&str>) -> String {
    let params = model
        .and_then(|model| PasswordHash::new(model).ok())
        .and_then(|parsed| Params::try_from(&parsed).ok())
        .unwrap_or_default();
    let secret: [u8; 32] = std::array::from_fn(|_| fastrand::u8(..));
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(&secret)
        .expect("the OS random number generator failed while salting a password hash")
        .to_string()
}

/// True when `plain` matches `hash` (a PHC string). A malformed hash never matches.
/// The comparison of the derived key is constant-time inside the argon2 crate.
pub fn verify_password(hash: &str, plain: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(plain.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Checks that `hash` is a PHC string argon2 can verify against, with a reason if not.
pub fn check_password_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| format!("not a PHC password hash: {e}"))?;
    let algorithm = parsed.algorithm.as_str();
    if !algorithm.starts_with("argon2") {
        return Err(format!(
            "password hash algorithm `{algorithm}` is not supported (use argon2id; \
             `smsgw hash-password` prints one)"
        ));
    }
    Ok(())
}

/// Default bound on remembered verifications.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;
/// Default lifetime of a remembered verification.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(600);

/// Remembers successful password verifications, keyed by account and a SHA-256 of the stored
/// hash and the presented password, for `ttl`, holding at most `capacity` entries.
///
/// Keying on the stored hash as well means a changed password (config reload) never matches
/// an entry made for the old one.
#[derive(Debug)]
pub struct CredentialCache {
    capacity: usize,
    ttl: Duration,
    entries: Mutex<HashMap<String, Vec<CachedSuccess>>>,
    slow_verifications: AtomicU64,
}

#[derive(Debug, Clone)]
struct CachedSuccess {
    digest: [u8; 32],
    expires_at: Instant,
}

impl Default for CredentialCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_CAPACITY, DEFAULT_CACHE_TTL)
    }
}

impl CredentialCache {
    /// A cache holding at most `capacity` successes (at least 1), each for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            capacity: capacity.max(1),
            ttl,
            entries: Mutex::new(HashMap::new()),
            slow_verifications: AtomicU64::new(0),
        }
    }

    /// True when `presented` is the password of `account` whose stored hash is `stored_hash`.
    /// Answers from the cache when this exact pair verified recently; otherwise runs argon2.
    pub fn verify(&self, account: &str, stored_hash: &str, presented: &str) -> bool {
        self.verify_at(account, stored_hash, presented, Instant::now())
    }

    /// True when `presented` verified against `stored_hash` for `account` recently: no
    /// argon2 needed.
    pub fn is_cached(&self, account: &str, stored_hash: &str, presented: &str) -> bool {
        self.cached_at(
            account,
            &credential_digest(stored_hash, presented),
            Instant::now(),
        )
    }

    /// Remembers that `presented` verified against `stored_hash` for `account`.
    pub fn remember_success(&self, account: &str, stored_hash: &str, presented: &str) {
        self.remember(
            account,
            credential_digest(stored_hash, presented),
            Instant::now(),
        );
    }

    fn verify_at(&self, account: &str, stored_hash: &str, presented: &str, now: Instant) -> bool {
        let digest = credential_digest(stored_hash, presented);
        if self.cached_at(account, &digest, now) {
            return true;
        }
        self.slow_verifications.fetch_add(1, Ordering::Relaxed);
        if !verify_password(stored_hash, presented) {
            return false;
        }
        self.remember(account, digest, now);
        true
    }

    /// How many verifications ran argon2 (cache misses), for metrics and tests.
    pub fn slow_verifications(&self) -> u64 {
        self.slow_verifications.load(Ordering::Relaxed)
    }

    /// Number of remembered successes, expired ones included until they are purged.
    pub fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything (e.g. after the accounts were reloaded).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<CachedSuccess>>> {
        // A panic while holding the lock cannot leave the map inconsistent: keep using it.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cached_at(&self, account: &str, digest: &[u8; 32], now: Instant) -> bool {
        let entries = self.lock();
        let Some(successes) = entries.get(account) else {
            return false;
        };
        // Compare every entry in constant time, so timing says nothing about which bytes match.
        successes.iter().fold(false, |found, entry| {
            let matches = constant_time_eq(&entry.digest, digest) & (entry.expires_at > now);
            found | matches
        })
    }

    fn remember(&self, account: &str, digest: [u8; 32], now: Instant) {
        let mut entries = self.lock();
        let total: usize = entries.values().map(Vec::len).sum();
        if total >= self.capacity {
            purge_expired(&mut entries, now);
        }
        let total: usize = entries.values().map(Vec::len).sum();
        if total >= self.capacity {
            evict_soonest_expiring(&mut entries);
        }
        let successes = entries.entry(account.to_owned()).or_default();
        successes.retain(|entry| entry.digest != digest);
        successes.push(CachedSuccess {
            digest,
            expires_at: now + self.ttl,
        });
    }
}

/// A SHA-256 of a stored hash and a presented password: names one credential check without
/// keeping the password.
pub fn credential_digest(stored_hash: &str, presented: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(stored_hash.as_bytes());
    hasher.update([0u8]);
    hasher.update(presented.as_bytes());
    hasher.finalize().into()
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

fn purge_expired(entries: &mut HashMap<String, Vec<CachedSuccess>>, now: Instant) {
    for successes in entries.values_mut() {
        successes.retain(|entry| entry.expires_at > now);
    }
    entries.retain(|_, successes| !successes.is_empty());
}

fn evict_soonest_expiring(entries: &mut HashMap<String, Vec<CachedSuccess>>) {
    let soonest = entries
        .iter()
        .flat_map(|(account, successes)| {
            successes
                .iter()
                .enumerate()
                .map(move |(index, entry)| (entry.expires_at, account.clone(), index))
        })
        .min_by_key(|(expires_at, _, _)| *expires_at);
    if let Some((_, account, index)) = soonest {
        if let Some(successes) = entries.get_mut(&account) {
            successes.remove(index);
            if successes.is_empty() {
                entries.remove(&account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// One hash shared by the tests: argon2 is slow by design.
    fn demo_hash() -> &'static str {
        static HASH: OnceLock<String> = OnceLock::new();
        HASH.get_or_init(|| hash_password("demo1234"))
    }

    #[test]
    fn hash_is_argon2id_phc_and_verifies_only_the_right_password() {
        let hash = demo_hash();
        assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
        assert!(verify_password(hash, "demo1234"));
        assert!(!verify_password(hash, "demo12345"));
        assert!(!verify_password(hash, ""));
        assert!(check_password_hash(hash).is_ok());
    }

    #[test]
    fn dummy_hash_takes_the_model_parameters_and_matches_nothing_known() {
        let model = hash_password("x").replace("m=19456,t=2,p=1", "m=8192,t=1,p=1");
        let dummy = dummy_hash_like(Some(&model));
        assert!(
            dummy.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"),
            "{dummy}"
        );
        let default = dummy_hash_like(None);
        assert!(
            default.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{default}"
        );
        assert!(!verify_password(&default, ""));
        assert!(!verify_password(&default, "demo1234"));
    }

    #[test]
    fn same_password_hashes_differently_each_time() {
        assert_ne!(hash_password("x"), hash_password("x"));
    }

    #[test]
    fn malformed_hash_never_verifies_and_is_reported() {
        assert!(!verify_password("demo1234", "demo1234"));
        assert!(check_password_hash("demo1234").is_err());
        assert!(check_password_hash("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA").is_err());
    }

    #[test]
    fn cache_answers_repeated_success_without_argon2() {
        let cache = CredentialCache::default();
        let now = Instant::now();
        assert!(cache.verify_at("demo", demo_hash(), "demo1234", now));
        assert!(cache.verify_at("demo", demo_hash(), "demo1234", now));
        assert!(cache.verify_at("demo", demo_hash(), "demo1234", now));
        assert_eq!(cache.slow_verifications(), 1);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn wrong_password_is_never_cached() {
        let cache = CredentialCache::default();
        let now = Instant::now();
        assert!(!cache.verify_at("demo", demo_hash(), "wrong", now));
        assert!(!cache.verify_at("demo", demo_hash(), "wrong", now));
        assert_eq!(cache.slow_verifications(), 2);
        assert!(cache.is_empty());
        // A cached success for the right password does not let a wrong one through.
        assert!(cache.verify_at("demo", demo_hash(), "demo1234", now));
        assert!(!cache.verify_at("demo", demo_hash(), "wrong", now));
    }

    #[test]
    fn success_for_one_account_does_not_authenticate_another() {
        let cache = CredentialCache::default();
        let now = Instant::now();
        let other_hash = hash_password("other");
        assert!(cache.verify_at("demo", demo_hash(), "demo1234", now));
        assert!(!cache.verify_at("other", &other_hash, "demo1234", now));
    }

    #[test]
    fn cached_success_expires_after_ttl() {
        let cache = CredentialCache::new(10, Duration::from_secs(600));
        let now = Instant::now();
        assert!(cache.verify_at("demo", demo_hash(), "demo1234", now));
        let later = now + Duration::from_secs(601);
        assert!(cache.verify_at("demo", demo_hash(), "demo1234", later));
        assert_eq!(cache.slow_verifications(), 2);
    }

    #[test]
    fn changed_stored_hash_misses_the_cache() {
        let cache = CredentialCache::default();
        let now = Instant::now();
        assert!(cache.verify_at("demo", demo_hash(), "demo1234", now));
        let new_hash = hash_password("changed");
        assert!(!cache.verify_at("demo", &new_hash, "demo1234", now));
    }

    #[test]
    fn cache_stays_within_capacity_evicting_the_oldest() {
        let cache = CredentialCache::new(2, Duration::from_secs(600));
        let start = Instant::now();
        for (step, account) in ["a", "b", "c"].into_iter().enumerate() {
            let at = start + Duration::from_secs(step as u64);
            assert!(cache.verify_at(account, demo_hash(), "demo1234", at));
        }
        assert_eq!(cache.len(), 2);
        let at = start + Duration::from_secs(3);
        let before = cache.slow_verifications();
        assert!(cache.verify_at("c", demo_hash(), "demo1234", at));
        assert!(cache.verify_at("b", demo_hash(), "demo1234", at));
        assert_eq!(cache.slow_verifications(), before, "b and c stay cached");
        assert!(cache.verify_at("a", demo_hash(), "demo1234", at));
        assert_eq!(cache.slow_verifications(), before + 1, "a was evicted");
    }
}
