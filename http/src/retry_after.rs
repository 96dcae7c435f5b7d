//! The `Retry-After` header, both ways: whole seconds when we answer, seconds or an HTTP date
//! when an application's server answers our pushes.

use std::time::{Duration, SystemTime};

/// Longest `Retry-After` we honour (1 h): a receiver asking for a day must not park a push
/// that long; the caller retries and asks again.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Whole seconds for an answer's `Retry-After`: rounded up and at least 1, so clients never
/// retry at once.
pub fn to_seconds(delay: Duration) -> u64 {
    let whole = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    whole.max(1)
}

/// Reads a `Retry-After` value: delta-seconds or an HTTP date (RFC 9110), relative to `now`.
/// A date in the past means zero; the result is capped at [`MAX_RETRY_AFTER`]; `None` when the
/// value is neither form.
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_up_to_whole_seconds() {
        assert_eq!(to_seconds(Duration::ZERO), 1);
        assert_eq!(to_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(to_seconds(Duration::from_secs(30)), 30);
    }

    #[test]
    fn parses_seconds_and_dates_and_caps() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse(" 7 ", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(parse(&later, now), Some(Duration::from_secs(90)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse("86400", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse("soon", now), None);
        assert_eq!(parse("-5", now), None);
    }
}
