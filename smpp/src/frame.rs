//! SMPP framing: split a byte stream into PDUs by `command_length`, decode bodies with rusmpp.
//!
//! The framing is ours rather than rusmpp's codec so that every way a peer can get a PDU wrong
//! has a defined answer: a length outside `16..=max` is fatal (`generic_nack ESME_RINVCMDLEN`,
//! then close), while a frame of the right length whose body is bad is answered and skipped so
//! the session goes on. Memory per connection is bounded by the maximum PDU length.

use bytes::{Buf, BufMut, BytesMut};
use rusmpp::{
    decode::{DecodeErrorKind, DecodeWithLength},
    encode::{owned::Encode, Length},
    Command, CommandId, CommandStatus, Pdu,
};

/// Size of the SMPP header: command_length, command_id, command_status, sequence_number.
pub const HEADER_LEN: usize = 16;

/// Default maximum accepted `command_length`.
pub const DEFAULT_MAX_PDU_LEN: usize = 64 * 1024;

/// Bit set in the command_id of every response PDU.
const RESPONSE_BIT: u32 = 0x8000_0000;

/// A `command_length` that makes the rest of the stream unparseable; the session must close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid command_length {length} (allowed {HEADER_LEN}..={max})")]
pub struct FatalFrameError {
    pub length: u32,
    pub max: usize,
    /// Sequence number of the offending PDU when its header was readable (for the nack).
    pub sequence_number: u32,
}

/// A frame of a correct length whose content could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedPdu {
    pub command_id: u32,
    pub sequence_number: u32,
    /// The status to answer with (in a generic_nack).
    pub status: CommandStatus,
    pub reason: String,
}

impl MalformedPdu {
    /// Whether the malformed frame claimed to be a response (so it may settle a pending request).
    pub fn is_response(&self) -> bool {
        self.command_id & RESPONSE_BIT != 0
    }
}

/// One frame read off the wire.
pub type Frame = Result<Command, MalformedPdu>;

/// Incremental decoder over a connection's read buffer.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_len: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PDU_LEN)
    }
}

impl FrameDecoder {
    pub fn new(max_len: usize) -> Self {
        Self {
            max_len: max_len.max(HEADER_LEN),
        }
    }

    /// Takes the next complete frame off `buf`.
    ///
    /// `Ok(None)` means more bytes are needed; `buf` then holds at most one partial PDU, so a
    /// caller that reserves `max_len` never grows beyond it.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Frame>, FatalFrameError> {
        // The whole header is awaited even for a bad length, so that the fatal error (and the
        // sequence number its nack echoes) does not depend on how TCP split the header.
        if buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let length = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if (length as usize) < HEADER_LEN || length as usize > self.max_len {
            return Err(FatalFrameError {
                length,
                max: self.max_len,
                sequence_number: u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]),
            });
        }
        if buf.len() < length as usize {
            buf.reserve(length as usize - buf.len());
            return Ok(None);
        }
        let mut frame = buf.split_to(length as usize);
        frame.advance(4);
        Ok(Some(decode_body(frame)))
    }
}

/// Decodes command_id, status, sequence and body from a frame without its length prefix.
fn decode_body(mut frame: BytesMut) -> Frame {
    let command_id = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    let sequence_number = u32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]);
    let malformed = |status: CommandStatus, reason: String| MalformedPdu {
        command_id,
        sequence_number,
        status,
        reason,
    };
    if let CommandId::Other(_) = CommandId::from(command_id) {
        return Err(malformed(
            CommandStatus::EsmeRinvcmdid,
            format!("unknown command_id {command_id:#010x}"),
        ));
    }
    let pdu_len = frame.len();
    let body_len = pdu_len - (HEADER_LEN - 4);
    match Command::decode(&mut frame, pdu_len) {
        Ok((command, size)) => {
            if size != pdu_len {
                return Err(malformed(
                    CommandStatus::EsmeRinvcmdlen,
                    format!("{} trailing bytes after the body", pdu_len - size),
                ));
            }
            // rusmpp yields no PDU for a body it has no decoder for at this length: only
            // acceptable when the body is empty and the command allows that (e.g. an error resp).
            if command.pdu().is_none() && (body_len != 0 || command_id & RESPONSE_BIT == 0) {
                return Err(malformed(
                    CommandStatus::EsmeRinvcmdlen,
                    format!("body of {body_len} bytes does not fit the command"),
                ));
            }
            Ok(command)
        }
        Err(err) => {
            // The peer's fault, never ours: a system error would invite blind retries.
            let status = match err.kind() {
                DecodeErrorKind::UnexpectedEof => CommandStatus::EsmeRinvcmdlen,
                // 0xC2, ESME_RINVPARLEN in SMPP 3.4: a string or octet field of a bad length.
                DecodeErrorKind::COctetStringDecodeError(_)
                | DecodeErrorKind::OctetStringDecodeError(_) => CommandStatus::EsmeRinvtlvlen,
                // 0xC0, ESME_RINVOPTPARSTREAM: the optional parameters do not parse.
                _ => CommandStatus::EsmeRinvtlvstream,
            };
            Err(malformed(status, format!("undecodable body: {err}")))
        }
    }
}

/// Appends one encoded PDU (with its length prefix) to `dst`.
pub fn encode(command: &Command, dst: &mut BytesMut) {
    let command_length = 4 + command.length();
    dst.reserve(command_length);
    dst.put_u32(command_length as u32);
    command.encode(dst);
}

/// Encodes one PDU into a fresh buffer.
pub fn encode_to_vec(command: &Command) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode(command, &mut buf);
    buf.to_vec()
}

/// A `generic_nack` with the given status, echoing the offending sequence number.
pub fn generic_nack(sequence_number: u32, status: CommandStatus) -> Command {
    Command::new(status, sequence_number, Pdu::GenericNack)
}

/// Appends a PDU that is only a header: an error response (SMPP 3.4 returns no body with a
/// non-zero command_status) or a generic_nack.
pub fn encode_header_only(
    command_id: CommandId,
    status: CommandStatus,
    sequence_number: u32,
    dst: &mut BytesMut,
) {
    dst.reserve(HEADER_LEN);
    dst.put_u32(HEADER_LEN as u32);
    dst.put_u32(command_id.into());
    dst.put_u32(status.into());
    dst.put_u32(sequence_number);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusmpp::pdus::{BindTransmitter, SubmitSm};

    fn frame_of(command: &Command) -> BytesMut {
        BytesMut::from(&encode_to_vec(command)[..])
    }

    #[test]
    fn round_trips_a_submit_sm_split_at_every_byte() {
        let submit = SubmitSm::builder()
            .short_message(b"hello".as_slice().try_into().unwrap())
            .build();
        let command = Command::new(CommandStatus::EsmeRok, 7, submit);
        let bytes = encode_to_vec(&command);
        let decoder = FrameDecoder::default();
        for cut in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..cut]);
            assert_eq!(decoder.decode(&mut buf).unwrap(), None, "cut at {cut}");
            buf.extend_from_slice(&bytes[cut..]);
            let frame = decoder.decode(&mut buf).unwrap().unwrap().unwrap();
            assert_eq!(frame, command);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn two_frames_in_one_read_are_split_exactly() {
        let a = Command::new(CommandStatus::EsmeRok, 1, Pdu::EnquireLink);
        let b = Command::new(CommandStatus::EsmeRok, 2, Pdu::EnquireLinkResp);
        let mut buf = frame_of(&a);
        buf.extend_from_slice(&frame_of(&b));
        let decoder = FrameDecoder::default();
        assert_eq!(decoder.decode(&mut buf).unwrap().unwrap().unwrap(), a);
        assert_eq!(decoder.decode(&mut buf).unwrap().unwrap().unwrap(), b);
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn short_and_oversized_lengths_are_fatal() {
        let decoder = FrameDecoder::new(1024);
        let mut short = BytesMut::from(&[0, 0, 0, 15, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 9][..]);
        let err = decoder.decode(&mut short).unwrap_err();
        assert_eq!((err.length, err.sequence_number), (15, 9));
        let mut long = BytesMut::from(&[0, 0, 4, 1, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 1][..]);
        assert_eq!(decoder.decode(&mut long).unwrap_err().length, 1025);
    }

    /// Fuzzer find (smpp/fuzz, frame_decoder): a bad length in a header that arrived in two
    /// reads was reported with sequence 0 after the first and with the real one in one read.
    #[test]
    fn a_bad_length_is_reported_alike_however_the_header_is_split() {
        let header: [u8; HEADER_LEN] = [
            0xd8, 0xd8, 0xd8, 0x76, 0x0a, 0x76, 0x41, 0xd6, 0xd8, 0xd8, 0xd8, 0x76, 0x0a, 0x76,
            0x41, 0xd6,
        ];
        let decoder = FrameDecoder::default();
        let whole = decoder
            .decode(&mut BytesMut::from(&header[..]))
            .unwrap_err();
        assert_eq!(whole.sequence_number, 0x0a76_41d6);
        for cut in 0..HEADER_LEN {
            let mut buf = BytesMut::from(&header[..cut]);
            assert_eq!(decoder.decode(&mut buf), Ok(None), "cut at {cut}");
            buf.extend_from_slice(&header[cut..]);
            assert_eq!(decoder.decode(&mut buf).unwrap_err(), whole, "cut at {cut}");
        }
    }

    #[test]
    fn unknown_command_id_is_malformed_with_rinvcmdid_and_its_sequence() {
        let mut buf = BytesMut::from(&[0, 0, 0, 16, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 42][..]);
        let bad = FrameDecoder::default()
            .decode(&mut buf)
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(bad.status, CommandStatus::EsmeRinvcmdid);
        assert_eq!(bad.sequence_number, 42);
        assert!(buf.is_empty());
    }

    #[test]
    fn trailing_bytes_and_truncated_bodies_are_malformed_but_consumed() {
        let decoder = FrameDecoder::default();
        // enquire_link with a 2-byte body
        let mut buf =
            BytesMut::from(&[0, 0, 0, 18, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2][..]);
        let bad = decoder.decode(&mut buf).unwrap().unwrap().unwrap_err();
        assert_eq!(bad.status, CommandStatus::EsmeRinvcmdlen);
        assert!(buf.is_empty());

        // bind_transmitter whose system_id has no terminating NUL
        let bind = Command::new(
            CommandStatus::EsmeRok,
            4,
            BindTransmitter::builder().build(),
        );
        let mut bytes = encode_to_vec(&bind);
        bytes.truncate(HEADER_LEN + 3);
        bytes[..4].copy_from_slice(&((HEADER_LEN + 3) as u32).to_be_bytes());
        bytes[HEADER_LEN..].copy_from_slice(b"abc");
        let mut buf = BytesMut::from(&bytes[..]);
        let bad = decoder.decode(&mut buf).unwrap().unwrap().unwrap_err();
        assert_eq!(bad.sequence_number, 4);
        assert!(buf.is_empty());
    }

    #[test]
    fn an_error_response_without_body_is_accepted() {
        // submit_sm_resp, status RTHROTTLED, empty body: what many SMSCs send
        let mut buf = BytesMut::from(&[0, 0, 0, 16, 0x80, 0, 0, 4, 0, 0, 0, 0x58, 0, 0, 0, 5][..]);
        let command = FrameDecoder::default()
            .decode(&mut buf)
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(command.id(), CommandId::SubmitSmResp);
        assert_eq!(command.status(), CommandStatus::EsmeRthrottled);
    }
}
