//! `[accounts.opt_out]`: the switch, the scope, keyword lists (defaults when absent) and the
//! auto-replies. A keyword is kept trimmed and upper case (matching ignores case); one in two
//! lists, or empty, is reported at its line.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;

use super::Resolver;
use crate::config::defaults;
use crate::config::raw::RawOptOut;
use crate::config::types::{OptOutConfig, OptOutScope};

pub(super) fn resolve(raw: Option<&Spanned<RawOptOut>>, resolver: &mut Resolver) -> OptOutConfig {
    let Some(raw) = raw.map(Spanned::get_ref) else {
        return with_default_keywords();
    };
    let mut seen = HashMap::new();
    let mut lists = [
        (&raw.stop, &defaults::OPT_OUT_STOP[..]),
        (&raw.start, &defaults::OPT_OUT_START[..]),
        (&raw.help, &defaults::OPT_OUT_HELP[..]),
    ]
    .map(|(written, default)| keywords(written.as_deref(), default, &mut seen, resolver));
    OptOutConfig {
        enabled: raw.enabled.as_ref().is_some_and(|on| *on.get_ref()),
        scope: scope(raw.scope.as_ref(), resolver),
        stop: std::mem::take(&mut lists[0]),
        start: std::mem::take(&mut lists[1]),
        help: std::mem::take(&mut lists[2]),
        stop_reply: reply(raw.stop_reply.as_ref(), "stop_reply", resolver),
        start_reply: reply(raw.start_reply.as_ref(), "start_reply", resolver),
        help_reply: reply(raw.help_reply.as_ref(), "help_reply", resolver),
    }
}

/// Off, with the default keywords (for an account without the table).
pub fn with_default_keywords() -> OptOutConfig {
    let list = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect();
    OptOutConfig {
        enabled: false,
        scope: OptOutScope::Account,
        stop: list(&defaults::OPT_OUT_STOP),
        start: list(&defaults::OPT_OUT_START),
        help: list(&defaults::OPT_OUT_HELP),
        stop_reply: None,
        start_reply: None,
        help_reply: None,
    }
}

fn keywords(
    written: Option<&[Spanned<String>]>,
    default: &[&str],
    seen: &mut HashMap<String, Range<usize>>,
    resolver: &mut Resolver,
) -> Vec<String> {
    let Some(written) = written else {
        return default.iter().map(|w| (*w).to_owned()).collect();
    };
    let mut words = Vec::with_capacity(written.len());
    for word in written {
        let normal = word.get_ref().trim().to_uppercase();
        if normal.is_empty() {
            resolver
                .problems
                .at(word.span(), "an opt-out keyword must not be empty");
            continue;
        }
        if let Some(first) = seen.get(&normal) {
            let line = resolver.problems.line_of(first);
            resolver.problems.at(
                word.span(),
                format!("opt-out keyword \"{normal}\" is already listed on line {line}"),
            );
            continue;
        }
        seen.insert(normal.clone(), word.span());
        words.push(normal);
    }
    words
}

fn scope(written: Option<&Spanned<String>>, resolver: &mut Resolver) -> OptOutScope {
    match written.map(|s| s.get_ref().as_str()) {
        None | Some("account") => OptOutScope::Account,
        Some("sender") => OptOutScope::Sender,
        Some(other) => {
            let span = written.map(Spanned::span).unwrap_or_default();
            resolver.problems.at(
                span,
                format!("opt_out scope \"{other}\" must be \"account\" or \"sender\""),
            );
            OptOutScope::Account
        }
    }
}

fn reply(written: Option<&Spanned<String>>, what: &str, resolver: &mut Resolver) -> Option<String> {
    let written = written?;
    if written.get_ref().trim().is_empty() {
        resolver.problems.at(
            written.span(),
            format!("{what} must not be empty (leave it out for no reply)"),
        );
        return None;
    }
    Some(written.get_ref().clone())
}
