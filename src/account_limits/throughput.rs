//! An account's `throughput` (MT/s) across the cluster. Each second is a window with a
//! counter in the store; a node takes a grant of up to a tenth of the rate from it
//! (`Store::take_tokens`, never past the rate) and spends it locally, asking again when it is
//! spent. So the nodes together accept at most `throughput` MTs per window, at one store call
//! per grant; a grant left unspent when its window ends is lost (a node may accept a little
//! less than its share). A window whose counter is full is not asked again.
//!
//! Windows follow each node's clock (`now / 1 s`): nodes should keep NTP time; a skew of a
//! few milliseconds moves a few MTs to the neighbouring window.
//!
//! Each node also keeps its own limiter at the account's rate (GCRA, as before the limit was
//! shared), checked first: it spreads a node's MTs over the second (no burst of two windows'
//! worth across a window's edge from one node) and is what holds alone when the store cannot
//! answer.
//!
//! The rate is read from the [`Account`] of each MT, so an account whose `throughput` changes
//! while the gateway runs gets a new bucket at its next MT.

use std::{collections::HashMap, num::NonZeroU32, sync::Arc, time::Duration};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Mutex;

use crate::{
    config::Account,
    message::now_ms,
    store::{Store, TokenWindow},
};

/// A window's length.
const WINDOW_MS: u64 = 1_000;
/// How long the store keeps a window's counter (well past the window, for a late grant).
const COUNTER_TTL: Duration = Duration::from_secs(10);
/// Grants per window a node asks for at most: each is a tenth of the rate.
const GRANTS_PER_WINDOW: u32 = 10;

/// Every limited account's bucket, made at its first MT at the rate the account then has
/// (a changed rate makes a new one). See the module documentation.
pub struct Throughput {
    store: Arc<dyn Store>,
    buckets: std::sync::Mutex<HashMap<String, Arc<Bucket>>>,
}

struct Bucket {
    rate: u32,
    /// Held while the store is asked, so one grant at a time per account and node.
    grant: Mutex<Grant>,
    /// This node's own limiter at the full rate (see the module documentation).
    here: DefaultDirectRateLimiter,
}

/// What this node holds of the current window.
#[derive(Default)]
struct Grant {
    window: u64,
    tokens: u32,
    /// The window's counter is full: refused without asking.
    exhausted: bool,
}

impl Throughput {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            buckets: Default::default(),
        }
    }

    /// `account`'s bucket at `rate`.
    fn bucket(&self, account: &str, rate: NonZeroU32) -> Arc<Bucket> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        match buckets.get(account) {
            Some(bucket) if bucket.rate == rate.get() => bucket.clone(),
            _ => {
                let bucket = Arc::new(Bucket {
                    rate: rate.get(),
                    grant: Mutex::default(),
                    here: RateLimiter::direct(Quota::per_second(rate)),
                });
                buckets.insert(account.to_owned(), bucket.clone());
                bucket
            }
        }
    }

    /// Whether `account` may send one more MT now (always, without a `throughput`).
    pub async fn admit(&self, account: &Account) -> bool {
        let Some(rate) = account.throughput.and_then(NonZeroU32::new) else {
            return true;
        };
        let bucket = self.bucket(&account.system_id, rate);
        let account = account.system_id.as_str();
        if bucket.here.check().is_err() {
            return false;
        }
        let window = now_ms() / WINDOW_MS;
        let mut grant = bucket.grant.lock().await;
        if grant.window != window {
            *grant = Grant {
                window,
                ..Grant::default()
            };
        }
        if grant.tokens > 0 {
            grant.tokens -= 1;
            return true;
        }
        if grant.exhausted {
            return false;
        }
        let want = (bucket.rate / GRANTS_PER_WINDOW).max(1);
        let key = format!("throughput:{account}");
        let counter = TokenWindow {
            key: &key,
            window,
            limit: bucket.rate,
            ttl: COUNTER_TTL,
        };
        match self.store.take_tokens(&counter, want).await {
            Ok(0) => {
                grant.exhausted = true;
                false
            }
            Ok(granted) => {
                grant.tokens = granted - 1;
                true
            }
            Err(error) => {
                // This node's own limiter let it through.
                super::fell_back("throughput", account, &error);
                true
            }
        }
    }
}
