//! Catalog versions: import (validated; errors name the field) and list.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ListResponse;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCatalog {
    /// The catalog file, in TOML (see docs/files.md).
    pub source: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogOut {
    pub id: i64,
    pub version: i64,
    pub created_at: String,
}

#[utoipa::path(get, path = "/v1/catalogs", tag = "catalogs",
    responses((status = 200, description = "Catalog versions, oldest first", body = ListResponse<CatalogOut>)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<ListResponse<CatalogOut>>, ApiError> {
    let versions = s.engine.catalogs(&caller.tenant).await?;
    let data = versions
        .into_iter()
        .map(|v| CatalogOut {
            id: v.id,
            version: v.version,
            created_at: v.created_at,
        })
        .collect();
    Ok(Json(ListResponse::new(data, None)))
}

#[utoipa::path(post, path = "/v1/catalogs", tag = "catalogs", request_body = NewCatalog,
    responses((status = 201, description = "The new version", body = CatalogOut),
              (status = 422, description = "Invalid catalog; the detail names every field at fault")))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewCatalog>,
) -> Result<(StatusCode, Json<CatalogOut>), ApiError> {
    let v = s
        .engine
        .import_catalog(&caller.tenant, &body.source)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CatalogOut {
            id: v.id,
            version: v.version,
            created_at: v.created_at,
        }),
    ))
}
