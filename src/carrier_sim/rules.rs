//! The simulator's rules: what a submit_sm becomes, decided by its destination prefix and its
//! registered_delivery field.
//!
//! | destination prefix | submit_sm_resp      | receipt                  | also                  |
//! |--------------------|---------------------|--------------------------|-----------------------|
//! | `9990`             | accepted            | DELIVRD                  | text looped back (MO) |
//! | `9991`             | accepted            | UNDELIV, err 001         |                       |
//! | `9992`             | accepted            | never                    |                       |
//! | `9993`             | ESME_RSUBMITFAIL    | never                    |                       |
//! | anything else      | accepted            | DELIVRD                  |                       |

use smsgw_smpp::rusmpp::values::MessageState;

/// What the simulated network does with one submitted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Delivered to the handset: DELIVRD.
    Deliver,
    /// Delivered, and the handset answers with the same text (an MO back to the sender).
    DeliverAndEcho,
    /// Accepted but not deliverable: UNDELIV.
    Undeliverable,
    /// Accepted; the network never reports on it.
    NoReceipt,
    /// Refused at submission: ESME_RSUBMITFAIL.
    Reject,
}

impl Rule {
    /// The rule for a destination address.
    pub fn for_destination(destination: &str) -> Self {
        match destination.get(..4) {
            Some("9990") => Rule::DeliverAndEcho,
            Some("9991") => Rule::Undeliverable,
            Some("9992") => Rule::NoReceipt,
            Some("9993") => Rule::Reject,
            _ => Rule::Deliver,
        }
    }

    /// The final state the network reaches, when it reports one.
    pub fn final_state(self) -> Option<MessageState> {
        match self {
            Rule::Deliver | Rule::DeliverAndEcho => Some(MessageState::Delivered),
            Rule::Undeliverable => Some(MessageState::Undeliverable),
            Rule::NoReceipt | Rule::Reject => None,
        }
    }

    /// Whether the text goes back to the sender as an MO.
    pub fn echoes_text(self) -> bool {
        self == Rule::DeliverAndEcho
    }
}

/// The receipt `err:` code the simulator reports for a final state.
pub fn error_code(state: MessageState) -> &'static str {
    if state == MessageState::Delivered {
        "000"
    } else {
        "001"
    }
}

/// Which receipts a submit_sm asked for, from bits 0-1 of registered_delivery (SMPP 3.4
/// section 5.2.17; value 3 as SMPP 5.0 defines it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptRequest {
    /// 0: no receipt.
    None,
    /// 1: a receipt on success or failure.
    Any,
    /// 2: a receipt on failure only.
    FailureOnly,
    /// 3: a receipt on success only.
    SuccessOnly,
}

impl ReceiptRequest {
    pub fn from_registered_delivery(registered_delivery: u8) -> Self {
        match registered_delivery & 0x03 {
            0 => ReceiptRequest::None,
            1 => ReceiptRequest::Any,
            2 => ReceiptRequest::FailureOnly,
            _ => ReceiptRequest::SuccessOnly,
        }
    }

    /// Whether a receipt with this final state was asked for.
    pub fn wants(self, state: MessageState) -> bool {
        let success = state == MessageState::Delivered;
        match self {
            ReceiptRequest::None => false,
            ReceiptRequest::Any => true,
            ReceiptRequest::FailureOnly => !success,
            ReceiptRequest::SuccessOnly => success,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_pick_their_rule() {
        assert_eq!(Rule::for_destination("99901234"), Rule::DeliverAndEcho);
        assert_eq!(Rule::for_destination("9991"), Rule::Undeliverable);
        assert_eq!(Rule::for_destination("99925550"), Rule::NoReceipt);
        assert_eq!(Rule::for_destination("9993000"), Rule::Reject);
        assert_eq!(Rule::for_destination("447700900123"), Rule::Deliver);
        assert_eq!(Rule::for_destination("999"), Rule::Deliver);
        assert_eq!(Rule::for_destination(""), Rule::Deliver);
        assert_eq!(Rule::for_destination("19990"), Rule::Deliver);
    }

    #[test]
    fn final_states_and_echo() {
        assert_eq!(Rule::Deliver.final_state(), Some(MessageState::Delivered));
        assert_eq!(
            Rule::DeliverAndEcho.final_state(),
            Some(MessageState::Delivered)
        );
        assert_eq!(
            Rule::Undeliverable.final_state(),
            Some(MessageState::Undeliverable)
        );
        assert_eq!(Rule::NoReceipt.final_state(), None);
        assert_eq!(Rule::Reject.final_state(), None);
        assert!(Rule::DeliverAndEcho.echoes_text() && !Rule::Deliver.echoes_text());
        assert_eq!(error_code(MessageState::Delivered), "000");
        assert_eq!(error_code(MessageState::Undeliverable), "001");
    }

    #[test]
    fn registered_delivery_bits() {
        let delivered = MessageState::Delivered;
        let failed = MessageState::Undeliverable;
        let request = ReceiptRequest::from_registered_delivery;
        assert!(!request(0x00).wants(delivered) && !request(0x00).wants(failed));
        assert!(request(0x01).wants(delivered) && request(0x01).wants(failed));
        assert!(!request(0x02).wants(delivered) && request(0x02).wants(failed));
        assert!(request(0x03).wants(delivered) && !request(0x03).wants(failed));
        // Bits above 1 (SME acknowledgements, intermediate notifications) do not matter.
        assert_eq!(request(0x11), ReceiptRequest::Any);
        assert_eq!(request(0x1C), ReceiptRequest::None);
    }
}
