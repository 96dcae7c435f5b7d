//! `[listeners]`' defences and client-address settings -> [`EdgeSettings`].

use std::time::Duration;

use toml::Spanned;

use super::Resolver;
use crate::config::defaults;
use crate::config::raw::RawListeners;
use crate::config::types::{EdgeSettings, ProxyProtocolOn};

const LISTENER_NAMES: &str = "smpp, smpp_tls, http, https";

pub(super) fn resolve(
    raw: Option<&RawListeners>,
    resolver: &mut Resolver<'_, '_, '_>,
) -> EdgeSettings {
    let default = defaults::edge();
    let Some(raw) = raw else {
        return default;
    };
    let trusted_proxies: Vec<ipnet::IpNet> = raw
        .trusted_proxies
        .iter()
        .flatten()
        .filter_map(|value| network(value, resolver))
        .collect();
    let proxy_protocol = proxy_protocol(raw, resolver);
    let x_forwarded_for = raw.x_forwarded_for.as_ref().is_some_and(|on| *on.get_ref());
    if trusted_proxies.is_empty() {
        let needs_trust = raw
            .proxy_protocol
            .iter()
            .flatten()
            .next()
            .map(Spanned::span);
        let xff = raw.x_forwarded_for.as_ref().filter(|on| *on.get_ref());
        for span in needs_trust.into_iter().chain(xff.map(Spanned::span)) {
            resolver.problems.at(
                span,
                "no effect without trusted_proxies: list the balancers' addresses \
                 (e.g. trusted_proxies = [\"10.0.1.5/32\"])",
            );
        }
    }
    let max_connections = resolver
        .positive(raw.max_connections.as_ref(), "max_connections")
        .unwrap_or(default.max_connections);
    let max_unauthenticated_per_address = resolver
        .positive(
            raw.max_unauthenticated_per_address.as_ref(),
            "max_unauthenticated_per_address",
        )
        .unwrap_or(default.max_unauthenticated_per_address);
    let one_second = Duration::from_secs(1);
    EdgeSettings {
        trusted_proxies,
        proxy_protocol,
        x_forwarded_for,
        max_connections,
        max_unauthenticated_per_address,
        header_read_timeout: resolver.duration(
            raw.header_read_timeout.as_ref(),
            "header_read_timeout",
            default.header_read_timeout,
            one_second,
        ),
        body_read_timeout: resolver.duration(
            raw.body_read_timeout.as_ref(),
            "body_read_timeout",
            default.body_read_timeout,
            one_second,
        ),
    }
}

/// An address (`10.0.1.5`, one host) or a network (`10.0.0.0/16`).
fn network(value: &Spanned<String>, resolver: &mut Resolver<'_, '_, '_>) -> Option<ipnet::IpNet> {
    let text = value.get_ref().trim();
    let parsed = text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    });
    if parsed.is_none() {
        resolver.problems.at(
            value.span(),
            format!(
                "\"{text}\" is not an IP address or network: write e.g. \"10.0.1.5\" or \
                 \"10.0.0.0/16\""
            ),
        );
    }
    parsed
}

fn proxy_protocol(raw: &RawListeners, resolver: &mut Resolver<'_, '_, '_>) -> ProxyProtocolOn {
    let mut on = ProxyProtocolOn::default();
    for name in raw.proxy_protocol.iter().flatten() {
        let (flag, configured) = match name.get_ref().as_str() {
            "smpp" => (&mut on.smpp, true),
            "smpp_tls" => (&mut on.smpp_tls, raw.smpp_tls.is_some()),
            "http" => (&mut on.http, true),
            "https" => (&mut on.https, raw.https.is_some()),
            other => {
                resolver.problems.at(
                    name.span(),
                    format!("unknown listener \"{other}\" (known: {LISTENER_NAMES})"),
                );
                continue;
            }
        };
        if !configured {
            resolver.problems.at(
                name.span(),
                format!(
                    "listener {} is not configured in [listeners]",
                    name.get_ref()
                ),
            );
        }
        *flag = true;
    }
    on
}
