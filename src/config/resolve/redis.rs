//! `[store.redis]`: one Redis at `url`, or the primary named by `sentinels` + `master_name`
//! (then `url`, if set, carries only the primary's scheme, user, password and database); key
//! prefix, lease, `wait_replicas`, and the certificates of the TLS (`rediss://`) connections:
//! `tls_ca`, `tls_cert` + `tls_key`.

use std::time::Duration;

use toml::Spanned;

use super::{connectors::is_host_port, Resolver};
use crate::config::{
    defaults,
    raw::{RawRedisStore, RawStore},
    types::{RedisSentinel, Secret, StoreConfig, StoreTls},
};

const SCHEMES: [&str; 4] = ["redis://", "rediss://", "redis+unix://", "unix://"];
const SENTINEL_SCHEMES: [&str; 2] = ["redis://", TLS_SCHEME];
const TLS_SCHEME: &str = "rediss://";

impl Resolver<'_, '_, '_> {
    pub(super) fn redis_store(&mut self, raw: &RawStore) -> StoreConfig {
        let Some(redis) = &raw.redis else {
            let span = raw.kind.as_ref().map_or(0..0, Spanned::span);
            self.problems.at(
                span,
                "kind = \"redis\" needs a [store.redis] table with url (or url_env), \
                 or sentinels and master_name",
            );
            return StoreConfig::Redis {
                url: Secret::default(),
                sentinel: None,
                wait_replicas: 0,
                key_prefix: defaults::REDIS_KEY_PREFIX.to_owned(),
                lease: defaults::STORE_LEASE,
                tls: StoreTls::default(),
            };
        };
        let table_span = redis.span();
        let redis = redis.get_ref();
        let sentinel = self.sentinel(redis, table_span.clone());
        let sentinels_named = redis.sentinels.is_some() || redis.master_name.is_some();
        let url = if sentinels_named && redis.url.is_none() && redis.url_env.is_none() {
            String::new()
        } else {
            self.secret(
                redis.url.as_ref(),
                redis.url_env.as_ref(),
                "url",
                table_span,
            )
            .unwrap_or_default()
        };
        self.check_url(redis, &url, sentinels_named);
        let tls = self.redis_tls(redis, &url, sentinel.as_ref());
        let key_prefix = redis.key_prefix.as_ref().map_or_else(
            || defaults::REDIS_KEY_PREFIX.to_owned(),
            |prefix| prefix.get_ref().clone(),
        );
        let lease = self.duration(
            redis.lease.as_ref(),
            "lease",
            defaults::STORE_LEASE,
            Duration::from_secs(1),
        );
        StoreConfig::Redis {
            url: Secret::new(url),
            sentinel,
            wait_replicas: redis.wait_replicas.unwrap_or(0),
            key_prefix,
            lease,
            tls,
        }
    }

    /// `tls_ca`, `tls_cert` and `tls_key`, used by `rediss://` URLs and Sentinels.
    fn redis_tls(
        &mut self,
        redis: &RawRedisStore,
        url: &str,
        sentinel: Option<&RedisSentinel>,
    ) -> StoreTls {
        let sentinels_tls = sentinel.is_some_and(|sentinel| {
            sentinel
                .addresses
                .iter()
                .any(|address| address.expose().starts_with(TLS_SCHEME))
        });
        let uses_tls = url.starts_with(TLS_SCHEME) || sentinels_tls;
        self.store_tls_files(
            [&redis.tls_ca, &redis.tls_cert, &redis.tls_key],
            uses_tls,
            "write url = \"rediss://...\" (or rediss:// sentinels)",
        )
    }

    fn check_url(&mut self, redis: &RawRedisStore, url: &str, sentinel: bool) {
        let span = || {
            redis
                .url
                .as_ref()
                .or(redis.url_env.as_ref())
                .map_or(0..0, Spanned::span)
        };
        if !url.is_empty() && !SCHEMES.iter().any(|scheme| url.starts_with(scheme)) {
            self.problems.at(
                span(),
                "redis url must start with redis://, rediss://, redis+unix:// or unix://",
            );
        } else if sentinel
            && !url.is_empty()
            && !SENTINEL_SCHEMES.iter().any(|s| url.starts_with(s))
        {
            self.problems.at(
                span(),
                "with sentinels, url only gives the primary's scheme, user, password and \
                 database: write redis://[user][:password@]host[/db], or rediss:// for TLS to \
                 the primary",
            );
        }
    }

    /// `sentinels` and `master_name`: both or neither.
    fn sentinel(
        &mut self,
        redis: &RawRedisStore,
        table_span: std::ops::Range<usize>,
    ) -> Option<RedisSentinel> {
        match (&redis.sentinels, &redis.master_name) {
            (None, None) => None,
            (Some(_), None) => {
                self.problems.at(
                    table_span,
                    "sentinels is set but master_name is missing: name the primary as the \
                     Sentinels monitor it, e.g. master_name = \"smsgw\"",
                );
                None
            }
            (None, Some(name)) => {
                self.problems.at(
                    name.span(),
                    "master_name needs sentinels = [\"host:port\", ...]",
                );
                None
            }
            (Some(sentinels), Some(name)) => {
                if sentinels.get_ref().is_empty() {
                    self.problems.at(
                        sentinels.span(),
                        "sentinels is empty: list at least one \"host:port\"",
                    );
                }
                if name.get_ref().is_empty() {
                    self.problems.at(name.span(), "master_name is empty");
                }
                let addresses = sentinels
                    .get_ref()
                    .iter()
                    .map(|address| self.sentinel_address(address))
                    .collect();
                self.sentinels_alike(sentinels.get_ref());
                Some(RedisSentinel {
                    addresses,
                    master_name: name.get_ref().clone(),
                })
            }
        }
    }

    fn sentinel_address(&mut self, address: &Spanned<String>) -> Secret {
        let (_, _, host_port) = sentinel_parts(address.get_ref());
        if !is_host_port(host_port.trim_end_matches('/')) {
            self.problems.at(
                address.span(),
                format!(
                    "sentinel \"{host_port}\" must be host:port (or \
                     redis[s]://[[user]:password@]host:port), e.g. \"10.0.0.7:26379\""
                ),
            );
        }
        Secret::new(address.get_ref().clone())
    }

    /// All Sentinels are reached the same way: the `redis` crate takes one user and password
    /// for all of them, and TLS for all or none.
    fn sentinels_alike(&mut self, sentinels: &[Spanned<String>]) {
        let Some((first, rest)) = sentinels.split_first() else {
            return;
        };
        let (tls, credentials, _) = sentinel_parts(first.get_ref());
        for other in rest {
            let (other_tls, other_credentials, _) = sentinel_parts(other.get_ref());
            if other_tls != tls {
                self.problems.at(
                    other.span(),
                    "all sentinels use TLS (rediss://) or none does: a set is configured one way",
                );
            } else if other_credentials != credentials {
                self.problems.at(
                    other.span(),
                    "all sentinels must have the same user and password (as in the first entry)",
                );
            }
        }
    }
}

/// A sentinel entry's parts: TLS (`rediss://`), the credentials before `@`, and `host:port`.
fn sentinel_parts(text: &str) -> (bool, &str, &str) {
    let (tls, rest) = match (text.strip_prefix(TLS_SCHEME), text.strip_prefix("redis://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return (false, "", text),
    };
    let (credentials, host_port) = rest.rsplit_once('@').unwrap_or(("", rest));
    (tls, credentials, host_port)
}
