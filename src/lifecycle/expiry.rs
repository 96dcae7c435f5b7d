//! FLOWS that end an MT because of time: its validity ended before any carrier took it
//! (EXPIRED, message_state 3), or a carrier took it and no final receipt came within the DR
//! timeout (UNKNOWN, message_state 7). Each runs under the record's version guard, so a timer
//! fired twice, or beaten by a cancel or a real receipt, changes nothing; the client's final
//! receipt goes out once (a late real receipt only joins the history, see
//! `upstream::receipts`).

use super::end_unsent;
use crate::{
    event::{Event, EventKind},
    message::{now_ms, MessageId, MessageState},
    store::{
        change::commit_with_retries, Change, Committed, HistoryEntry, Store, StoreError, Versioned,
        Write,
    },
    upstream::receipts::{finish_if_final, queue_client_receipt},
};

/// What the history of an MT whose validity ended says.
pub const VALIDITY_ENDED: &str = "validity period ended before a carrier took it";
/// What the history and the parts of an MT without a final receipt in time say.
pub const NO_FINAL_RECEIPT: &str = "no final receipt within the DR timeout";

/// Ends `id` EXPIRED if no carrier has it yet (still ACCEPTED). `holding`: this node took it
/// from its queue and its hold ends with this. Returns whether it expired now.
pub async fn expire_mt<S: Store + ?Sized>(
    store: &S,
    id: &MessageId,
    holding: bool,
) -> Result<bool, StoreError> {
    commit_with_retries("expire_mt", || async {
        let Some(Versioned { mut value, version }) = store.record(id).await? else {
            return Ok(Some(false));
        };
        if value.state != MessageState::Accepted {
            return Ok(Some(false));
        }
        let mut change = Change::default();
        if holding {
            change.write(Write::EndLease(id.clone()));
        }
        end_unsent(
            &mut change,
            &mut value,
            (EventKind::Expired, MessageState::Expired),
            VALIDITY_ENDED,
            now_ms(),
        );
        change.put_record(value, version);
        Ok(match store.commit(change).await? {
            Committed::Done => Some(true),
            Committed::Conflict | Committed::Claimed => None,
        })
    })
    .await
}

/// Ends `id` UNKNOWN if a carrier has it (ENROUTE) and it is not final yet: every part still
/// waiting for its receipt becomes UNKNOWN, and the message takes the worst state of its
/// parts as when its last receipt comes. Returns whether it ended now.
pub async fn dr_timed_out<S: Store + ?Sized>(
    store: &S,
    id: &MessageId,
) -> Result<bool, StoreError> {
    commit_with_retries("dr_timed_out", || async {
        let Some(Versioned { mut value, version }) = store.record(id).await? else {
            return Ok(Some(false));
        };
        if value.state != MessageState::Enroute || value.receipt_queued {
            return Ok(Some(false));
        }
        let now = now_ms();
        value.history.push(HistoryEntry {
            state: MessageState::Unknown,
            error: NO_FINAL_RECEIPT.into(),
            at_ms: now,
            part: None,
        });
        for part in &mut value.parts {
            if !part.state.is_some_and(MessageState::is_final) {
                part.state = Some(MessageState::Unknown);
                part.error = NO_FINAL_RECEIPT.into();
            }
        }
        let mut change = Change::default();
        change.event(
            Event::of_mt(EventKind::DrTimeout, &value.mt)
                .with_connector(value.connector.as_deref())
                .with_state(MessageState::Unknown)
                .with_reason("", NO_FINAL_RECEIPT),
        );
        let finished = finish_if_final(&mut value, now);
        queue_client_receipt(&mut change, &value, finished);
        change.put_record(value, version);
        Ok(match store.commit(change).await? {
            Committed::Done => Some(true),
            Committed::Conflict | Committed::Claimed => None,
        })
    })
    .await
}
