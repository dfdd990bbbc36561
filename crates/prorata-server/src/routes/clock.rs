//! The tenant's clock: the calendar for live tenants, a test clock for sandboxes.

use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use prorata_engine::{Engine, RunSummary};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClockOut {
    pub mode: prorata_store::TenantMode,
    pub today: NaiveDate,
}

#[utoipa::path(get, path = "/v1/clock", tag = "clock",
    responses((status = 200, description = "The date billing uses for this tenant", body = ClockOut)))]
pub async fn get(caller: Caller) -> Json<ClockOut> {
    Json(ClockOut {
        mode: caller.tenant.mode,
        today: Engine::today(&caller.tenant),
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Advance {
    /// The new date (YYYY-MM-DD); not before the current one.
    pub to: NaiveDate,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Advanced {
    pub today: NaiveDate,
    pub billed: RunSummary,
}

#[utoipa::path(post, path = "/v1/clock/advance", tag = "clock", request_body = Advance,
    description = "Moves the sandbox clock forward one due day at a time, billing and collecting each day in order. Each day commits before the next begins and the clock moves to a day before its work starts, so an advance that fails or is cut short leaves the clock on the day in progress: calling again with the same date finishes it, with the same documents and charges as one uninterrupted call.",
    responses((status = 200, description = "Everything due on the way was billed, in date order", body = Advanced),
              (status = 403, description = "Live tenants have no test clock"),
              (status = 422, description = "The date is before the clock")))]
pub async fn advance(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Advance>,
) -> Result<Json<Advanced>, ApiError> {
    let (tenant, billed) = s
        .engine
        .advance_clock(&caller.tenant, body.to, &mut |_, _| {})
        .await?;
    Ok(Json(Advanced {
        today: Engine::today(&tenant),
        billed,
    }))
}
