//! TOML text -> [`RawDocument`], one section and one array entry at a time, so a wrong type
//! in the second account and an unknown key in the fourth route are reported together.

use std::collections::HashSet;
use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::error::Problems;
use super::raw::{
    RawAccount, RawAdmin, RawAuth, RawConnector, RawEvents, RawListeners, RawPushDefaults,
    RawRoute, RawSimulator, RawStore,
};

const TOP_LEVEL_KEYS: &str = "node_id, site, data_dir, listeners, admin, store, simulator, \
                              push, auth, events, accounts, connectors, routes";

/// Everything that deserialized; entries with problems are left out (and reported).
#[derive(Debug, Default)]
pub(crate) struct RawDocument {
    pub node_id: Option<Spanned<String>>,
    pub site: Option<Spanned<String>>,
    pub data_dir: Option<Spanned<String>>,
    pub listeners: Option<RawListeners>,
    pub admin: Option<RawAdmin>,
    pub store: Option<RawStore>,
    pub simulator: Option<RawSimulator>,
    pub push: Option<RawPushDefaults>,
    pub auth: Option<RawAuth>,
    pub events: Option<RawEvents>,
    pub accounts: Vec<Spanned<RawAccount>>,
    pub connectors: Vec<Spanned<RawConnector>>,
    pub routes: Vec<Spanned<RawRoute>>,
    /// `[[routes]]` entries written, including those that failed.
    pub route_entries: usize,
    /// `system_id`s written in the file, including those of entries that failed, so a route
    /// naming a broken account is not reported a second time as "unknown account".
    pub account_names: HashSet<String>,
    /// Connector `name`s written in the file, including those of entries that failed.
    pub connector_names: HashSet<String>,
}

pub(crate) fn parse_document(text: &str, problems: &mut Problems<'_>) -> RawDocument {
    let (root, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        // After a syntax error the recovered tree may be missing pieces; checking it would
        // report confusing follow-on problems.
        for error in &syntax_errors {
            problems.toml(error);
        }
        return RawDocument::default();
    }
    let mut document = RawDocument::default();
    for (key, value) in root.into_inner() {
        let key_span = key.span();
        match key.get_ref().as_ref() {
            "node_id" => document.node_id = section(value, problems),
            "site" => document.site = section(value, problems),
            "data_dir" => document.data_dir = section(value, problems),
            "listeners" => document.listeners = section(value, problems),
            "admin" => document.admin = section(value, problems),
            "store" => document.store = section(value, problems),
            "simulator" => document.simulator = section(value, problems),
            "push" => document.push = section(value, problems),
            "auth" => document.auth = section(value, problems),
            "events" => document.events = section(value, problems),
            "accounts" => {
                document.accounts = entries(value, "accounts", problems, |table| {
                    note_name(table, "system_id", &mut document.account_names)
                })
            }
            "connectors" => {
                document.connectors = entries(value, "connectors", problems, |table| {
                    note_name(table, "name", &mut document.connector_names)
                })
            }
            "routes" => {
                let mut written = 0;
                document.routes = entries(value, "routes", problems, |_| written += 1);
                document.route_entries = written;
            }
            other => problems.at(
                key_span,
                format!("unknown field `{other}`, expected one of {TOP_LEVEL_KEYS}"),
            ),
        }
    }
    document
}

fn section<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    problems: &mut Problems<'_>,
) -> Option<T> {
    T::deserialize(ValueDeserializer::from(value))
        .map_err(|error| problems.toml(&error))
        .ok()
}

/// Deserializes each table of an array of tables (`[[accounts]]`) on its own.
fn entries<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    key: &str,
    problems: &mut Problems<'_>,
    mut note: impl FnMut(&DeTable<'_>),
) -> Vec<Spanned<T>> {
    let span: Range<usize> = value.span();
    let DeValue::Array(array) = value.into_inner() else {
        problems.at(
            span,
            format!("`{key}` must be an array of tables: write each entry under [[{key}]]"),
        );
        return Vec::new();
    };
    let mut parsed = Vec::new();
    for entry in array {
        if let DeValue::Table(table) = entry.get_ref() {
            note(table);
        }
        if let Some(value) = section::<Spanned<T>>(entry, problems) {
            parsed.push(value);
        }
    }
    parsed
}

fn note_name(table: &DeTable<'_>, field: &str, names: &mut HashSet<String>) {
    let name = table
        .iter()
        .find(|(key, _)| key.get_ref().as_ref() == field)
        .and_then(|(_, value)| value.get_ref().as_str());
    if let Some(name) = name {
        names.insert(name.to_owned());
    }
}
