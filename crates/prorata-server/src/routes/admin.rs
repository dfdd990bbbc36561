//! The operator's API (`/admin/v1`): tenants and their keys, for whoever runs the server —
//! not for tenants. It has its own credential, the operator token given to `prorata serve`;
//! without one it is not mounted at all (404), so a server never exposes it by default. It is
//! kept out of `/openapi.json`, which documents the tenant API only.

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Extension, Json, Router};
use prorata_core::reconcile::Settings;
use prorata_engine::NewKey;
use prorata_store::{ApiKey, Tenant, TenantMode};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ListResponse;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;

/// The operator token, kept as its SHA-256 only: the process never holds it in clear after
/// start, and comparing fixed-length digests in constant time leaks nothing of it.
#[derive(Clone)]
pub struct OperatorToken([u8; 32]);

impl OperatorToken {
    /// `None` for an empty token: an empty credential would let anyone in.
    pub fn new(token: &str) -> Option<OperatorToken> {
        (!token.trim().is_empty()).then(|| OperatorToken(Sha256::digest(token.as_bytes()).into()))
    }

    fn matches(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        // Every byte is compared, whatever the first difference.
        given
            .iter()
            .zip(self.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// The `/admin/v1` routes, behind the operator token.
pub fn router(state: AppState, token: OperatorToken) -> Router {
    Router::new()
        .route("/admin/v1/tenants", get(list_tenants).post(create_tenant))
        .route(
            "/admin/v1/tenants/{tenant}/keys",
            get(list_keys).post(create_key),
        )
        .route("/admin/v1/tenants/{tenant}/keys/{id}", delete(revoke_key))
        .layer(middleware::from_fn(check_token))
        .layer(Extension(token))
        .with_state(state)
}

async fn check_token(
    Extension(token): Extension<OperatorToken>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if token.matches(given) => next.run(request).await,
        _ => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the admin API takes the operator token: Authorization: Bearer <token>",
        )
        .into_response(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    /// `live` or `sandbox`.
    mode: TenantMode,
    /// Shaped like the tenant's settings; what is left out keeps its default.
    #[serde(default)]
    settings: Settings,
}

async fn list_tenants(State(s): State<AppState>) -> Result<Json<ListResponse<Tenant>>, ApiError> {
    Ok(Json(ListResponse::new(s.engine.tenants().await?, None)))
}

async fn create_tenant(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<Tenant>), ApiError> {
    let tenant = s
        .engine
        .create_tenant_as_operator(&body.name, body.mode, &body.settings)
        .await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// The tenant of a path: its id or its slug.
async fn tenant(s: &AppState, reference: &str) -> Result<Tenant, ApiError> {
    Ok(s.engine.tenant_by_reference(reference).await?)
}

async fn list_keys(
    State(s): State<AppState>,
    ApiPath(reference): ApiPath<String>,
) -> Result<Json<ListResponse<ApiKey>>, ApiError> {
    let tenant = tenant(&s, &reference).await?;
    Ok(Json(ListResponse::new(
        s.engine.api_keys(&tenant).await?,
        None,
    )))
}

async fn create_key(
    State(s): State<AppState>,
    ApiPath(reference): ApiPath<String>,
) -> Result<(StatusCode, Json<NewKey>), ApiError> {
    let tenant = tenant(&s, &reference).await?;
    Ok((
        StatusCode::CREATED,
        Json(s.engine.create_api_key(&tenant).await?),
    ))
}

/// Revokes at once, even the tenant's last key: the operator can mint another.
async fn revoke_key(
    State(s): State<AppState>,
    ApiPath((reference, id)): ApiPath<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    let tenant = tenant(&s, &reference).await?;
    s.engine.revoke_api_key_as_operator(&tenant, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
