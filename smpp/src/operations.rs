//! query_sm, cancel_sm and replace_sm as an application sees them: plain requests read from
//! the PDUs, and the answer to a query_sm built from plain values (a final date in SMPP's
//! absolute time format). The session has already checked the bind may send them and that
//! the bodies decode; what a request means for a stored message is the application's.

use rusmpp::{
    pdus::{CancelSm, QuerySm, QuerySmResp, ReplaceSm},
    types::EmptyOrFullCOctetString,
    values::MessageState,
    CommandStatus, Pdu,
};

use crate::{bind::c_string, encoding::receipt::ReceiptDate};

/// A query_sm: which message, and the sender it claims (empty when the client left it NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    pub message_id: String,
    pub source_addr: String,
}

impl QueryRequest {
    pub fn from_pdu(pdu: &QuerySm) -> Self {
        Self {
            message_id: pdu.message_id.as_str().to_owned(),
            source_addr: pdu.source_addr.as_str().to_owned(),
        }
    }
}

/// What a query_sm_resp says of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageStatus {
    pub message_id: String,
    /// SMPP `message_state` (1 ENROUTE ... 8 REJECTED).
    pub message_state: u8,
    /// When the message became final, Unix ms; `None` while it is not.
    pub final_at_ms: Option<u64>,
    /// The network's error code, 0 when none.
    pub error_code: u8,
}

impl MessageStatus {
    /// The query_sm_resp body; an id too long for SMPP is a system error, never a panic.
    pub fn to_pdu(&self) -> Result<Pdu, CommandStatus> {
        let message_id = c_string(&self.message_id).ok_or(CommandStatus::EsmeRsyserr)?;
        let final_date = match self.final_at_ms {
            Some(ms) => EmptyOrFullCOctetString::from_string(absolute_time(ms))
                .map_err(|_| CommandStatus::EsmeRsyserr)?,
            None => EmptyOrFullCOctetString::empty(),
        };
        Ok(QuerySmResp::new(
            message_id,
            final_date,
            MessageState::from(self.message_state),
            self.error_code,
        )
        .into())
    }
}

/// SMPP 3.4 absolute time (`YYMMDDhhmmsstnnp`, 16 characters) of a Unix time in ms, in UTC.
pub fn absolute_time(ms: u64) -> String {
    format!("{}{}00+", ReceiptDate::from_unix_ms(ms), (ms % 1000) / 100)
}

/// A cancel_sm: one message by id, or (id empty) every pending message from `source_addr`
/// to `destination_addr` of `service_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRequest {
    pub message_id: String,
    pub source_addr: String,
    pub destination_addr: String,
}

impl CancelRequest {
    pub fn from_pdu(pdu: &CancelSm) -> Self {
        Self {
            message_id: pdu.message_id.as_str().to_owned(),
            source_addr: pdu.source_addr.as_str().to_owned(),
            destination_addr: pdu.destination_addr.as_str().to_owned(),
        }
    }

    /// SMPP's group form: no message id, every pending message between two addresses.
    pub fn is_group(&self) -> bool {
        self.message_id.is_empty()
    }
}

/// A replace_sm: the message and its new body. The scheduling, validity and receipt fields
/// are kept for the application to honour or ignore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaceRequest {
    pub message_id: String,
    pub source_addr: String,
    pub short_message: Vec<u8>,
    /// The message_payload TLV (SMPP 5.0 allows it in replace_sm), when present.
    pub message_payload: Option<Vec<u8>>,
    pub registered_delivery: u8,
    pub schedule_delivery_time: String,
    pub validity_period: String,
    pub sm_default_msg_id: u8,
}

impl ReplaceRequest {
    pub fn from_pdu(pdu: &ReplaceSm) -> Self {
        Self {
            message_id: pdu.message_id.as_str().to_owned(),
            source_addr: pdu.source_addr.as_str().to_owned(),
            short_message: pdu.short_message().as_ref().to_vec(),
            message_payload: pdu.message_payload().map(|p| p.value.to_vec()),
            registered_delivery: u8::from(pdu.registered_delivery),
            schedule_delivery_time: String::from_utf8_lossy(pdu.schedule_delivery_time.as_ref())
                .into_owned(),
            validity_period: String::from_utf8_lossy(pdu.validity_period.as_ref()).into_owned(),
            sm_default_msg_id: pdu.sm_default_msg_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use rusmpp::{encode::Length, Command};

    use super::*;

    #[test]
    fn final_dates_are_sixteen_characters_in_utc() {
        // 2026-11-25 01:14:36.700 UTC
        assert_eq!(absolute_time(1_795_569_276_700), "261125011436700+");
        assert_eq!(absolute_time(0).len(), 16);
    }

    #[test]
    fn a_query_answer_without_a_final_date_encodes_an_empty_one() {
        let status = MessageStatus {
            message_id: "gw-1".into(),
            message_state: 6,
            final_at_ms: None,
            error_code: 0,
        };
        let Pdu::QuerySmResp(resp) = status.to_pdu().unwrap() else {
            panic!("not a query_sm_resp");
        };
        assert_eq!(resp.message_id.as_str(), "gw-1");
        assert_eq!(resp.final_date.as_ref(), b"\0");
        assert_eq!(u8::from(resp.message_state), 6);
        let command = Command::new(CommandStatus::EsmeRok, 1, Pdu::QuerySmResp(resp));
        // header 16 + "gw-1\0" + "\0" + state + error
        assert_eq!(4 + command.length(), 16 + 5 + 1 + 1 + 1);
    }

    #[test]
    fn a_final_message_is_answered_with_its_final_date() {
        let status = MessageStatus {
            message_id: "gw-1".into(),
            message_state: 2,
            final_at_ms: Some(1_795_569_276_700),
            error_code: 0,
        };
        let Pdu::QuerySmResp(resp) = status.to_pdu().unwrap() else {
            panic!("not a query_sm_resp");
        };
        assert_eq!(resp.final_date.as_ref(), b"261125011436700+\0");
    }

    #[test]
    fn an_id_longer_than_smpp_allows_is_a_system_error() {
        let status = MessageStatus {
            message_id: "x".repeat(65),
            message_state: 2,
            final_at_ms: Some(0),
            error_code: 0,
        };
        assert_eq!(status.to_pdu().unwrap_err(), CommandStatus::EsmeRsyserr);
    }

    #[test]
    fn an_empty_message_id_is_the_group_form_of_cancel() {
        let pdu = CancelSm::builder()
            .source_addr("ACME".parse().unwrap())
            .destination_addr("447700900001".parse().unwrap())
            .build();
        let request = CancelRequest::from_pdu(&pdu);
        assert!(request.is_group());
        assert_eq!(request.destination_addr, "447700900001");
    }
}
