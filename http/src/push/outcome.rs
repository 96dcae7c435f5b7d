//! `PushOutcome`: what one push attempt means for the outbox entry.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;

use super::ForbiddenAddress;

/// The result of one push attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// 2xx: remove the entry from the outbox.
    Delivered,
    /// 410 Gone: the application says this URL is retired. Stop pushing to it (the gateway
    /// keeps the entries until the URL is reconfigured or they expire); logged and counted.
    Gone,
    /// 429, 5xx, connect error or time-out: retry after
    /// [`backoff`](super::backoff)`(attempt, after)`; `after` is the server's `Retry-After`.
    Retry {
        /// The server's `Retry-After`, capped at 1 h.
        after: Option<Duration>,
    },
    /// Any other status (other 4xx, 3xx: redirects are not followed). Retried with the normal
    /// backoff anyway, because a misconfigured receiver gets fixed and the receipt must not be
    /// lost meanwhile; counted separately so operators see it.
    Rejected(StatusCode),
    /// Not sent: the target's address is in a forbidden range and not allow-listed (an IP
    /// literal, or every address its name resolves to). Nothing was connected to. The
    /// gateway keeps the entry (a DNS answer may change, an operator may allow the range).
    Refused(ForbiddenAddress),
}

impl PushOutcome {
    /// Classifies an HTTP answer; `retry_after` is the raw header value, if any.
    pub fn from_response(
        status: StatusCode,
        retry_after: Option<&str>,
        now: SystemTime,
    ) -> PushOutcome {
        if status.is_success() {
            PushOutcome::Delivered
        } else if status == StatusCode::GONE {
            PushOutcome::Gone
        } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            PushOutcome::Retry {
                after: retry_after.and_then(|v| crate::retry_after::parse(v, now)),
            }
        } else {
            PushOutcome::Rejected(status)
        }
    }

    /// `delivered`, `gone`, `retry`, `rejected` or `refused`, for logs and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            PushOutcome::Delivered => "delivered",
            PushOutcome::Gone => "gone",
            PushOutcome::Retry { .. } => "retry",
            PushOutcome::Rejected(_) => "rejected",
            PushOutcome::Refused(_) => "refused",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses() {
        let now = SystemTime::now();
        let of = |code: u16, ra: Option<&str>| {
            PushOutcome::from_response(StatusCode::from_u16(code).unwrap(), ra, now)
        };
        assert_eq!(of(200, None), PushOutcome::Delivered);
        assert_eq!(of(204, None), PushOutcome::Delivered);
        assert_eq!(of(410, None), PushOutcome::Gone);
        assert_eq!(
            of(429, Some("7")),
            PushOutcome::Retry {
                after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(of(503, Some("garbage")), PushOutcome::Retry { after: None });
        assert_eq!(of(500, None), PushOutcome::Retry { after: None });
        assert_eq!(of(404, None), PushOutcome::Rejected(StatusCode::NOT_FOUND));
        assert_eq!(of(302, None), PushOutcome::Rejected(StatusCode::FOUND));
    }
}
