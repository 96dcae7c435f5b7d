//! `[[routes]]`: destination prefix (+ carrier, + account) -> connectors in fallback order.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use toml::Spanned;

use super::Resolver;
use crate::config::parse::RawDocument;
use crate::config::types::Route;

pub(super) fn resolve(document: &RawDocument, resolver: &mut Resolver) -> Vec<Route> {
    if document.route_entries == 0 {
        if let Some(first) = document.connectors.first() {
            resolver.problems.at(
                first.get_ref().name.span(),
                "connectors are configured but there is no [[routes]] entry to use them; \
                 add one, e.g. prefix = \"*\", connectors = [\"<name>\"]",
            );
        }
    }
    let mut seen: HashMap<(String, Option<String>, Option<String>), Range<usize>> = HashMap::new();
    let mut routes = Vec::with_capacity(document.routes.len());
    for entry in &document.routes {
        let raw = entry.get_ref();
        let prefix = prefix(&raw.prefix, resolver);
        let carrier = raw.carrier.as_ref().map(|carrier| {
            if carrier.get_ref().trim().is_empty() {
                resolver.problems.at(
                    carrier.span(),
                    "carrier must not be empty: leave it out instead",
                );
            }
            carrier.get_ref().clone()
        });
        let account = raw.account.as_ref().map(|account| {
            if !document.account_names.contains(account.get_ref()) {
                resolver.problems.at(
                    account.span(),
                    format!(
                        "unknown account \"{}\" (known: {})",
                        account.get_ref(),
                        known(&document.account_names)
                    ),
                );
            }
            account.get_ref().clone()
        });
        let connectors = connectors(&raw.connectors, document, resolver);
        let key = (
            prefix.clone(),
            carrier.as_ref().map(|c| c.to_ascii_lowercase()),
            account.clone(),
        );
        if let Some(first) = seen.get(&key) {
            let first_line = resolver.problems.line_of(first);
            resolver.problems.at(
                raw.prefix.span(),
                format!(
                    "duplicate route for prefix \"{}\" with the same carrier and account \
                     (first defined at line {first_line})",
                    raw.prefix.get_ref()
                ),
            );
        } else {
            seen.insert(key, raw.prefix.span());
        }
        routes.push(Route {
            prefix,
            carrier,
            account,
            connectors,
        });
    }
    routes
}

/// `"*"` means every destination; otherwise digits, optionally ending in `*`.
fn prefix(raw: &Spanned<String>, resolver: &mut Resolver) -> String {
    let text = raw.get_ref();
    let digits = text.strip_suffix('*').unwrap_or(text);
    if !digits.bytes().all(|b| b.is_ascii_digit()) || (text.is_empty()) {
        resolver.problems.at(
            raw.span(),
            format!(
                "route prefix \"{text}\" must be digits (international, no +), e.g. \"44\", \
                 or \"*\" for every destination"
            ),
        );
    }
    digits.to_owned()
}

fn connectors(
    raw: &Spanned<Vec<Spanned<String>>>,
    document: &RawDocument,
    resolver: &mut Resolver,
) -> Vec<String> {
    if raw.get_ref().is_empty() {
        resolver.problems.at(
            raw.span(),
            "a route needs at least one connector, e.g. connectors = [\"primary\"]",
        );
    }
    let mut listed = HashSet::new();
    for name in raw.get_ref() {
        if !document.connector_names.contains(name.get_ref()) {
            resolver.problems.at(
                name.span(),
                format!(
                    "unknown connector \"{}\" (known: {})",
                    name.get_ref(),
                    known(&document.connector_names)
                ),
            );
        } else if !listed.insert(name.get_ref()) {
            resolver.problems.at(
                name.span(),
                format!(
                    "connector \"{}\" is listed twice in this route",
                    name.get_ref()
                ),
            );
        }
    }
    raw.get_ref()
        .iter()
        .map(|name| name.get_ref().clone())
        .collect()
}

fn known(names: &HashSet<String>) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.join(", ")
}
