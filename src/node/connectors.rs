//! A carrier connector's settings from its configuration: endpoints (over TLS when the
//! connector has a `tls` table), windows, timeouts, and the rebind floor.

use smsgw_smpp::pool::{Endpoint, MIN_REBIND_DELAY};
use tokio_rustls::TlsConnector;

use super::StartError;
use crate::{
    config::ConnectorConfig,
    edge::tls::{self, TlsError},
    upstream::ConnectorSettings,
};

/// A carrier endpoint, over TLS (verified against the host of `host:port`) when the
/// connector has a `tls` table.
fn endpoint(address: &str, tls: Option<&TlsConnector>) -> Result<Endpoint, TlsError> {
    let tls = match tls {
        Some(connector) => Some((connector.clone(), tls::server_name(address)?)),
        None => None,
    };
    Ok(Endpoint {
        address: address.to_owned(),
        tls,
    })
}

pub(super) fn connector_settings(
    connector: &ConnectorConfig,
) -> Result<ConnectorSettings, StartError> {
    let tls_error = |error| StartError::Tls {
        context: format!("connector {}", connector.name),
        error: Box::new(error),
    };
    let tls = match &connector.tls {
        Some(tls) => Some(TlsConnector::from(
            tls::client_config(tls.ca.as_deref()).map_err(tls_error)?,
        )),
        None => None,
    };
    let endpoints = connector
        .endpoints
        .iter()
        .map(|address| endpoint(address, tls.as_ref()))
        .collect::<Result<_, _>>()
        .map_err(tls_error)?;
    Ok(ConnectorSettings {
        name: connector.name.clone(),
        endpoints,
        binds_per_endpoint: connector.binds.max(1) as usize,
        system_id: connector.system_id.clone(),
        password: connector.password.clone(),
        system_type: connector.system_type.clone(),
        receipt_id_format: connector.receipt_id_format,
        window: connector.window.max(1) as usize,
        inbound_window: connector.inbound_window.max(1) as usize,
        throughput: connector.throughput.and_then(std::num::NonZeroU32::new),
        response_timeout: connector.response_timeout,
        enquire_link_interval: connector.enquire_link_interval,
        rebind_delay: connector.rebind_delay.max(MIN_REBIND_DELAY),
        fallback_after: connector.fallback_after,
        dr_timeout: connector.dr_timeout,
    })
}
