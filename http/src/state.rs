//! `MessageState`: where an MT stands, numbered as SMPP 3.4 `message_state` (1..=8), which is
//! also the `message_state` of Genesys receipt pushes.

use serde::{Deserialize, Serialize};

/// The state of an MT as the API reports it and receipts push it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageState {
    /// 1: sent to the carrier, no final report yet.
    Enroute,
    /// 2: delivered to the handset.
    Delivered,
    /// 3: validity period expired before delivery.
    Expired,
    /// 4: deleted by the carrier.
    Deleted,
    /// 5: the carrier could not deliver it.
    Undeliverable,
    /// 6: accepted (by the gateway: durably stored; by a carrier: accepted on the handset's
    /// behalf).
    Accepted,
    /// 7: the state is not known (also any carrier status we cannot map).
    Unknown,
    /// 8: refused by the gateway's route or the carrier.
    Rejected,
}

impl MessageState {
    /// Every state, in `message_state` order.
    pub const ALL: [MessageState; 8] = [
        MessageState::Enroute,
        MessageState::Delivered,
        MessageState::Expired,
        MessageState::Deleted,
        MessageState::Undeliverable,
        MessageState::Accepted,
        MessageState::Unknown,
        MessageState::Rejected,
    ];

    /// The SMPP / Genesys `message_state` number, 1..=8.
    pub fn code(self) -> u8 {
        match self {
            MessageState::Enroute => 1,
            MessageState::Delivered => 2,
            MessageState::Expired => 3,
            MessageState::Deleted => 4,
            MessageState::Undeliverable => 5,
            MessageState::Accepted => 6,
            MessageState::Unknown => 7,
            MessageState::Rejected => 8,
        }
    }

    /// The state for a `message_state` number, `None` outside 1..=8.
    pub fn from_code(code: u8) -> Option<MessageState> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// True when no later report can change the state (everything but ENROUTE and ACCEPTED).
    pub fn is_final(self) -> bool {
        !matches!(self, MessageState::Enroute | MessageState::Accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_names_are_screaming_snake_case() {
        for state in MessageState::ALL {
            assert_eq!(MessageState::from_code(state.code()), Some(state));
        }
        assert_eq!(MessageState::from_code(0), None);
        assert_eq!(MessageState::from_code(9), None);
        assert_eq!(
            serde_json::to_string(&MessageState::Undeliverable).unwrap(),
            "\"UNDELIVERABLE\""
        );
        assert!(MessageState::Delivered.is_final());
        assert!(!MessageState::Enroute.is_final());
    }
}
