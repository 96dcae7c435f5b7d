//! `[store.redis]`: one Redis at `url`, or the primary named by `sentinels` + `master_name`
//! (then `url`, if set, carries only the primary's user, password and database); key prefix,
//! lease and `wait_replicas`.

use std::time::Duration;

use toml::Spanned;

use super::{connectors::is_host_port, Resolver};
use crate::config::{
    defaults,
    raw::{RawRedisStore, RawStore},
    types::{RedisSentinel, Secret, StoreConfig},
};

const SCHEMES: [&str; 4] = ["redis://", "rediss://", "redis+unix://", "unix://"];

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
                lease: defaults::REDIS_LEASE,
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
        let key_prefix = redis.key_prefix.as_ref().map_or_else(
            || defaults::REDIS_KEY_PREFIX.to_owned(),
            |prefix| prefix.get_ref().clone(),
        );
        let lease = self.duration(
            redis.lease.as_ref(),
            "lease",
            defaults::REDIS_LEASE,
            Duration::from_secs(1),
        );
        StoreConfig::Redis {
            url: Secret::new(url),
            sentinel,
            wait_replicas: redis.wait_replicas.unwrap_or(0),
            key_prefix,
            lease,
        }
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
        } else if sentinel && !url.is_empty() && !url.starts_with("redis://") {
            self.problems.at(
                span(),
                "with sentinels, url only gives the primary's user, password and database: \
                 write redis://[user][:password@]host[/db] (TLS to the primary is not supported)",
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
                Some(RedisSentinel {
                    addresses,
                    master_name: name.get_ref().clone(),
                })
            }
        }
    }

    fn sentinel_address(&mut self, address: &Spanned<String>) -> Secret {
        let text = address.get_ref();
        let host_port = text.strip_prefix("redis://").map_or(text.as_str(), |rest| {
            rest.rsplit_once('@').map_or(rest, |(_, host)| host)
        });
        if !is_host_port(host_port.trim_end_matches('/')) {
            self.problems.at(
                address.span(),
                format!(
                    "sentinel \"{host_port}\" must be host:port (or redis://[:password@]host:port), \
                     e.g. \"10.0.0.7:26379\""
                ),
            );
        }
        Secret::new(text.clone())
    }
}
