//! FLOW of a scheduled MT whose time came: queued on its connector, once (the record stops
//! being `held` in the same change, under its version guard). One cancelled, replaced or
//! expired meanwhile is not queued.

use crate::{
    message::{MessageId, MessageState},
    store::{change::commit_with_retries, Change, Committed, Store, StoreError, Versioned, Write},
};

/// Queues `id` if it is still held for its `send_at`. Returns whether it was queued now.
pub async fn release_scheduled<S: Store + ?Sized>(
    store: &S,
    id: &MessageId,
) -> Result<bool, StoreError> {
    commit_with_retries("release_scheduled", || async {
        let Some(Versioned { mut value, version }) = store.record(id).await? else {
            return Ok(Some(false));
        };
        if value.state != MessageState::Accepted || !value.held {
            return Ok(Some(false));
        }
        value.held = false;
        let connector = value
            .connector
            .clone()
            .or_else(|| value.mt.connectors.first().cloned())
            .unwrap_or_default();
        let mut change = Change::default();
        change.write(Write::Enqueue {
            connector,
            priority: value.mt.priority,
            id: id.clone(),
            released: false,
        });
        change.put_record(value, version);
        Ok(match store.commit(change).await? {
            Committed::Done => Some(true),
            Committed::Conflict | Committed::Claimed => None,
        })
    })
    .await
}
