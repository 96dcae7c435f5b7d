//! Property tests of the form decoder that every receiver request and Genesys push goes
//! through: any bytes are either decoded or refused with the parameter named, never a panic;
//! what `encode` writes decodes back to the same pairs; and a request with a known parameter
//! given twice is refused, whatever its value.

use proptest::prelude::*;
use smsgw_http::{form, ReceiverRequest};

proptest! {
    #[test]
    fn any_bytes_decode_or_name_the_broken_parameter(input in proptest::collection::vec(any::<u8>(), 0..512)) {
        match form::parse(&input) {
            Ok(pairs) => {
                let pieces = input.split(|&b| b == b'&').filter(|p| !p.is_empty()).count();
                prop_assert_eq!(pairs.len(), pieces);
                for (name, value) in &pairs {
                    // Decoding never grows a component.
                    prop_assert!(name.len() + value.len() <= input.len());
                }
            }
            Err(error) => prop_assert!(input.contains(&b'%') || std::str::from_utf8(&input).is_err(), "{error}"),
        }
    }

    #[test]
    fn encoded_pairs_decode_to_themselves(pairs in proptest::collection::vec(("\\PC{1,12}", "\\PC{0,40}"), 0..8)) {
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let body = form::encode(&borrowed);
        let back = form::parse(body.as_bytes()).unwrap();
        let back: Vec<(String, String)> = back.into_iter().map(|(n, v)| (n.into_owned(), v.into_owned())).collect();
        prop_assert_eq!(back, pairs);
    }

    #[test]
    fn a_repeated_known_parameter_is_refused(value in "\\PC{0,20}", twice in proptest::sample::select(vec!["login", "password", "phone_number", "sender", "message", "message_id"])) {
        let mut pairs = vec![
            ("login", "demo"),
            ("password", "demo1234"),
            ("phone_number", "447700900123"),
            ("sender", "ACME"),
            ("message", "hello"),
            ("message_id", "m-1"),
        ];
        pairs.push((twice, value.as_str()));
        let error = ReceiverRequest::from_pairs(pairs).unwrap_err();
        prop_assert!(error.description().contains(twice), "{}", error.description());
    }
}
