//! Fuzz target for every parser of client and peer input in the HTTP crate: the form decoder
//! with the receiver's validation behind it, and the Genesys push bodies (form and JSON) a
//! failover client reads. Any bytes are decoded or refused, never a panic; a refusal of a
//! receiver request always carries a result code and a description.

#![no_main]

use libfuzzer_sys::fuzz_target;
use smsgw_http::{form, PushMessage, ReceiverRequest};

fuzz_target!(|input: &[u8]| {
    if let Ok(pairs) = form::parse(input) {
        if let Err(error) = ReceiverRequest::from_pairs(pairs) {
            assert_ne!(error.code(), 0);
            assert!(!error.description().is_empty());
        }
    }
    let _ = PushMessage::from_form(input);
    let _ = PushMessage::from_json(input);
});
