//! The gateway's TOML configuration: node, site, listeners, store, accounts, carrier
//! connectors and routes.
//!
//! [`Config::load`] reads a file, checks everything (addresses, durations, files, secrets from
//! the environment, cross references) and reports every problem at once as
//! `FILE:LINE:COLUMN: what is wrong`. [`Config::default`] is what `smsgw serve` runs without a
//! file. Lookups the gateway needs per message (account by login, route, MO owner) are built
//! at load. The TOML reference is `deploy/smsgw.example.toml`.

pub mod defaults;
mod duration;
mod error;
pub mod event_log;
mod parse;
mod raw;
mod resolve;
mod types;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use duration::parse_duration;
pub use error::{ConfigError, ConfigErrors, Position};
pub use resolve::defaults_opt_out;
pub use types::{
    Account, AccountPush, AdminRole, AdminSettings, AdminTls, AdminUser, AuthSettings,
    ConnectorConfig, ConnectorTls, EdgeSettings, Listeners, NumberPattern, Numbering, OptOutConfig,
    OptOutScope, ProxyProtocolOn, PushFormat, RedisSentinel, Route, Secret, SimulatorSettings,
    StoreConfig, StoreTls, TlsListener,
};

use crate::routing::{MoIndex, RouteIndex};
use error::Problems;
use resolve::Resolver;

/// A checked configuration. Accounts, connectors and routes are read through methods so
/// the lookups built from them stay in step.
#[derive(Debug, Clone)]
pub struct Config {
    pub node_id: String,
    pub site: String,
    pub data_dir: PathBuf,
    pub listeners: Listeners,
    pub store: StoreConfig,
    /// `Some` when the gateway must start the built-in carrier simulator itself.
    pub builtin_simulator: Option<SimulatorSettings>,
    /// Login lockout and password verifier (`[auth]`).
    pub auth: AuthSettings,
    /// The event log (`[events]`): off without sinks.
    pub events: event_log::EventLogSettings,
    /// The operators' listener and its users (`[admin]`).
    pub admin: AdminSettings,
    accounts: Vec<Account>,
    connectors: Vec<ConnectorConfig>,
    routes: Vec<Route>,
    account_by_system_id: HashMap<String, usize>,
    account_by_http_login: HashMap<String, usize>,
    connector_by_name: HashMap<String, usize>,
    route_index: RouteIndex,
    mo_index: MoIndex,
}

impl Config {
    /// Reads and checks the file at `path`. Problems name the file as given.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigErrors> {
        let path = path.as_ref();
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_str_named(&text, &name),
            Err(error) => Err(ConfigErrors {
                errors: vec![ConfigError {
                    file: name,
                    position: None,
                    message: format!("cannot read the config file: {error}"),
                }],
            }),
        }
    }

    /// Checks `text` as if read from `file_name`: problems are reported against that name
    /// and relative paths are resolved from its directory. `*_env` fields read the process
    /// environment.
    pub fn from_str_named(text: &str, file_name: &str) -> Result<Config, ConfigErrors> {
        Self::from_str_with_env(text, file_name, &|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_str_named`], with `env` answering the `*_env` look-ups.
    pub fn from_str_with_env(
        text: &str,
        file_name: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let mut problems = Problems::new(file_name, text);
        let document = parse::parse_document(text, &mut problems);
        let base_dir = Path::new(file_name)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut resolver = Resolver {
            problems: &mut problems,
            base_dir,
            env,
        };
        let config = resolve::resolve(document, &mut resolver);
        problems.finish().map(|()| config)
    }

    #[allow(clippy::too_many_arguments)] // one argument per section; called from two places
    pub(crate) fn assemble(
        node_id: String,
        site: String,
        data_dir: PathBuf,
        listeners: Listeners,
        store: StoreConfig,
        accounts: Vec<Account>,
        connectors: Vec<ConnectorConfig>,
        routes: Vec<Route>,
        builtin_simulator: Option<SimulatorSettings>,
    ) -> Self {
        let positions = |keys: Vec<&String>| -> HashMap<String, usize> {
            keys.into_iter()
                .enumerate()
                .map(|(position, key)| (key.clone(), position))
                .collect()
        };
        Self {
            account_by_system_id: positions(accounts.iter().map(|a| &a.system_id).collect()),
            account_by_http_login: positions(accounts.iter().map(|a| &a.http_login).collect()),
            connector_by_name: positions(connectors.iter().map(|c| &c.name).collect()),
            route_index: RouteIndex::build(&routes),
            mo_index: MoIndex::build(&accounts),
            node_id,
            site,
            data_dir,
            listeners,
            store,
            builtin_simulator,
            auth: AuthSettings::default(),
            events: event_log::EventLogSettings::default(),
            admin: defaults::admin(),
            accounts,
            connectors,
            routes,
        }
    }

    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    pub fn connectors(&self) -> &[ConnectorConfig] {
        &self.connectors
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The account an SMPP bind with this system_id logs into.
    pub fn account_by_system_id(&self, system_id: &str) -> Option<&Account> {
        self.account_by_system_id
            .get(system_id)
            .map(|&position| &self.accounts[position])
    }

    /// The account an HTTP request with this `login` authenticates as.
    pub fn account_by_http_login(&self, login: &str) -> Option<&Account> {
        self.account_by_http_login
            .get(login)
            .map(|&position| &self.accounts[position])
    }

    pub fn connector(&self, name: &str) -> Option<&ConnectorConfig> {
        self.connector_by_name
            .get(name)
            .map(|&position| &self.connectors[position])
    }

    /// Connector names for an MT from `account` (system_id) to `destination`, in fallback
    /// order. The account's own routes come first, then global ones; within each the longest
    /// matching prefix wins. When the client names a `carrier`, only routes for that carrier
    /// (case-insensitive) match; `None` for an unknown carrier or no matching route
    /// (Genesys result_code 3).
    pub fn route(
        &self,
        account: &str,
        destination: &str,
        carrier: Option<&str>,
    ) -> Option<&[String]> {
        self.route_index
            .select(&self.routes, account, destination, carrier)
    }

    /// The account that owns MO sent to `destination` (our number or short code): an exact
    /// `mo_numbers` entry beats any prefix, a longer prefix beats a shorter one.
    pub fn mo_account(&self, destination: &str) -> Option<&Account> {
        self.mo_index
            .owner(destination)
            .map(|position| &self.accounts[position])
    }
}
