//! GSM 03.38 (3GPP TS 23.038) default alphabet with its extension table, one septet per octet.
//!
//! SMPP carries `data_coding` 0 unpacked: each octet holds one septet, so there is no bit
//! packing here. Characters of the extension table take two septets, `ESC` (0x1B) then the code.
//!
//! This table is ours rather than rusmpp-extra's: rusmpp-extra 0.4 has no decoder and its
//! extension table lacks form feed (ESC 0x0A).

/// The escape septet that switches to the extension table for the next septet.
pub const ESCAPE: u8 = 0x1B;

/// The default alphabet, indexed by septet. 0x1B is the escape and never decodes on its own.
const BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: (septet after ESC, character).
pub const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'), // form feed
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// How one character is written in GSM septets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GsmChar {
    /// One septet of the default alphabet.
    Basic(u8),
    /// `ESC` followed by this septet of the extension table.
    Extended(u8),
}

impl GsmChar {
    /// Number of septets (= octets, unpacked) the character occupies.
    pub fn septets(self) -> usize {
        match self {
            GsmChar::Basic(_) => 1,
            GsmChar::Extended(_) => 2,
        }
    }

    /// Appends the character's septets to `out`.
    pub fn write_to(self, out: &mut Vec<u8>) {
        match self {
            GsmChar::Basic(septet) => out.push(septet),
            GsmChar::Extended(septet) => out.extend_from_slice(&[ESCAPE, septet]),
        }
    }
}

/// In [`ASCII`]: the character is not in the alphabet.
const NOT_GSM: u8 = 0xFF;
/// In [`ASCII`]: the rest is a septet of the extension table.
const EXTENDED: u8 = 0x80;

/// How each ASCII character is written, built from the two tables at compile time: most texts
/// are ASCII, and a table lookup per character beats searching the alphabet for it.
const ASCII: [u8; 128] = {
    let mut table = [NOT_GSM; 128];
    let mut septet = 0;
    while septet < BASIC.len() {
        let ch = BASIC[septet] as u32;
        if ch < 128 && septet != ESCAPE as usize {
            table[ch as usize] = septet as u8;
        }
        septet += 1;
    }
    let mut index = 0;
    while index < EXTENSION.len() {
        let (septet, ch) = EXTENSION[index];
        if (ch as u32) < 128 {
            table[ch as usize] = EXTENDED | septet;
        }
        index += 1;
    }
    table
};

/// Looks a character up in the default alphabet, then the extension table.
pub fn gsm_char(ch: char) -> Option<GsmChar> {
    if ch.is_ascii() {
        return match ASCII[ch as usize] {
            NOT_GSM => None,
            code if code & EXTENDED != 0 => Some(GsmChar::Extended(code & !EXTENDED)),
            septet => Some(GsmChar::Basic(septet)),
        };
    }
    if let Some(pos) = BASIC.iter().position(|&c| c == ch) {
        return u8::try_from(pos).ok().map(GsmChar::Basic);
    }
    EXTENSION
        .iter()
        .find(|&&(_, c)| c == ch)
        .map(|&(septet, _)| GsmChar::Extended(septet))
}

/// Whether every character of `text` is in the GSM alphabet or its extension.
pub fn is_gsm_text(text: &str) -> bool {
    text.chars().all(|ch| gsm_char(ch).is_some())
}

/// Errors decoding GSM septets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GsmDecodeError {
    /// An octet with the high bit set cannot be an unpacked septet.
    #[error("octet 0x{octet:02X} at {position} is not a GSM septet")]
    NotASeptet { position: usize, octet: u8 },
    /// The text ends with an escape that has no septet after it.
    #[error("escape at the end of the text")]
    TrailingEscape,
}

/// Decodes unpacked GSM septets into text.
///
/// An escape followed by a code that is not in the extension table decodes as the default
/// alphabet's character for that code, and `ESC ESC` as a space, as TS 23.038 asks receivers
/// to do. Octets above 0x7F and a trailing escape are errors: such input is not GSM.
pub fn decode_gsm(septets: &[u8]) -> Result<String, GsmDecodeError> {
    let mut text = String::with_capacity(septets.len());
    let mut iter = septets.iter().copied().enumerate();
    while let Some((position, octet)) = iter.next() {
        let basic = basic_char(position, octet)?;
        if octet != ESCAPE {
            text.push(basic);
            continue;
        }
        let (position, code) = iter.next().ok_or(GsmDecodeError::TrailingEscape)?;
        let fallback = basic_char(position, code)?;
        let extended = EXTENSION
            .iter()
            .find(|&&(septet, _)| septet == code)
            .map(|&(_, c)| c);
        text.push(match (extended, code) {
            (Some(c), _) => c,
            (None, ESCAPE) => ' ',
            (None, _) => fallback,
        });
    }
    Ok(text)
}

fn basic_char(position: usize, octet: u8) -> Result<char, GsmDecodeError> {
    BASIC
        .get(usize::from(octet))
        .copied()
        .ok_or(GsmDecodeError::NotASeptet { position, octet })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ascii_table_agrees_with_the_alphabet_for_every_ascii_character() {
        for code in 0u8..128 {
            let ch = char::from(code);
            let searched = if ch == '\u{1B}' {
                None
            } else {
                BASIC
                    .iter()
                    .position(|&c| c == ch)
                    .map(|septet| GsmChar::Basic(septet as u8))
                    .or_else(|| {
                        EXTENSION
                            .iter()
                            .find(|&&(_, c)| c == ch)
                            .map(|&(septet, _)| GsmChar::Extended(septet))
                    })
            };
            assert_eq!(gsm_char(ch), searched, "{ch:?}");
        }
    }

    #[test]
    fn at_sign_is_septet_zero() {
        assert_eq!(gsm_char('@'), Some(GsmChar::Basic(0x00)));
        assert_eq!(decode_gsm(&[0x00]).unwrap(), "@");
    }

    #[test]
    fn currency_signs() {
        assert_eq!(gsm_char('£'), Some(GsmChar::Basic(0x01)));
        assert_eq!(gsm_char('$'), Some(GsmChar::Basic(0x02)));
        assert_eq!(gsm_char('€'), Some(GsmChar::Extended(0x65)));
        assert_eq!(decode_gsm(&[0x1B, 0x65]).unwrap(), "€");
    }

    #[test]
    fn every_extension_char_round_trips() {
        for &(septet, ch) in &EXTENSION {
            assert_eq!(gsm_char(ch), Some(GsmChar::Extended(septet)), "{ch:?}");
            let mut out = Vec::new();
            GsmChar::Extended(septet).write_to(&mut out);
            assert_eq!(out, [ESCAPE, septet]);
            assert_eq!(decode_gsm(&out).unwrap(), ch.to_string());
        }
        let all: String = EXTENSION.iter().map(|&(_, c)| c).collect();
        assert_eq!(all, "\u{0C}^{}\\[~]|€");
    }

    #[test]
    fn every_basic_char_round_trips() {
        for septet in 0u8..0x80 {
            if septet == ESCAPE {
                continue;
            }
            let text = decode_gsm(&[septet]).unwrap();
            let ch = text.chars().next().unwrap();
            assert_eq!(gsm_char(ch), Some(GsmChar::Basic(septet)));
        }
    }

    #[test]
    fn unknown_extension_falls_back_to_basic_and_double_escape_is_space() {
        assert_eq!(decode_gsm(&[0x1B, 0x41]).unwrap(), "A");
        assert_eq!(decode_gsm(&[0x1B, 0x1B]).unwrap(), " ");
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            decode_gsm(&[0x41, 0x80]),
            Err(GsmDecodeError::NotASeptet {
                position: 1,
                octet: 0x80
            })
        );
        assert_eq!(
            decode_gsm(&[0x41, 0x1B]),
            Err(GsmDecodeError::TrailingEscape)
        );
        assert_eq!(gsm_char('\u{1B}'), None);
        assert_eq!(gsm_char('â'), None);
    }
}
