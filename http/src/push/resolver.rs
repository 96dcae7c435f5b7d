//! `GuardedResolver`: the DNS resolver of the push client. It resolves like the system does
//! (`getaddrinfo`, so `/etc/hosts` and nsswitch apply, as with reqwest's default) and hands
//! reqwest only the addresses the [`AddressPolicy`] allows. reqwest connects only to what its
//! resolver returns, so the check is made on the address actually connected to, and a name
//! that resolves to a public address first and to 127.0.0.1 a moment later (DNS rebinding)
//! is checked again on every new connection.
//!
//! reqwest does not call a resolver for IP literals; [`PushClient`](super::PushClient)
//! checks those itself.

use std::{net::SocketAddr, sync::Arc};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{AddressPolicy, ForbiddenAddress};

/// Every address a push host resolved to is forbidden.
#[derive(Debug, thiserror::Error)]
#[error("push host {host} resolves only to refused addresses: {refused}")]
pub struct RefusedHost {
    /// The host name looked up.
    pub host: String,
    /// The first address refused, and why.
    pub refused: ForbiddenAddress,
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl GuardedResolver {
    pub(crate) fn new(policy: Arc<AddressPolicy>) -> GuardedResolver {
        GuardedResolver { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            // The port is replaced by the URL's when connecting.
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let (allowed, refused) = allowed_addresses(&policy, resolved);
            match (allowed.is_empty(), refused) {
                (true, Some(refused)) => Err(Box::new(RefusedHost { host, refused }) as _),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// The addresses `policy` allows, in their order, and the first one it refused.
fn allowed_addresses(
    policy: &AddressPolicy,
    resolved: impl IntoIterator<Item = SocketAddr>,
) -> (Vec<SocketAddr>, Option<ForbiddenAddress>) {
    let mut allowed = Vec::new();
    let mut refused = None;
    for address in resolved {
        match policy.check(address.ip()) {
            Ok(()) => allowed.push(address),
            Err(forbidden) => {
                refused.get_or_insert(forbidden);
            }
        }
    }
    (allowed, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_addresses_are_dropped_and_the_first_is_reported() {
        let resolved: Vec<SocketAddr> = ["10.0.0.1:0", "93.184.216.34:0", "127.0.0.1:0"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let (allowed, refused) = allowed_addresses(&AddressPolicy::default(), resolved);
        assert_eq!(allowed, ["93.184.216.34:0".parse().unwrap()]);
        assert_eq!(refused.unwrap().range, "private");
    }

    #[tokio::test]
    async fn localhost_is_refused_unless_allowed() {
        let refusing = GuardedResolver::new(Arc::default());
        let error = match refusing.resolve("localhost".parse().unwrap()).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(error) => error,
        };
        let refused = error.downcast_ref::<RefusedHost>().expect("a RefusedHost");
        assert_eq!(refused.host, "localhost");
        assert_eq!(refused.refused.range, "loopback");

        let allowing = GuardedResolver::new(Arc::new(AddressPolicy::allowing([
            "127.0.0.0/8".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ])));
        let addrs: Vec<_> = allowing
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
