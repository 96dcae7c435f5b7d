//! Text encodings SMPP carries in `short_message`: which one to use, encoding and decoding.
//!
//! Three are supported: GSM 03.38 unpacked (`data_coding` 0), Latin-1 (3) and UCS-2 (8), the
//! last as UTF-16BE so characters outside the BMP travel as surrogate pairs, which is what
//! handsets do. rusmpp-extra 0.4's `Ucs2` rejects every non-BMP character (emoji), so its
//! encoder cannot be used for the general case.

use super::gsm::{decode_gsm, gsm_char, GsmDecodeError};

/// An encoding of message text, with its SMPP `data_coding` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// GSM 03.38 default alphabet and extension table, one septet per octet.
    Gsm7,
    /// ISO-8859-1.
    Latin1,
    /// UTF-16BE; called UCS-2 by SMPP.
    Ucs2,
}

/// The order [`choose_encoding`] tries by default.
///
/// GSM first: it carries 160 characters per message and every handset renders it. Latin-1 next:
/// 140 per message, twice UCS-2's 70. UCS-2 last: it represents any text. [`choose_encoding`]
/// takes the first that fits; segmentation uses `segment::choose_smallest_encoding`, which
/// counts parts and only falls back on this order for ties.
pub const DEFAULT_PREFERENCE: [Encoding; 3] = [Encoding::Gsm7, Encoding::Latin1, Encoding::Ucs2];

impl Encoding {
    /// The `data_coding` value that announces this encoding.
    pub fn data_coding(self) -> u8 {
        match self {
            Encoding::Gsm7 => 0x00,
            Encoding::Latin1 => 0x03,
            Encoding::Ucs2 => 0x08,
        }
    }

    /// The encoding a `data_coding` value announces, if this module knows it.
    pub fn from_data_coding(data_coding: u8) -> Option<Self> {
        match data_coding {
            0x00 => Some(Encoding::Gsm7),
            0x03 => Some(Encoding::Latin1),
            0x08 => Some(Encoding::Ucs2),
            _ => None,
        }
    }

    /// Whether every character of `text` can be written in this encoding.
    pub fn can_represent(self, text: &str) -> bool {
        match self {
            Encoding::Gsm7 => text.chars().all(|ch| gsm_char(ch).is_some()),
            Encoding::Latin1 => text.chars().all(|ch| u32::from(ch) <= 0xFF),
            // A Rust string holds no lone surrogates, so UTF-16 represents all of it.
            Encoding::Ucs2 => true,
        }
    }

    /// Appends the encoding of one character to `out`.
    ///
    /// Characters are never split, which is what lets segmentation cut between them safely.
    pub fn encode_char(self, ch: char, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let unencodable = EncodeError::Unencodable {
            encoding: self,
            character: ch,
        };
        match self {
            Encoding::Gsm7 => gsm_char(ch).ok_or(unencodable)?.write_to(out),
            Encoding::Latin1 => out.push(u8::try_from(u32::from(ch)).map_err(|_| unencodable)?),
            Encoding::Ucs2 => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    out.extend_from_slice(&unit.to_be_bytes());
                }
            }
        }
        Ok(())
    }

    /// Encodes the whole of `text`.
    pub fn encode(self, text: &str) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(text.len() * 2);
        for ch in text.chars() {
            self.encode_char(ch, &mut out)?;
        }
        Ok(out)
    }

    /// Decodes bytes written in this encoding.
    pub fn decode(self, bytes: &[u8]) -> Result<String, DecodeError> {
        match self {
            Encoding::Gsm7 => Ok(decode_gsm(bytes)?),
            // Every octet is a Latin-1 character, so this cannot fail.
            Encoding::Latin1 => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
            Encoding::Ucs2 => decode_ucs2(bytes),
        }
    }
}

/// Errors encoding text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{character:?} cannot be written in {encoding:?}")]
    Unencodable { encoding: Encoding, character: char },
    #[error("no encoding among {preference:?} can represent the text")]
    NoEncodingFits { preference: Vec<Encoding> },
}

/// Errors decoding a message body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Binary, national or otherwise unsupported `data_coding`; the caller keeps the raw bytes.
    #[error("data_coding 0x{0:02X} is not a text encoding this gateway decodes")]
    UnsupportedDataCoding(u8),
    #[error(transparent)]
    Gsm(#[from] GsmDecodeError),
    #[error("UCS-2 body has an odd length {0}")]
    OddUcs2Length(usize),
    /// A surrogate without its partner; rejected rather than replaced so that a corrupted
    /// message is noticed instead of delivered with U+FFFD in it.
    #[error("lone UTF-16 surrogate 0x{unit:04X} at code unit {index}")]
    LoneSurrogate { index: usize, unit: u16 },
}

/// Picks the first encoding in `preference` that can represent `text`.
///
/// Pass [`DEFAULT_PREFERENCE`] for the usual choice, or a single encoding to force it.
pub fn choose_encoding(text: &str, preference: &[Encoding]) -> Result<Encoding, EncodeError> {
    preference
        .iter()
        .copied()
        .find(|encoding| encoding.can_represent(text))
        .ok_or_else(|| EncodeError::NoEncodingFits {
            preference: preference.to_vec(),
        })
}

/// Chooses an encoding from `preference` and encodes `text` with it.
pub fn encode_text(
    text: &str,
    preference: &[Encoding],
) -> Result<(Encoding, Vec<u8>), EncodeError> {
    let encoding = choose_encoding(text, preference)?;
    Ok((encoding, encoding.encode(text)?))
}

/// Decodes a message body according to its `data_coding`.
pub fn decode_text(data_coding: u8, bytes: &[u8]) -> Result<String, DecodeError> {
    Encoding::from_data_coding(data_coding)
        .ok_or(DecodeError::UnsupportedDataCoding(data_coding))?
        .decode(bytes)
}

fn decode_ucs2(bytes: &[u8]) -> Result<String, DecodeError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(DecodeError::OddUcs2Length(bytes.len()));
    }
    let units = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    let mut text = String::with_capacity(bytes.len() / 2);
    let mut index = 0;
    for decoded in char::decode_utf16(units) {
        match decoded {
            Ok(ch) => {
                text.push(ch);
                index += ch.len_utf16();
            }
            Err(e) => {
                return Err(DecodeError::LoneSurrogate {
                    index,
                    unit: e.unpaired_surrogate(),
                })
            }
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_coding_values() {
        assert_eq!(Encoding::Gsm7.data_coding(), 0);
        assert_eq!(Encoding::Latin1.data_coding(), 3);
        assert_eq!(Encoding::Ucs2.data_coding(), 8);
        for e in DEFAULT_PREFERENCE {
            assert_eq!(Encoding::from_data_coding(e.data_coding()), Some(e));
        }
    }

    #[test]
    fn choice_follows_preference() {
        assert_eq!(
            choose_encoding("Hello {€}", &DEFAULT_PREFERENCE),
            Ok(Encoding::Gsm7)
        );
        assert_eq!(
            choose_encoding("Crème brûlée", &DEFAULT_PREFERENCE),
            Ok(Encoding::Latin1)
        );
        assert_eq!(
            choose_encoding("Привет", &DEFAULT_PREFERENCE),
            Ok(Encoding::Ucs2)
        );
        assert_eq!(
            choose_encoding("€", &[Encoding::Latin1, Encoding::Ucs2]),
            Ok(Encoding::Ucs2)
        );
        assert_eq!(
            choose_encoding("abc", &[Encoding::Ucs2]),
            Ok(Encoding::Ucs2)
        );
        assert!(matches!(
            choose_encoding("😀", &[Encoding::Gsm7, Encoding::Latin1]),
            Err(EncodeError::NoEncodingFits { .. })
        ));
    }

    #[test]
    fn forced_encoding_rejects_what_it_cannot_write() {
        assert_eq!(
            Encoding::Latin1.encode("a€"),
            Err(EncodeError::Unencodable {
                encoding: Encoding::Latin1,
                character: '€'
            })
        );
    }

    #[test]
    fn gsm_escapes_are_two_octets() {
        assert_eq!(
            Encoding::Gsm7.encode("@€a").unwrap(),
            [0x00, 0x1B, 0x65, 0x61]
        );
    }

    #[test]
    fn latin1_round_trip() {
        let bytes = Encoding::Latin1.encode("é£ÿ").unwrap();
        assert_eq!(bytes, [0xE9, 0xA3, 0xFF]);
        assert_eq!(decode_text(3, &bytes).unwrap(), "é£ÿ");
    }

    #[test]
    fn emoji_is_a_surrogate_pair() {
        let bytes = Encoding::Ucs2.encode("a😀").unwrap();
        assert_eq!(bytes, [0x00, 0x61, 0xD8, 0x3D, 0xDE, 0x00]);
        assert_eq!(decode_text(8, &bytes).unwrap(), "a😀");
    }

    #[test]
    fn lone_surrogate_is_an_error() {
        assert_eq!(
            decode_text(8, &[0x00, 0x61, 0xD8, 0x3D]),
            Err(DecodeError::LoneSurrogate {
                index: 1,
                unit: 0xD83D
            })
        );
        assert!(matches!(
            decode_text(8, &[0xDE, 0x00, 0x00, 0x61]),
            Err(DecodeError::LoneSurrogate { index: 0, .. })
        ));
        assert_eq!(decode_text(8, &[0x00]), Err(DecodeError::OddUcs2Length(1)));
    }

    #[test]
    fn unknown_data_coding_is_reported() {
        assert_eq!(
            decode_text(4, &[1, 2]),
            Err(DecodeError::UnsupportedDataCoding(4))
        );
    }

    /// rusmpp-extra 0.4's UCS-2 encoder refuses emoji: it is strict UCS-2, not UTF-16.
    #[test]
    fn rusmpp_extra_ucs2_rejects_emoji() {
        let result = rusmpp_extra::encoding::ucs2::Ucs2::new().encode_to_vec("hi 😀");
        assert!(result.is_err());
        assert!(Encoding::Ucs2.encode("hi 😀").is_ok());
    }

    /// rusmpp-extra 0.4's GSM alphabet has no form feed (ESC 0x0A).
    #[test]
    fn rusmpp_extra_gsm_lacks_form_feed() {
        let extra = rusmpp_extra::encoding::gsm7bit::Gsm7BitUnpacked::new();
        assert!(extra.encode_to_vec("\u{0C}").is_err());
        assert_eq!(Encoding::Gsm7.encode("\u{0C}").unwrap(), [0x1B, 0x0A]);
    }

    /// Where rusmpp-extra can encode, it agrees with us.
    #[test]
    fn rusmpp_extra_agrees_on_common_text() {
        let text = "@£$ Hello {[~]} € ^|\\";
        let extra = rusmpp_extra::encoding::gsm7bit::Gsm7BitUnpacked::new();
        assert_eq!(
            extra.encode_to_vec(text).unwrap(),
            Encoding::Gsm7.encode(text).unwrap()
        );
        let latin = "Crème";
        let extra = rusmpp_extra::encoding::latin1::Latin1::new();
        assert_eq!(
            extra.encode_to_vec(latin).unwrap(),
            Encoding::Latin1.encode(latin).unwrap()
        );
    }
}
