//! `Outbound`: a message as one of the two smsgw APIs expects it (or a status query), built
//! once and sent unchanged on every attempt (same message_id / Idempotency-Key, same body).

use reqwest::header::{HeaderValue, CONTENT_TYPE};

use crate::api::{IdempotencyKey, SubmitBody, MESSAGES_PATH};
use crate::credentials::Credentials;
use crate::receiver::{ReceiverRequest, PATH as RECEIVER_PATH};

/// Which API a request is for; decides how answers are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `POST /httpapi/receiver`, form answers.
    Genesys,
    /// `POST /v1/messages`, JSON answers.
    Json,
}

/// A request ready to send to any endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    pub(crate) api: Api,
    /// What logs call the message: its message_id, Idempotency-Key or our id.
    pub(crate) key: String,
    path: String,
    /// `None` for a GET.
    body: Option<String>,
    basic_auth: Option<Credentials>,
    idempotency_key: Option<HeaderValue>,
}

impl Outbound {
    /// The Genesys form, parameters as [`ReceiverRequest::from_pairs`] reads them.
    pub(crate) fn genesys(request: &ReceiverRequest) -> Outbound {
        let receipt = if request.receipt { "TRUE" } else { "FALSE" };
        let mut pairs = vec![
            ("login", request.credentials.login.as_str()),
            ("password", request.credentials.password.as_str()),
            ("phone_number", request.phone_number.as_str()),
            ("sender", request.sender.as_str()),
            ("message", request.message.as_str()),
            ("message_id", request.message_id.as_str()),
            ("receipt", receipt),
            ("priority", request.priority.as_str()),
        ];
        let send_at = request
            .send_at
            .and_then(|at| crate::rfc3339::format(at).ok());
        let validity = request.validity.map(|v| v.as_secs().to_string());
        let optional = [
            ("carrier", &request.carrier),
            ("app_id", &request.app_id),
            ("conversation_id", &request.conversation_id),
            ("send_at", &send_at),
            ("validity", &validity),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                pairs.push((name, value.as_str()));
            }
        }
        Outbound {
            api: Api::Genesys,
            key: request.message_id.clone(),
            path: RECEIVER_PATH.to_owned(),
            body: Some(crate::form::encode(&pairs)),
            basic_auth: None,
            idempotency_key: None,
        }
    }

    /// The JSON body with Basic credentials and the Idempotency-Key.
    pub(crate) fn json(
        credentials: &Credentials,
        idempotency_key: &IdempotencyKey,
        body: &SubmitBody,
    ) -> Result<Outbound, serde_json::Error> {
        Ok(Outbound {
            api: Api::Json,
            key: idempotency_key.as_str().to_owned(),
            path: MESSAGES_PATH.to_owned(),
            body: Some(serde_json::to_string(body)?),
            basic_auth: Some(credentials.clone()),
            // Validated keys are printable ASCII, always a valid header value.
            idempotency_key: HeaderValue::from_str(idempotency_key.as_str()).ok(),
        })
    }

    /// `GET /v1/messages/{id}` with Basic credentials.
    pub(crate) fn status(credentials: &Credentials, id: &str) -> Outbound {
        Outbound {
            api: Api::Json,
            key: id.to_owned(),
            // Our ids are path-safe; `Endpoint::url` percent-encodes anything else.
            path: format!("{MESSAGES_PATH}/{id}"),
            body: None,
            basic_auth: Some(credentials.clone()),
            idempotency_key: None,
        }
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The request for one attempt on `url`.
    pub(crate) fn build(
        &self,
        http: &reqwest::Client,
        url: reqwest::Url,
    ) -> reqwest::RequestBuilder {
        let content_type = match self.api {
            Api::Genesys => "application/x-www-form-urlencoded",
            Api::Json => "application/json",
        };
        let mut request = match &self.body {
            Some(body) => http
                .post(url)
                .header(CONTENT_TYPE, content_type)
                .body(body.clone()),
            None => http.get(url),
        };
        if let Some(credentials) = &self.basic_auth {
            request = request.basic_auth(&credentials.login, Some(&credentials.password));
        }
        if let Some(key) = &self.idempotency_key {
            request = request.header(IdempotencyKey::HEADER, key.clone());
        }
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::priority::Priority;

    #[test]
    fn the_genesys_form_reads_back_as_the_same_request() {
        let request = ReceiverRequest {
            credentials: Credentials {
                login: "demo".into(),
                password: "p&ss=word".into(),
            },
            phone_number: "447700900123".into(),
            sender: "ACME".into(),
            carrier: Some("vodafone".into()),
            message: "50% off & more: £5 😀".into(),
            message_id: "m-1".into(),
            receipt: true,
            app_id: None,
            conversation_id: Some("c-9".into()),
            priority: Priority::InteractiveLow,
            send_at: Some(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_796_121_000_500),
            ),
            validity: Some(std::time::Duration::from_secs(3600)),
        };
        let outbound = Outbound::genesys(&request);
        assert_eq!(outbound.key, "m-1");
        let body = outbound.body.unwrap();
        let pairs = crate::form::parse(body.as_bytes()).unwrap();
        assert_eq!(ReceiverRequest::from_pairs(pairs).unwrap(), request);
    }
}
