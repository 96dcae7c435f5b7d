//! `SubmitRefusal`: why a handler refused a submit, in the terms both submit APIs share. The
//! handler (the gateway) says what went wrong once; each API's error type
//! ([`ReceiverError`](crate::ReceiverError), [`ApiError`](crate::ApiError)) turns it into its
//! own answer on the wire (its field names, result codes, statuses and `Retry-After`).

use std::time::Duration;

/// A field of a submit that a handler may find wrong; each API names it its own way
/// (`phone_number` on the receiver, `to` on the JSON API, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitField {
    Sender,
    Destination,
    Text,
    SendAt,
    Validity,
}

/// Why a submit was refused. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitRefusal {
    /// Credentials wrong, or the login is locked out (answered alike on purpose).
    Auth,
    /// A field breaks a rule of the handler's (the edge checked its syntax already).
    Invalid { field: SubmitField, why: String },
    /// The text needs `segments` parts, more than the `max` allowed.
    TooLong { segments: usize, max: usize },
    /// The carrier named is unknown (empty when the destination has no route).
    UnknownCarrier(String),
    /// The account sends too fast; the client may try again after the delay.
    Throttled { retry_after: Duration },
    /// The gateway cannot check the password now; the client may try again after the delay.
    Busy { retry_after: Duration },
    /// The client's message id (or Idempotency-Key) was used before for a different message.
    Conflict,
    /// The destination asked for no more messages (an opt-out); retrying will not help.
    OptedOut(String),
    /// A temporary failure inside the gateway.
    Internal,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApiError, ReceiverError};

    #[test]
    fn each_api_names_the_field_its_own_way_with_the_same_code() {
        let refusal = SubmitRefusal::Invalid {
            field: SubmitField::Destination,
            why: "too short".into(),
        };
        let receiver = ReceiverError::from(refusal.clone());
        let api = ApiError::from(refusal);
        assert_eq!(
            receiver.description(),
            "invalid parameter phone_number: too short"
        );
        assert_eq!(api.message(), "invalid to: too short");
        assert_eq!((receiver.code(), api.code()), (1, 1));
    }

    #[test]
    fn a_conflict_is_a_duplicate_on_the_receiver_and_a_mismatch_on_the_api() {
        let receiver = ReceiverError::from(SubmitRefusal::Conflict);
        let api = ApiError::from(SubmitRefusal::Conflict);
        assert_eq!((receiver.code(), receiver.status().as_u16()), (7, 409));
        assert_eq!((api.code(), api.status().as_u16()), (7, 422));
    }

    #[test]
    fn waits_become_retry_after() {
        let retry_after = Duration::from_secs(1);
        let throttled = SubmitRefusal::Throttled { retry_after };
        let busy = SubmitRefusal::Busy { retry_after };
        assert_eq!(
            ReceiverError::from(throttled.clone()).retry_after(),
            Some(retry_after)
        );
        assert_eq!(ApiError::from(throttled).status().as_u16(), 429);
        assert_eq!(
            ApiError::from(busy.clone()).retry_after(),
            Some(retry_after)
        );
        assert_eq!(ReceiverError::from(busy).status().as_u16(), 503);
    }
}
