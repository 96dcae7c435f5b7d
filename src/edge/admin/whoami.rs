//! `GET /admin/whoami` (role `admin`): the caller's user and role, for the CLI to check its
//! credentials, and proof that the admin role is enforced.

use axum::{routing::get, Json, Router};
use serde::Serialize;

use super::AdminPrincipal;

/// The body of `GET /admin/whoami`.
#[derive(Debug, Serialize)]
pub struct WhoAmI {
    pub user: String,
    pub role: &'static str,
}

/// `GET /admin/whoami`; give it to [`super::AdminRoutes::admin`].
pub fn router() -> Router {
    Router::new().route(
        "/admin/whoami",
        get(|caller: AdminPrincipal| async move {
            Json(WhoAmI {
                user: caller.name,
                role: caller.role.as_str(),
            })
        }),
    )
}
