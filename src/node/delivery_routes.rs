//! How each account's receipts and MOs leave the node: a push client of its own, or its SMPP
//! binds.

use std::sync::Arc;

use smsgw_http::{AddressPolicy, PushClient, PushConfig, PushTarget};

use super::StartError;
use crate::{
    config::Account,
    delivery::{DeliveryRoute, PushRoute},
};

/// How an account's receipts and MOs leave: its push URL when it has one, else SMPP. Each
/// pushing account gets its own client, so connection pools and request slots are its own.
pub(super) fn delivery_route(
    account: &Account,
    registry: &Arc<smsgw_smpp::Registry>,
) -> Result<DeliveryRoute, StartError> {
    let Some(push) = &account.push else {
        return Ok(DeliveryRoute::Smpp(registry.clone()));
    };
    let unusable = |e: &dyn std::fmt::Display| {
        StartError::Unsupported(format!("account {}: push: {e}", account.system_id))
    };
    let secret = push.signing_secret.as_ref().map(|s| s.expose().to_owned());
    let target =
        PushTarget::new(&push.url, push.format, secret.as_deref()).map_err(|e| unusable(&e))?;
    let client = PushClient::new(PushConfig {
        connect_timeout: push.connect_timeout,
        timeout: push.timeout,
        max_idle_connections: push.max_idle_connections as usize,
        idle_timeout: push.idle_timeout,
        addresses: AddressPolicy::allowing(push.allow_private_targets.iter().copied()),
    })
    .map_err(|e| unusable(&e))?;
    Ok(DeliveryRoute::Push(Arc::new(PushRoute::new(
        client,
        target,
        push.concurrency as usize,
    ))))
}
