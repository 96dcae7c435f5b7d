//! Nodes and sites: each node heartbeats into the store with a lease (default 10 s), telling
//! what it serves; `GET /cluster` lists the live nodes, their sites and roles, client binds per account,
//! carrier binds per connector, and the shared queue and outbox depths.

use std::{sync::Arc, time::Duration};

use axum::{extract::State, routing::get, Json, Router};
use serde::Serialize;
use smsgw_smpp::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::{
    message::now_ms,
    store::{NodeInfo, Store},
    upstream::Connector,
};

/// How long a heartbeat keeps a node listed; it is renewed every third of that.
pub const NODE_LEASE: Duration = Duration::from_secs(10);

/// What this node reports about itself.
#[derive(Clone)]
pub struct ThisNode {
    pub node_id: String,
    pub site: String,
    pub started_ms: u64,
    pub registry: Arc<Registry>,
    pub connectors: Vec<Arc<Connector>>,
    /// The roles that do not change while it runs (listeners, simulator).
    pub fixed_roles: Vec<String>,
}

impl ThisNode {
    fn info(&self) -> NodeInfo {
        let mut roles = self.fixed_roles.clone();
        if self.connectors.iter().any(|c| c.binds_up() > 0) {
            roles.push("carrier".into());
        }
        NodeInfo {
            roles,
            node_id: self.node_id.clone(),
            site: self.site.clone(),
            started_ms: self.started_ms,
            last_seen_ms: now_ms(),
            client_binds: self.registry.accounts(),
            carrier_binds: self
                .connectors
                .iter()
                .map(|c| (c.name().to_owned(), c.binds_up()))
                .collect(),
        }
    }
}

/// Heartbeats until `stop` is cancelled.
pub fn spawn_heartbeat(
    store: Arc<dyn Store>,
    node: ThisNode,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(err) = store.heartbeat(&node.info(), NODE_LEASE).await {
                warn!(%err, "heartbeat failed");
            }
            tokio::select! {
                () = tokio::time::sleep(NODE_LEASE / 3) => {}
                () = stop.cancelled() => return,
            }
        }
    })
}

/// The body of `GET /cluster`.
#[derive(Debug, Serialize)]
pub struct ClusterView {
    pub nodes: Vec<NodeInfo>,
    pub queue_depths: Vec<(String, usize)>,
    pub outbox_depths: Vec<(String, usize)>,
}

/// `GET /cluster`, for the admin listener (it names nodes, accounts and connectors).
pub fn router(store: Arc<dyn Store>) -> Router {
    Router::new()
        .route("/cluster", get(cluster))
        .with_state(store)
}

async fn cluster(
    State(store): State<Arc<dyn Store>>,
) -> Result<Json<ClusterView>, (axum::http::StatusCode, String)> {
    let unavailable = |err: crate::store::StoreError| {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {err}"),
        )
    };
    Ok(Json(ClusterView {
        nodes: store.nodes().await.map_err(unavailable)?,
        queue_depths: store.queue_depths().await.map_err(unavailable)?,
        outbox_depths: store.outbox_depths().await.map_err(unavailable)?,
    }))
}
