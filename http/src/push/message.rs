//! `PushMessage`: an MO or a delivery receipt for an application, and its two body encodings.

use crate::form;
use crate::state::MessageState;

/// What the gateway pushes to an application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushMessage {
    /// A mobile-originated message.
    Mo {
        /// Our id for this MO; the same on every retry.
        message_id: String,
        /// The number the handset sent to (the application's short code or long number).
        shortcode: String,
        /// The handset's number.
        phone_number: String,
        /// The carrier it came from, when known.
        carrier: Option<String>,
        /// The text.
        message: String,
    },
    /// A delivery receipt for an MT the client sent with `receipt=TRUE`.
    Receipt {
        /// The client's message_id of the MT.
        message_id: String,
        /// The state reached (pushed as its number 1..=8).
        message_state: MessageState,
        /// The carrier's error code, 0 when none.
        result_code: u32,
        /// As sent with the MT.
        app_id: Option<String>,
        /// As sent with the MT.
        conversation_id: Option<String>,
    },
}

impl PushMessage {
    /// The `webhook-id`, stable across retries so that receivers can dedupe on it.
    ///
    /// For an MO it is the message id. For a receipt it is `<message_id>:<message_state>`,
    /// because one MT can get an intermediate and then a final receipt under the same client
    /// id, and a receiver deduping on `webhook-id` must not drop the final one.
    pub fn event_id(&self) -> String {
        match self {
            PushMessage::Mo { message_id, .. } => message_id.clone(),
            PushMessage::Receipt {
                message_id,
                message_state,
                ..
            } => format!("{message_id}:{}", message_state.code()),
        }
    }

    /// `mo` or `receipt`, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PushMessage::Mo { .. } => "mo",
            PushMessage::Receipt { .. } => "receipt",
        }
    }

    /// The Genesys form body, fields in the documented order; an absent optional field is
    /// sent empty (`carrier=`) so receivers always find every key.
    pub fn to_form(&self) -> String {
        match self {
            PushMessage::Mo {
                message_id,
                shortcode,
                phone_number,
                carrier,
                message,
            } => form::encode(&[
                ("type", "MO"),
                ("message_id", message_id),
                ("shortcode", shortcode),
                ("phone_number", phone_number),
                ("carrier", carrier.as_deref().unwrap_or_default()),
                ("message", message),
            ]),
            PushMessage::Receipt {
                message_id,
                message_state,
                result_code,
                app_id,
                conversation_id,
            } => form::encode(&[
                ("type", "receipt"),
                ("message_id", message_id),
                ("message_state", &message_state.code().to_string()),
                ("result_code", &result_code.to_string()),
                ("app_id", app_id.as_deref().unwrap_or_default()),
                (
                    "conversation_id",
                    conversation_id.as_deref().unwrap_or_default(),
                ),
            ]),
        }
    }

    /// The JSON body: the form's fields with the same names, absent optionals as `null`, and
    /// for receipts also `"state"`, the state's name (`"DELIVERED"`).
    pub fn to_json(&self) -> String {
        let value = match self {
            PushMessage::Mo {
                message_id,
                shortcode,
                phone_number,
                carrier,
                message,
            } => serde_json::json!({
                "type": "MO",
                "message_id": message_id,
                "shortcode": shortcode,
                "phone_number": phone_number,
                "carrier": carrier,
                "message": message,
            }),
            PushMessage::Receipt {
                message_id,
                message_state,
                result_code,
                app_id,
                conversation_id,
            } => serde_json::json!({
                "type": "receipt",
                "message_id": message_id,
                "message_state": message_state.code(),
                "state": message_state,
                "result_code": result_code,
                "app_id": app_id,
                "conversation_id": conversation_id,
            }),
        };
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_have_the_documented_fields_in_order() {
        let mo = PushMessage::Mo {
            message_id: "MO-1".into(),
            shortcode: "12345".into(),
            phone_number: "447700900123".into(),
            carrier: None,
            message: "hi & bye 👋".into(),
        };
        assert_eq!(
            mo.to_form(),
            "type=MO&message_id=MO-1&shortcode=12345&phone_number=447700900123&carrier=&message=hi+%26+bye+%F0%9F%91%8B"
        );
        let dr = PushMessage::Receipt {
            message_id: "c-1".into(),
            message_state: MessageState::Delivered,
            result_code: 0,
            app_id: Some("app".into()),
            conversation_id: None,
        };
        assert_eq!(
            dr.to_form(),
            "type=receipt&message_id=c-1&message_state=2&result_code=0&app_id=app&conversation_id="
        );
        assert_eq!(dr.event_id(), "c-1:2");
        assert_eq!(mo.event_id(), "MO-1");
    }

    #[test]
    fn json_bodies_use_the_same_names() {
        let dr = PushMessage::Receipt {
            message_id: "c-1".into(),
            message_state: MessageState::Undeliverable,
            result_code: 11,
            app_id: None,
            conversation_id: Some("conv".into()),
        };
        let value: serde_json::Value = serde_json::from_str(&dr.to_json()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "type": "receipt", "message_id": "c-1", "message_state": 5,
                "state": "UNDELIVERABLE", "result_code": 11, "app_id": null,
                "conversation_id": "conv"
            })
        );
    }
}
