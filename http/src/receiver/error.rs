//! `ReceiverError`: a refusal on `/httpapi/receiver`, with its Genesys result code and HTTP status.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::result_code;
use crate::submit_refusal::{SubmitField, SubmitRefusal};
use crate::validate::FieldError;

/// Why a request to `/httpapi/receiver` was refused. The gateway builds these with the
/// constructors; the edge turns them into `result_code=<n>&description=<text>` answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("result_code={code} ({status}): {description}")]
pub struct ReceiverError {
    code: u16,
    status: StatusCode,
    description: String,
    retry_after: Option<Duration>,
}

impl ReceiverError {
    /// Login/password wrong or account disabled: result_code 2, HTTP 401.
    pub fn auth() -> ReceiverError {
        Self::new(
            result_code::AUTHENTICATION_FAILED,
            StatusCode::UNAUTHORIZED,
            "authentication failed",
        )
    }

    /// The `carrier` named is unknown: result_code 3, HTTP 400.
    /// The destination opted out of the account's messages: 403, code 110.
    pub fn opted_out(destination: &str) -> ReceiverError {
        Self::new(
            result_code::OPTED_OUT,
            StatusCode::FORBIDDEN,
            format!("destination {destination} opted out (STOP) of messages from this account"),
        )
    }

    pub fn unknown_carrier(carrier: &str) -> ReceiverError {
        Self::new(
            result_code::UNKNOWN_CARRIER,
            StatusCode::BAD_REQUEST,
            format!("unknown carrier: {carrier}"),
        )
    }

    /// The account sends too fast: result_code 6, HTTP 429 with `Retry-After` (whole seconds,
    /// rounded up, at least 1).
    pub fn throttled(retry_after: Duration) -> ReceiverError {
        Self::new(
            result_code::THROTTLED,
            StatusCode::TOO_MANY_REQUESTS,
            "throttled: retry later",
        )
        .with_retry_after(retry_after)
    }

    /// The message_id was used before with a different message: result_code 7, HTTP 409.
    /// (The same message_id with the same body is not an error: answer as the first time.)
    pub fn duplicate() -> ReceiverError {
        Self::new(
            result_code::DUPLICATE_MESSAGE_ID,
            StatusCode::CONFLICT,
            "message_id already used for a different message",
        )
    }

    /// The text needs `segments` parts but the account may send at most `max`: result_code 8,
    /// HTTP 400.
    pub fn too_long(segments: usize, max: usize) -> ReceiverError {
        Self::new(
            result_code::MESSAGE_TOO_LONG,
            StatusCode::BAD_REQUEST,
            format!("message too long: {segments} segments, at most {max} allowed"),
        )
    }

    /// A temporary failure inside the gateway (store unreachable, shutting down): result_code
    /// 98, HTTP 503 so clients and balancers retry. Never a 500.
    pub fn internal() -> ReceiverError {
        Self::new(
            result_code::INTERNAL,
            StatusCode::SERVICE_UNAVAILABLE,
            "temporary internal error: retry later",
        )
    }

    /// The gateway cannot check the password now (every password verifier is busy):
    /// result_code 98, HTTP 503 with `Retry-After`, so clients retry later.
    pub fn busy(retry_after: Duration) -> ReceiverError {
        Self::new(
            result_code::INTERNAL,
            StatusCode::SERVICE_UNAVAILABLE,
            "busy: retry later",
        )
        .with_retry_after(retry_after)
    }

    /// A parameter is malformed: result_code 1, HTTP 400, naming the parameter.
    pub fn invalid(param: &str, why: &str) -> ReceiverError {
        Self::new(
            result_code::INVALID_PARAMETER,
            StatusCode::BAD_REQUEST,
            format!("invalid parameter {param}: {why}"),
        )
    }

    /// Required parameters are absent: result_code 1, HTTP 400, listing all of them.
    pub fn missing(params: &[&str]) -> ReceiverError {
        Self::new(
            result_code::INVALID_PARAMETER,
            StatusCode::BAD_REQUEST,
            format!("missing parameter(s): {}", params.join(", ")),
        )
    }

    /// The body is larger than the edge accepts: result_code 1, HTTP 413.
    pub fn too_large(limit: usize) -> ReceiverError {
        Self::new(
            result_code::INVALID_PARAMETER,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request larger than {limit} bytes"),
        )
    }

    /// The body has a content type other than UTF-8 form data: result_code 1, HTTP 415.
    pub fn unsupported_media_type() -> ReceiverError {
        Self::new(
            result_code::INVALID_PARAMETER,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "body must be application/x-www-form-urlencoded in UTF-8",
        )
    }

    /// A method other than GET or POST: result_code 1, HTTP 405.
    pub fn method_not_allowed() -> ReceiverError {
        Self::new(
            result_code::INVALID_PARAMETER,
            StatusCode::METHOD_NOT_ALLOWED,
            "use GET or POST",
        )
    }

    /// The Genesys result code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The HTTP status answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The human-readable description answered.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The delay announced in `Retry-After`, for throttling.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    fn new(code: u16, status: StatusCode, description: impl Into<String>) -> ReceiverError {
        ReceiverError {
            code,
            status,
            description: description.into(),
            retry_after: None,
        }
    }
}

impl From<FieldError> for ReceiverError {
    fn from(error: FieldError) -> Self {
        ReceiverError::invalid(error.field, &error.reason)
    }
}

impl From<SubmitRefusal> for ReceiverError {
    fn from(refusal: SubmitRefusal) -> Self {
        match refusal {
            SubmitRefusal::Auth => ReceiverError::auth(),
            SubmitRefusal::Invalid { field, why } => ReceiverError::invalid(param(field), &why),
            SubmitRefusal::TooLong { segments, max } => ReceiverError::too_long(segments, max),
            SubmitRefusal::UnknownCarrier(carrier) => ReceiverError::unknown_carrier(&carrier),
            SubmitRefusal::Throttled { retry_after } => ReceiverError::throttled(retry_after),
            SubmitRefusal::Busy { retry_after } => ReceiverError::busy(retry_after),
            SubmitRefusal::OptedOut(destination) => ReceiverError::opted_out(&destination),
            SubmitRefusal::Conflict => ReceiverError::duplicate(),
            SubmitRefusal::Internal => ReceiverError::internal(),
        }
    }
}

/// The receiver's name for a submit field.
fn param(field: SubmitField) -> &'static str {
    match field {
        SubmitField::Sender => "sender",
        SubmitField::Destination => "phone_number",
        SubmitField::Text => "message",
        SubmitField::SendAt => "send_at",
        SubmitField::Validity => "validity",
    }
}

impl IntoResponse for ReceiverError {
    fn into_response(self) -> Response {
        let code = self.code.to_string();
        let body = crate::form::encode(&[
            ("result_code", code.as_str()),
            ("description", self.description.as_str()),
        ]);
        let mut response = super::form_response(self.status, body);
        if let Some(delay) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::retry_after::to_seconds(delay)),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_carry_genesys_codes_and_statuses() {
        let cases = [
            (ReceiverError::auth(), 2, 401),
            (ReceiverError::unknown_carrier("x"), 3, 400),
            (ReceiverError::throttled(Duration::from_millis(1)), 6, 429),
            (ReceiverError::duplicate(), 7, 409),
            (ReceiverError::too_long(9, 6), 8, 400),
            (ReceiverError::internal(), 98, 503),
            (ReceiverError::busy(Duration::from_secs(1)), 98, 503),
            (ReceiverError::invalid("sender", "bad"), 1, 400),
            (ReceiverError::missing(&["login"]), 1, 400),
            (ReceiverError::too_large(10), 1, 413),
        ];
        for (error, code, status) in cases {
            assert_eq!(error.code(), code, "{error}");
            assert_eq!(error.status().as_u16(), status, "{error}");
        }
    }
}
