//! `PushTarget`: where and how to push one account's MO and receipts, validated up front so
//! that sending cannot fail on configuration.

use std::fmt;

use standardwebhooks::Webhook;

/// The body format of pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PushFormat {
    /// `application/x-www-form-urlencoded`, the Genesys SMS Aggregation format.
    #[default]
    Form,
    /// `application/json`, see [`crate::push`] for the body.
    Json,
}

/// The URL or secret of a push target is unusable.
#[derive(Debug, thiserror::Error)]
pub enum PushTargetError {
    /// Not an absolute http(s) URL.
    #[error("push URL {url} is not an absolute http or https URL")]
    BadUrl {
        /// The URL as configured, with credentials and query values masked.
        url: String,
    },
    /// Not a Standard Webhooks secret (`whsec_` followed by base64).
    #[error("push signing secret is not whsec_<base64>: {0}")]
    BadSecret(#[from] standardwebhooks::WebhookError),
}

/// An application URL with its format and optional Standard Webhooks signing secret.
#[derive(Clone)]
pub struct PushTarget {
    url: reqwest::Url,
    format: PushFormat,
    signer: Option<std::sync::Arc<Webhook>>,
}

impl PushTarget {
    /// Validates the URL (absolute http/https) and the secret (`whsec_<base64>`, as Standard
    /// Webhooks issues them). With a secret every push is signed, whatever the format.
    pub fn new(
        url: &str,
        format: PushFormat,
        signing_secret: Option<&str>,
    ) -> Result<PushTarget, PushTargetError> {
        let parsed = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| PushTargetError::BadUrl {
                url: crate::redact::redact_url(url),
            })?;
        let signer = match signing_secret {
            None => None,
            Some(secret) => {
                if !secret.starts_with("whsec_") {
                    return Err(PushTargetError::BadSecret(
                        standardwebhooks::WebhookError::InvalidHeader("secret prefix"),
                    ));
                }
                Some(std::sync::Arc::new(Webhook::new(secret)?))
            }
        };
        Ok(PushTarget {
            url: parsed,
            format,
            signer,
        })
    }

    /// The URL pushed to.
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// The body format.
    pub fn format(&self) -> PushFormat {
        self.format
    }

    pub(crate) fn signer(&self) -> Option<&Webhook> {
        self.signer.as_deref()
    }
}

impl fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushTarget")
            .field("url", &crate::redact::RedactedUrl(&self.url))
            .field("format", &self.format)
            .field("signed", &self.signer.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_url_and_secret() {
        assert!(PushTarget::new("https://app.example/dr", PushFormat::Json, None).is_ok());
        assert!(PushTarget::new(
            "http://127.0.0.1:9/x",
            PushFormat::Form,
            Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        )
        .is_ok());
        assert!(PushTarget::new("ftp://x/", PushFormat::Form, None).is_err());
        assert!(PushTarget::new("/relative", PushFormat::Form, None).is_err());
        assert!(PushTarget::new("https://x/", PushFormat::Form, Some("whsec_!!")).is_err());
        assert!(PushTarget::new("https://x/", PushFormat::Form, Some("plain")).is_err());
    }

    #[test]
    fn debug_and_errors_hide_credentials_and_query_values() {
        let target = PushTarget::new(
            "https://user:pa55word@app.example/cb?token=t0k3n",
            PushFormat::Form,
            Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        )
        .unwrap();
        let debug = format!("{target:?}");
        for secret in [
            "pa55word",
            "t0k3n",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "user",
        ] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("app.example/cb?token=***"), "{debug}");
        let error = PushTarget::new("ftp://u:pa55word@x/?k=t0k3n", PushFormat::Form, None)
            .unwrap_err()
            .to_string();
        assert!(
            !error.contains("pa55word") && !error.contains("t0k3n"),
            "{error}"
        );
    }
}
