//! Fuzz target for `FrameDecoder`: any byte stream, delivered in one read or in two, yields the
//! same frames without panicking; each frame consumes exactly its `command_length`; and every
//! decoded command survives `encode` -> decode unchanged.
//!
//! Input layout: the first byte picks where the rest is cut for the two-read delivery.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use smsgw_smpp::frame::{encode, FatalFrameError, Frame, FrameDecoder, DEFAULT_MAX_PDU_LEN};

/// What a stream decodes to: its frames, then whether it ended on a fatal length.
type Outcome = (Vec<Frame>, Option<FatalFrameError>);

/// Decodes every complete frame in `buf`, checking how many bytes each one took.
fn drain(decoder: &FrameDecoder, buf: &mut BytesMut, out: &mut Outcome) -> bool {
    loop {
        let before = buf.len();
        let declared = (before >= 4).then(|| u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]));
        match decoder.decode(buf) {
            Ok(Some(frame)) => {
                assert_eq!(before - buf.len(), declared.unwrap() as usize);
                check_round_trip(decoder, &frame);
                out.0.push(frame);
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) must not consume");
                assert!(buf.len() <= DEFAULT_MAX_PDU_LEN, "partial frame above max");
                return true;
            }
            Err(fatal) => {
                out.1 = Some(fatal);
                return false;
            }
        }
    }
}

/// A decoded command encodes to a frame that decodes to the same command, consuming it all.
fn check_round_trip(decoder: &FrameDecoder, frame: &Frame) {
    let Ok(command) = frame else { return };
    let mut buf = BytesMut::new();
    encode(command, &mut buf);
    let again = decoder.decode(&mut buf);
    assert_eq!(
        again,
        Ok(Some(Ok(command.clone()))),
        "round trip of {command:?}"
    );
    assert!(buf.is_empty());
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let decoder = FrameDecoder::default();

    let mut whole: Outcome = Default::default();
    drain(&decoder, &mut BytesMut::from(stream), &mut whole);

    let cut = first as usize * stream.len() / 255;
    let mut split: Outcome = Default::default();
    let mut buf = BytesMut::from(&stream[..cut]);
    if drain(&decoder, &mut buf, &mut split) {
        buf.extend_from_slice(&stream[cut..]);
        drain(&decoder, &mut buf, &mut split);
    }
    assert_eq!(
        whole, split,
        "one read and two reads disagree (cut at {cut})"
    );
});
