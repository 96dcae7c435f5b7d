//! The store a node runs on: the embedded redb file, or Redis (a URL, or Sentinels that name
//! the primary).

use std::sync::Arc;

use super::StartError;
use crate::{
    config::{RedisSentinel, Secret, StoreConfig},
    store::{EmbeddedStore, RedisStore, RedisTarget, Store},
};

/// Where the Redis store connects: the configured URL, or the Sentinels (the URL then only
/// carries the primary's credentials and database).
fn redis_target(url: &Secret, sentinel: Option<&RedisSentinel>) -> RedisTarget {
    match sentinel {
        None => RedisTarget::Url(url.expose().to_owned()),
        Some(sentinel) => RedisTarget::Sentinel {
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
        } => {
            let target = redis_target(url, sentinel.as_ref());
            RedisStore::connect_with_lease(target, key_prefix, *wait_replicas, *lease).await?
        }
    })
}
