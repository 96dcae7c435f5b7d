//! Routing, decided once at load from the configuration: which connectors an MT goes to (by
//! account, carrier and destination prefix, with fallback order), and which account owns an
//! MO's destination number.

use std::collections::HashMap;

use crate::config::{Account, NumberPattern, Route};

/// Routes grouped by carrier (lower-cased; `None` = no carrier named), each group ordered
/// longest prefix first, so the first prefix that matches is the best.
type ByCarrier = HashMap<Option<String>, Vec<usize>>;

#[derive(Debug, Clone, Default)]
pub(crate) struct RouteIndex {
    per_account: HashMap<String, ByCarrier>,
    global: ByCarrier,
}

impl RouteIndex {
    pub(crate) fn build(routes: &[Route]) -> Self {
        let mut index = Self::default();
        for (position, route) in routes.iter().enumerate() {
            let carrier = route.carrier.as_deref().map(str::to_ascii_lowercase);
            let group = match &route.account {
                Some(account) => index.per_account.entry(account.clone()).or_default(),
                None => &mut index.global,
            };
            group.entry(carrier).or_default().push(position);
        }
        let groups = index
            .per_account
            .values_mut()
            .chain(std::iter::once(&mut index.global))
            .flat_map(|by_carrier| by_carrier.values_mut());
        for group in groups {
            // Stable: equal prefixes keep file order (duplicates are rejected anyway).
            group.sort_by_key(|&position| std::cmp::Reverse(routes[position].prefix.len()));
        }
        index
    }

    /// The connectors for an MT, in fallback order. An account's own routes come before
    /// the global ones; within each, the longest matching prefix wins. A named carrier only
    /// matches routes for that carrier, so an unknown carrier gives `None`.
    pub(crate) fn select<'r>(
        &self,
        routes: &'r [Route],
        account: &str,
        destination: &str,
        carrier: Option<&str>,
    ) -> Option<&'r [String]> {
        let destination = destination.strip_prefix('+').unwrap_or(destination);
        let carrier = carrier.map(str::to_ascii_lowercase);
        let tiers = [self.per_account.get(account), Some(&self.global)];
        tiers
            .into_iter()
            .flatten()
            .filter_map(|by_carrier| by_carrier.get(&carrier))
            .flat_map(|group| group.iter().map(|&position| &routes[position]))
            .find(|route| destination.starts_with(route.prefix.as_str()))
            .map(|route| route.connectors.as_slice())
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct MoIndex {
    exact: HashMap<String, usize>,
    /// Longest prefix first.
    prefixes: Vec<(String, usize)>,
}

impl MoIndex {
    pub(crate) fn build(accounts: &[Account]) -> Self {
        let mut index = Self::default();
        for (position, account) in accounts.iter().enumerate() {
            for pattern in &account.mo_numbers {
                match pattern {
                    NumberPattern::Exact(number) => {
                        index.exact.entry(number.clone()).or_insert(position);
                    }
                    NumberPattern::Prefix(prefix) => {
                        index.prefixes.push((prefix.clone(), position));
                    }
                }
            }
        }
        index
            .prefixes
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        index
    }

    /// The account owning MO sent to `destination`: an exact number beats any prefix,
    /// and a longer prefix beats a shorter one.
    pub(crate) fn owner(&self, destination: &str) -> Option<usize> {
        let destination = destination.strip_prefix('+').unwrap_or(destination);
        self.exact.get(destination).copied().or_else(|| {
            self.prefixes
                .iter()
                .find(|(prefix, _)| destination.starts_with(prefix.as_str()))
                .map(|&(_, position)| position)
        })
    }
}
