//! An MO from a carrier, once: dropped as a duplicate only when it is provably the same MO,
//! else appended to its account's outbox in the same change as its dedupe claim.
//!
//! Provably the same MO is either the carrier's own id for it seen again on the connector, or
//! the same deliver_sm PDU (same bind, sequence number and bytes) resent because our
//! deliver_sm_resp did not reach the carrier. Two MOs with the same text (a vote, "1" then "1")
//! are two PDUs with two sequence numbers: both are delivered, however close together.

use std::time::Duration;

use crate::{
    event::{Event, EventKind},
    message::{Mo, OutboxItem},
    store::{Change, ClaimSpace, Committed, Store, StoreError, Write},
};

/// How long a carrier's MO id is remembered: a carrier resending by id may do so long after.
pub const CARRIER_ID_TTL: Duration = Duration::from_secs(24 * 3600);

/// What makes an MO the same as one seen before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoIdentity {
    /// The carrier's id for the MO (the deliver_sm's `receipted_message_id`).
    CarrierId(String),
    /// No carrier id: the PDU as it arrived. `bind` names the session on this node (a new
    /// session is a new name), `pdu_digest` covers the sequence number and every field.
    Pdu {
        bind: String,
        sequence_number: u32,
        pdu_digest: String,
    },
}

/// How long a resent PDU is recognised: a carrier resends after its own response timeout,
/// taken to be the connector's `response_timeout`; twice that leaves room for the resend's
/// own trip and the carrier's timer.
pub fn resend_window(response_timeout: Duration) -> Duration {
    response_timeout * 2
}

/// The claim key and its time to live for `identity` on `connector` (a multipart MO's parts
/// each have theirs, see [`super::mo_parts`]).
pub(crate) fn dedupe_claim(
    connector: &str,
    identity: &MoIdentity,
    response_timeout: Duration,
) -> (String, Duration) {
    match identity {
        MoIdentity::CarrierId(id) => (format!("{connector}/id/{id}"), CARRIER_ID_TTL),
        MoIdentity::Pdu {
            bind,
            sequence_number,
            pdu_digest,
        } => (
            format!("{connector}/pdu/{bind}/{sequence_number}/{pdu_digest}"),
            resend_window(response_timeout),
        ),
    }
}

/// Whether the MO was stored before (its dedupe claim is held): a resend whose keyword, if
/// any, was applied already and must not be applied again (a STOP resent after a START).
pub async fn seen_before<S: Store + ?Sized>(
    store: &S,
    connector: &str,
    identity: &MoIdentity,
    response_timeout: Duration,
) -> Result<bool, StoreError> {
    let (key, _) = dedupe_claim(connector, identity, response_timeout);
    Ok(store.claimed(&ClaimSpace::MoDedupe, &key).await?.is_some())
}

/// `false` if the MO is one seen before (nothing written), else it is in the outbox.
/// `response_timeout` is the connector's (see [`resend_window`]).
pub async fn carrier_mo<S: Store + ?Sized>(
    store: &S,
    identity: &MoIdentity,
    response_timeout: Duration,
    mo: Mo,
) -> Result<bool, StoreError> {
    let (key, ttl) = dedupe_claim(&mo.connector, identity, response_timeout);
    let mut change = Change::acknowledged();
    change
        .claim(ClaimSpace::MoDedupe, &key, "", ttl)
        .event(Event::of_mo(EventKind::Mo, &mo))
        .write(Write::Outbox(OutboxItem::Mo(mo)));
    match store.commit(change).await? {
        Committed::Done => Ok(true),
        Committed::Claimed => Ok(false),
        // Nothing in this change can conflict; a backend saying so is broken.
        Committed::Conflict => Err(StoreError::Backend(
            "carrier_mo: unexpected conflict".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdu(bind: &str, sequence_number: u32, digest: &str) -> MoIdentity {
        MoIdentity::Pdu {
            bind: bind.into(),
            sequence_number,
            pdu_digest: digest.into(),
        }
    }

    #[test]
    fn a_resent_pdu_is_remembered_for_twice_the_response_timeout() {
        let timeout = Duration::from_secs(10);
        let (key, ttl) = dedupe_claim("sim", &pdu("b1", 7, "d"), timeout);
        assert_eq!(ttl, Duration::from_secs(20));
        assert_eq!(key, dedupe_claim("sim", &pdu("b1", 7, "d"), timeout).0);
    }

    #[test]
    fn another_sequence_number_or_bind_is_another_mo() {
        let timeout = Duration::from_secs(10);
        let key = |identity| dedupe_claim("sim", &identity, timeout).0;
        assert_ne!(key(pdu("b1", 7, "d")), key(pdu("b1", 8, "d")));
        assert_ne!(key(pdu("b1", 7, "d")), key(pdu("b2", 7, "d")));
    }

    #[test]
    fn a_carrier_id_is_scoped_to_its_connector() {
        let id = MoIdentity::CarrierId("m1".into());
        let (key, ttl) = dedupe_claim("sim", &id, Duration::from_secs(10));
        assert_ne!(key, dedupe_claim("other", &id, Duration::from_secs(10)).0);
        assert_eq!(ttl, CARRIER_ID_TTL);
    }
}
