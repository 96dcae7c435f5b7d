//! Reading a push body back into a [`PushMessage`] (form or JSON), for applications that
//! receive pushes (see [`crate::inbox`]).

use serde_json::Value;

use super::PushMessage;
use crate::state::MessageState;

/// The body is not a push this crate understands; the reason names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid push body: {0}")]
pub struct PushParseError(pub String);

impl PushMessage {
    /// Reads a Genesys form push (`type=MO|receipt&...`). Unknown fields are ignored.
    pub fn from_form(body: &[u8]) -> Result<PushMessage, PushParseError> {
        let pairs = crate::form::parse(body).map_err(|e| PushParseError(e.to_string()))?;
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_ref())
        };
        build(
            |name| get(name).map(str::to_owned),
            |name| get(name).map(str::to_owned),
        )
    }

    /// Reads a JSON push as [`PushMessage::to_json`] writes it.
    pub fn from_json(body: &[u8]) -> Result<PushMessage, PushParseError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| PushParseError(e.to_string()))?;
        let text = |name: &str| match value.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        build(text, text)
    }
}

fn build(
    required: impl Fn(&str) -> Option<String>,
    optional: impl Fn(&str) -> Option<String>,
) -> Result<PushMessage, PushParseError> {
    let need = |name: &str| required(name).ok_or_else(|| PushParseError(format!("missing {name}")));
    let maybe = |name: &str| optional(name).filter(|v| !v.is_empty());
    match need("type")?.as_str() {
        "MO" => Ok(PushMessage::Mo {
            message_id: need("message_id")?,
            shortcode: need("shortcode")?,
            phone_number: need("phone_number")?,
            carrier: maybe("carrier"),
            message: need("message")?,
        }),
        "receipt" => {
            let state = need("message_state")?;
            let message_state = state
                .parse::<u8>()
                .ok()
                .and_then(MessageState::from_code)
                .ok_or_else(|| PushParseError(format!("message_state {state:?} is not 1..8")))?;
            let code = need("result_code")?;
            let result_code = code
                .parse::<u32>()
                .map_err(|_| PushParseError(format!("result_code {code:?} is not a number")))?;
            Ok(PushMessage::Receipt {
                message_id: need("message_id")?,
                message_state,
                result_code,
                app_id: maybe("app_id"),
                conversation_id: maybe("conversation_id"),
            })
        }
        other => Err(PushParseError(format!("unknown type {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_round_trip() {
        let messages = [
            PushMessage::Mo {
                message_id: "MO-1".into(),
                shortcode: "12345".into(),
                phone_number: "447700900123".into(),
                carrier: None,
                message: "a=b&c 👋".into(),
            },
            PushMessage::Receipt {
                message_id: "c-1".into(),
                message_state: MessageState::Rejected,
                result_code: 42,
                app_id: Some("app".into()),
                conversation_id: None,
            },
        ];
        for message in messages {
            assert_eq!(
                PushMessage::from_form(message.to_form().as_bytes()),
                Ok(message.clone())
            );
            assert_eq!(
                PushMessage::from_json(message.to_json().as_bytes()),
                Ok(message.clone())
            );
        }
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(PushMessage::from_form(b"type=MT&message_id=1").is_err());
        assert!(
            PushMessage::from_form(b"type=receipt&message_id=1&message_state=9&result_code=0")
                .is_err()
        );
        assert!(PushMessage::from_form(b"type=MO&message_id=1").is_err());
        assert!(PushMessage::from_json(b"{").is_err());
    }
}
