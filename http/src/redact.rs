//! URLs made fit for logs and `Debug` output: user names, passwords and query values are
//! replaced with `***` (push URLs often carry `?token=...`; store URLs `redis://:pw@host`),
//! and the fragment is dropped. Scheme, host, port, path and query keys stay, so an operator
//! still sees which URL is meant.

use std::fmt;

use reqwest::Url;

const MASK: &str = "***";

/// Displays a URL with its credentials and query values masked.
#[derive(Clone, Copy)]
pub struct RedactedUrl<'a>(pub &'a Url);

impl fmt::Display for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        let mut shown = url.clone();
        shown.set_fragment(None);
        if !url.username().is_empty() {
            let _ = shown.set_username(MASK);
        }
        if url.password().is_some() {
            let _ = shown.set_password(Some(MASK));
        }
        if url.query().is_some() {
            let keys: Vec<String> = url.query_pairs().map(|(key, _)| key.into_owned()).collect();
            let mut pairs = shown.query_pairs_mut();
            pairs.clear();
            for key in &keys {
                pairs.append_pair(key, MASK);
            }
        }
        // `***` is written as `%2A%2A%2A` inside user info and the query: show it plainly.
        f.write_str(&shown.as_str().replace("%2A%2A%2A", MASK))
    }
}

impl fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// `text` with credentials and query values masked if it is a URL; text that is not a URL
/// is shown as `<unparsable URL>`, since it may hold a secret in any place.
pub fn redact_url(text: &str) -> String {
    match Url::parse(text) {
        Ok(url) => RedactedUrl(&url).to_string(),
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_query_values_are_masked() {
        assert_eq!(
            redact_url("https://user:pa55@app.example:8443/cb?token=abc&x=1#frag"),
            "https://***:***@app.example:8443/cb?token=***&x=***"
        );
        assert_eq!(
            redact_url("redis://:hunter2@10.0.0.5:6379/2"),
            "redis://:***@10.0.0.5:6379/2"
        );
        assert_eq!(
            redact_url("https://app.example/cb"),
            "https://app.example/cb"
        );
        assert_eq!(redact_url("not a url with pw=x"), "<unparsable URL>");
        let url = Url::parse("http://t0ken@h/p?password=s3cret").unwrap();
        let debug = format!("{:?}", RedactedUrl(&url));
        assert!(
            !debug.contains("t0ken") && !debug.contains("s3cret"),
            "{debug}"
        );
    }
}
