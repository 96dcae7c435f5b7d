//! FLOWS on an MT a client already has our id for: its state (query), taking it back while it
//! is still queued (cancel) and changing its text while it is still queued (replace); and
//! what time does to it (`timers`): queued when its scheduled time comes (release), EXPIRED
//! when its validity ends before a carrier has it, UNKNOWN when no final receipt came within
//! the DR timeout (expiry).
//!
//! The MT may be queued on any node: each flow reads the record from the shared store, checks
//! that the account asking is the one that sent it, decides, and commits one [`Change`]
//! guarded by the version it read (a conflict reads again). "Still queued" is the record's
//! state ACCEPTED: once a connector's submit is recorded it is ENROUTE, too late. Queue
//! takers on every backend pass over entries whose record has left ACCEPTED, and a submit
//! worker that held an MT for a while reads its record again before sending (see
//! `upstream::connector`), so a cancelled MT is not sent and a replaced one goes out with
//! its new text.
//!
//! [`Change`]: crate::store::Change

pub mod cancel;
pub mod expiry;
pub mod query;
pub mod release;
pub mod replace;
pub mod timers;

use crate::{
    event::{Event, EventKind},
    message::{MessageId, MessageState, OutboxItem},
    store::{Change, HistoryEntry, MessageRecord, Store, StoreError, Versioned, Write},
    upstream::receipts::{client_receipt, final_event},
};

pub use cancel::cancel_mt;
pub use expiry::{dr_timed_out, expire_mt};
pub use query::{query_mt, MtStatus};
pub use release::release_scheduled;
pub use replace::{replace_mt, NewBody};

/// Why a lifecycle request on an MT was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LifecycleError {
    /// No such id, or another account's: the same answer, so ids of others are not probed.
    #[error("no message {0} for this account")]
    NotFound(MessageId),
    /// Submitted to a carrier or final already.
    #[error("message {id} is {state:?}, no longer queued")]
    TooLate { id: MessageId, state: MessageState },
    /// The MT's body is not one a client's replace can change (text from the HTTP API).
    #[error("message {0} was not submitted over SMPP; its text cannot be replaced")]
    NotReplaceable(MessageId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The record of `id` when `account` sent it.
async fn own_record<S: Store + ?Sized>(
    store: &S,
    account: &str,
    id: &MessageId,
) -> Result<Versioned<MessageRecord>, LifecycleError> {
    if id.as_str().is_empty() {
        return Err(LifecycleError::NotFound(id.clone()));
    }
    match store.record(id).await? {
        Some(found) if found.value.mt.account == account => Ok(found),
        _ => Err(LifecycleError::NotFound(id.clone())),
    }
}

/// The record of an MT `account` sent that is still queued (ACCEPTED).
async fn own_queued_record<S: Store + ?Sized>(
    store: &S,
    account: &str,
    id: &MessageId,
) -> Result<Versioned<MessageRecord>, LifecycleError> {
    let found = own_record(store, account, id).await?;
    match found.value.state {
        MessageState::Accepted => Ok(found),
        state => Err(LifecycleError::TooLate {
            id: id.clone(),
            state,
        }),
    }
}

/// Ends an MT no carrier has (still queued, or held for later) in the final `state`, with
/// `why` in its history, its `kind` and `final` events and, if the client asked for one, its
/// receipt added to `change`.
fn end_unsent(
    change: &mut Change,
    record: &mut MessageRecord,
    (kind, state): (EventKind, MessageState),
    why: &str,
    at_ms: u64,
) {
    record.history.push(HistoryEntry {
        state,
        error: why.to_owned(),
        at_ms,
        part: None,
    });
    for part in &mut record.parts {
        part.state = Some(state);
        part.error = String::new();
    }
    record.state = state;
    record.held = false;
    record.receipt_queued = true;
    change.event(
        Event::of_mt(kind, &record.mt)
            .with_state(state)
            .with_reason("", why),
    );
    change.event(final_event(record, state, ""));
    if record.mt.receipt {
        let receipt = client_receipt(record, state, String::new(), at_ms);
        change.write(Write::Outbox(OutboxItem::Receipt(receipt)));
    }
}

/// Runs a read-decide-commit `attempt` until it is not a conflict; the attempt answers
/// `Ok(None)` on a conflict, `Ok(Some(outcome))` once decided.
async fn with_retries<T, F, Fut>(what: &str, attempt: F) -> Result<T, LifecycleError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Result<T, LifecycleError>>, StoreError>>,
{
    crate::store::change::commit_with_retries(what, attempt).await?
}
