//! query_sm's flow: what a client may learn of one of its MTs.

use super::{own_record, LifecycleError};
use crate::{
    message::{MessageId, MessageState},
    store::Store,
};

/// An MT's state as its sender may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtStatus {
    pub id: MessageId,
    pub state: MessageState,
    /// When it became final; `None` while queued or on its way.
    pub final_at_ms: Option<u64>,
    /// The carrier's error for a failed MT (its `err:` value), else empty.
    pub error: String,
}

/// The state of `id` for `account`: [`LifecycleError::NotFound`] for an unknown id or
/// another account's.
pub async fn query_mt<S: Store + ?Sized>(
    store: &S,
    account: &str,
    id: &MessageId,
) -> Result<MtStatus, LifecycleError> {
    let record = own_record(store, account, id).await?.value;
    let final_entry = record
        .state
        .is_final()
        .then(|| record.history.iter().rev().find(|h| h.state.is_final()))
        .flatten();
    let error = record
        .parts
        .iter()
        .find(|p| p.state == Some(record.state))
        .map(|p| p.error.clone())
        .unwrap_or_default();
    Ok(MtStatus {
        id: id.clone(),
        state: record.state,
        final_at_ms: final_entry.map(|h| h.at_ms),
        error: if record.state == MessageState::Delivered {
            String::new()
        } else {
            error
        },
    })
}
