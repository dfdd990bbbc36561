//! Webhook endpoints and their delivery log.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use prorata_store::{WebhookDelivery, WebhookEndpoint};
use serde::{Deserialize, Serialize};

use super::{ListResponse, PageQuery};
use crate::auth::{Caller, ShownOnce};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointIn {
    pub url: String,
    /// Topics to receive; every topic when absent or empty.
    #[serde(default)]
    pub events: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    /// The signing secret, shown this once.
    pub secret: String,
}

#[utoipa::path(post, path = "/v1/webhook-endpoints", tag = "webhooks", request_body = EndpointIn,
    responses((status = 201, description = "The endpoint and its signing secret (shown once)", body = CreatedEndpoint),
              (status = 422, description = "A bad URL or an unknown topic")))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(e): ApiJson<EndpointIn>,
) -> Result<(StatusCode, Extension<ShownOnce>, Json<CreatedEndpoint>), ApiError> {
    let (endpoint, secret) = s
        .engine
        .create_webhook_endpoint(&caller.tenant, &e.url, &e.events)
        .await?;
    Ok((
        StatusCode::CREATED,
        Extension(ShownOnce(&["secret"])),
        Json(CreatedEndpoint { endpoint, secret }),
    ))
}

#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "webhooks",
    responses((status = 200, description = "The tenant's endpoints (without secrets)", body = ListResponse<WebhookEndpoint>)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<ListResponse<WebhookEndpoint>>, ApiError> {
    let data = s.engine.webhook_endpoints(&caller.tenant).await?;
    Ok(Json(ListResponse::new(data, None)))
}

#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = i64, Path)),
    responses((status = 204, description = "Disabled: nothing more is sent to it"),
              (status = 404, description = "No such endpoint for this tenant")))]
pub async fn disable(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    s.engine
        .disable_webhook_endpoint(&caller.tenant, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path), PageQuery),
    responses((status = 200, description = "Every delivery attempt, oldest first", body = ListResponse<WebhookDelivery>)))]
pub async fn deliveries(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<ListResponse<WebhookDelivery>>, ApiError> {
    let (after, limit) = q.bounds()?;
    let page = s
        .engine
        .webhook_deliveries(&caller.tenant, id, after, limit)
        .await?;
    Ok(Json(ListResponse::new(page.items, page.next)))
}
