//! `[admin]` -> [`AdminSettings`]: the operators' listener, its TLS and its users. A listener
//! that others can reach (not loopback) must have users: its reads name customers and carriers.

use std::collections::HashSet;

use toml::Spanned;

use super::{accounts, Resolver};
use crate::config::defaults;
use crate::config::raw::{RawAdmin, RawAdminUser};
use crate::config::types::{AdminRole, AdminSettings, AdminTls, AdminUser};

pub(super) fn resolve(
    raw: Option<&RawAdmin>,
    resolver: &mut Resolver<'_, '_, '_>,
) -> AdminSettings {
    let default = defaults::admin();
    let Some(raw) = raw else {
        return default;
    };
    let listen = raw.listen.as_ref().map_or(default.listen, |value| {
        resolver.address(value, defaults::ADMIN_LISTENER)
    });
    let tls = match (&raw.cert, &raw.key) {
        (Some(cert), Some(key)) => Some(AdminTls {
            cert: resolver.existing_file(cert, "certificate"),
            key: resolver.existing_file(key, "private key"),
        }),
        (Some(alone), None) | (None, Some(alone)) => {
            resolver.problems.at(
                alone.span(),
                "[admin] needs both cert and key for HTTPS, or neither for plain HTTP",
            );
            None
        }
        (None, None) => None,
    };
    let users = users(raw.users.as_deref().unwrap_or_default(), resolver);
    if users.is_empty() && !listen.ip().is_loopback() {
        if let Some(written) = &raw.listen {
            resolver.problems.at(
                written.span(),
                format!(
                    "[admin] listen = \"{listen}\" is not a loopback address, and [admin] has no \
                     users: anyone who reaches it would read /metrics and /cluster. Add \
                     [[admin.users]] (name, password_hash, role = \"read\" or \"admin\"), or \
                     listen on 127.0.0.1"
                ),
            );
        }
    }
    AdminSettings { listen, tls, users }
}

fn users(raw: &[Spanned<RawAdminUser>], resolver: &mut Resolver<'_, '_, '_>) -> Vec<AdminUser> {
    let mut names = HashSet::new();
    let mut users = Vec::with_capacity(raw.len());
    for entry in raw {
        let user = entry.get_ref();
        let name = user.name.get_ref();
        if name.is_empty() || name.contains(':') {
            resolver.problems.at(
                user.name.span(),
                "an admin user's name must be non-empty and without `:` (HTTP Basic)",
            );
        }
        if !names.insert(name.clone()) {
            resolver.problems.at(
                user.name.span(),
                format!("admin user \"{name}\" is defined twice"),
            );
        }
        let password_hash = accounts::password_hash(
            "admin user",
            user.password_hash.as_ref(),
            user.password_env.as_ref(),
            entry.span(),
            resolver,
        );
        let role = match user.role.get_ref().as_str() {
            "read" => AdminRole::Read,
            "admin" => AdminRole::Admin,
            other => {
                resolver.problems.at(
                    user.role.span(),
                    format!("role \"{other}\" is not one of \"read\", \"admin\""),
                );
                AdminRole::Read
            }
        };
        users.push(AdminUser {
            name: name.clone(),
            password_hash,
            role,
        });
    }
    users
}
