//! Message priority as the Genesys profile names it (`BULK_LOW` .. `INTERACTIVE`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How urgently a message should be sent; the gateway maps it to queue order.
///
/// Ordered from least to most urgent, so `Priority::Interactive > Priority::Bulk`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Priority {
    /// Background traffic that may wait behind everything else.
    BulkLow,
    /// The default for messages without a priority.
    #[default]
    Bulk,
    /// Conversational traffic that may wait behind `INTERACTIVE`.
    InteractiveLow,
    /// Conversational traffic, sent first.
    Interactive,
}

impl Priority {
    /// The wire name, e.g. `"INTERACTIVE_LOW"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::BulkLow => "BULK_LOW",
            Priority::Bulk => "BULK",
            Priority::InteractiveLow => "INTERACTIVE_LOW",
            Priority::Interactive => "INTERACTIVE",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value is not one of the four priority names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of BULK_LOW, BULK, INTERACTIVE_LOW, INTERACTIVE")]
pub struct UnknownPriority;

impl FromStr for Priority {
    type Err = UnknownPriority;

    /// Case-insensitive, like `receipt=TRUE|FALSE` on the receiver: clients that send
    /// `priority=bulk` mean `BULK`.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        [
            Priority::BulkLow,
            Priority::Bulk,
            Priority::InteractiveLow,
            Priority::Interactive,
        ]
        .into_iter()
        .find(|p| p.as_str().eq_ignore_ascii_case(value))
        .ok_or(UnknownPriority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_name_in_any_case_and_orders_by_urgency() {
        assert_eq!("bulk_low".parse(), Ok(Priority::BulkLow));
        assert_eq!("BULK".parse(), Ok(Priority::Bulk));
        assert_eq!("Interactive_Low".parse(), Ok(Priority::InteractiveLow));
        assert_eq!("INTERACTIVE".parse(), Ok(Priority::Interactive));
        assert_eq!("URGENT".parse::<Priority>(), Err(UnknownPriority));
        assert!(Priority::Interactive > Priority::InteractiveLow);
        assert!(Priority::Bulk > Priority::BulkLow);
        assert_eq!(Priority::default(), Priority::Bulk);
    }
}
