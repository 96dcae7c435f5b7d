//! FLOW multipart MOs: a part from a carrier (concatenation UDH or SAR TLVs) joins its set in
//! the shared store; the part that completes the set removes it and appends the whole MO to
//! the account's outbox in the same change. Parts of one MO may reach different nodes and
//! sites: each change is guarded by the set's version, so two nodes adding the last two parts
//! at once make exactly one whole MO (the second reads again and finds the set gone or whole).
//!
//! Each part keeps the MO dedupe of a single MO ([`super::mo`]): a resend of a part (its
//! carrier id, or the same PDU on its bind) changes nothing; another PDU for a place the set
//! already holds is not a second part either (the first is kept).
//!
//! A set never completed is delivered part by part after its connector's
//! `mo_multipart_timeout` by [`deliver_incomplete`], which the node's durable timer fires with
//! the [`IncompleteSet`] that [`PartOutcome::Waiting`] names (`began`); sets neither completed
//! nor timed out are removed by retention (`Store::sweep`).

use std::time::Duration;

use smsgw_smpp::encoding::decode_text;

use crate::{
    event::{Event, EventKind},
    message::{Mo, MoPart, MoSegments, OutboxItem, Timer, TimerAction},
    store::{
        change::commit_with_retries, Change, ClaimSpace, Committed, Guard, PartSet, PartSetKey,
        Store, StoreError, Versioned, Write,
    },
    upstream::mo::{dedupe_claim, MoIdentity},
};

/// How long an incomplete set waits for its missing parts by default. Kannel waits 1800 s
/// (`sms-combine-concatenated-mo-timeout`): a carrier retries a part it could not deliver on
/// its own schedule (our node restarting, a store refusal answered "redeliver later"), which
/// runs for minutes, and a part delivered alone cannot be joined again once its set is
/// gone. Connectors whose carrier never retries can set less.
pub const DEFAULT_INCOMPLETE_TIMEOUT: Duration = Duration::from_secs(1800);

/// One received part with where it belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedPart {
    pub key: PartSetKey,
    /// The account the MO is routed to.
    pub account: String,
    pub data_coding: u8,
    /// Came with SAR TLVs (else with a concatenation UDH).
    pub sar: bool,
    pub part: MoPart,
}

pub use crate::message::IncompleteSet;

/// What a received part did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartOutcome {
    /// A resend of a part already stored (its dedupe claim is held): nothing written.
    Duplicate,
    /// Another PDU for a place the set holds already: the first is kept (its dedupe claim is
    /// taken, so this PDU's resend is a [`PartOutcome::Duplicate`]).
    AlreadyHeld,
    /// Stored; the set waits for `total - received` more parts. `began`: this part began the
    /// set, whose timeout the caller arms.
    Waiting {
        received: u8,
        began: Option<IncompleteSet>,
    },
    /// This part completed the set: the whole MO is in the outbox, the set removed.
    Complete(Mo),
}

/// The whole MO of a complete set (the set's first part's id names it).
pub fn whole_mo(key: &PartSetKey, set: &PartSet) -> Mo {
    let segments = &set.segments;
    let first = segments.parts.first();
    Mo {
        id: first.map(|part| part.id.clone()).unwrap_or_default(),
        account: set.account.clone(),
        source: key.source.clone(),
        destination: key.destination.clone(),
        text: text_of(segments.data_coding, &segments.payload()),
        connector: key.connector.clone(),
        received_at_ms: segments
            .parts
            .iter()
            .map(|part| part.received_at_ms)
            .max()
            .unwrap_or(set.started_ms),
        segments: Some(segments.clone()),
    }
}

/// One part of an incomplete set as an MO of its own (its UDH or SAR values kept).
pub fn part_mo(key: &PartSetKey, set: &PartSet, part: &MoPart) -> Mo {
    Mo {
        id: part.id.clone(),
        account: set.account.clone(),
        source: key.source.clone(),
        destination: key.destination.clone(),
        text: text_of(set.segments.data_coding, &part.payload),
        connector: key.connector.clone(),
        received_at_ms: part.received_at_ms,
        segments: Some(MoSegments {
            parts: vec![part.clone()],
            ..set.segments.clone()
        }),
    }
}

/// Text in an unknown coding is kept as lossy UTF-8 (as for a single MO).
fn text_of(data_coding: u8, payload: &[u8]) -> String {
    decode_text(data_coding, payload)
        .unwrap_or_else(|_| String::from_utf8_lossy(payload).into_owned())
}

/// The set with `received` added, or `None` if it holds that place already.
fn with_part(current: Option<PartSet>, received: &ReceivedPart) -> Option<PartSet> {
    let mut set = current.unwrap_or_else(|| PartSet {
        account: received.account.clone(),
        segments: MoSegments {
            data_coding: received.data_coding,
            reference: received.key.reference,
            total: received.key.total,
            sar: received.sar,
            parts: Vec::new(),
        },
        started_ms: received.part.received_at_ms,
    });
    let parts = &mut set.segments.parts;
    match parts.binary_search_by_key(&received.part.seq, |part| part.seq) {
        Ok(_) => None,
        Err(at) => {
            parts.insert(at, received.part.clone());
            Some(set)
        }
    }
}

/// The whole MO if `received` would complete its set as it is now (to apply an opt-out
/// keyword of the whole text before it is stored); `None` otherwise.
pub async fn would_complete<S: Store + ?Sized>(
    store: &S,
    received: &ReceivedPart,
) -> Result<Option<Mo>, StoreError> {
    let current = store.part_set(&received.key).await?.value;
    Ok(with_part(current, received)
        .filter(|set| set.segments.complete())
        .map(|set| whole_mo(&received.key, &set)))
}

/// Adds a part to its set (see the module documentation). `identity` and `response_timeout`
/// are the part's MO dedupe, as for a single MO.
pub async fn carrier_mo_part<S: Store + ?Sized>(
    store: &S,
    identity: &MoIdentity,
    response_timeout: Duration,
    incomplete_after: Duration,
    received: &ReceivedPart,
) -> Result<PartOutcome, StoreError> {
    let (claim, ttl) = dedupe_claim(&received.key.connector, identity, response_timeout);
    commit_with_retries("carrier_mo_part", || async {
        let Versioned { value, version } = store.part_set(&received.key).await?;
        let began = value.is_none();
        let mut change = Change::acknowledged();
        change.claim(ClaimSpace::MoDedupe, &claim, "", ttl);
        let outcome = match with_part(value, received) {
            None => PartOutcome::AlreadyHeld,
            Some(set) if set.segments.complete() => {
                let mo = whole_mo(&received.key, &set);
                change
                    .remove_part_set(received.key.clone(), version)
                    .event(Event::of_mo(EventKind::Mo, &mo))
                    .write(Write::Outbox(OutboxItem::Mo(mo.clone())));
                PartOutcome::Complete(mo)
            }
            Some(set) => {
                let began = began.then(|| IncompleteSet {
                    key: received.key.clone(),
                    started_ms: set.started_ms,
                });
                if let Some(began) = &began {
                    // The set's timeout, durable with the set: fired by any node.
                    let due_ms = began
                        .started_ms
                        .saturating_add(incomplete_after.as_millis() as u64);
                    change.write(Write::Outbox(OutboxItem::Timer(Timer::new(
                        TimerAction::MoIncomplete(began.clone()),
                        due_ms,
                    ))));
                }
                let outcome = PartOutcome::Waiting {
                    received: set.segments.parts.len() as u8,
                    began,
                };
                change.put_part_set(received.key.clone(), set, version);
                outcome
            }
        };
        if outcome == PartOutcome::AlreadyHeld {
            // The claim, guarded by the set as read (which also names its NATS shard).
            change.guard(Guard::PartSetVersion {
                key: received.key.clone(),
                version,
            });
        }
        Ok(match store.commit(change).await? {
            Committed::Done => Some(outcome),
            Committed::Claimed => Some(PartOutcome::Duplicate),
            Committed::Conflict => None,
        })
    })
    .await
}

/// What the event of a part delivered on its own (its set never completed) says.
const INCOMPLETE_PART: &str = "a part of a multipart MO whose other parts did not all come in time";

/// What [`deliver_incomplete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncompleteOutcome {
    /// The set was complete and delivered whole, or delivered already, or is another set
    /// begun since: nothing done (a timer may fire twice).
    Gone,
    /// Its parts (this many) are in the outbox as separate MOs; the set is removed.
    Delivered(usize),
}

/// The timeout of an incomplete set: its parts go to the outbox as separate MOs (each with its
/// UDH or SAR values, so a client may still join what came), the set removed, in one change
/// guarded by the set's version: once, however many nodes fire it. Counted in
/// `upstream_mo_incomplete_total{connector}` (sets) and `upstream_mo_incomplete_parts_total`.
pub async fn deliver_incomplete<S: Store + ?Sized>(
    store: &S,
    timer: &IncompleteSet,
) -> Result<IncompleteOutcome, StoreError> {
    let key = &timer.key;
    let outcome = commit_with_retries("deliver_incomplete", || async {
        let Versioned { value, version } = store.part_set(key).await?;
        let Some(set) = value.filter(|set| set.started_ms == timer.started_ms) else {
            return Ok(Some(IncompleteOutcome::Gone));
        };
        let mut change = Change::default();
        change.remove_part_set(key.clone(), version);
        for part in &set.segments.parts {
            let mo = part_mo(key, &set, part);
            change
                .event(Event::of_mo(EventKind::Mo, &mo).with_reason("incomplete", INCOMPLETE_PART));
            change.write(Write::Outbox(OutboxItem::Mo(mo)));
        }
        Ok(match store.commit(change).await? {
            Committed::Done => Some(IncompleteOutcome::Delivered(set.segments.parts.len())),
            Committed::Conflict => None,
            // No claim in this change; a backend saying so is broken.
            Committed::Claimed => {
                return Err(StoreError::Backend(
                    "deliver_incomplete: unexpected claim".into(),
                ))
            }
        })
    })
    .await?;
    if let IncompleteOutcome::Delivered(parts) = outcome {
        let connector = key.connector.clone();
        metrics::counter!("upstream_mo_incomplete_total", "connector" => connector.clone())
            .increment(1);
        metrics::counter!("upstream_mo_incomplete_parts_total", "connector" => connector)
            .increment(parts as u64);
    }
    Ok(outcome)
}
