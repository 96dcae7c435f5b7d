//! The subjects of one shard's stream: every key a change touches is one subject, and every
//! free-form part of a key (client ids, carrier ids, accounts, connectors) is encoded as one
//! safe token, so a dot, a space, `*` or `>` in it can never split or widen a subject.

use base64::Engine as _;

use crate::store::ClaimSpace;

/// The base64url alphabet is all letters, digits, `-` and `_`: every character is valid in a
/// NATS token. The `k` in front makes the empty key a non-empty token.
const TOKEN_MARK: char = 'k';

/// `key` as one subject token.
pub fn token(key: &str) -> String {
    let mut token = String::with_capacity(1 + key.len() * 4 / 3 + 3);
    token.push(TOKEN_MARK);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(key, &mut token);
    token
}

/// The key a [`token`] encodes; `None` for anything [`token`] never makes.
pub fn key_of(token: &str) -> Option<String> {
    let encoded = token.strip_prefix(TOKEN_MARK)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Whether `namespace` can prefix subjects and name a stream as it is.
pub fn valid_namespace(namespace: &str) -> bool {
    !namespace.is_empty()
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The subjects of a store's namespace (several stores may share a cluster, as Redis
/// prefixes let them share a server).
#[derive(Debug, Clone)]
pub struct Subjects {
    namespace: String,
}

/// The kinds of keys in a shard's stream (see the design record, "Decision").
pub const KINDS: [&str; 6] = ["r", "c", "m", "q", "o", "n"];

impl Subjects {
    /// `namespace` must satisfy [`valid_namespace`].
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
        }
    }

    /// The stream of shard `shard`.
    pub fn stream(&self, shard: usize) -> String {
        format!("SMSGW_{}_{shard}", self.namespace)
    }

    /// The filters of a shard's stream: every kind of key.
    pub fn stream_filters(&self) -> Vec<String> {
        KINDS
            .iter()
            .map(|kind| format!("{}.{kind}.>", self.namespace))
            .collect()
    }

    /// A message record.
    pub fn record(&self, id: &str) -> String {
        format!("{}.r.{}", self.namespace, token(id))
    }

    /// A claim of `space`.
    pub fn claim(&self, space: &ClaimSpace, key: &str) -> String {
        match space {
            ClaimSpace::Idempotency { account } => {
                format!("{}.c.i.{}.{}", self.namespace, token(account), token(key))
            }
            ClaimSpace::ReceiptDedupe => format!("{}.c.d.{}", self.namespace, token(key)),
            ClaimSpace::MoDedupe => format!("{}.c.m.{}", self.namespace, token(key)),
        }
    }

    /// A queued MT of `connector` at `rank` (lower is taken first).
    pub fn queued(&self, connector: &str, rank: usize, id: &str) -> String {
        format!(
            "{}.q.{}.{rank}.{}",
            self.namespace,
            token(connector),
            token(id)
        )
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn is_single_token(token: &str) -> bool {
        !token.is_empty()
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }

    proptest! {
        #[test]
        fn any_key_round_trips_as_one_safe_token(key in any::<String>()) {
            let encoded = token(&key);
            prop_assert!(is_single_token(&encoded), "{encoded:?}");
            prop_assert_eq!(key_of(&encoded), Some(key));
        }
    }

    #[test]
    fn keys_that_look_like_subjects_stay_one_token() {
        for key in ["", "a.b", "*", ">", "a b", "x.>", "\t", "été"] {
            assert!(is_single_token(&token(key)), "{key:?}");
            assert_eq!(key_of(&token(key)).as_deref(), Some(key));
        }
    }

    #[test]
    fn claims_of_different_spaces_are_different_subjects() {
        let subjects = Subjects::new("t");
        let account = ClaimSpace::Idempotency {
            account: "a.b".into(),
        };
        assert_eq!(subjects.claim(&account, "k").split('.').count(), 5);
        assert_ne!(
            subjects.claim(&ClaimSpace::MoDedupe, "k"),
            subjects.claim(&ClaimSpace::ReceiptDedupe, "k")
        );
    }

    #[test]
    fn namespaces_are_plain_tokens() {
        assert!(valid_namespace("smsgw-1_a"));
        for bad in ["", "a.b", "a b", "*", ">"] {
            assert!(!valid_namespace(bad), "{bad:?}");
        }
    }
}
