//! Carrier message ids: a counter that never repeats within a run and starts from the clock,
//! so a restarted simulator does not hand out the ids of an earlier run.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use smsgw_smpp::encoding::ReceiptIdFormat;

/// How the simulator writes its message ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdStyle {
    /// Decimal in submit_sm_resp and in the receipt.
    #[default]
    Decimal,
    /// Upper-case hex in submit_sm_resp, decimal in the receipt: the "ids differ" pitfall.
    Hex,
    /// Decimal in submit_sm_resp, upper-case hex in the receipt: the same pitfall reversed.
    HexReceipts,
}

impl IdStyle {
    /// The id as submit_sm_resp carries it.
    pub fn response_id(self, id: u64) -> String {
        match self {
            IdStyle::Decimal | IdStyle::HexReceipts => id.to_string(),
            IdStyle::Hex => format!("{id:X}"),
        }
    }

    /// The id as the receipt (text and receipted_message_id) carries it.
    pub fn receipt_id(self, id: u64) -> String {
        match self {
            IdStyle::Decimal | IdStyle::Hex => id.to_string(),
            IdStyle::HexReceipts => format!("{id:X}"),
        }
    }

    /// The connector setting that correlates this style's receipts.
    pub fn receipt_id_format(self) -> ReceiptIdFormat {
        match self {
            IdStyle::Decimal => ReceiptIdFormat::Same,
            IdStyle::Hex => ReceiptIdFormat::HexRespDecimalReceipt,
            IdStyle::HexReceipts => ReceiptIdFormat::DecimalRespHexReceipt,
        }
    }
}

/// Hands out message ids: consecutive numbers from the start time in microseconds. A restart
/// collides with an earlier run only if that run issued more than a million ids per second.
#[derive(Debug)]
pub struct MessageIds {
    next: AtomicU64,
}

impl MessageIds {
    pub fn starting_now() -> Self {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_micros() as u64);
        Self::starting_at(micros)
    }

    pub fn starting_at(first: u64) -> Self {
        Self {
            next: AtomicU64::new(first),
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use smsgw_smpp::encoding::normalize_message_id;

    use super::*;

    #[test]
    fn ids_are_consecutive_and_distinct() {
        let ids = MessageIds::starting_at(41);
        assert_eq!((ids.next_id(), ids.next_id(), ids.next_id()), (41, 42, 43));
        let a = MessageIds::starting_now().next_id();
        assert!(a > 1_600_000_000_000_000, "starts from the clock: {a}");
    }

    #[test]
    fn each_style_is_correlated_by_its_receipt_id_format() {
        let id = 1_764_000_000_123_456;
        assert_eq!(IdStyle::Hex.response_id(id), format!("{id:X}"));
        assert_eq!(IdStyle::Hex.receipt_id(id), id.to_string());
        assert_eq!(IdStyle::HexReceipts.response_id(id), id.to_string());
        assert_eq!(IdStyle::HexReceipts.receipt_id(id), format!("{id:X}"));
        for style in [IdStyle::Decimal, IdStyle::Hex, IdStyle::HexReceipts] {
            let receipt = style.receipt_id(id);
            assert_eq!(
                style.receipt_id_format().response_form(&receipt).unwrap(),
                normalize_message_id(&style.response_id(id)),
                "{style:?}"
            );
        }
    }
}
