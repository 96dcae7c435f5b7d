//! SMPP 3.4 time fields (`schedule_delivery_time`, `validity_period`; section 7.1.1): parsed
//! to a point in time, and a remaining duration written back in the relative format.
//!
//! Absolute: `YYMMDDhhmmsstnnp`, local time with its offset from UTC in quarter hours `nn`,
//! `p` `+` (ahead of UTC) or `-` (behind). Relative: `YYMMDDhhmmss000R`, a duration from now
//! in which a "year" is 365 days and a "month" 30 (the specification leaves them open;
//! these are what SMSCs commonly use). An empty field means "not set". The century is not
//! transmitted: years are 2000-2099.

use std::time::Duration;

use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

/// Why a time field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmppTimeError {
    #[error("{0} characters; an SMPP time is 16 (YYMMDDhhmmsstnnp) or empty")]
    Length(usize),
    #[error("not digits where the format has them")]
    NotDigits,
    #[error("unknown kind {0:?}: '+' or '-' (absolute) or 'R' (relative)")]
    Kind(char),
    #[error("no such date or time")]
    NoSuchTime,
    #[error("UTC offset of {0} quarter hours; at most 48")]
    Offset(u8),
    #[error("a relative time ends in 000R")]
    RelativeTail,
}

/// A time field as the PDU gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmppTime {
    /// Milliseconds since the Unix epoch (UTC).
    Absolute(u64),
    /// From the moment the PDU was received.
    Relative(Duration),
}

impl SmppTime {
    /// Parses a field; `Ok(None)` when it is empty.
    pub fn parse(field: &[u8]) -> Result<Option<SmppTime>, SmppTimeError> {
        match field {
            [] => Ok(None),
            [fields @ .., b'R'] if field.len() == 16 => parse_relative(fields).map(Some),
            [.., kind @ (b'+' | b'-')] if field.len() == 16 => {
                parse_absolute(field, *kind == b'+').map(Some)
            }
            _ if field.len() != 16 => Err(SmppTimeError::Length(field.len())),
            _ => Err(SmppTimeError::Kind(char::from(field[15]))),
        }
    }

    /// The point in time (ms since the epoch) the field names, for a PDU received at `now_ms`.
    pub fn at_ms(self, now_ms: u64) -> u64 {
        match self {
            SmppTime::Absolute(at) => at,
            SmppTime::Relative(after) => {
                now_ms.saturating_add(u64::try_from(after.as_millis()).unwrap_or(u64::MAX))
            }
        }
    }
}

/// `remaining` in the relative format (`YYMMDDhhmmss000R`), rounded up to the second; longer
/// than 99 "years" is written as 99 years.
pub fn relative_time(remaining: Duration) -> String {
    let mut seconds = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
    let mut take = |unit: u64| {
        let n = seconds / unit;
        seconds %= unit;
        n
    };
    let years = take(365 * 86_400);
    if years > 99 {
        return "990000000000000R".to_owned();
    }
    let months = take(30 * 86_400);
    let days = take(86_400);
    let hours = take(3_600);
    let minutes = take(60);
    format!("{years:02}{months:02}{days:02}{hours:02}{minutes:02}{seconds:02}000R")
}

/// The two-digit numbers of `digits` (an even count of ASCII digits).
fn pairs(digits: &[u8]) -> Result<Vec<u8>, SmppTimeError> {
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(SmppTimeError::NotDigits);
    }
    Ok(digits
        .chunks_exact(2)
        .map(|pair| (pair[0] - b'0') * 10 + (pair[1] - b'0'))
        .collect())
}

fn parse_relative(fields: &[u8]) -> Result<SmppTime, SmppTimeError> {
    let (duration, tail) = fields.split_at(12);
    if tail != b"000" {
        return Err(SmppTimeError::RelativeTail);
    }
    let units = [365 * 86_400, 30 * 86_400, 86_400, 3_600, 60, 1];
    let seconds = pairs(duration)?
        .iter()
        .zip(units)
        .map(|(n, unit)| u64::from(*n) * unit)
        .sum();
    Ok(SmppTime::Relative(Duration::from_secs(seconds)))
}

fn parse_absolute(field: &[u8], ahead_of_utc: bool) -> Result<SmppTime, SmppTimeError> {
    let numbers = pairs(&field[..12])?;
    let [year, month, day, hour, minute, second] = numbers[..] else {
        return Err(SmppTimeError::NotDigits);
    };
    let tail = pairs(&[b'0', field[12], field[13], field[14]])?;
    let (tenths, quarters) = (tail[0], tail[1]);
    if quarters > 48 {
        return Err(SmppTimeError::Offset(quarters));
    }
    let month = Month::try_from(month).map_err(|_| SmppTimeError::NoSuchTime)?;
    let date = Date::from_calendar_date(2000 + i32::from(year), month, day)
        .map_err(|_| SmppTimeError::NoSuchTime)?;
    let time = Time::from_hms_milli(hour, minute, second, u16::from(tenths) * 100)
        .map_err(|_| SmppTimeError::NoSuchTime)?;
    let offset_seconds = i32::from(quarters) * 900 * if ahead_of_utc { 1 } else { -1 };
    let offset =
        UtcOffset::from_whole_seconds(offset_seconds).map_err(|_| SmppTimeError::NoSuchTime)?;
    let at = PrimitiveDateTime::new(date, time).assume_offset(offset);
    let ms = at.unix_timestamp_nanos() / 1_000_000;
    Ok(SmppTime::Absolute(u64::try_from(ms).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<SmppTime>, SmppTimeError> {
        SmppTime::parse(s.as_bytes())
    }

    #[test]
    fn an_empty_field_is_not_set() {
        assert_eq!(parse(""), Ok(None));
    }

    #[test]
    fn absolute_times_are_read_with_their_utc_offset() {
        // 2026-12-01 10:30:00.5 UTC = 1796121000500 ms.
        let utc = Ok(Some(SmppTime::Absolute(1_796_121_000_500)));
        assert_eq!(parse("261201103000500+"), utc);
        // 12:30 local, two hours (8 quarters) ahead of UTC: the same moment.
        assert_eq!(parse("261201123000508+"), utc);
        // 05:30 local, five hours (20 quarters) behind UTC.
        assert_eq!(parse("261201053000520-"), utc);
    }

    #[test]
    fn relative_times_count_years_of_365_and_months_of_30_days() {
        let expected = 365 * 86_400 + 2 * 30 * 86_400 + 3 * 86_400 + 4 * 3_600 + 5 * 60 + 6;
        assert_eq!(
            parse("010203040506000R"),
            Ok(Some(SmppTime::Relative(Duration::from_secs(expected))))
        );
        assert_eq!(
            parse("000000001000000R").unwrap().unwrap().at_ms(1_000),
            601_000
        );
    }

    #[test]
    fn malformed_times_are_refused_with_the_reason() {
        assert_eq!(parse("2612011030"), Err(SmppTimeError::Length(10)));
        assert_eq!(parse("261201103000500X"), Err(SmppTimeError::Kind('X')));
        assert_eq!(parse("26120110300050a+"), Err(SmppTimeError::NotDigits));
        assert_eq!(parse("261301103000500+"), Err(SmppTimeError::NoSuchTime));
        assert_eq!(parse("260230103000500+"), Err(SmppTimeError::NoSuchTime));
        assert_eq!(parse("261201253000500+"), Err(SmppTimeError::NoSuchTime));
        assert_eq!(parse("261201103000549+"), Err(SmppTimeError::Offset(49)));
        assert_eq!(parse("000000001000100R"), Err(SmppTimeError::RelativeTail));
    }

    #[test]
    fn a_remaining_duration_is_written_relative_and_reads_back() {
        let remaining = Duration::from_millis(2 * 86_400_000 + 3_723_400);
        let field = relative_time(remaining);
        assert_eq!(field, "000002010204000R");
        assert_eq!(
            parse(&field),
            Ok(Some(SmppTime::Relative(Duration::from_secs(
                2 * 86_400 + 3_724
            ))))
        );
        assert_eq!(
            relative_time(Duration::from_secs(200 * 365 * 86_400)),
            "990000000000000R"
        );
    }
}
