//! `[[connectors]]`: carrier SMPP endpoints, credentials, bind pool and timing settings.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use smsgw_smpp::encoding::ReceiptIdFormat;
use toml::Spanned;

use super::accounts::{system_id, unique};
use super::Resolver;
use crate::config::defaults;
use crate::config::raw::{RawConnector, RawConnectorTls, RawNumbering};
use crate::config::types::{ConnectorConfig, ConnectorTls, Numbering, Secret};

/// SMPP 3.4 system_type: at most 13 octets, NUL included.
const MAX_SYSTEM_TYPE_LEN: usize = 12;
/// SMPP 3.4 NPI values (5.2.6).
const KNOWN_NPI: [u8; 10] = [0, 1, 3, 4, 6, 8, 9, 10, 14, 18];

pub(super) fn resolve(
    raw: &[Spanned<RawConnector>],
    resolver: &mut Resolver,
) -> Vec<ConnectorConfig> {
    let mut names: HashMap<String, Range<usize>> = HashMap::new();
    let mut connectors = Vec::with_capacity(raw.len());
    for entry in raw {
        let table_span = entry.span();
        let raw = entry.get_ref();
        check_name(&raw.name, resolver);
        unique(&raw.name, &mut names, "connector name", resolver);
        let password = resolver
            .secret(
                raw.password.as_ref(),
                raw.password_env.as_ref(),
                "password",
                table_span,
            )
            .map(Secret::new)
            .unwrap_or_default();
        let system_type = raw.system_type.as_ref().map_or_else(String::new, |value| {
            if value.get_ref().len() > MAX_SYSTEM_TYPE_LEN {
                resolver.problems.at(
                    value.span(),
                    format!("system_type is at most {MAX_SYSTEM_TYPE_LEN} characters (SMPP limit)"),
                );
            }
            value.get_ref().clone()
        });
        connectors.push(ConnectorConfig {
            name: raw.name.get_ref().clone(),
            endpoints: endpoints(&raw.endpoints, resolver),
            binds: resolver
                .positive(raw.binds.as_ref(), "binds")
                .unwrap_or(defaults::CONNECTOR_BINDS),
            system_id: system_id(&raw.system_id, resolver),
            password,
            system_type,
            receipt_id_format: receipt_id_format(raw.receipt_id_format.as_ref(), resolver),
            window: resolver.window(raw.window.as_ref(), "window", defaults::CONNECTOR_WINDOW),
            inbound_window: resolver.window(
                raw.inbound_window.as_ref(),
                "inbound_window",
                defaults::CONNECTOR_INBOUND_WINDOW,
            ),
            throughput: resolver.positive(raw.throughput.as_ref(), "throughput"),
            tls: tls(raw.tls.as_ref(), resolver),
            source_ton: numbering(raw.source_ton.as_ref(), Kind::Ton, resolver),
            source_npi: numbering(raw.source_npi.as_ref(), Kind::Npi, resolver),
            dest_ton: numbering(raw.dest_ton.as_ref(), Kind::Ton, resolver),
            dest_npi: numbering(raw.dest_npi.as_ref(), Kind::Npi, resolver),
            enquire_link_interval: resolver.duration(
                raw.enquire_link_interval.as_ref(),
                "enquire_link_interval",
                defaults::ENQUIRE_LINK_INTERVAL,
                Duration::from_secs(1),
            ),
            response_timeout: resolver.duration(
                raw.response_timeout.as_ref(),
                "response_timeout",
                defaults::RESPONSE_TIMEOUT,
                Duration::from_millis(100),
            ),
            // Carriers block clients that rebind in a tight loop: 30 s is the floor.
            rebind_delay: resolver.duration(
                raw.rebind_delay.as_ref(),
                "rebind_delay",
                defaults::REBIND_DELAY,
                defaults::REBIND_DELAY,
            ),
            fallback_after: resolver.duration(
                raw.fallback_after.as_ref(),
                "fallback_after",
                defaults::FALLBACK_AFTER,
                Duration::from_secs(1),
            ),
            dr_timeout: resolver.duration_or_off(
                raw.dr_timeout.as_ref(),
                "dr_timeout",
                defaults::DR_TIMEOUT,
                defaults::MIN_LIFETIME,
            ),
            mo_multipart_timeout: resolver.duration(
                raw.mo_multipart_timeout.as_ref(),
                "mo_multipart_timeout",
                defaults::MO_MULTIPART_TIMEOUT,
                Duration::from_secs(1),
            ),
        });
    }
    connectors
}

fn receipt_id_format(raw: Option<&Spanned<String>>, resolver: &mut Resolver) -> ReceiptIdFormat {
    let Some(raw) = raw else {
        return ReceiptIdFormat::default();
    };
    raw.get_ref().parse().unwrap_or_else(|problem: String| {
        resolver
            .problems
            .at(raw.span(), format!("receipt_id_format: {problem}"));
        ReceiptIdFormat::default()
    })
}

fn check_name(name: &Spanned<String>, resolver: &mut Resolver) {
    let text = name.get_ref();
    let valid = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !valid {
        resolver.problems.at(
            name.span(),
            format!("connector name \"{text}\" must be letters, digits, `-`, `_` or `.`"),
        );
    }
}

fn endpoints(raw: &Spanned<Vec<Spanned<String>>>, resolver: &mut Resolver) -> Vec<String> {
    if raw.get_ref().is_empty() {
        resolver.problems.at(
            raw.span(),
            "endpoints is empty: list at least one \"host:port\"",
        );
    }
    raw.get_ref()
        .iter()
        .map(|endpoint| {
            if !is_host_port(endpoint.get_ref()) {
                resolver.problems.at(
                    endpoint.span(),
                    format!(
                        "endpoint \"{}\" must be host:port, e.g. \"smsc.example.net:2775\"",
                        endpoint.get_ref()
                    ),
                );
            }
            endpoint.get_ref().clone()
        })
        .collect()
}

pub(super) fn is_host_port(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    let port_ok = port.parse::<u16>().is_ok_and(|port| port > 0);
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        // IPv6 literals need brackets, or the port would be ambiguous.
        Some(inner) => inner.parse::<std::net::Ipv6Addr>().is_ok(),
        None => !host.is_empty() && !host.contains(':') && !host.contains(char::is_whitespace),
    };
    port_ok && host_ok
}

fn tls(raw: Option<&RawConnectorTls>, resolver: &mut Resolver) -> Option<ConnectorTls> {
    match raw? {
        RawConnectorTls::Enabled(false) => None,
        RawConnectorTls::Enabled(true) => Some(ConnectorTls { ca: None }),
        RawConnectorTls::Options(options) => Some(ConnectorTls {
            ca: options
                .ca
                .as_ref()
                .map(|ca| resolver.existing_file(ca, "CA certificate")),
        }),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ton,
    Npi,
}

fn numbering(
    raw: Option<&Spanned<RawNumbering>>,
    kind: Kind,
    resolver: &mut Resolver,
) -> Numbering {
    let Some(raw) = raw else {
        return Numbering::Auto;
    };
    match *raw.get_ref() {
        RawNumbering::Auto => Numbering::Auto,
        RawNumbering::Fixed(value) => {
            let valid = match kind {
                Kind::Ton => value <= 6,
                Kind::Npi => KNOWN_NPI.contains(&value),
            };
            if !valid {
                let (name, allowed) = match kind {
                    Kind::Ton => ("TON", "0 to 6"),
                    Kind::Npi => ("NPI", "0, 1, 3, 4, 6, 8, 9, 10, 14 or 18"),
                };
                resolver.problems.at(
                    raw.span(),
                    format!("{value} is not an SMPP {name} (use {allowed}, or \"auto\")"),
                );
            }
            Numbering::Fixed(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_host_port;

    #[test]
    fn host_port_forms() {
        assert!(is_host_port("smsc.example.net:2775"));
        assert!(is_host_port("10.0.0.1:2775"));
        assert!(is_host_port("[::1]:2775"));
        assert!(!is_host_port("smsc.example.net"));
        assert!(!is_host_port(":2775"));
        assert!(!is_host_port("host:0"));
        assert!(!is_host_port("host:99999"));
        assert!(!is_host_port("::1:2775"));
    }
}
