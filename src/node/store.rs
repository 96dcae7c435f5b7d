//! The store a node runs on: the embedded redb file, or Redis (a URL, or Sentinels that name
//! the primary), with the certificates of its TLS connections read and checked at start.

use std::{path::Path, sync::Arc};

use redis::{ClientTlsConfig, TlsCertificates};

use super::StartError;
use crate::{
    config::{RedisSentinel, StoreTls, Secret, StoreConfig},
    edge::tls::{self, TlsError},
    store::{EmbeddedStore, RedisServers, RedisStore, RedisTarget, Store},
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

/// The PEM files of `[store.redis]`'s `tls_ca`, `tls_cert` and `tls_key`, checked now so a
/// file that is not what it should be stops the start with its name (rather than every
/// connection failing later); `None` when none is set.
fn redis_certificates(files: &StoreTls) -> Result<Option<TlsCertificates>, StartError> {
    let unusable = |error| StartError::Tls {
        context: "[store.redis]".into(),
        error: Box::new(error),
    };
    let pem = |path: &Path| {
        std::fs::read(path).map_err(|error| {
            unusable(TlsError::Read {
                path: path.to_owned(),
                error,
            })
        })
    };
    let root_cert = match &files.ca {
        Some(ca) => {
            tls::trusted_roots(Some(ca.as_path())).map_err(unusable)?;
            Some(pem(ca)?)
        }
        None => None,
    };
    let client_tls = match &files.client {
        Some((cert, key)) => {
            tls::load_certificates(cert).map_err(unusable)?;
            tls::load_private_key(key).map_err(unusable)?;
            Some(ClientTlsConfig {
                client_cert: pem(cert)?,
                client_key: pem(key)?,
            })
        }
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
    })
}
