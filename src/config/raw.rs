//! The file as written: serde shapes of each TOML section, with spans kept on every value
//! that is validated later so its problems point at the right line.
//!
//! Every table denies unknown fields, so a misspelt key is an error rather than a silently
//! ignored setting.

use std::fmt;

use serde::de::{self, value::MapAccessDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [listeners] table")]
pub(crate) struct RawListeners {
    pub smpp: Option<S<String>>,
    pub smpp_tls: Option<RawTlsListener>,
    pub http: Option<S<String>>,
    pub https: Option<RawTlsListener>,
    pub trusted_proxies: Option<Vec<S<String>>>,
    pub proxy_protocol: Option<Vec<S<String>>>,
    pub x_forwarded_for: Option<S<bool>>,
    pub max_connections: Option<S<u32>>,
    pub max_unauthenticated_per_address: Option<S<u32>>,
    pub header_read_timeout: Option<S<String>>,
    pub body_read_timeout: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table like { address = \"0.0.0.0:8443\", cert = \"server.crt\", key = \"server.key\" }"
)]
pub(crate) struct RawTlsListener {
    pub address: S<String>,
    pub cert: S<String>,
    pub key: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [admin] table")]
pub(crate) struct RawAdmin {
    pub listen: Option<S<String>>,
    pub cert: Option<S<String>>,
    pub key: Option<S<String>>,
    pub users: Option<Vec<S<RawAdminUser>>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an [[admin.users]] table: name, password_hash or password_env, role"
)]
pub(crate) struct RawAdminUser {
    pub name: S<String>,
    pub password_hash: Option<S<String>>,
    pub password_env: Option<S<String>>,
    pub role: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [auth] table")]
pub(crate) struct RawAuth {
    pub lockout_failures: Option<S<u32>>,
    pub lockout_window: Option<S<String>>,
    pub lockout_duration: Option<S<String>>,
    pub lockout_max_entries: Option<S<u32>>,
    pub verifier_threads: Option<S<u32>>,
    pub verifier_wait: Option<S<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawStoreKind {
    Embedded,
    Redis,
    Nats,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [store] table")]
pub(crate) struct RawStore {
    pub kind: Option<S<RawStoreKind>>,
    pub embedded: Option<RawEmbeddedStore>,
    pub redis: Option<S<RawRedisStore>>,
    pub nats: Option<S<RawNatsStore>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [store.embedded] table")]
pub(crate) struct RawEmbeddedStore {
    pub path: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [store.redis] table")]
pub(crate) struct RawRedisStore {
    pub url: Option<S<String>>,
    pub url_env: Option<S<String>>,
    pub wait_replicas: Option<u32>,
    pub key_prefix: Option<S<String>>,
    pub lease: Option<S<String>>,
    pub sentinels: Option<S<Vec<S<String>>>>,
    pub master_name: Option<S<String>>,
    pub tls_ca: Option<S<String>>,
    pub tls_cert: Option<S<String>>,
    pub tls_key: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [store.nats] table")]
pub(crate) struct RawNatsStore {
    pub servers: Option<S<Vec<S<String>>>>,
    pub namespace: Option<S<String>>,
    pub replicas: Option<S<u32>>,
    pub shards: Option<S<u32>>,
    pub pinned: Option<S<std::collections::BTreeMap<String, S<u32>>>>,
    pub lease: Option<S<String>>,
    pub user: Option<S<String>>,
    pub password: Option<S<String>>,
    pub password_env: Option<S<String>>,
    pub tls_ca: Option<S<String>>,
    pub tls_cert: Option<S<String>>,
    pub tls_key: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [simulator] table")]
pub(crate) struct RawSimulator {
    pub enabled: Option<bool>,
    pub listen: Option<S<String>>,
    pub dr_delay: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[accounts]] table")]
pub(crate) struct RawAccount {
    pub system_id: S<String>,
    pub password_hash: Option<S<String>>,
    pub password_env: Option<S<String>>,
    pub http_login: Option<S<String>>,
    pub allowed_senders: Option<Vec<S<String>>>,
    pub mo_numbers: Option<Vec<S<String>>>,
    pub throughput: Option<S<u32>>,
    pub max_binds: Option<S<u32>>,
    pub push: Option<S<RawPush>>,
    pub outbox_ttl: Option<S<String>>,
    pub max_segments: Option<S<u32>>,
    pub idempotency_ttl: Option<S<String>>,
    pub window: Option<S<u32>>,
    pub inbound_window: Option<S<u32>>,
    pub opt_out: Option<S<RawOptOut>>,
    pub validity: Option<S<String>>,
    pub dr_timeout: Option<S<String>>,
    pub mo_multipart: Option<S<String>>,
}

/// `[accounts.opt_out]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [accounts.opt_out] table")]
pub(crate) struct RawOptOut {
    pub enabled: Option<S<bool>>,
    pub scope: Option<S<String>>,
    pub stop: Option<Vec<S<String>>>,
    pub start: Option<Vec<S<String>>>,
    pub help: Option<Vec<S<String>>>,
    pub stop_reply: Option<S<String>>,
    pub start_reply: Option<S<String>>,
    pub help_reply: Option<S<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawPushFormat {
    Form,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a push table like { url = \"https://...\" }"
)]
pub(crate) struct RawPush {
    pub url: S<String>,
    pub format: Option<S<RawPushFormat>>,
    pub signing_secret: Option<S<String>>,
    pub signing_secret_env: Option<S<String>>,
    pub concurrency: Option<S<u32>>,
    pub max_idle_connections: Option<S<u32>>,
    pub idle_timeout: Option<S<String>>,
    pub timeout: Option<S<String>>,
    pub connect_timeout: Option<S<String>>,
    pub allow_private_targets: Option<Vec<S<String>>>,
}

/// The top-level `[push]` table: settings for every account's pushes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [push] table")]
pub(crate) struct RawPushDefaults {
    pub allow_private_targets: Option<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[connectors]] table")]
pub(crate) struct RawConnector {
    pub name: S<String>,
    pub endpoints: S<Vec<S<String>>>,
    pub binds: Option<S<u32>>,
    pub system_id: S<String>,
    pub password: Option<S<String>>,
    pub password_env: Option<S<String>>,
    pub system_type: Option<S<String>>,
    pub receipt_id_format: Option<S<String>>,
    pub window: Option<S<u32>>,
    pub inbound_window: Option<S<u32>>,
    pub throughput: Option<S<u32>>,
    pub tls: Option<RawConnectorTls>,
    pub source_ton: Option<S<RawNumbering>>,
    pub source_npi: Option<S<RawNumbering>>,
    pub dest_ton: Option<S<RawNumbering>>,
    pub dest_npi: Option<S<RawNumbering>>,
    pub enquire_link_interval: Option<S<String>>,
    pub response_timeout: Option<S<String>>,
    pub rebind_delay: Option<S<String>>,
    pub fallback_after: Option<S<String>>,
    pub dr_timeout: Option<S<String>>,
    pub mo_multipart_timeout: Option<S<String>>,
}

/// `tls = true`, `tls = false` or `tls = { ca = "carrier-ca.pem" }`.
#[derive(Debug)]
pub(crate) enum RawConnectorTls {
    Enabled(bool),
    Options(RawConnectorTlsOptions),
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table like { ca = \"carrier-ca.pem\" }"
)]
pub(crate) struct RawConnectorTlsOptions {
    pub ca: Option<S<String>>,
}

impl<'de> Deserialize<'de> for RawConnectorTls {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TlsVisitor;
        impl<'de> Visitor<'de> for TlsVisitor {
            type Value = RawConnectorTls;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or a table like { ca = \"carrier-ca.pem\" }")
            }
            fn visit_bool<E: de::Error>(self, enabled: bool) -> Result<Self::Value, E> {
                Ok(RawConnectorTls::Enabled(enabled))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawConnectorTlsOptions::deserialize(MapAccessDeserializer::new(map))
                    .map(RawConnectorTls::Options)
            }
        }
        deserializer.deserialize_any(TlsVisitor)
    }
}

/// A TON or NPI setting: `"auto"` or a number 0..=255 (checked against SMPP's values later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawNumbering {
    Auto,
    Fixed(u8),
}

impl<'de> Deserialize<'de> for RawNumbering {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberingVisitor;
        impl Visitor<'_> for NumberingVisitor {
            type Value = RawNumbering;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"auto\" or a number")
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
                u8::try_from(value)
                    .map(RawNumbering::Fixed)
                    .map_err(|_| E::custom(format!("{value} is not a TON/NPI value (0..=255)")))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
                u8::try_from(value)
                    .map(RawNumbering::Fixed)
                    .map_err(|_| E::custom(format!("{value} is not a TON/NPI value (0..=255)")))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                if value == "auto" {
                    Ok(RawNumbering::Auto)
                } else {
                    Err(E::custom(format!(
                        "expected \"auto\" or a number, found \"{value}\""
                    )))
                }
            }
        }
        deserializer.deserialize_any(NumberingVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[routes]] table")]
pub(crate) struct RawRoute {
    pub prefix: S<String>,
    pub carrier: Option<S<String>>,
    pub account: Option<S<String>>,
    pub connectors: S<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [events] table")]
pub(crate) struct RawEvents {
    pub batch_size: Option<S<u32>>,
    pub storing_timeout: Option<S<String>>,
    pub max_queue_size: Option<S<u32>>,
    pub sinks: Option<Vec<S<RawEventSink>>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an [[events.sinks]] table like { kind = \"postgres\", url = \"postgres://...\" }"
)]
pub(crate) struct RawEventSink {
    pub kind: S<String>,
    pub url: Option<S<String>>,
    pub url_env: Option<S<String>>,
    pub path: Option<S<String>>,
    pub rotate_bytes: Option<S<u64>>,
    pub rotate_every: Option<S<String>>,
    pub keep: Option<S<u32>>,
    pub subject: Option<S<String>>,
    pub stream: Option<S<String>>,
    pub kinds: Option<Vec<S<String>>>,
    pub accounts: Option<Vec<S<String>>>,
}
