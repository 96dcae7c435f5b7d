//! `Endpoint`: one concrete place a request goes to, a base URL and, for resolved hostnames,
//! the address dialled.

use std::fmt;
use std::net::IpAddr;

use reqwest::Url;

/// Where a request went: the base URL (with the hostname, as TLS and `Host` see it) and, for
/// a resolved hostname, the address dialled.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    base: Url,
    address: Option<IpAddr>,
}

impl Endpoint {
    pub(crate) fn new(base: Url, address: Option<IpAddr>) -> Endpoint {
        Endpoint { base, address }
    }

    /// The base URL, e.g. `http://smsgw.example.com:8080/`.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The address dialled, for a resolved hostname; `None` for a configured base URL.
    pub fn address(&self) -> Option<IpAddr> {
        self.address
    }

    /// `path` (absolute, e.g. `/v1/messages`) on this endpoint, keeping a base path prefix.
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{path}"));
        url
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            Some(address) => write!(f, "{} ({address})", self.base),
            None => write!(f, "{}", self.base),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_a_base_prefix_and_display_names_the_address() {
        let plain = Endpoint::new(Url::parse("http://a.test:8080").unwrap(), None);
        assert_eq!(plain.url("/healthz").as_str(), "http://a.test:8080/healthz");
        let prefixed = Endpoint::new(Url::parse("https://b.test/sms/").unwrap(), None);
        assert_eq!(
            prefixed.url("/v1/messages").as_str(),
            "https://b.test/sms/v1/messages"
        );
        let resolved = Endpoint::new(
            Url::parse("http://c.test:80/").unwrap(),
            Some("127.0.0.2".parse().unwrap()),
        );
        assert_eq!(resolved.to_string(), "http://c.test/ (127.0.0.2)");
    }
}
