//! `ApiError`: a refusal on `/v1/messages`, answered as a JSON problem
//! `{"error": {"code": <result code>, "message": "..."}}`.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::result_code;
use crate::submit_refusal::{SubmitField, SubmitRefusal};
use crate::validate::FieldError;

/// Why a JSON API request was refused. The gateway builds these with the constructors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} code={code}: {message}")]
pub struct ApiError {
    status: StatusCode,
    code: u16,
    message: String,
    retry_after: Option<Duration>,
}

/// The JSON body of an error answer, public so clients (`smsgw send`) can read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The problem.
    pub error: ErrorDetail,
}

/// The problem inside [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A Genesys-like result code (see [`crate::result_code`]).
    pub code: u16,
    /// What went wrong, for a developer.
    pub message: String,
}

impl ApiError {
    /// Credentials missing or wrong: 401, code 2, with `WWW-Authenticate: Basic`.
    pub fn auth() -> ApiError {
        Self::new(
            StatusCode::UNAUTHORIZED,
            result_code::AUTHENTICATION_FAILED,
            "authentication failed",
        )
    }

    /// Authenticated, but not allowed to do this: 403, code 2, with `message` saying what is
    /// missing.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::FORBIDDEN,
            result_code::AUTHENTICATION_FAILED,
            message,
        )
    }

    /// The Idempotency-Key was used before with a different body: 422, code 7.
    pub fn idempotency_mismatch() -> ApiError {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            result_code::DUPLICATE_MESSAGE_ID,
            "Idempotency-Key already used for a different request",
        )
    }

    /// The first request with this Idempotency-Key is still being processed: 409, code 109.
    /// The client retries later and then gets the first request's answer.
    pub fn in_flight() -> ApiError {
        Self::new(
            StatusCode::CONFLICT,
            result_code::IN_FLIGHT,
            "a request with this Idempotency-Key is still in progress; retry later",
        )
    }

    /// The account sends too fast: 429, code 6, `Retry-After` in whole seconds (at least 1).
    pub fn throttled(retry_after: Duration) -> ApiError {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            result_code::THROTTLED,
            "throttled: retry later",
        )
        .with_retry_after(retry_after)
    }

    /// A field is malformed: 400, code 1, naming the field.
    pub fn invalid(field: &str, why: &str) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            result_code::INVALID_PARAMETER,
            format!("invalid {field}: {why}"),
        )
    }

    /// The carrier named is unknown: 400, code 3.
    /// The destination opted out of the account's messages: 403, code 110.
    pub fn opted_out(destination: &str) -> ApiError {
        Self::new(
            StatusCode::FORBIDDEN,
            result_code::OPTED_OUT,
            format!("destination {destination} opted out (STOP) of messages from this account"),
        )
    }

    pub fn unknown_carrier(carrier: &str) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            result_code::UNKNOWN_CARRIER,
            format!("unknown carrier: {carrier}"),
        )
    }

    /// The text needs more segments than allowed: 400, code 8.
    pub fn too_long(segments: usize, max: usize) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            result_code::MESSAGE_TOO_LONG,
            format!("message too long: {segments} segments, at most {max} allowed"),
        )
    }

    /// No such message for this account: 404, code 104.
    pub fn no_opt_out() -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            result_code::NOT_FOUND,
            "no such opt-out",
        )
    }

    pub fn not_found() -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            result_code::NOT_FOUND,
            "no such message",
        )
    }

    /// A temporary failure inside the gateway: 503, code 98. Never a 500.
    pub fn internal() -> ApiError {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            result_code::INTERNAL,
            "temporary internal error: retry later",
        )
    }

    /// The gateway cannot check the password now (every password verifier is busy): 503,
    /// code 98, `Retry-After` in whole seconds.
    pub fn busy(retry_after: Duration) -> ApiError {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            result_code::INTERNAL,
            "busy: retry later",
        )
        .with_retry_after(retry_after)
    }

    /// The body is larger than allowed: 413, code 1.
    pub fn too_large(limit: usize) -> ApiError {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            result_code::INVALID_PARAMETER,
            format!("request larger than {limit} bytes"),
        )
    }

    /// The body is not `application/json`: 415, code 1.
    pub fn unsupported_media_type() -> ApiError {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            result_code::INVALID_PARAMETER,
            "body must be application/json in UTF-8",
        )
    }

    /// The body is not the JSON expected (syntax, types, unknown fields): 400, code 1, with
    /// serde's explanation.
    pub fn bad_json(why: &str) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            result_code::INVALID_PARAMETER,
            format!("invalid JSON body: {why}"),
        )
    }

    /// A method the path does not support: 405, code 1.
    pub fn method_not_allowed() -> ApiError {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            result_code::INVALID_PARAMETER,
            "method not allowed",
        )
    }

    /// The HTTP status answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The result code in the body.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The message in the body.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `Retry-After` delay, for throttling.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    fn new(status: StatusCode, code: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        ApiError::invalid(error.field, &error.reason)
    }
}

impl From<SubmitRefusal> for ApiError {
    fn from(refusal: SubmitRefusal) -> Self {
        match refusal {
            SubmitRefusal::Auth => ApiError::auth(),
            SubmitRefusal::Invalid { field, why } => ApiError::invalid(field_name(field), &why),
            SubmitRefusal::TooLong { segments, max } => ApiError::too_long(segments, max),
            SubmitRefusal::UnknownCarrier(carrier) => ApiError::unknown_carrier(&carrier),
            SubmitRefusal::Throttled { retry_after } => ApiError::throttled(retry_after),
            SubmitRefusal::Busy { retry_after } => ApiError::busy(retry_after),
            SubmitRefusal::OptedOut(destination) => ApiError::opted_out(&destination),
            SubmitRefusal::Conflict => ApiError::idempotency_mismatch(),
            SubmitRefusal::Internal => ApiError::internal(),
        }
    }
}

/// The JSON API's name for a submit field.
fn field_name(field: SubmitField) -> &'static str {
    match field {
        SubmitField::Sender => "from",
        SubmitField::Destination => "to",
        SubmitField::Text => "text",
        SubmitField::SendAt => "send_at",
        SubmitField::Validity => "validity",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(delay) = self.retry_after {
            let seconds = crate::retry_after::to_seconds(delay);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"smsgw\", charset=\"UTF-8\""),
            );
        }
        response
    }
}
