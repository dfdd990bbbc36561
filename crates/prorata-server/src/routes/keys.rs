//! API keys: created (the secret is shown once), listed, revoked.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use prorata_engine::NewKey;
use prorata_store::ApiKey;

use super::ListResponse;
use crate::auth::{Caller, ShownOnce};
use crate::error::{ApiError, ApiPath};
use crate::AppState;

#[utoipa::path(get, path = "/v1/api-keys", tag = "api keys",
    responses((status = 200, description = "Keys, without their secrets", body = ListResponse<ApiKey>)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<ListResponse<ApiKey>>, ApiError> {
    Ok(Json(ListResponse::new(
        s.engine.api_keys(&caller.tenant).await?,
        None,
    )))
}

#[utoipa::path(post, path = "/v1/api-keys", tag = "api keys",
    responses((status = 201, description = "The key and its secret, shown this once", body = NewKey)))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, Extension<ShownOnce>, Json<NewKey>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Extension(ShownOnce(&["secret"])),
        Json(s.engine.create_api_key(&caller.tenant).await?),
    ))
}

#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api keys", params(("id" = i64, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such live key"),
              (status = 409, description = "The tenant's last live key: create another first")))]
pub async fn revoke(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    s.engine.revoke_api_key(&caller.tenant, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
