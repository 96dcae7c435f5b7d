//! `[store.nats]`: the NATS JetStream cluster of the multi-site store: `servers` (any of them
//! finds the cluster), `namespace`, `replicas`, `shards` and `pinned` (connectors on a shard
//! of the operator's choice), `lease`, `user` + `password` (or `password_env`), and the
//! certificates of `tls://` connections.

use std::{collections::BTreeMap, time::Duration};

use toml::Spanned;

use super::{connectors::is_host_port, Resolver};
use crate::config::{
    defaults,
    raw::{RawNatsStore, RawStore},
    types::{Secret, StoreConfig, StoreTls},
};

const SCHEMES: [&str; 2] = ["nats://", TLS_SCHEME];
const TLS_SCHEME: &str = "tls://";
/// JetStream keeps at most five copies of a stream.
const MAX_REPLICAS: u32 = 5;
/// As the store's own limit ([`crate::store::nats::placement::MAX_SHARDS`]).
const MAX_SHARDS: u32 = crate::store::nats::placement::MAX_SHARDS as u32;

impl Resolver<'_, '_, '_> {
    pub(super) fn nats_store(&mut self, raw: &RawStore) -> StoreConfig {
        let Some(nats) = &raw.nats else {
            let span = raw.kind.as_ref().map_or(0..0, Spanned::span);
            self.problems.at(
                span,
                "kind = \"nats\" needs a [store.nats] table with servers = [\"nats://host:4222\", \
                 ...]",
            );
            return StoreConfig::Nats {
                servers: Vec::new(),
                namespace: defaults::NATS_NAMESPACE.to_owned(),
                replicas: defaults::NATS_REPLICAS,
                shards: defaults::NATS_SHARDS,
                pinned: BTreeMap::new(),
                lease: defaults::STORE_LEASE,
                credentials: None,
                tls: StoreTls::default(),
            };
        };
        let table_span = nats.span();
        let nats = nats.get_ref();
        let servers = self.nats_servers(nats, table_span.clone());
        let uses_tls = servers.iter().any(|url| url.starts_with(TLS_SCHEME));
        let tls = self.store_tls_files(
            [&nats.tls_ca, &nats.tls_cert, &nats.tls_key],
            uses_tls,
            "write servers as tls://host:port",
        );
        let shards = self.nats_shards(nats);
        StoreConfig::Nats {
            servers,
            namespace: self.nats_namespace(nats),
            replicas: self.nats_replicas(nats),
            shards,
            pinned: self.nats_pinned(nats, shards),
            lease: self.duration(
                nats.lease.as_ref(),
                "lease",
                defaults::STORE_LEASE,
                Duration::from_secs(1),
            ),
            credentials: self.nats_credentials(nats, table_span),
            tls,
        }
    }

    fn nats_servers(
        &mut self,
        nats: &RawNatsStore,
        table_span: std::ops::Range<usize>,
    ) -> Vec<String> {
        let Some(servers) = &nats.servers else {
            self.problems.at(
                table_span,
                "missing servers: the NATS servers to reach the cluster through, e.g. \
                 servers = [\"nats://10.0.1.5:4222\", \"nats://10.0.2.5:4222\"]",
            );
            return Vec::new();
        };
        if servers.get_ref().is_empty() {
            self.problems
                .at(servers.span(), "servers must name at least one NATS server");
        }
        servers
            .get_ref()
            .iter()
            .map(|server| {
                let text = server.get_ref();
                let host_port = SCHEMES
                    .iter()
                    .find_map(|scheme| text.strip_prefix(scheme))
                    .filter(|rest| !rest.contains('@'));
                if !host_port.is_some_and(is_host_port) {
                    self.problems.at(
                        server.span(),
                        format!(
                            "NATS server \"{text}\" must be nats://host:port or tls://host:port \
                             (credentials go in user and password, not in the URL)"
                        ),
                    );
                }
                text.clone()
            })
            .collect()
    }

    fn nats_namespace(&mut self, nats: &RawNatsStore) -> String {
        let Some(namespace) = &nats.namespace else {
            return defaults::NATS_NAMESPACE.to_owned();
        };
        let text = namespace.get_ref();
        let valid = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            self.problems.at(
                namespace.span(),
                "namespace prefixes subjects and names streams: letters, digits, '-' and '_' only",
            );
        }
        text.clone()
    }

    fn nats_replicas(&mut self, nats: &RawNatsStore) -> u32 {
        let Some(replicas) = &nats.replicas else {
            return defaults::NATS_REPLICAS;
        };
        let count = *replicas.get_ref();
        if !(1..=MAX_REPLICAS).contains(&count) {
            self.problems.at(
                replicas.span(),
                format!(
                    "replicas must be 1 to {MAX_REPLICAS} (3: one copy per site, so a write \
                     survives the loss of any one site)"
                ),
            );
        }
        count
    }

    fn nats_shards(&mut self, nats: &RawNatsStore) -> u32 {
        let Some(shards) = &nats.shards else {
            return defaults::NATS_SHARDS;
        };
        let count = *shards.get_ref();
        if !(1..=MAX_SHARDS).contains(&count) {
            self.problems.at(
                shards.span(),
                format!(
                    "shards must be 1 to {MAX_SHARDS} (one stream each, with its own leader: \
                     as many as store servers spreads the work over all of them)"
                ),
            );
            return defaults::NATS_SHARDS;
        }
        count
    }

    /// `pinned = { connector = shard }`: each shard one of `0..shards`. Whether the names
    /// are connectors is checked with the connectors ([`Self::check_nats_pins`]).
    fn nats_pinned(&mut self, nats: &RawNatsStore, shards: u32) -> BTreeMap<String, u32> {
        let Some(pinned) = &nats.pinned else {
            return BTreeMap::new();
        };
        let mut kept = BTreeMap::new();
        for (connector, shard) in pinned.get_ref() {
            if *shard.get_ref() >= shards {
                self.problems.at(
                    shard.span(),
                    format!(
                        "connector \"{connector}\" is pinned to shard {}, but shards are 0 to {} \
                         (shards = {shards})",
                        shard.get_ref(),
                        shards - 1
                    ),
                );
                continue;
            }
            kept.insert(connector.clone(), *shard.get_ref());
        }
        kept
    }

    /// Every pinned name must be a connector: a misspelt pin would do nothing, silently.
    pub(super) fn check_nats_pins(&mut self, raw: Option<&RawStore>, connectors: &[String]) {
        let Some(pinned) = raw
            .and_then(|raw| raw.nats.as_ref())
            .and_then(|nats| nats.get_ref().pinned.as_ref())
        else {
            return;
        };
        for (connector, shard) in pinned.get_ref() {
            if !connectors.contains(connector) {
                self.problems.at(
                    shard.span(),
                    format!("pinned names \"{connector}\", which is not a [[connectors]] name"),
                );
            }
        }
    }

    /// `user` with `password` or `password_env`: all or nothing.
    fn nats_credentials(
        &mut self,
        nats: &RawNatsStore,
        table_span: std::ops::Range<usize>,
    ) -> Option<(String, Secret)> {
        let password_given = nats.password.is_some() || nats.password_env.is_some();
        match &nats.user {
            None if password_given => {
                let span = nats
                    .password
                    .as_ref()
                    .or(nats.password_env.as_ref())
                    .map_or(table_span, Spanned::span);
                self.problems
                    .at(span, "a password needs its user: add user = \"...\"");
                None
            }
            None => None,
            Some(user) => {
                let password = self.secret(
                    nats.password.as_ref(),
                    nats.password_env.as_ref(),
                    "password",
                    user.span(),
                )?;
                Some((user.get_ref().clone(), Secret::new(password)))
            }
        }
    }
}
