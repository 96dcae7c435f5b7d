//! Serde helpers writing `SystemTime` as RFC 3339 UTC text (`2024-05-01T12:00:00.123Z`), the
//! timestamp format of the JSON API.

use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Formats `at` as RFC 3339 in UTC.
pub fn format(at: SystemTime) -> Result<String, time::error::Format> {
    OffsetDateTime::from(at).format(&Rfc3339)
}

/// `serialize_with` for `SystemTime` fields.
pub fn serialize<S: Serializer>(at: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    let text = format(*at).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(&text)
}

/// `deserialize_with` for `SystemTime` fields (any offset is accepted).
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SystemTime, D::Error> {
    let text = String::deserialize(deserializer)?;
    OffsetDateTime::parse(&text, &Rfc3339)
        .map(SystemTime::from)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn formats_utc_with_z() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_714_564_800_123);
        assert_eq!(format(at).unwrap(), "2024-05-01T12:00:00.123Z");
    }
}
