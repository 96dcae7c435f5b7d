//! Account credentials as the client sent them, passed to the gateway to check.

use std::fmt;

use base64::Engine;

/// A login and password, unchecked. The password never appears in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The account login (the SMPP `system_id` of the same account).
    pub login: String,
    /// The password as sent; compare it in constant time on the gateway side.
    pub password: String,
}

impl Credentials {
    /// Reads an `Authorization: Basic base64(login:password)` header value.
    ///
    /// Returns `None` for any other scheme, bad base64, non-UTF-8 or a missing colon; the
    /// caller answers 401 in every such case.
    pub fn from_basic_auth(header: &str) -> Option<Credentials> {
        let (scheme, encoded) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        // The login cannot contain a colon (RFC 7617); the password may.
        let (login, password) = text.split_once(':')?;
        if login.is_empty() {
            return None;
        }
        Some(Credentials {
            login: login.to_owned(),
            password: password.to_owned(),
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("login", &self.login)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    #[test]
    fn reads_basic_auth_and_keeps_colons_in_the_password() {
        let c = Credentials::from_basic_auth(&basic("demo:pa:ss")).expect("valid header");
        assert_eq!(c.login, "demo");
        assert_eq!(c.password, "pa:ss");
        assert!(!format!("{c:?}").contains("pa:ss"));
    }

    #[test]
    fn rejects_other_schemes_and_malformed_values() {
        assert_eq!(Credentials::from_basic_auth("Bearer abc"), None);
        assert_eq!(Credentials::from_basic_auth("Basic !!!"), None);
        assert_eq!(Credentials::from_basic_auth(&basic("no-colon")), None);
        assert_eq!(Credentials::from_basic_auth(&basic(":secret")), None);
        assert_eq!(Credentials::from_basic_auth("Basic"), None);
    }
}
