//! The operators' listener (`[admin]`): routes that name customers and carriers (`/metrics`,
//! `/cluster`) and the admin API, apart from the public ports and behind HTTP Basic users
//! with a role ([`crate::config::AdminRole`]).
//!
//! [`AdminRoutes`] is the merge point: each part of the gateway hands it routes with the role
//! they need (`read` routes: GET what the gateway does; `admin` routes: change it), and
//! [`AdminRoutes::into_router`] puts the role check ([`gate::guard`]) in front of each. A handler
//! reads who called with the [`AdminPrincipal`] extractor. To add admin API routes:
//!
//! ```ignore
//! let routes = AdminRoutes::default()
//!     .read(smsgw_http::ops::metrics_router(metrics))
//!     .admin(Router::new().route("/admin/accounts", get(list_accounts)).with_state(state));
//! let router = routes.into_router(Arc::new(AdminAuth::new(&config.admin, &config.auth)));
//! ```
//!
//! With no users configured, `read` routes are open (the config check allows that on a
//! loopback address only) and `admin` routes answer 403 naming `[[admin.users]]`.

pub mod gate;
pub mod whoami;

use std::sync::Arc;

use axum::Router;

use crate::config::AdminRole;
pub use gate::{AdminAuth, AdminPrincipal};

/// Routes of the admin listener by the role they need. See the module documentation.
#[derive(Default)]
pub struct AdminRoutes {
    /// `None` until routes are added (axum refuses a route layer on no routes).
    read: Option<Router>,
    admin: Option<Router>,
}

impl AdminRoutes {
    /// Adds routes a `read` user (or `admin`) may use.
    pub fn read(mut self, routes: Router) -> Self {
        self.read = Some(self.read.unwrap_or_default().merge(routes));
        self
    }

    /// Adds routes only an `admin` user may use.
    pub fn admin(mut self, routes: Router) -> Self {
        self.admin = Some(self.admin.unwrap_or_default().merge(routes));
        self
    }

    /// One router: each route behind its role's check, a JSON 404 for unknown paths.
    pub fn into_router(self, auth: Arc<AdminAuth>) -> Router {
        let guarded = [(self.read, AdminRole::Read), (self.admin, AdminRole::Admin)]
            .into_iter()
            .filter_map(|(routes, needed)| Some(gate::guard(routes?, auth.clone(), needed)));
        guarded
            .fold(Router::new(), Router::merge)
            .fallback(smsgw_http::app::not_found)
    }
}
