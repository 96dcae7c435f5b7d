//! cancel_sm's flow: an MT still queued ends DELETED, with its receipt to the client if it
//! asked for one, in one change guarded by the version read.

use super::{own_queued_record, with_retries, LifecycleError};
use crate::{
    message::{now_ms, MessageId, MessageState, OutboxItem},
    store::{Change, Committed, HistoryEntry, MessageRecord, Store, Versioned, Write},
    upstream::receipts::client_receipt,
};

/// What the history of a cancelled MT says.
pub const CANCELLED_BY_CLIENT: &str = "cancelled by the client";

/// Cancels `id` for `account` if it is still queued. Returns once the cancellation is
/// durable; [`LifecycleError::TooLate`] once submitted or final.
pub async fn cancel_mt<S: Store + ?Sized>(
    store: &S,
    account: &str,
    id: &MessageId,
) -> Result<(), LifecycleError> {
    with_retries("cancel_mt", || async {
        let Versioned { mut value, version } = match own_queued_record(store, account, id).await {
            Ok(found) => found,
            Err(LifecycleError::Store(error)) => return Err(error),
            Err(refused) => return Ok(Some(Err(refused))),
        };
        let mut change = Change::acknowledged();
        if let Some(receipt) = mark_cancelled(&mut value, now_ms()) {
            change.write(Write::Outbox(OutboxItem::Receipt(receipt)));
        }
        change.put_record(value, version);
        Ok(match store.commit(change).await? {
            Committed::Done => Some(Ok(())),
            Committed::Conflict | Committed::Claimed => None,
        })
    })
    .await
}

/// Makes a queued record final DELETED; returns the client's receipt if it asked for one.
fn mark_cancelled(record: &mut MessageRecord, at_ms: u64) -> Option<crate::message::Receipt> {
    record.history.push(HistoryEntry {
        state: MessageState::Deleted,
        error: CANCELLED_BY_CLIENT.into(),
        at_ms,
        part: None,
    });
    for part in &mut record.parts {
        part.state = Some(MessageState::Deleted);
        part.error = String::new();
    }
    record.state = MessageState::Deleted;
    record.receipt_queued = true;
    record
        .mt
        .receipt
        .then(|| client_receipt(record, MessageState::Deleted, String::new(), at_ms))
}
