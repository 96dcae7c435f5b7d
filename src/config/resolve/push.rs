//! `[accounts.push]` and the global `[push]` table: the push URL (an IP literal in a
//! forbidden range is refused here unless allow-listed, see [`smsgw_http::AddressPolicy`]),
//! body format, signing secret, concurrency, connection reuse, time-outs and the allow list
//! of private networks.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine as _;
use ipnet::IpNet;
use toml::Spanned;

use super::Resolver;
use crate::config::defaults;
use crate::config::raw::{RawPush, RawPushDefaults, RawPushFormat};
use crate::config::types::{AccountPush, PushFormat, Secret, StoreConfig};

/// The most pushes in flight an account may ask for: each holds two outbox entries in memory
/// and a connection; beyond this, a receiver is better served by a second gateway node.
const MAX_CONCURRENCY: u32 = 4096;

/// What every account's push settings are checked with.
pub(super) struct PushContext {
    /// The global allow list (`[push] allow_private_targets`), added to each account's.
    allowed_everywhere: Vec<IpNet>,
    /// The shared store's lease, if the store is shared: a push must end well within it.
    lease: Option<Duration>,
}

impl PushContext {
    pub(super) fn new(
        raw: Option<&RawPushDefaults>,
        store: &StoreConfig,
        resolver: &mut Resolver,
    ) -> PushContext {
        let allowed = raw.and_then(|raw| raw.allow_private_targets.as_deref());
        PushContext {
            allowed_everywhere: networks(allowed, resolver),
            lease: store.lease(),
        }
    }

    /// An account's push settings.
    pub(super) fn resolve(
        &self,
        push: &Spanned<RawPush>,
        resolver: &mut Resolver,
    ) -> Option<AccountPush> {
        let raw = push.get_ref();
        let mut allowed = networks(raw.allow_private_targets.as_deref(), resolver);
        allowed.extend_from_slice(&self.allowed_everywhere);
        check_url(&raw.url, &allowed, resolver);
        let config = settings(push, allowed, resolver);
        // A taken entry may wait one time-out for a request slot, then send.
        if let Some(lease) = self.lease.filter(|lease| config.timeout * 2 >= *lease) {
            let span = raw.timeout.as_ref().map_or(push.span(), Spanned::span);
            resolver.problems.at(
                span,
                format!(
                    "push timeout ({:?}) must be under half the shared store's lease ({:?}): a \
                     push holds its leased outbox entry for up to twice the timeout",
                    config.timeout, lease
                ),
            );
        }
        Some(config)
    }
}

/// The settings of one account's pushes, `allowed` its allow list.
fn settings(push: &Spanned<RawPush>, allowed: Vec<IpNet>, resolver: &mut Resolver) -> AccountPush {
    let raw = push.get_ref();
    let format = match raw.format.as_ref().map(|format| *format.get_ref()) {
        Some(RawPushFormat::Json) => PushFormat::Json,
        Some(RawPushFormat::Form) | None => PushFormat::Form,
    };
    let concurrency = resolver
        .positive(raw.concurrency.as_ref(), "concurrency")
        .unwrap_or(defaults::PUSH_CONCURRENCY);
    if let Some(value) = raw
        .concurrency
        .as_ref()
        .filter(|_| concurrency > MAX_CONCURRENCY)
    {
        resolver.problems.at(
            value.span(),
            format!("concurrency must be at most {MAX_CONCURRENCY} requests in flight"),
        );
    }
    let at_least = Duration::from_millis(100);
    AccountPush {
        url: raw.url.get_ref().clone(),
        format,
        signing_secret: signing_secret(push, format, resolver).map(Secret::new),
        concurrency,
        // One idle connection per request that may be in flight; more would never be used.
        max_idle_connections: raw
            .max_idle_connections
            .as_ref()
            .map_or(concurrency, |value| *value.get_ref()),
        idle_timeout: resolver.duration(
            raw.idle_timeout.as_ref(),
            "idle_timeout",
            defaults::PUSH_IDLE_TIMEOUT,
            at_least,
        ),
        timeout: resolver.duration(
            raw.timeout.as_ref(),
            "timeout",
            defaults::PUSH_TIMEOUT,
            at_least,
        ),
        connect_timeout: resolver.duration(
            raw.connect_timeout.as_ref(),
            "connect_timeout",
            defaults::PUSH_CONNECT_TIMEOUT,
            at_least,
        ),
        allow_private_targets: allowed,
    }
}

/// An absolute http(s) URL whose host, if an IP address, is allowed.
fn check_url(url: &Spanned<String>, allowed: &[IpNet], resolver: &mut Resolver) {
    let text = url.get_ref();
    let shown = smsgw_http::redact_url(text);
    let parsed = reqwest::Url::parse(text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    let Some(parsed) = parsed else {
        resolver.problems.at(
            url.span(),
            format!("push url {shown} must be an absolute URL starting with http:// or https://"),
        );
        return;
    };
    let host = parsed.host_str().unwrap_or_default();
    let Ok(literal) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    else {
        // Names are checked on every address they resolve to, when pushing.
        return;
    };
    let policy = smsgw_http::AddressPolicy::allowing(allowed.iter().copied());
    if let Err(forbidden) = policy.check(literal) {
        resolver.problems.at(
            url.span(),
            format!(
                "push url host {} is a {} address; pushes to loopback, private, link-local, \
                 CGNAT, unique-local, multicast and reserved addresses are refused unless \
                 allow_private_targets lists them (e.g. [\"{}\"])",
                forbidden.address,
                forbidden.range,
                IpNet::from(forbidden.address)
            ),
        );
    }
}

/// `allow_private_targets` entries: CIDR networks (`10.1.0.0/16`, `fd00::/8`) or single
/// addresses.
fn networks(raw: Option<&[Spanned<String>]>, resolver: &mut Resolver) -> Vec<IpNet> {
    let mut networks = Vec::new();
    for value in raw.unwrap_or_default() {
        let text = value.get_ref().trim();
        let parsed = text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from));
        match parsed {
            Ok(network) => networks.push(network),
            Err(_) => resolver.problems.at(
                value.span(),
                format!(
                    "allow_private_targets entry \"{text}\" is not a network: write a CIDR \
                     such as \"10.1.0.0/16\" or \"fd00::/8\", or an address"
                ),
            ),
        }
    }
    networks
}

fn signing_secret(
    push: &Spanned<RawPush>,
    format: PushFormat,
    resolver: &mut Resolver,
) -> Option<String> {
    let raw = push.get_ref();
    let has_secret = raw.signing_secret.is_some() || raw.signing_secret_env.is_some();
    if !has_secret {
        None
    } else if format == PushFormat::Form {
        let span = raw
            .signing_secret
            .as_ref()
            .or(raw.signing_secret_env.as_ref())
            .map_or(push.span(), Spanned::span);
        resolver.problems.at(
            span,
            "signing_secret applies to format = \"json\" only (form pushes are not signed)",
        );
        None
    } else {
        resolver
            .secret(
                raw.signing_secret.as_ref(),
                raw.signing_secret_env.as_ref(),
                "signing_secret",
                push.span(),
            )
            .and_then(|secret| checked_webhook_secret(secret, raw, resolver))
    }
}

/// Standard Webhooks secrets are base64, optionally prefixed `whsec_`.
fn checked_webhook_secret(
    secret: String,
    raw: &RawPush,
    resolver: &mut Resolver,
) -> Option<String> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(&secret);
    if base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .is_ok_and(|key| !key.is_empty())
    {
        return Some(secret);
    }
    let span = raw
        .signing_secret
        .as_ref()
        .or(raw.signing_secret_env.as_ref())
        .map_or(0..0, Spanned::span);
    resolver.problems.at(
        span,
        "signing_secret must be base64, optionally prefixed whsec_ (Standard Webhooks)",
    );
    None
}
