//! The store a node runs on: the embedded redb file, Redis (a URL, or Sentinels that name
//! the primary), or a NATS JetStream cluster, with the certificates of its TLS connections
//! read and checked at start.

use std::{path::Path, sync::Arc};

use redis::{ClientTlsConfig, TlsCertificates};

use super::StartError;
use crate::{
    config::{RedisSentinel, Secret, StoreConfig, StoreTls},
    edge::tls::{self, TlsError},
    store::{
        EmbeddedStore, NatsStore, NatsTarget, NatsTls, RedisServers, RedisStore, RedisTarget, Store,
    },
};

/// Where the Redis store connects: the configured URL, or the Sentinels (the URL then only
/// carries the primary's credentials and database).
fn redis_servers(url: &Secret, sentinel: Option<&RedisSentinel>) -> RedisServers {
    match sentinel {
        None => RedisServers::Url(url.expose().to_owned()),
        Some(sentinel) => RedisServers::Sentinel {
            sentinels: sentinel
                .addresses
                .iter()
                .map(|address| address.expose().to_owned())
                .collect(),
            master_name: sentinel.master_name.clone(),
            primary_url: Some(url.expose().to_owned()).filter(|url| !url.is_empty()),
        },
    }
}

/// Checks the certificate files of a store's TLS settings now, so a file that is not what it
/// should be stops the start with its name (rather than every connection failing later).
fn check_certificates(files: &StoreTls, context: &str) -> Result<(), StartError> {
    let unusable = |error| StartError::Tls {
        context: context.into(),
        error: Box::new(error),
    };
    if let Some(ca) = &files.ca {
        tls::trusted_roots(Some(ca.as_path())).map_err(unusable)?;
    }
    if let Some((cert, key)) = &files.client {
        tls::load_certificates(cert).map_err(unusable)?;
        tls::load_private_key(key).map_err(unusable)?;
    }
    Ok(())
}

/// The PEM files of `[store.redis]`'s `tls_ca`, `tls_cert` and `tls_key`, checked, as the
/// `redis` crate takes them; `None` when none is set.
fn redis_certificates(files: &StoreTls) -> Result<Option<TlsCertificates>, StartError> {
    const CONTEXT: &str = "[store.redis]";
    check_certificates(files, CONTEXT)?;
    let pem = |path: &Path| {
        std::fs::read(path).map_err(|error| StartError::Tls {
            context: CONTEXT.into(),
            error: Box::new(TlsError::Read {
                path: path.to_owned(),
                error,
            }),
        })
    };
    let root_cert = files.ca.as_deref().map(pem).transpose()?;
    let client_tls = match &files.client {
        Some((cert, key)) => Some(ClientTlsConfig {
            client_cert: pem(cert)?,
            client_key: pem(key)?,
        }),
        None => None,
    };
    Ok(
        (root_cert.is_some() || client_tls.is_some()).then_some(TlsCertificates {
            client_tls,
            root_cert,
        }),
    )
}

/// Opens the configured store.
pub(super) async fn open_store(config: &StoreConfig) -> Result<Arc<dyn Store>, StartError> {
    Ok(match config {
        StoreConfig::Embedded { path } => EmbeddedStore::open(path)?,
        StoreConfig::Redis {
            url,
            sentinel,
            wait_replicas,
            key_prefix,
            lease,
            tls,
        } => {
            let target = RedisTarget {
                servers: redis_servers(url, sentinel.as_ref()),
                tls: redis_certificates(tls)?,
            };
            RedisStore::connect_with_lease(target, key_prefix, *wait_replicas, *lease).await?
        }
        StoreConfig::Nats {
            servers,
            namespace,
            replicas,
            shards,
            pinned,
            lease,
            credentials,
            tls,
        } => {
            check_certificates(tls, "[store.nats]")?;
            let target = NatsTarget {
                servers: servers.clone(),
                namespace: namespace.clone(),
                replicas: *replicas as usize,
                shards: *shards as usize,
                pinned: pinned
                    .iter()
                    .map(|(connector, shard)| (connector.clone(), *shard as usize))
                    .collect(),
                lease: *lease,
                credentials: credentials
                    .as_ref()
                    .map(|(user, password)| (user.clone(), password.expose().to_owned())),
                tls: NatsTls {
                    ca: tls.ca.clone(),
                    client: tls.client.clone(),
                },
            };
            NatsStore::connect(&target).await?
        }
    })
}
