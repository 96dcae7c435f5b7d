//! [`RawDocument`] -> checked [`Config`]: defaults applied, values validated, secrets read.
//! Every problem is recorded with its span and checking goes on, so one run reports all.

mod accounts;
mod admin;
mod auth;
mod connectors;
mod edge;
mod event_log;
mod nats;
mod opt_out;

pub use opt_out::with_default_keywords as defaults_opt_out;
mod push;
mod redis;
mod routes;
mod store_tls;

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::defaults;
use super::duration::parse_duration;
use super::error::Problems;
use super::parse::RawDocument;
use super::raw::{RawListeners, RawSimulator, RawStore, RawStoreKind, RawTlsListener};
use super::types::{Listeners, SimulatorSettings, StoreConfig, TlsListener};
use super::Config;

/// Reads an environment variable; injected so tests need not touch the process environment.
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub(crate) struct Resolver<'p, 't, 'e> {
    pub problems: &'p mut Problems<'t>,
    /// Relative paths in the file are relative to the file's directory.
    pub base_dir: PathBuf,
    pub env: EnvLookup<'e>,
}

pub(crate) fn resolve(document: RawDocument, resolver: &mut Resolver<'_, '_, '_>) -> Config {
    let node_id = match &document.node_id {
        Some(value) => resolver.identifier(value, "node_id", 32),
        None => defaults::node_id(),
    };
    let site = match &document.site {
        Some(value) => resolver.identifier(value, "site", 16),
        None => defaults::SITE.to_owned(),
    };
    let data_dir = match &document.data_dir {
        Some(value) => resolver.path(value),
        None => PathBuf::from(defaults::DATA_DIR),
    };
    let listeners = resolver.listeners(document.listeners.as_ref());
    let store = resolver.store(document.store.as_ref(), &data_dir);
    let builtin_simulator = document
        .simulator
        .as_ref()
        .and_then(|simulator| resolver.simulator(simulator));
    let push = push::PushContext::new(document.push.as_ref(), &store, resolver);
    let accounts = accounts::resolve(&document.accounts, &push, resolver);
    let connectors = connectors::resolve(&document.connectors, resolver);
    let connector_names: Vec<String> = connectors.iter().map(|c| c.name.clone()).collect();
    resolver.check_nats_pins(document.store.as_ref(), &connector_names);
    let routes = routes::resolve(&document, resolver);
    let auth = resolver.auth(document.auth.as_ref());
    let events = resolver.event_log(document.events.as_ref());
    let admin = admin::resolve(document.admin.as_ref(), resolver);
    let mut config = Config::assemble(
        node_id,
        site,
        data_dir,
        listeners,
        store,
        accounts,
        connectors,
        routes,
        builtin_simulator,
    );
    config.auth = auth;
    config.events = events;
    config.admin = admin;
    config
}

impl Resolver<'_, '_, '_> {
    fn identifier(&mut self, value: &Spanned<String>, what: &str, max_len: usize) -> String {
        let text = value.get_ref();
        let valid_chars = text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if text.is_empty() || text.len() > max_len || !valid_chars {
            self.problems.at(
                value.span(),
                format!(
                    "{what} \"{text}\" must be 1 to {max_len} letters, digits, `-` or `_` \
                     (it is part of every message id)"
                ),
            );
        }
        text.clone()
    }

    pub(crate) fn path(&self, value: &Spanned<String>) -> PathBuf {
        self.base_dir.join(value.get_ref())
    }

    /// A file that must exist now (certificates, keys, CA bundles).
    pub(crate) fn existing_file(&mut self, value: &Spanned<String>, what: &str) -> PathBuf {
        let path = self.path(value);
        if !path.is_file() {
            self.problems.at(
                value.span(),
                format!("{what} file {} does not exist", path.display()),
            );
        }
        path
    }

    pub(crate) fn address(&mut self, value: &Spanned<String>, fallback: &str) -> SocketAddr {
        value.get_ref().parse().unwrap_or_else(|_| {
            self.problems.at(
                value.span(),
                format!(
                    "\"{}\" is not a socket address: write IP:PORT, e.g. \"{fallback}\"",
                    value.get_ref()
                ),
            );
            fallback.parse().expect("fallback addresses are valid")
        })
    }

    /// A duration setting, `default` when absent; `min` is the smallest accepted value.
    pub(crate) fn duration(
        &mut self,
        value: Option<&Spanned<String>>,
        what: &str,
        default: Duration,
        min: Duration,
    ) -> Duration {
        let Some(value) = value else {
            return default;
        };
        match parse_duration(value.get_ref()) {
            Ok(duration) if duration < min => {
                let min_text = if min.subsec_millis() == 0 {
                    format!("{}s", min.as_secs())
                } else {
                    format!("{}ms", min.as_millis())
                };
                self.problems.at(
                    value.span(),
                    format!(
                        "{what} must be at least {min_text}, not \"{}\"",
                        value.get_ref()
                    ),
                );
                default
            }
            Ok(duration) => duration,
            Err(message) => {
                self.problems.at(value.span(), message);
                default
            }
        }
    }

    /// An SMPP window: 1 to [`defaults::MAX_WINDOW`], `default` when absent.
    /// [`Self::duration`], or `"off"`: [`Duration::ZERO`].
    pub(crate) fn duration_or_off(
        &mut self,
        value: Option<&Spanned<String>>,
        what: &str,
        default: Duration,
        min: Duration,
    ) -> Duration {
        match value {
            Some(value) if value.get_ref() == "off" => Duration::ZERO,
            _ => self.duration(value, what, default, min),
        }
    }

    /// A duration that has no default: `None` when not set (or wrong, after recording why).
    pub(crate) fn optional_duration(
        &mut self,
        value: Option<&Spanned<String>>,
        what: &str,
        min: Duration,
    ) -> Option<Duration> {
        value.map(|value| self.duration(Some(value), what, min, min))
    }

    pub(crate) fn window(&mut self, value: Option<&Spanned<u32>>, what: &str, default: u32) -> u32 {
        let Some(value) = value else {
            return default;
        };
        let max = defaults::MAX_WINDOW;
        if !(1..=max).contains(value.get_ref()) {
            self.problems.at(
                value.span(),
                format!(
                    "{what} must be between 1 and {max}, not {}",
                    value.get_ref()
                ),
            );
            return default;
        }
        *value.get_ref()
    }

    /// A count that must be at least 1.
    pub(crate) fn positive(&mut self, value: Option<&Spanned<u32>>, what: &str) -> Option<u32> {
        let value = value?;
        if *value.get_ref() == 0 {
            self.problems
                .at(value.span(), format!("{what} must be at least 1"));
        }
        Some(*value.get_ref())
    }

    /// A secret written in the file or read from the environment variable named by the
    /// `_env` field; exactly one of the two. `None` (after recording why) when missing.
    pub(crate) fn secret(
        &mut self,
        plain: Option<&Spanned<String>>,
        from_env: Option<&Spanned<String>>,
        field: &str,
        table_span: Range<usize>,
    ) -> Option<String> {
        match (plain, from_env) {
            (Some(_), Some(env_name)) => {
                self.problems.at(
                    env_name.span(),
                    format!("set either {field} or {field}_env, not both"),
                );
                None
            }
            (Some(value), None) => Some(value.get_ref().clone()),
            (None, Some(env_name)) => self.env_var(env_name),
            (None, None) => {
                self.problems
                    .at(table_span, format!("missing {field} (or {field}_env)"));
                None
            }
        }
    }

    pub(crate) fn env_var(&mut self, name: &Spanned<String>) -> Option<String> {
        match (self.env)(name.get_ref()) {
            Some(value) if !value.is_empty() => Some(value),
            Some(_) => {
                self.problems.at(
                    name.span(),
                    format!("environment variable {} is empty", name.get_ref()),
                );
                None
            }
            None => {
                self.problems.at(
                    name.span(),
                    format!("environment variable {} is not set", name.get_ref()),
                );
                None
            }
        }
    }

    fn listeners(&mut self, raw: Option<&RawListeners>) -> Listeners {
        let smpp = raw.and_then(|raw| raw.smpp.as_ref());
        let http = raw.and_then(|raw| raw.http.as_ref());
        Listeners {
            smpp: smpp.map_or(defaults::smpp_listener(), |value| {
                self.address(value, defaults::SMPP_LISTENER)
            }),
            smpp_tls: raw
                .and_then(|raw| raw.smpp_tls.as_ref())
                .map(|tls| self.tls_listener(tls)),
            http: http.map_or(defaults::http_listener(), |value| {
                self.address(value, defaults::HTTP_LISTENER)
            }),
            https: raw
                .and_then(|raw| raw.https.as_ref())
                .map(|tls| self.tls_listener(tls)),
            edge: edge::resolve(raw, self),
        }
    }

    fn tls_listener(&mut self, raw: &RawTlsListener) -> TlsListener {
        TlsListener {
            address: self.address(&raw.address, "0.0.0.0:443"),
            cert: self.existing_file(&raw.cert, "certificate"),
            key: self.existing_file(&raw.key, "private key"),
        }
    }

    fn store(&mut self, raw: Option<&RawStore>, data_dir: &Path) -> StoreConfig {
        let embedded_default = StoreConfig::Embedded {
            path: data_dir.join(defaults::EMBEDDED_FILE),
        };
        let Some(raw) = raw else {
            return embedded_default;
        };
        let table_without_kind = match (&raw.redis, &raw.nats) {
            (Some(redis), _) => Some(("redis", redis.span())),
            (None, Some(nats)) => Some(("nats", nats.span())),
            (None, None) => None,
        };
        let kind = match (&raw.kind, table_without_kind) {
            (Some(kind), _) => *kind.get_ref(),
            (None, Some((name, span))) => {
                self.problems.at(
                    span,
                    format!(
                        "[store.{name}] is set but [store] has no kind: add kind = \"{name}\" \
                         (or kind = \"embedded\" to keep the embedded store)"
                    ),
                );
                RawStoreKind::Embedded
            }
            (None, None) => RawStoreKind::Embedded,
        };
        match kind {
            RawStoreKind::Embedded => {
                match raw
                    .embedded
                    .as_ref()
                    .and_then(|embedded| embedded.path.as_ref())
                {
                    Some(path) => StoreConfig::Embedded {
                        path: self.path(path),
                    },
                    None => embedded_default,
                }
            }
            RawStoreKind::Redis => self.redis_store(raw),
            RawStoreKind::Nats => self.nats_store(raw),
        }
    }

    fn simulator(&mut self, raw: &RawSimulator) -> Option<SimulatorSettings> {
        let listen = raw
            .listen
            .as_ref()
            .map_or(defaults::simulator_listener(), |value| {
                self.address(value, defaults::SIMULATOR_LISTENER)
            });
        let dr_delay = self.duration(
            raw.dr_delay.as_ref(),
            "dr_delay",
            defaults::SIMULATOR_DR_DELAY,
            Duration::ZERO,
        );
        raw.enabled
            .unwrap_or(false)
            .then_some(SimulatorSettings { listen, dr_delay })
    }
}
