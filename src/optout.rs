//! FLOW opt-outs: the keywords a handset sends in an MO (STOP, START, HELP and the account's
//! own), what they change, and the refusal of MTs to a number that opted out.
//!
//! - An MO whose text, trimmed and in any case, is one of the account's keywords: STOP records
//!   an opt-out of its source number, START lifts it, HELP changes nothing. The MO is still
//!   delivered to the account, and the configured auto-reply goes back as an MT from the
//!   number the MO was sent to, through the normal ingest (durable, routed, retried).
//! - Scope (`[accounts.opt_out] scope`): `account` opts the number out of every MT of the
//!   account, `sender` only out of MTs from the number the STOP was sent to.
//! - An MT of an account with opt-outs enabled, to an opted-out number (from that sender, in
//!   `sender` scope), is refused by `ingest` ([`IngestError::OptedOut`]) and counted in
//!   `optout_refused_total{account}`.
//!
//! The opt-outs live in the shared store (every node and site sees them at once), written
//! before the MO is acknowledged; writing one again is harmless, so a resent MO is safe.

use std::sync::Arc;

use tracing::{info, warn};

use crate::{
    config::{Account, OptOutConfig, OptOutScope},
    ingest::{Ingest, MtRequest},
    message::{now_ms, Interface, Mo, Payload, Priority, Timing},
    store::{OptOut, Store, StoreError},
};

/// What an MO's text asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Stop,
    Start,
    Help,
}

impl Keyword {
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Stop => "stop",
            Keyword::Start => "start",
            Keyword::Help => "help",
        }
    }
}

/// The keyword `text` is for an account with `config`: the whole text, trimmed, any case.
pub fn keyword(config: &OptOutConfig, text: &str) -> Option<Keyword> {
    if !config.enabled {
        return None;
    }
    let word = text.trim().to_uppercase();
    let listed = |list: &[String]| list.contains(&word);
    if listed(&config.stop) {
        Some(Keyword::Stop)
    } else if listed(&config.start) {
        Some(Keyword::Start)
    } else if listed(&config.help) {
        Some(Keyword::Help)
    } else {
        None
    }
}

/// A number as opt-outs key it: the digits an MT's destination is stored with (a leading `+`
/// dropped), so a STOP from `+447700900001` blocks an MT to `447700900001`.
pub fn number_key(number: &str) -> &str {
    number.strip_prefix('+').unwrap_or(number)
}

/// The sender an opt-out is kept under: none in `account` scope.
pub fn sender_key<'a>(config: &OptOutConfig, sender: &'a str) -> &'a str {
    match config.scope {
        OptOutScope::Account => "",
        OptOutScope::Sender => number_key(sender),
    }
}

/// Whether an MT of `account` from `sender` to `destination` (digits) must be refused.
pub async fn refuses<S: Store + ?Sized>(
    store: &S,
    account: &Account,
    sender: &str,
    destination: &str,
) -> Result<bool, StoreError> {
    let config = &account.opt_out;
    if !config.enabled {
        return Ok(false);
    }
    let opted_out = store
        .opt_out(
            &account.system_id,
            sender_key(config, sender),
            number_key(destination),
        )
        .await?
        .is_some();
    if opted_out {
        metrics::counter!("optout_refused_total", "account" => account.system_id.clone())
            .increment(1);
    }
    Ok(opted_out)
}

/// Applies the keyword of an MO to the account's opt-outs, durably; `None` for an MO that is
/// no keyword (or an account without opt-outs).
pub async fn apply_mo<S: Store + ?Sized>(
    store: &S,
    account: &Account,
    mo: &Mo,
) -> Result<Option<Keyword>, StoreError> {
    let config = &account.opt_out;
    let Some(found) = keyword(config, &mo.text) else {
        return Ok(None);
    };
    let number = number_key(&mo.source);
    let sender = sender_key(config, &mo.destination);
    match found {
        Keyword::Stop => {
            let entry = OptOut {
                number: number.to_owned(),
                sender: sender.to_owned(),
                source: mo.text.trim().to_owned(),
                at_ms: now_ms(),
            };
            store.put_opt_out(&account.system_id, &entry).await?;
            info!(account = %account.system_id, %number, sender, "opt-out recorded");
        }
        Keyword::Start => {
            if store
                .remove_opt_out(&account.system_id, sender, number)
                .await?
            {
                info!(account = %account.system_id, %number, sender, "opt-out lifted");
            }
        }
        Keyword::Help => {}
    }
    metrics::counter!("optout_keywords_total", "account" => account.system_id.clone(), "keyword" => found.as_str())
        .increment(1);
    Ok(Some(found))
}

/// The auto-reply configured for `keyword`, as an MT from the number the MO was sent to.
pub fn reply_request(config: &OptOutConfig, mo: &Mo, keyword: Keyword) -> Option<MtRequest> {
    let text = match keyword {
        Keyword::Stop => config.stop_reply.as_ref(),
        Keyword::Start => config.start_reply.as_ref(),
        Keyword::Help => config.help_reply.as_ref(),
    }?;
    Some(MtRequest {
        client_message_id: None,
        source: mo.destination.clone(),
        destination: number_key(&mo.source).to_owned(),
        payload: Payload::Text(text.clone()),
        priority: Priority::Interactive,
        receipt: false,
        app_id: None,
        conversation_id: None,
        carrier: None,
        timing: Timing::default(),
        interface: Interface::Http,
        answered_with_client_id: false,
    })
}

/// The MO side of opt-outs, as the carrier inbound calls it: applies keywords, and sends the
/// auto-replies through the gateway's ingest.
pub struct MoKeywords {
    ingest: Arc<Ingest>,
}

impl MoKeywords {
    pub fn new(ingest: Arc<Ingest>) -> Self {
        Self { ingest }
    }

    fn account(&self, system_id: &str) -> Option<&Account> {
        self.ingest
            .config()
            .accounts()
            .iter()
            .find(|a| a.system_id == system_id)
    }

    /// Whether the account reads keywords in its MOs at all (a multipart MO's parts need not
    /// be looked at otherwise).
    pub fn enabled_for(&self, system_id: &str) -> bool {
        self.account(system_id)
            .is_some_and(|account| account.opt_out.enabled)
    }

    /// The keyword of an MO to its account, if any (nothing is written).
    pub fn keyword_of(&self, mo: &Mo) -> Option<Keyword> {
        keyword(&self.account(&mo.account)?.opt_out, &mo.text)
    }

    /// Before the MO is stored: its keyword applied, durably (see [`apply_mo`]).
    pub async fn apply(&self, mo: &Mo) -> Result<Option<Keyword>, StoreError> {
        match self.account(&mo.account) {
            Some(account) => apply_mo(&**self.ingest.store(), account, mo).await,
            None => Ok(None),
        }
    }

    /// After a new MO was stored: the auto-reply for its keyword, if one is configured. A
    /// reply ingest refuses (a sender the account may not use...) is logged and counted;
    /// the MO stands.
    pub async fn reply(&self, mo: &Mo, keyword: Keyword) {
        let Some(account) = self.account(&mo.account) else {
            return;
        };
        let Some(request) = reply_request(&account.opt_out, mo, keyword) else {
            return;
        };
        let outcome = match self.ingest.submit_auto_reply(account, request).await {
            Ok(_) => "sent",
            Err(error) => {
                warn!(account = %account.system_id, keyword = keyword.as_str(), %error, "opt-out auto-reply not accepted");
                "refused"
            }
        };
        metrics::counter!("optout_replies_total", "account" => account.system_id.clone(), "outcome" => outcome)
            .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> OptOutConfig {
        OptOutConfig {
            enabled: true,
            ..crate::config::defaults_opt_out()
        }
    }

    #[test]
    fn keywords_match_trimmed_in_any_case_and_only_whole() {
        let config = enabled();
        assert_eq!(keyword(&config, " stop "), Some(Keyword::Stop));
        assert_eq!(keyword(&config, "Unsubscribe\n"), Some(Keyword::Stop));
        assert_eq!(keyword(&config, "unstop"), Some(Keyword::Start));
        assert_eq!(keyword(&config, "info"), Some(Keyword::Help));
        assert_eq!(keyword(&config, "stop it"), None);
        assert_eq!(keyword(&config, "hello"), None);
        let off = OptOutConfig {
            enabled: false,
            ..enabled()
        };
        assert_eq!(keyword(&off, "STOP"), None);
    }

    #[test]
    fn the_scope_decides_the_sender_an_opt_out_is_kept_under() {
        let mut config = enabled();
        assert_eq!(sender_key(&config, "+4470"), "");
        config.scope = OptOutScope::Sender;
        assert_eq!(sender_key(&config, "+4470"), "4470");
    }
}
