//! The admin listener's check in front of each route: HTTP Basic against `[[admin.users]]`
//! through the same [`Authenticator`] accounts use (bounded argon2, cache of successes,
//! lockout of failing (address, user) pairs), then the route's role.
//!
//! - no users configured: a `read` route passes as [`AdminPrincipal::anonymous`]; an `admin`
//!   route is 403 naming the missing `[[admin.users]]`;
//! - no or malformed credentials, unknown user, wrong password, locked out: 401 with
//!   `WWW-Authenticate: Basic`; every password verifier busy: 503 with `Retry-After`;
//! - a user whose role is below the route's: 403 naming both roles.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{FromRequestParts, Request, State},
    http::{request::Parts, HeaderMap},
    middleware::Next,
    response::{IntoResponse, Response},
    Router,
};
use smsgw_http::{ApiError, ClientAddr};
use tracing::info;

use crate::{
    auth::{Attempt, AuthError, Authenticator, BUSY_RETRY_AFTER},
    config::{AdminRole, AdminSettings, AdminUser, AuthSettings},
};

/// The `interface` label of admin logins in the auth metrics and logs.
const INTERFACE: &str = "admin";

/// The admin listener's users and their login checks.
#[derive(Debug)]
pub struct AdminAuth {
    users: HashMap<String, AdminUser>,
    authenticator: Authenticator,
}

impl AdminAuth {
    /// `settings`' users, checked under `[auth]`'s lockout and verifier settings (a table and
    /// verifier slots of their own, apart from the accounts').
    pub fn new(settings: &AdminSettings, auth: &AuthSettings) -> Self {
        let model_hash = settings.users.first().map(|u| u.password_hash.as_str());
        Self {
            authenticator: Authenticator::new(auth, model_hash),
            users: settings
                .users
                .iter()
                .map(|user| (user.name.clone(), user.clone()))
                .collect(),
        }
    }

    /// Who the request is from, if it may use a route needing `needed`.
    async fn admit(
        &self,
        client: ClientAddr,
        headers: &HeaderMap,
        needed: AdminRole,
    ) -> Result<AdminPrincipal, ApiError> {
        if self.users.is_empty() {
            return match needed {
                AdminRole::Read => Ok(AdminPrincipal::anonymous()),
                AdminRole::Admin => Err(ApiError::forbidden(
                    "no admin users are configured: add an [[admin.users]] entry with \
                     role = \"admin\" (name, password_hash) to use the admin API",
                )),
            };
        }
        let credentials = smsgw_http::api::credentials(headers)?;
        let attempt = Attempt {
            interface: INTERFACE,
            client: client.0.ip(),
            login: &credentials.login,
            password: &credentials.password,
        };
        let user = self
            .authenticator
            .check(self.users.get(&credentials.login), attempt)
            .await
            .map_err(|error| match error {
                AuthError::Rejected | AuthError::Locked(_) => ApiError::auth(),
                AuthError::Busy => ApiError::busy(BUSY_RETRY_AFTER),
            })?;
        if user.role < needed {
            info!(user = %user.name, role = user.role.as_str(), needed = needed.as_str(), "admin route refused: role too low");
            return Err(ApiError::forbidden(format!(
                "user {} has role \"{}\"; this needs role \"{}\"",
                user.name,
                user.role.as_str(),
                needed.as_str()
            )));
        }
        Ok(AdminPrincipal {
            name: user.name.clone(),
            role: user.role,
        })
    }
}

/// Who called an admin route (in the request's extensions once [`guard`] let it through).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPrincipal {
    pub name: String,
    pub role: AdminRole,
}

impl AdminPrincipal {
    /// The caller of a `read` route when no users are configured.
    pub fn anonymous() -> Self {
        Self {
            name: "anonymous".into(),
            role: AdminRole::Read,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AdminPrincipal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Absent only on a route added without the gate: refuse rather than guess.
        parts
            .extensions
            .get::<AdminPrincipal>()
            .cloned()
            .ok_or_else(|| ApiError::forbidden("this route is not behind the admin check"))
    }
}

/// What one route's check knows: the users, and the role the route needs.
#[derive(Clone)]
struct Gate {
    auth: Arc<AdminAuth>,
    needed: AdminRole,
}

/// `routes`, each behind the check for `needed`.
pub fn guard(routes: Router, auth: Arc<AdminAuth>, needed: AdminRole) -> Router {
    routes.route_layer(axum::middleware::from_fn_with_state(
        Gate { auth, needed },
        check,
    ))
}

async fn check(
    State(gate): State<Gate>,
    client: ClientAddr,
    mut request: Request,
    next: Next,
) -> Response {
    match gate
        .auth
        .admit(client, request.headers(), gate.needed)
        .await
    {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(refusal) => refusal.into_response(),
    }
}
