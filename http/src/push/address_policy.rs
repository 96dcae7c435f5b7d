//! `AddressPolicy`: which IP addresses a push may connect to. A push URL is chosen by a client
//! of the gateway, so without a check it could make the gateway call its own loopback
//! services, a cloud metadata endpoint (169.254.169.254) or hosts on the internal network
//! (SSRF). Loopback, unspecified, link-local, private, CGNAT, unique-local, multicast and
//! reserved addresses are refused unless an operator allow-lists them (CIDRs), and addresses
//! that embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// A push target address in a forbidden range that no allow-list entry covers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{address} is a {range} address: pushes to it are refused unless allow-listed")]
pub struct ForbiddenAddress {
    /// The address refused.
    pub address: IpAddr,
    /// The range it falls in, e.g. `loopback`, `private`, `link-local`.
    pub range: &'static str,
}

/// The allow list pushes are checked against; the default allows no forbidden range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allowed: Vec<IpNet>,
}

impl AddressPolicy {
    /// A policy that also allows the addresses in `allowed` (e.g. `10.1.0.0/16`).
    pub fn allowing(allowed: impl IntoIterator<Item = IpNet>) -> AddressPolicy {
        AddressPolicy {
            allowed: allowed.into_iter().collect(),
        }
    }

    /// The allow-listed networks.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// `Ok` when a push may connect to `address`: it is in no forbidden range, or an
    /// allow-list entry covers it (an IPv4-embedding IPv6 address is also covered by an entry
    /// for the IPv4 address it carries).
    pub fn check(&self, address: IpAddr) -> Result<(), ForbiddenAddress> {
        let Some(range) = forbidden_range(address) else {
            return Ok(());
        };
        let embedded = match address {
            IpAddr::V6(v6) => embedded_ipv4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let covered = |ip: IpAddr| self.allowed.iter().any(|net| net.contains(&ip));
        if covered(address) || embedded.is_some_and(covered) {
            Ok(())
        } else {
            Err(ForbiddenAddress { address, range })
        }
    }
}

/// The forbidden range `address` falls in, if any.
pub fn forbidden_range(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 100 && (64..128).contains(&b) {
        Some("carrier-grade NAT")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() || a >= 240 {
        Some("reserved")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_ipv4(ip) {
        return forbidden_v4(v4);
    }
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xffc0 == 0xfec0 {
        Some("site-local")
    } else if first & 0xfe00 == 0xfc00 {
        Some("unique local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped `::ffff:a.b.c.d`,
/// IPv4-compatible `::a.b.c.d` (but not `::` and `::1`), NAT64 `64:ff9b::a.b.c.d` and 6to4
/// `2002:AABB:CCDD::`.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range_of(text: &str) -> Option<&'static str> {
        forbidden_range(text.parse().unwrap())
    }

    #[test]
    fn forbidden_ranges_are_named() {
        for (address, range) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.127.255.254", "carrier-grade NAT"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("240.0.0.1", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.1.2.3", "private"),
            ("::127.0.0.1", "loopback"),
            ("64:ff9b::a00:1", "private"),
            ("2002:c0a8:101::1", "private"),
        ] {
            assert_eq!(range_of(address), Some(range), "{address}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for address in [
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "169.255.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert_eq!(range_of(address), None, "{address}");
            assert!(AddressPolicy::default()
                .check(address.parse().unwrap())
                .is_ok());
        }
    }

    #[test]
    fn the_allow_list_lets_covered_addresses_through_and_nothing_else() {
        let policy =
            AddressPolicy::allowing(["127.0.0.1/32".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        assert!(policy.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(policy.check("::ffff:127.0.0.1".parse().unwrap()).is_ok());
        assert!(policy.check("fd00::5".parse().unwrap()).is_ok());
        assert_eq!(
            policy.check("127.0.0.2".parse().unwrap()),
            Err(ForbiddenAddress {
                address: "127.0.0.2".parse().unwrap(),
                range: "loopback"
            })
        );
        assert!(policy.check("10.0.0.1".parse().unwrap()).is_err());
        assert!(policy.check("fc00::1".parse().unwrap()).is_err());
    }
}
