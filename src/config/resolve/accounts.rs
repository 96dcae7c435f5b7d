//! `[[accounts]]`: identities, password hashes, sender and MO number patterns, push.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::{opt_out, push, Resolver};
use crate::config::defaults;
use crate::config::raw::RawAccount;
use crate::config::types::{Account, NumberPattern};
use crate::credentials::{check_password_hash, hash_password};
use crate::message::MoMultipart;

/// SMPP 3.4 system_id is a C-octet string of at most 16 octets, NUL included.
const MAX_SYSTEM_ID_LEN: usize = 15;

pub(super) fn resolve(
    raw: &[Spanned<RawAccount>],
    push: &push::PushContext,
    resolver: &mut Resolver,
) -> Vec<Account> {
    let mut system_ids: HashMap<String, Range<usize>> = HashMap::new();
    let mut http_logins: HashMap<String, Range<usize>> = HashMap::new();
    let mut mo_owners: HashMap<NumberPattern, Range<usize>> = HashMap::new();
    let mut accounts = Vec::with_capacity(raw.len());
    for entry in raw {
        let table_span = entry.span();
        let raw = entry.get_ref();
        let system_id = system_id(&raw.system_id, resolver);
        let new_system_id = unique(
            &raw.system_id,
            &mut system_ids,
            "account system_id",
            resolver,
        );
        let http_login = raw.http_login.as_ref().unwrap_or(&raw.system_id);
        if http_login.get_ref().is_empty() {
            resolver
                .problems
                .at(http_login.span(), "http_login must not be empty");
        }
        // A defaulted http_login repeats a duplicate system_id: that is one problem, not two.
        if new_system_id || raw.http_login.is_some() {
            unique(http_login, &mut http_logins, "http_login", resolver);
        }
        let password_hash = password_hash(
            "account",
            raw.password_hash.as_ref(),
            raw.password_env.as_ref(),
            table_span,
            resolver,
        );
        let allowed_senders = patterns(raw.allowed_senders.as_deref(), "sender", resolver);
        let mo_numbers = patterns(raw.mo_numbers.as_deref(), "MO number", resolver);
        for (pattern, written) in mo_numbers.iter().zip(raw.mo_numbers.iter().flatten()) {
            claim_mo_number(pattern, written, &mut mo_owners, resolver);
        }
        accounts.push(Account {
            system_id,
            password_hash,
            http_login: http_login.get_ref().clone(),
            allowed_senders,
            mo_numbers,
            throughput: resolver.positive(raw.throughput.as_ref(), "throughput"),
            max_binds: resolver
                .positive(raw.max_binds.as_ref(), "max_binds")
                .unwrap_or(defaults::MAX_BINDS),
            push: raw
                .push
                .as_ref()
                .and_then(|raw| push.resolve(raw, resolver)),
            outbox_ttl: resolver.duration(
                raw.outbox_ttl.as_ref(),
                "outbox_ttl",
                defaults::OUTBOX_TTL,
                Duration::from_secs(1),
            ),
            max_segments: max_segments(raw.max_segments.as_ref(), resolver),
            idempotency_ttl: resolver.duration(
                raw.idempotency_ttl.as_ref(),
                "idempotency_ttl",
                defaults::IDEMPOTENCY_TTL,
                Duration::from_secs(1),
            ),
            window: resolver.window(raw.window.as_ref(), "window", defaults::ACCOUNT_WINDOW),
            inbound_window: resolver.window(
                raw.inbound_window.as_ref(),
                "inbound_window",
                defaults::ACCOUNT_INBOUND_WINDOW,
            ),
            opt_out: opt_out::resolve(raw.opt_out.as_ref(), resolver),
            validity: resolver.optional_duration(
                raw.validity.as_ref(),
                "validity",
                defaults::MIN_LIFETIME,
            ),
            dr_timeout: raw.dr_timeout.as_ref().map(|value| {
                resolver.duration_or_off(
                    Some(value),
                    "dr_timeout",
                    defaults::MIN_LIFETIME,
                    defaults::MIN_LIFETIME,
                )
            }),
            mo_multipart: mo_multipart(raw.mo_multipart.as_ref(), resolver),
        });
    }
    accounts
}

fn mo_multipart(written: Option<&Spanned<String>>, resolver: &mut Resolver) -> MoMultipart {
    match written.map(|s| s.get_ref().as_str()) {
        None | Some("parts") => MoMultipart::Parts,
        Some("payload") => MoMultipart::Payload,
        Some(other) => {
            let span = written.map(Spanned::span).unwrap_or_default();
            resolver.problems.at(
                span,
                format!("mo_multipart \"{other}\" must be \"parts\" or \"payload\""),
            );
            MoMultipart::Parts
        }
    }
}

pub(super) fn system_id(value: &Spanned<String>, resolver: &mut Resolver) -> String {
    let text = value.get_ref();
    let printable = text.bytes().all(|b| b.is_ascii_graphic());
    if text.is_empty() || text.len() > MAX_SYSTEM_ID_LEN || !printable {
        resolver.problems.at(
            value.span(),
            format!(
                "system_id \"{text}\" must be 1 to {MAX_SYSTEM_ID_LEN} printable ASCII \
                 characters without spaces (SMPP limit)"
            ),
        );
    } else if text.starts_with('~') {
        resolver.problems.at(
            value.span(),
            format!(
                "system_id \"{text}\" must not start with `~` (reserved for the gateway's own \
                 timers)"
            ),
        );
    }
    text.clone()
}

/// Reports a value seen before, pointing at the repeat and naming the first line.
/// True when the value is new.
pub(super) fn unique(
    value: &Spanned<String>,
    seen: &mut HashMap<String, Range<usize>>,
    what: &str,
    resolver: &mut Resolver,
) -> bool {
    if let Some(first) = seen.get(value.get_ref()) {
        let first_line = resolver.problems.line_of(first);
        resolver.problems.at(
            value.span(),
            format!(
                "duplicate {what} \"{}\" (first defined at line {first_line})",
                value.get_ref()
            ),
        );
        false
    } else {
        seen.insert(value.get_ref().clone(), value.span());
        true
    }
}

/// The argon2 hash of `who` (an account, an admin user): `hash` as written (checked), or the
/// password in the environment variable `from_env` names, hashed at load; exactly one.
pub(super) fn password_hash(
    who: &str,
    hash: Option<&Spanned<String>>,
    from_env: Option<&Spanned<String>>,
    table_span: Range<usize>,
    resolver: &mut Resolver,
) -> String {
    match (hash, from_env) {
        (Some(hash), None) => {
            if let Err(reason) = check_password_hash(hash.get_ref()) {
                resolver.problems.at(hash.span(), reason);
            }
            hash.get_ref().clone()
        }
        (None, Some(env_name)) => resolver
            .env_var(env_name)
            .map(|plain| hash_password(&plain))
            .unwrap_or_default(),
        (Some(_), Some(env_name)) => {
            resolver.problems.at(
                env_name.span(),
                "set either password_hash or password_env, not both",
            );
            String::new()
        }
        (None, None) => {
            resolver.problems.at(
                table_span,
                format!(
                    "{who} has no password: set password_hash (argon2id PHC string) \
                     or password_env (name of an environment variable holding the password)"
                ),
            );
            String::new()
        }
    }
}

fn patterns(
    raw: Option<&[Spanned<String>]>,
    what: &str,
    resolver: &mut Resolver,
) -> Vec<NumberPattern> {
    let mut patterns = Vec::new();
    for value in raw.unwrap_or_default() {
        let text = value.get_ref();
        let body = text.strip_suffix('*').unwrap_or(text);
        if text.is_empty() {
            resolver.problems.at(
                value.span(),
                format!("empty {what}: remove it or write \"*\""),
            );
        } else if body.contains('*') {
            resolver.problems.at(
                value.span(),
                format!("{what} \"{text}\": `*` is only allowed at the end, as a prefix wildcard"),
            );
        } else if what == "MO number" && !body.bytes().all(|b| b.is_ascii_digit()) {
            resolver.problems.at(
                value.span(),
                format!(
                    "MO number \"{text}\" must be digits (international, no +), optionally \
                     ending in `*`"
                ),
            );
        }
        patterns.push(NumberPattern::parse(text));
    }
    patterns
}

/// Each MO number or prefix belongs to one account; a second owner would be ambiguous.
fn claim_mo_number(
    pattern: &NumberPattern,
    written: &Spanned<String>,
    owners: &mut HashMap<NumberPattern, Range<usize>>,
    resolver: &mut Resolver,
) {
    if let Some(first) = owners.get(pattern) {
        let first_line = resolver.problems.line_of(first);
        resolver.problems.at(
            written.span(),
            format!(
                "MO number \"{}\" is already claimed at line {first_line}; \
                 each number belongs to one account",
                written.get_ref()
            ),
        );
    } else {
        owners.insert(pattern.clone(), written.span());
    }
}

fn max_segments(value: Option<&Spanned<u32>>, resolver: &mut Resolver) -> u8 {
    let Some(value) = value else {
        return defaults::MAX_SEGMENTS;
    };
    match u8::try_from(*value.get_ref()) {
        Ok(segments) if segments >= 1 => segments,
        _ => {
            resolver.problems.at(
                value.span(),
                "max_segments must be between 1 and 255 (SMPP concatenation limit)",
            );
            defaults::MAX_SEGMENTS
        }
    }
}
