//! Reads the PROXY protocol header (v2, or v1 text) a balancer such as haproxy
//! (`send-proxy-v2`) writes before the client's bytes, and gives the client's address from it.
//!
//! Parsing is the `ppp` crate's; what is ours is reading exactly the header's bytes off the
//! stream and no more (the bytes after it belong to TLS, SMPP or HTTP), bounded: a v2 header
//! may declare up to 64 KiB of addresses and TLVs, we read at most [`MAX_V2_BODY`]; a v1 line
//! is at most [`MAX_V1_LINE`] bytes by the specification. The caller bounds the time.
//!
//! A header that says LOCAL (v2, a balancer's own health check) or UNKNOWN (v1) or carries a
//! non-IP family gives no client address: the socket peer stands.

use std::net::SocketAddr;

use ppp::{v1, v2};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The v2 signature, the first 12 bytes of every v2 header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The fixed part of a v2 header: signature, version/command, family, length.
const V2_FIXED: usize = 16;
/// Largest v2 address block + TLVs read: the IPv6 addresses (36 bytes), a Unix pair (216),
/// and room for the TLVs haproxy sends (ALPN, authority, unique id, SSL details).
pub const MAX_V2_BODY: usize = 1024;
/// Longest v1 line, CRLF included (the specification's bound).
pub const MAX_V1_LINE: usize = 107;
/// A v1 header starts with these bytes.
const V1_PREFIX: &[u8; 6] = b"PROXY ";

/// Why a connection's PROXY header was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    #[error("connection closed or failed before the PROXY header was complete: {0}")]
    Io(#[from] std::io::Error),
    #[error("no PROXY protocol header (expected one from a trusted proxy)")]
    Missing,
    #[error("PROXY v2 header declares {0} bytes of addresses and TLVs, more than {MAX_V2_BODY}")]
    TooLong(usize),
    #[error("PROXY v1 line longer than {MAX_V1_LINE} bytes")]
    LineTooLong,
    #[error("malformed PROXY header: {0}")]
    Malformed(String),
}

/// Reads one PROXY header from the start of `stream` and returns the client address it
/// names, or `peer` when it names none; the stream is left at the first byte after it.
pub async fn read_client_address<S>(
    stream: &mut S,
    peer: SocketAddr,
) -> Result<SocketAddr, ProxyHeaderError>
where
    S: AsyncRead + Unpin,
{
    // Both signatures share no prefix longer than 0 bytes, so six bytes tell them apart and
    // are part of either header (the shortest v1 line is 15 bytes).
    let mut start = [0u8; V1_PREFIX.len()];
    stream.read_exact(&mut start).await?;
    if &start == V1_PREFIX {
        read_v1(stream, start)
            .await
            .map(|found| found.unwrap_or(peer))
    } else if start == V2_SIGNATURE[..start.len()] {
        read_v2(stream, start)
            .await
            .map(|found| found.unwrap_or(peer))
    } else {
        Err(ProxyHeaderError::Missing)
    }
}

async fn read_v2<S>(
    stream: &mut S,
    start: [u8; V1_PREFIX.len()],
) -> Result<Option<SocketAddr>, ProxyHeaderError>
where
    S: AsyncRead + Unpin,
{
    let mut header = Vec::with_capacity(V2_FIXED + 36);
    header.extend_from_slice(&start);
    header.resize(V2_FIXED, 0);
    stream.read_exact(&mut header[start.len()..]).await?;
    if header[..V2_SIGNATURE.len()] != V2_SIGNATURE[..] {
        return Err(ProxyHeaderError::Missing);
    }
    let declared = usize::from(u16::from_be_bytes([header[14], header[15]]));
    if declared > MAX_V2_BODY {
        return Err(ProxyHeaderError::TooLong(declared));
    }
    header.resize(V2_FIXED + declared, 0);
    stream.read_exact(&mut header[V2_FIXED..]).await?;
    let parsed = v2::Header::try_from(header.as_slice())
        .map_err(|error| ProxyHeaderError::Malformed(error.to_string()))?;
    if parsed.command == v2::Command::Local {
        return Ok(None);
    }
    Ok(match parsed.addresses {
        v2::Addresses::IPv4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v2::Addresses::IPv6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v2::Addresses::Unspecified | v2::Addresses::Unix(_) => None,
    })
}

async fn read_v1<S>(
    stream: &mut S,
    start: [u8; V1_PREFIX.len()],
) -> Result<Option<SocketAddr>, ProxyHeaderError>
where
    S: AsyncRead + Unpin,
{
    // Byte by byte: the line's length is only known at its CRLF, and reading ahead would
    // take bytes that belong to the protocol after it. At most 107 reads, once per connection.
    let mut line = Vec::with_capacity(MAX_V1_LINE);
    line.extend_from_slice(&start);
    while !line.ends_with(b"\r\n") {
        if line.len() >= MAX_V1_LINE {
            return Err(ProxyHeaderError::LineTooLong);
        }
        line.push(stream.read_u8().await?);
    }
    let parsed = v1::Header::try_from(line.as_slice())
        .map_err(|error| ProxyHeaderError::Malformed(error.to_string()))?;
    Ok(match parsed.addresses {
        v1::Addresses::Tcp4(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v1::Addresses::Tcp6(a) => Some(SocketAddr::from((a.source_address, a.source_port))),
        v1::Addresses::Unknown => None,
    })
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;
    use tokio::io::AsyncReadExt;

    use super::*;

    fn peer() -> SocketAddr {
        "10.0.0.1:40000".parse().unwrap()
    }

    /// A v2 PROXY header for `client` -> `server`, as haproxy writes it, with `tlv_bytes` of
    /// NOOP TLV.
    pub(crate) fn v2_header(client: SocketAddr, server: SocketAddr, tlv_bytes: usize) -> Vec<u8> {
        let mut builder = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Proxy,
            v2::Protocol::Stream,
            (client, server),
        );
        if tlv_bytes > 0 {
            builder = builder
                .write_tlv(v2::Type::NoOp, &vec![0u8; tlv_bytes])
                .unwrap();
        }
        builder.build().unwrap()
    }

    fn v1_header(client: SocketAddr, server: SocketAddr) -> Vec<u8> {
        let family = if client.is_ipv4() { "TCP4" } else { "TCP6" };
        format!(
            "PROXY {family} {} {} {} {}\r\n",
            client.ip(),
            server.ip(),
            client.port(),
            server.port()
        )
        .into_bytes()
    }

    fn run<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    /// Parses `bytes` followed by `after`; returns the result and what is left to read.
    fn parse(bytes: &[u8], after: &[u8]) -> (Result<SocketAddr, ProxyHeaderError>, Vec<u8>) {
        let mut input: Vec<u8> = bytes.to_vec();
        input.extend_from_slice(after);
        run(async move {
            let mut stream = input.as_slice();
            let result = read_client_address(&mut stream, peer()).await;
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).await.unwrap();
            (result, rest)
        })
    }

    fn socket_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<u32>(), any::<u16>())
                .prop_map(|(ip, port)| { SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port) }),
            (any::<u128>(), any::<u16>())
                .prop_map(|(ip, port)| { SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port) }),
        ]
    }

    proptest! {
        #[test]
        fn a_v2_header_gives_its_source_and_leaves_the_next_bytes(
            client in socket_addr(),
            tlv in 0usize..200,
            after in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let server = if client.is_ipv4() { "192.0.2.1:2775" } else { "[2001:db8::1]:2775" };
            let header = v2_header(client, server.parse().unwrap(), tlv);
            let (found, rest) = parse(&header, &after);
            prop_assert_eq!(found.unwrap(), client);
            prop_assert_eq!(rest, after);
        }

        #[test]
        fn a_v1_header_gives_its_source_and_leaves_the_next_bytes(
            client in socket_addr(),
            after in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let server = if client.is_ipv4() { "192.0.2.1:80" } else { "[2001:db8::1]:80" };
            let header = v1_header(client, server.parse().unwrap());
            let (found, rest) = parse(&header, &after);
            prop_assert_eq!(found.unwrap(), client);
            prop_assert_eq!(rest, after);
        }

        /// Whatever a client sends, the reader answers without panicking and never consumes
        /// more than the longest header it accepts.
        #[test]
        fn any_bytes_are_answered_without_panic_or_over_reading(
            input in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let (_, rest) = parse(&input, &[]);
            let consumed = input.len() - rest.len();
            prop_assert!(consumed <= V2_FIXED + MAX_V2_BODY);
        }

        /// Mangled real headers: any single byte changed in a valid v2 header.
        #[test]
        fn a_corrupted_v2_header_is_refused_or_read_within_its_length(
            client in socket_addr(),
            position in 0usize..52,
            value in any::<u8>(),
        ) {
            let mut header = v2_header(client, "192.0.2.1:2775".parse().unwrap(), 0);
            let position = position % header.len();
            header[position] = value;
            let (_, rest) = parse(&header, b"PDU");
            prop_assert!(rest.len() <= 3 + header.len());
        }
    }

    #[test]
    fn no_header_is_refused() {
        let (found, _) = parse(b"\x00\x00\x00\x10\x00\x00\x00\x15", &[]);
        assert!(matches!(found, Err(ProxyHeaderError::Missing)), "{found:?}");
        let (found, _) = parse(b"GET / HTTP/1.1\r\n\r\n", &[]);
        assert!(matches!(found, Err(ProxyHeaderError::Missing)), "{found:?}");
    }

    #[test]
    fn an_oversized_v2_header_is_refused_before_its_body_is_read() {
        let mut header = v2_header(peer(), "192.0.2.1:2775".parse().unwrap(), 0);
        header[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        let (found, rest) = parse(&header, b"rest");
        assert!(
            matches!(found, Err(ProxyHeaderError::TooLong(65535))),
            "{found:?}"
        );
        // Only the fixed part was read.
        assert_eq!(rest.len(), header.len() - V2_FIXED + 4);
    }

    #[test]
    fn an_endless_v1_line_is_refused_at_the_specification_bound() {
        let line = [b"PROXY TCP4 ".as_slice(), &[b'1'; 500]].concat();
        let (found, rest) = parse(&line, &[]);
        assert!(
            matches!(found, Err(ProxyHeaderError::LineTooLong)),
            "{found:?}"
        );
        assert_eq!(rest.len(), line.len() - MAX_V1_LINE);
    }

    #[test]
    fn a_truncated_header_is_an_io_error() {
        let header = v2_header(peer(), "192.0.2.1:2775".parse().unwrap(), 0);
        let (found, _) = parse(&header[..20], &[]);
        assert!(matches!(found, Err(ProxyHeaderError::Io(_))), "{found:?}");
    }

    #[test]
    fn local_and_unknown_headers_keep_the_socket_peer() {
        let local = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Local,
            v2::Protocol::Unspecified,
            v2::Addresses::Unspecified,
        )
        .build()
        .unwrap();
        assert_eq!(parse(&local, &[]).0.unwrap(), peer());
        assert_eq!(parse(b"PROXY UNKNOWN\r\n", &[]).0.unwrap(), peer());
    }
}
