//! Text encodings, MT segmentation, MO reassembly and delivery receipts.
//!
//! Everything here parses data from clients and carriers, so no function panics on any input:
//! bad input is an error value.
//!
//! - [`gsm`]: the GSM 03.38 alphabet, unpacked as SMPP carries it.
//! - [`text`]: GSM / Latin-1 / UCS-2, choosing one, encoding and decoding.
//! - [`udh`]: concatenation UDH and SAR values.
//! - [`segment`]: splitting an MT into `submit_sm` parts.
//! - [`reassembly`]: collecting inbound parts into whole messages.
//! - [`receipt`]: delivery receipt text and TLVs.
//! - [`receipt_pdu`]: the deliver_sm that carries a receipt.
//! - [`message_id`]: matching carrier message ids written in different bases.
//! - [`smpp_time`]: the absolute and relative time fields (scheduling, validity).

pub mod gsm;
pub mod message_id;
pub mod reassembly;
pub mod receipt;
pub mod receipt_pdu;
pub mod segment;
pub mod smpp_time;
pub mod text;
pub mod udh;

pub use gsm::{decode_gsm, gsm_char, is_gsm_text, GsmChar, GsmDecodeError};
pub use message_id::{normalize_message_id, ReceiptIdFormat, ReceiptIdMismatch};
pub use reassembly::{
    CompleteMessage, InboundPart, Incomplete, Pushed, Reassembler, ReassemblyConfig,
    ReassemblyError,
};
pub use receipt::{
    is_delivery_receipt, parse_receipt_text, receipt_from_deliver_sm, stat_code, DeliveryReceipt,
    ReceiptDate, ReceiptError, ReceiptStat,
};
pub use receipt_pdu::{receipt_deliver_sm, ESM_CLASS_DELIVERY_RECEIPT};
pub use segment::{
    apply_to_submit_sm, choose_smallest_encoding, parts_needed, segment, ApplyError, Concatenation,
    Limits, Part, SegmentError, SegmentOptions, Segmented,
};
pub use smpp_time::{relative_time, SmppTime, SmppTimeError};
pub use text::{
    choose_encoding, decode_text, encode_text, DecodeError, EncodeError, Encoding,
    DEFAULT_PREFERENCE,
};
pub use udh::{
    concat_udh, parse_udh, sar_segment, ParsedUdh, SegmentInfo, UdhError, ESM_CLASS_UDHI,
};

#[cfg(test)]
mod proptests;
