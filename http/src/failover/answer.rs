//! Reading one attempt's answer: taken, worth retrying (connect error, time-out, 5xx, 429, or
//! 409 "still in flight"), or refused for good (any other non-2xx).

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;

use super::outbound::Api;
use crate::api::{ErrorBody, MessageStatus, SubmitAccepted};
use crate::result_code;

/// What `/httpapi/receiver` answers when it takes a message: `result_code=0&message_id=..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesysAccepted {
    /// The client's message_id, echoed back.
    pub message_id: String,
}

/// The outcome of one attempt; `T` is what the API answers on success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer<T> {
    Accepted(T),
    /// Try again (after at least `after`, the answer's Retry-After).
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// A retry cannot fix this.
    Refused {
        status: u16,
        result_code: Option<u16>,
        description: String,
    },
}

/// The answer to an attempt that got no HTTP answer at all.
pub(crate) fn transport_failure<T>(error: &reqwest::Error) -> Answer<T> {
    let kind = if error.is_connect() {
        "connect error"
    } else if error.is_timeout() {
        "time-out"
    } else {
        "transport error"
    };
    Answer::Retry {
        after: None,
        reason: format!("{kind}: {error}"),
    }
}

/// Classifies an HTTP answer of `api`; `accept` reads a 2xx body.
pub(crate) fn classify<T>(
    api: Api,
    status: StatusCode,
    retry_after: Option<&str>,
    body: &str,
    accept: fn(&str) -> Option<T>,
) -> Answer<T> {
    let (result_code, description) = error_detail(api, body);
    let retryable = status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || (status == StatusCode::CONFLICT && result_code == Some(result_code::IN_FLIGHT));
    if status.is_success() {
        return accept(body)
            .map(Answer::Accepted)
            .unwrap_or(Answer::Refused {
                status: status.as_u16(),
                result_code,
                description: format!("unreadable answer: {}", excerpt(body)),
            });
    }
    if retryable {
        return Answer::Retry {
            after: retry_after
                .and_then(|value| crate::retry_after::parse(value, SystemTime::now())),
            reason: format!("HTTP {status}, result_code {result_code:?}: {description}"),
        };
    }
    Answer::Refused {
        status: status.as_u16(),
        result_code,
        description,
    }
}

/// Reads `result_code=0&message_id=..`.
pub(crate) fn genesys_accepted(body: &str) -> Option<GenesysAccepted> {
    let pairs = crate::form::parse(body.trim().as_bytes()).ok()?;
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    if get("result_code")?.trim() != "0" {
        return None;
    }
    Some(GenesysAccepted {
        message_id: get("message_id")?.to_string(),
    })
}

/// Reads a [`SubmitAccepted`] body.
pub(crate) fn json_accepted(body: &str) -> Option<SubmitAccepted> {
    serde_json::from_str(body).ok()
}

/// Reads a [`MessageStatus`] body.
pub(crate) fn status_answer(body: &str) -> Option<MessageStatus> {
    serde_json::from_str(body).ok()
}

/// The gateway's result code and description from an error body, or the body's start.
fn error_detail(api: Api, body: &str) -> (Option<u16>, String) {
    let parsed = match api {
        Api::Genesys => crate::form::parse(body.trim().as_bytes())
            .ok()
            .and_then(|pairs| {
                let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v);
                let code = get("result_code")?.trim().parse().ok()?;
                Some((
                    code,
                    get("description")
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                ))
            }),
        Api::Json => serde_json::from_str::<ErrorBody>(body)
            .ok()
            .map(|problem| (problem.error.code, problem.error.message)),
    };
    match parsed {
        Some((code, description)) => (Some(code), description),
        None => (None, excerpt(body)),
    }
}

fn excerpt(body: &str) -> String {
    body.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MessageState;

    #[test]
    fn genesys_answers() {
        let ok = classify(
            Api::Genesys,
            StatusCode::OK,
            None,
            "result_code=0&message_id=m-1",
            genesys_accepted,
        );
        assert_eq!(
            ok,
            Answer::Accepted(GenesysAccepted {
                message_id: "m-1".into()
            })
        );
        let auth = classify(
            Api::Genesys,
            StatusCode::UNAUTHORIZED,
            None,
            "result_code=2&description=authentication+failed",
            genesys_accepted,
        );
        assert_eq!(
            auth,
            Answer::Refused {
                status: 401,
                result_code: Some(2),
                description: "authentication failed".into()
            }
        );
        let throttled = classify(
            Api::Genesys,
            StatusCode::TOO_MANY_REQUESTS,
            Some("7"),
            "result_code=6&description=slow",
            genesys_accepted,
        );
        assert!(
            matches!(throttled, Answer::Retry { after: Some(d), .. } if d == Duration::from_secs(7))
        );
        let garbage = classify(
            Api::Genesys,
            StatusCode::OK,
            None,
            "<html>",
            genesys_accepted,
        );
        assert!(matches!(
            garbage,
            Answer::Refused {
                result_code: None,
                ..
            }
        ));
    }

    #[test]
    fn json_answers_and_in_flight_is_retried() {
        let body = serde_json::to_string(&SubmitAccepted {
            id: "A-1".into(),
            state: MessageState::Accepted,
            parts: 1,
        })
        .unwrap();
        assert!(matches!(
            classify(Api::Json, StatusCode::ACCEPTED, None, &body, json_accepted),
            Answer::Accepted(a) if a.id == "A-1"
        ));
        let in_flight = r#"{"error":{"code":109,"message":"in progress"}}"#;
        assert!(matches!(
            classify(
                Api::Json,
                StatusCode::CONFLICT,
                None,
                in_flight,
                json_accepted
            ),
            Answer::Retry { after: None, .. }
        ));
        let mismatch = r#"{"error":{"code":7,"message":"key reused"}}"#;
        assert!(matches!(
            classify(
                Api::Json,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                mismatch,
                json_accepted
            ),
            Answer::Refused {
                status: 422,
                result_code: Some(7),
                ..
            }
        ));
        assert!(matches!(
            classify(
                Api::Json,
                StatusCode::BAD_GATEWAY,
                None,
                "proxy",
                json_accepted
            ),
            Answer::Retry { .. }
        ));
        assert!(matches!(
            classify(
                Api::Json,
                StatusCode::NOT_FOUND,
                None,
                "nope",
                json_accepted
            ),
            Answer::Refused {
                result_code: None,
                ..
            }
        ));
    }
}
