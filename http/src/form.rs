//! Strict `application/x-www-form-urlencoded` decoding (query strings and form bodies).
//!
//! Written here rather than using `serde_urlencoded` because that decodes invalid UTF-8 lossily
//! (to U+FFFD) and would silently corrupt a message text; we refuse it instead and say which
//! parameter was broken. A `%` not followed by two hex digits is kept literally, as browsers
//! and the WHATWG URL standard do, so `50% off` sent unencoded still arrives intact.

use std::borrow::Cow;

/// A key or value is not valid UTF-8 after percent-decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter {name} is not valid UTF-8")]
pub struct NotUtf8 {
    /// The parameter name, lossily decoded so it can be shown.
    pub name: String,
}

/// A decoded name or value: borrowed from the input when it had nothing to decode.
pub type Component<'a> = Cow<'a, str>;

/// Splits `input` into decoded `(name, value)` pairs, in order, duplicates kept.
pub fn parse(input: &[u8]) -> Result<Vec<(Component<'_>, Component<'_>)>, NotUtf8> {
    input
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            // The name is only shown (lossily) when something is wrong: no copy on success.
            let not_utf8 = || NotUtf8 {
                name: String::from_utf8_lossy(&decode(name)).into_owned(),
            };
            let name = text(decode(name)).ok_or_else(not_utf8)?;
            let value = text(decode(value)).ok_or_else(not_utf8)?;
            Ok((name, value))
        })
        .collect()
}

fn text(bytes: Cow<'_, [u8]>) -> Option<Cow<'_, str>> {
    match bytes {
        Cow::Borrowed(bytes) => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
        Cow::Owned(bytes) => String::from_utf8(bytes).ok().map(Cow::Owned),
    }
}

/// Percent-decodes one component and turns `+` into a space; borrows when there is neither.
fn decode(component: &[u8]) -> Cow<'_, [u8]> {
    if !component.iter().any(|&b| b == b'+' || b == b'%') {
        return Cow::Borrowed(component);
    }
    let mut out = Vec::with_capacity(component.len());
    let mut i = 0;
    while i < component.len() {
        match component[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(component.get(i + 1)), hex(component.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

fn hex(byte: Option<&u8>) -> Option<u8> {
    (*byte? as char).to_digit(16).map(|d| d as u8)
}

/// Encodes pairs as a form body (`a=1&b=x%20y` style, spaces as `+`).
pub fn encode(pairs: &[(&str, &str)]) -> String {
    // Serialising a slice of string pairs cannot fail; fall back to empty just in case rather
    // than panic.
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_plus_and_utf8() {
        let pairs = parse(b"a=1&message=caf%C3%A9+%F0%9F%91%8B&empty=&flag&&x=50%+off%2").unwrap();
        assert!(
            matches!(pairs[0].1, Cow::Borrowed("1")),
            "nothing to decode, no copy"
        );
        assert_eq!(
            pairs,
            vec![
                ("a".into(), Cow::from("1")),
                ("message".into(), "café 👋".into()),
                ("empty".into(), "".into()),
                ("flag".into(), "".into()),
                ("x".into(), "50% off%2".into()),
            ]
        );
    }

    #[test]
    fn refuses_invalid_utf8_and_names_the_parameter() {
        assert_eq!(
            parse(b"ok=1&message=%FF%FE"),
            Err(NotUtf8 {
                name: "message".into()
            })
        );
    }

    #[test]
    fn encode_round_trips() {
        let body = encode(&[("result_code", "0"), ("message_id", "a b&c=d/é")]);
        let back = parse(body.as_bytes()).unwrap();
        assert_eq!(back[1], ("message_id".into(), "a b&c=d/é".into()));
    }
}
