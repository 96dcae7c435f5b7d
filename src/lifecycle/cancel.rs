//! cancel_sm's flow: an MT still queued ends DELETED, with its receipt to the client if it
//! asked for one, in one change guarded by the version read.

use super::{end_unsent, own_queued_record, with_retries, LifecycleError};
use crate::{
    event::EventKind,
    message::{now_ms, MessageId, MessageState},
    store::{Change, Committed, Store, Versioned},
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
        end_unsent(
            &mut change,
            &mut value,
            (EventKind::Cancelled, MessageState::Deleted),
            CANCELLED_BY_CLIENT,
            now_ms(),
        );
        change.put_record(value, version);
        Ok(match store.commit(change).await? {
            Committed::Done => Some(Ok(())),
            Committed::Conflict | Committed::Claimed => None,
        })
    })
    .await
}
