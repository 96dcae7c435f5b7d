//! Property tests for `smsgw_smpp::frame`: the decoder survives any byte stream in any chunking
//! within its memory bound, valid PDUs round-trip however the stream is split, and a frame whose
//! `command_length` overstates its body is reported as malformed without losing the next frame.

use bytes::BytesMut;
use proptest::prelude::*;
use rusmpp::{
    pdus::{BindTransceiver, DeliverSm, SubmitSm, SubmitSmResp},
    types::{COctetString, OctetString},
    values::{DataCoding, EsmClass, Npi, RegisteredDelivery, Ton},
    Command, CommandStatus, Pdu,
};
use smsgw_smpp::frame::{
    encode_to_vec, FatalFrameError, Frame, FrameDecoder, DEFAULT_MAX_PDU_LEN, HEADER_LEN,
};

/// Everything a stream decoded to: the frames, then the fatal error that ended it, if any.
#[derive(Debug, Default, PartialEq)]
struct Decoded {
    frames: Vec<Frame>,
    fatal: Option<FatalFrameError>,
}

/// Feeds `stream` to a decoder in chunks cut at `cuts` (sorted, deduplicated here), as a read
/// loop would, checking the memory bound and that each frame takes exactly its command_length.
fn feed(decoder: &FrameDecoder, max_len: usize, stream: &[u8], cuts: &[usize]) -> Decoded {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    cuts.extend([0, stream.len()]);
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Decoded::default();
    let mut buf = BytesMut::new();
    for chunk in cuts.windows(2).map(|w| &stream[w[0]..w[1]]) {
        buf.extend_from_slice(chunk);
        assert!(
            buf.len() <= max_len + chunk.len(),
            "buffer holds {} bytes (max {max_len}, chunk {})",
            buf.len(),
            chunk.len()
        );
        loop {
            let before = buf.len();
            let declared = (before >= 4).then(|| u32::from_be_bytes(buf[..4].try_into().unwrap()));
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    assert_eq!(Some((before - buf.len()) as u32), declared);
                    out.frames.push(frame);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                    break;
                }
                Err(fatal) => {
                    out.fatal = Some(fatal);
                    return out;
                }
            }
        }
    }
    out
}

/// A stream of length-prefixed segments with lengths near the valid range and random bodies,
/// so that decoding gets past the length check far more often than with uniform bytes.
fn framed_junk(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    let segment = (0..=max_len as u32 + 8, any::<u32>(), any::<u32>()).prop_flat_map(
        |(length, command_id, sequence)| {
            let body = length.saturating_sub(12) as usize;
            prop::collection::vec(any::<u8>(), 0..=body).prop_map(move |tail| {
                let mut bytes = length.to_be_bytes().to_vec();
                bytes.extend(command_id.to_be_bytes());
                bytes.extend(0u32.to_be_bytes());
                bytes.extend(sequence.to_be_bytes());
                bytes.extend(tail);
                bytes
            })
        },
    );
    prop::collection::vec(segment, 0..6).prop_map(|segments| segments.concat())
}

fn c_string<const MAX: usize>(max_chars: usize) -> impl Strategy<Value = COctetString<1, MAX>> {
    prop::collection::vec(0x20u8..0x7f, 0..=max_chars)
        .prop_map(|s| COctetString::from_string(String::from_utf8(s).unwrap()).unwrap())
}

fn address() -> impl Strategy<Value = (Ton, Npi, COctetString<1, 21>)> {
    (0u8..7, 0u8..19, c_string::<21>(20))
        .prop_map(|(ton, npi, addr)| (ton.into(), npi.into(), addr))
}

fn short_message() -> impl Strategy<Value = OctetString<0, 255>> {
    prop::collection::vec(any::<u8>(), 0..=254).prop_map(|m| OctetString::from_vec(m).unwrap())
}

fn submit_sm() -> impl Strategy<Value = Pdu> {
    (
        address(),
        address(),
        short_message(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(|(src, dst, sm, esm, coding, receipt)| {
            SubmitSm::builder()
                .source_addr_ton(src.0)
                .source_addr_npi(src.1)
                .source_addr(src.2)
                .dest_addr_ton(dst.0)
                .dest_addr_npi(dst.1)
                .destination_addr(dst.2)
                .esm_class(EsmClass::from(esm))
                .data_coding(DataCoding::from(coding))
                .registered_delivery(RegisteredDelivery::from(receipt))
                .short_message(sm)
                .build()
                .into()
        })
}

fn deliver_sm() -> impl Strategy<Value = Pdu> {
    (
        address(),
        address(),
        short_message(),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(|(src, dst, sm, esm, coding)| {
            DeliverSm::builder()
                .source_addr_ton(src.0)
                .source_addr_npi(src.1)
                .source_addr(src.2)
                .dest_addr_ton(dst.0)
                .dest_addr_npi(dst.1)
                .destination_addr(dst.2)
                .esm_class(EsmClass::from(esm))
                .data_coding(DataCoding::from(coding))
                .short_message(sm)
                .build()
                .into()
        })
}

fn submit_sm_resp() -> impl Strategy<Value = Pdu> {
    c_string::<65>(64).prop_map(|id| SubmitSmResp::builder().message_id(id).build().into())
}

fn bind_transceiver() -> impl Strategy<Value = Pdu> {
    (c_string::<16>(15), c_string::<9>(8)).prop_map(|(system_id, password)| {
        BindTransceiver::builder()
            .system_id(system_id)
            .password(password)
            .build()
            .into()
    })
}

fn command() -> impl Strategy<Value = Command> {
    let pdu = prop_oneof![
        Just(Pdu::EnquireLink),
        submit_sm(),
        deliver_sm(),
        submit_sm_resp(),
        bind_transceiver(),
    ];
    (pdu, any::<u32>(), any::<u32>()).prop_map(|(pdu, status, sequence)| {
        let status = if pdu.command_id() == rusmpp::CommandId::SubmitSmResp {
            CommandStatus::from(status)
        } else {
            CommandStatus::EsmeRok
        };
        Command::new(status, sequence, pdu)
    })
}

/// Whether the command's body ends in a TLV section, where appended bytes may be valid TLVs.
fn has_tlvs(command: &Command) -> bool {
    matches!(
        command.pdu(),
        Some(Pdu::SubmitSm(_) | Pdu::DeliverSm(_) | Pdu::SubmitSmResp(_))
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_in_any_chunks_never_panic_and_stay_bounded(
        max_len in HEADER_LEN..600,
        stream in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..2000),
            framed_junk(600),
        ],
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let decoder = FrameDecoder::new(max_len);
        let chunked = feed(&decoder, max_len, &stream, &cuts);
        prop_assert_eq!(chunked, feed(&decoder, max_len, &stream, &[]));
    }

    #[test]
    fn valid_pdus_round_trip_back_to_back_however_split(
        commands in prop::collection::vec(command(), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let stream: Vec<u8> = commands.iter().flat_map(encode_to_vec).collect();
        let decoded = feed(&FrameDecoder::default(), DEFAULT_MAX_PDU_LEN, &stream, &cuts);
        let expected: Vec<Frame> = commands.into_iter().map(Ok).collect();
        prop_assert_eq!(decoded, Decoded { frames: expected, fatal: None });
    }

    #[test]
    fn an_overstated_length_is_malformed_and_the_next_frame_survives(
        command in command(),
        junk in prop::collection::vec(any::<u8>(), 1..64),
        next_sequence in any::<u32>(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut bad = encode_to_vec(&command);
        bad.extend_from_slice(&junk);
        let length = bad.len() as u32;
        bad[..4].copy_from_slice(&length.to_be_bytes());
        let next = Command::new(CommandStatus::EsmeRok, next_sequence, Pdu::EnquireLink);
        let stream = [bad.clone(), encode_to_vec(&next)].concat();

        let decoded = feed(&FrameDecoder::default(), DEFAULT_MAX_PDU_LEN, &stream, &cuts);
        prop_assert_eq!(decoded.fatal, None);
        prop_assert_eq!(decoded.frames.len(), 2);
        prop_assert_eq!(&decoded.frames[1], &Ok(next));
        match &decoded.frames[0] {
            Err(malformed) => {
                prop_assert_eq!(malformed.command_id, u32::from(command.id()));
                prop_assert_eq!(malformed.sequence_number, command.sequence_number());
            }
            // Appended bytes can only be taken as a body where they form whole TLVs (each has a
            // 4-byte header), and then what was decoded must be exactly what was on the wire.
            Ok(taken) => {
                prop_assert!(has_tlvs(&command) && junk.len() >= 4, "junk accepted: {taken:?}");
                prop_assert_eq!(encode_to_vec(taken), bad);
            }
        }
    }
}
