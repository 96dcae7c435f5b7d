//! Genesys-compatible `GET|POST /httpapi/receiver`: the MT entry point of the SMS Aggregation
//! HTTP profile.
//!
//! Parameters come from the query string (GET or POST) and, for POST, also from an
//! `application/x-www-form-urlencoded` body in UTF-8 (a body without a content type is read as
//! form data, as `curl -d` clients expect). A known parameter given twice, in either place, is
//! refused. Unknown parameters are ignored.
//!
//! Answers are form-encoded text, which is what Genesys clients split on `&` and `=`:
//! - accepted: HTTP 200, `result_code=0&message_id=<client id>`;
//! - refused: non-2xx, `result_code=<n>&description=<text>` (see [`ReceiverError`]).
//!
//! The content type is `text/plain; charset=utf-8`: the body is form-encoded, but clients read
//! it as a plain string, and text/plain shows up readably in browsers and proxies' logs.
//!
//! The gateway implements [`ReceiverHandler`]: it authenticates, checks the message_id for
//! idempotency (same id + same body = answer as before, different body =
//! [`ReceiverError::duplicate`]), writes durably, and only then returns `Ok`.

mod error;
mod request;

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

pub use error::ReceiverError;
pub use request::ReceiverRequest;

use crate::{form, limits, result_code, ClientAddr};

/// The path of the receiver endpoint.
pub const PATH: &str = "/httpapi/receiver";

/// What the gateway does with a validated receiver request.
pub trait ReceiverHandler: Send + Sync + 'static {
    /// Accepts one MT from `client`. Return `Ok` only after the message is durably stored (or
    /// was already stored under the same message_id with the same body).
    fn submit(
        &self,
        client: ClientAddr,
        request: ReceiverRequest,
    ) -> impl Future<Output = Result<(), ReceiverError>> + Send;
}

/// The `/httpapi/receiver` routes, with bodies bounded to [`limits::MAX_BODY_BYTES`].
pub fn router<H: ReceiverHandler>(handler: Arc<H>) -> Router {
    Router::new()
        .route(
            PATH,
            get(receive::<H>)
                .post(receive::<H>)
                .fallback(|| async { ReceiverError::method_not_allowed().into_response() }),
        )
        .layer(DefaultBodyLimit::max(limits::MAX_BODY_BYTES))
        .with_state(handler)
}

/// Takes the request whole: the method, headers and URI are read in place (their extractors
/// would copy them for every MT).
async fn receive<H: ReceiverHandler>(
    State(handler): State<Arc<H>>,
    client: ClientAddr,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    // The body extractor reads the body limit from the extensions, which nothing else needs.
    let mut body = Request::new(body);
    *body.extensions_mut() = std::mem::take(&mut parts.extensions);
    let body = Bytes::from_request(body, &()).await;
    let outcome = match parse(&parts.method, &parts.headers, &parts.uri, body) {
        Ok(request) => {
            let message_id = request.message_id.clone();
            handler.submit(client, request).await.map(|()| message_id)
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(message_id) => {
            count(result_code::OK);
            tracing::debug!(%message_id, "receiver accepted");
            let body = form::encode(&[("result_code", "0"), ("message_id", &message_id)]);
            form_response(StatusCode::OK, body)
        }
        Err(error) => {
            count(error.code());
            if error.code() == result_code::INTERNAL {
                tracing::warn!(%error, "receiver failed");
            } else {
                tracing::debug!(%error, "receiver refused");
            }
            error.into_response()
        }
    }
}

fn count(code: u16) {
    // Every accepted MT counts under "0": a constant label, not a string made per request.
    let label = match code {
        result_code::OK => metrics::SharedString::const_str("0"),
        code => code.to_string().into(),
    };
    metrics::counter!("smsgw_http_receiver_requests_total", "result_code" => label).increment(1);
}

fn parse(
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<ReceiverRequest, ReceiverError> {
    let query = uri.query().unwrap_or_default();
    if query.len() > limits::MAX_QUERY_BYTES {
        return Err(ReceiverError::too_large(limits::MAX_QUERY_BYTES));
    }
    let body = if method == Method::POST {
        body.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ReceiverError::too_large(limits::MAX_BODY_BYTES)
            } else {
                ReceiverError::invalid("body", "could not be read")
            }
        })?
    } else {
        Bytes::new()
    };
    if !body.is_empty() && !is_utf8_form(headers) {
        return Err(ReceiverError::unsupported_media_type());
    }
    let mut pairs = decode(query.as_bytes())?;
    pairs.extend(decode(&body)?);
    ReceiverRequest::from_pairs(pairs)
}

fn decode(input: &[u8]) -> Result<Vec<(form::Component<'_>, form::Component<'_>)>, ReceiverError> {
    form::parse(input).map_err(|e| ReceiverError::invalid(&e.name, "not valid UTF-8"))
}

/// True for `application/x-www-form-urlencoded` with no charset or a UTF-8 one, or no
/// content type at all.
fn is_utf8_form(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    let mime_ok = parts
        .next()
        .is_some_and(|m| m.eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    let charset_ok = parts.all(|param| match param.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            let value = value.trim().trim_matches('"');
            value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8")
        }
        _ => true,
    });
    mime_ok && charset_ok
}

/// A form-encoded answer as `text/plain; charset=utf-8` (see the module doc for why).
pub(crate) fn form_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        h
    }

    #[test]
    fn form_content_types() {
        assert!(is_utf8_form(&HeaderMap::new()));
        assert!(is_utf8_form(&headers("application/x-www-form-urlencoded")));
        assert!(is_utf8_form(&headers(
            "Application/X-WWW-Form-Urlencoded; charset=\"UTF-8\""
        )));
        assert!(!is_utf8_form(&headers(
            "application/x-www-form-urlencoded; charset=iso-8859-1"
        )));
        assert!(!is_utf8_form(&headers("application/json")));
    }
}
