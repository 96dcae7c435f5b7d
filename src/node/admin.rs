//! The operators' listener of a node (`[admin]`): the gateway's read routes (`/metrics`,
//! `/cluster`) and admin routes (`/admin/whoami`) through [`AdminRoutes`], served by the same
//! HTTP server as the public listeners (timeouts, connection caps, TLS when configured).

use std::{net::SocketAddr, sync::Arc};

use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::{
    listeners::{acceptor as tls_acceptor, addressing, http_listener, listen_at},
    StartError,
};
use crate::{
    config::{AdminSettings, Config, TlsListener},
    edge::{
        admin::{whoami, AdminAuth, AdminRoutes},
        TrustedProxies,
    },
    store::Store,
};

/// The listener's TLS acceptor when `[admin]` has a certificate (checked before anything
/// starts, as the other listeners' are).
pub(super) fn acceptor(admin: &AdminSettings) -> Result<Option<TlsAcceptor>, StartError> {
    let Some(tls) = &admin.tls else {
        return Ok(None);
    };
    let listener = TlsListener {
        address: admin.listen,
        cert: tls.cert.clone(),
        key: tls.key.clone(),
    };
    tls_acceptor(&listener, "admin").map(Some)
}

/// What every node serves to operators; add the admin API with [`AdminRoutes::admin`].
pub(super) fn routes(store: Arc<dyn Store>) -> AdminRoutes {
    let metrics = super::metrics::metrics_handle();
    AdminRoutes::default()
        .read(smsgw_http::ops::metrics_router(Arc::new(move || {
            metrics.render()
        })))
        .read(super::cluster::router(store))
        .admin(whoami::router())
}

/// Binds `[admin] listen` and serves `routes` there until `stop`; its real address and task.
pub(super) async fn start(
    config: &Config,
    tls: Option<TlsAcceptor>,
    routes: AdminRoutes,
    trusted: &Arc<TrustedProxies>,
    stop: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    let edge = &config.listeners.edge;
    let auth = Arc::new(AdminAuth::new(&config.admin, &config.auth));
    let (listener, address) = listen_at(config.admin.listen).await?;
    let https = tls.is_some();
    let task = tokio::spawn(crate::edge::http_server::serve(
        listener,
        http_listener(edge, addressing(edge, trusted, "admin", false), tls),
        routes.into_router(auth),
        stop,
    ));
    let users = config.admin.users.len();
    info!(%address, https, users, "admin listening (/metrics, /cluster, /admin)");
    Ok((address, task))
}
