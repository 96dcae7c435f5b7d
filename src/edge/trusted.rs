//! The balancers whose word on the client's address is taken: [`TrustedProxies`] (CIDRs
//! from the config) and the `X-Forwarded-For` rule: only when the connection comes from a
//! trusted proxy, and then the right-most address in the header that is not itself trusted
//! (every hop appends the address it saw, so everything left of the last untrusted hop may
//! be written by the client).

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Networks whose connections may speak for a client (PROXY header, X-Forwarded-For).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is in one of the networks (an IPv4-mapped IPv6 address counts as its
    /// IPv4 address, as a dual-stack socket reports IPv4 peers).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|network| network.contains(&ip))
    }

    /// The client of a request that arrived over a connection from `connection_client`: that
    /// address, unless it is a trusted proxy, in which case the right-most untrusted address
    /// of the `X-Forwarded-For` headers (port 0: the header has none). A malformed entry
    /// stops the walk at the last trusted hop, whose address then stands.
    pub fn forwarded_client(
        &self,
        connection_client: SocketAddr,
        headers: &HeaderMap,
    ) -> SocketAddr {
        if !self.contains(connection_client.ip()) {
            return connection_client;
        }
        let mut client = connection_client;
        // Several X-Forwarded-For headers read as one comma-separated list, in order.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = SocketAddr::new(ip, 0);
            if !self.contains(ip) {
                return client;
            }
        }
        client
    }
}

/// One X-Forwarded-For entry: an IP address, possibly with a port (`1.2.3.4:5`,
/// `[2001:db8::1]:5`) as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|address| address.ip()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ])
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_connection_is_its_own_client_whatever_it_claims() {
        let client = trusted().forwarded_client(addr("198.51.100.9:5000"), &headers(&["1.2.3.4"]));
        assert_eq!(client, addr("198.51.100.9:5000"));
    }

    #[test]
    fn from_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let via = addr("10.0.0.5:40000");
        let spoofed = headers(&["6.6.6.6, 203.0.113.7, 10.1.1.1"]);
        assert_eq!(
            trusted().forwarded_client(via, &spoofed),
            addr("203.0.113.7:0")
        );
        let split = headers(&["6.6.6.6", "203.0.113.7:1234", "10.1.1.1"]);
        assert_eq!(
            trusted().forwarded_client(via, &split),
            addr("203.0.113.7:0")
        );
    }

    #[test]
    fn a_trusted_proxy_without_a_usable_header_stays_the_client() {
        let via = addr("10.0.0.5:40000");
        assert_eq!(trusted().forwarded_client(via, &HeaderMap::new()), via);
        assert_eq!(
            trusted().forwarded_client(via, &headers(&["not-an-ip"])),
            via
        );
        // Only trusted hops: the left-most one is as far as the chain can be followed.
        let all_trusted = headers(&["10.2.2.2, 10.1.1.1"]);
        assert_eq!(
            trusted().forwarded_client(via, &all_trusted),
            addr("10.2.2.2:0")
        );
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let mapped: SocketAddr = "[::ffff:10.0.0.5]:1".parse().unwrap();
        assert!(trusted().contains(mapped.ip()));
        assert!(!TrustedProxies::default().contains(mapped.ip()));
    }
}
