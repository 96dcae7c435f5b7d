//! Hostname resolution for [`EndpointSource::Resolved`](super::EndpointSource): every A and
//! AAAA address from hickory, kept for the smallest TTL of those records on tokio's clock (so
//! paused-clock tests see it expire), and asked again only then.
//!
//! hickory's own cache is switched off and cleared before each lookup: it runs on the
//! standard clock, and a second cache would serve an old answer past our TTL. When a new
//! lookup fails, the previous addresses are used (and the lookup repeated on the next
//! request) rather than sending nowhere.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RecordType;
use hickory_resolver::TokioResolver;
use tokio::time::Instant;

use super::NameServers;

/// A hostname could not be resolved and no earlier answer is known.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve {host}: {reason}")]
pub struct DnsError {
    /// The hostname.
    pub host: String,
    /// What the resolver said.
    pub reason: String,
}

struct Answer {
    addresses: Vec<IpAddr>,
    valid_until: Instant,
}

/// A resolver with a TTL cache on tokio's clock.
pub(crate) struct TtlResolver {
    resolver: TokioResolver,
    answers: Mutex<HashMap<String, Answer>>,
}

impl TtlResolver {
    pub(crate) fn new(name_servers: &NameServers) -> Result<TtlResolver, DnsError> {
        let build_error = |reason: String| DnsError {
            host: String::new(),
            reason,
        };
        let mut builder = match name_servers {
            NameServers::System => TokioResolver::builder_tokio()
                .map_err(|e| build_error(format!("system DNS configuration: {e}")))?,
            NameServers::Udp(servers) => {
                let mut config = ResolverConfig::from_parts(None, vec![], vec![]);
                for server in servers {
                    let mut name_server = NameServerConfig::udp(server.ip());
                    for connection in &mut name_server.connections {
                        connection.port = server.port();
                    }
                    config.add_name_server(name_server);
                }
                let mut builder =
                    TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
                builder.options_mut().use_hosts_file = ResolveHosts::Never;
                builder
            }
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        options.cache_size = 0;
        let resolver = builder
            .build()
            .map_err(|e| build_error(format!("resolver set-up: {e}")))?;
        Ok(TtlResolver {
            resolver,
            answers: Mutex::new(HashMap::new()),
        })
    }

    /// Every address of `host`, from the cache while its TTL lasts.
    pub(crate) async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        let now = Instant::now();
        let previous = {
            let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
            match answers.get(host) {
                Some(answer) if now < answer.valid_until => return Ok(answer.addresses.clone()),
                Some(answer) => Some(answer.addresses.clone()),
                None => None,
            }
        };
        self.resolver.clear_cache();
        let lookup = match self.resolver.lookup_ip(host).await {
            Ok(lookup) => lookup,
            Err(error) => {
                return match previous {
                    Some(addresses) if !addresses.is_empty() => {
                        tracing::warn!(%host, %error, "DNS lookup failed; using the previous answer");
                        Ok(addresses)
                    }
                    _ => Err(DnsError {
                        host: host.to_owned(),
                        reason: error.to_string(),
                    }),
                };
            }
        };
        let ttl = smallest_address_ttl(
            lookup
                .as_lookup()
                .answers()
                .iter()
                .map(|record| (record.record_type(), record.ttl)),
        );
        let mut addresses: Vec<IpAddr> = Vec::new();
        for address in lookup.iter() {
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
        tracing::debug!(%host, ?addresses, ?ttl, "resolved");
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                host.to_owned(),
                Answer {
                    addresses: addresses.clone(),
                    valid_until: Instant::now() + ttl,
                },
            );
        Ok(addresses)
    }
}

/// The smallest TTL among A and AAAA records (a CNAME's TTL does not bound the addresses);
/// zero when there are none.
fn smallest_address_ttl(records: impl Iterator<Item = (RecordType, u32)>) -> Duration {
    let seconds = records
        .filter(|(kind, _)| matches!(kind, RecordType::A | RecordType::AAAA))
        .map(|(_, ttl)| ttl)
        .min()
        .unwrap_or(0);
    Duration::from_secs(u64::from(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_address_ttl_bounds_the_answer() {
        let records = [
            (RecordType::CNAME, 5),
            (RecordType::A, 300),
            (RecordType::AAAA, 60),
        ];
        assert_eq!(
            smallest_address_ttl(records.into_iter()),
            Duration::from_secs(60)
        );
        assert_eq!(smallest_address_ttl(std::iter::empty()), Duration::ZERO);
    }
}
