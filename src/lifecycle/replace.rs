//! replace_sm's flow: an MT still queued gets a new body, in one change guarded by the
//! version read. Only what the carrier gets changes: the MT keeps its id, addresses, coding,
//! receipt request and place in the queue.

use super::{own_queued_record, with_retries, LifecycleError};
use crate::{
    event::{Event, EventKind},
    message::{now_ms, MessageId, MessageState, Payload},
    store::{Change, Committed, HistoryEntry, Store, Versioned},
};

/// What the history of a replaced MT says.
pub const REPLACED_BY_CLIENT: &str = "text replaced by the client";

/// A replace_sm's new body, in the MT's original data_coding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBody {
    pub short_message: Vec<u8>,
    pub message_payload: Option<Vec<u8>>,
}

/// Replaces the body of `id` for `account` if it is still queued and came in over SMPP.
/// Returns once the new body is durable.
pub async fn replace_mt<S: Store + ?Sized>(
    store: &S,
    account: &str,
    id: &MessageId,
    body: NewBody,
) -> Result<(), LifecycleError> {
    with_retries("replace_mt", || async {
        let Versioned { mut value, version } = match own_queued_record(store, account, id).await {
            Ok(found) => found,
            Err(LifecycleError::Store(error)) => return Err(error),
            Err(refused) => return Ok(Some(Err(refused))),
        };
        let Payload::Pdu {
            short_message,
            message_payload,
            ..
        } = &mut value.mt.payload
        else {
            return Ok(Some(Err(LifecycleError::NotReplaceable(id.clone()))));
        };
        short_message.clone_from(&body.short_message);
        message_payload.clone_from(&body.message_payload);
        value.history.push(HistoryEntry {
            state: MessageState::Accepted,
            error: REPLACED_BY_CLIENT.into(),
            at_ms: now_ms(),
            part: None,
        });
        let mut change = Change::acknowledged();
        change.event(
            Event::of_mt(EventKind::Replaced, &value.mt).with_reason("", REPLACED_BY_CLIENT),
        );
        change.put_record(value, version);
        Ok(match store.commit(change).await? {
            Committed::Done => Some(Ok(())),
            Committed::Conflict | Committed::Claimed => None,
        })
    })
    .await
}
