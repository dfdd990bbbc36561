//! Usage: call records in, and the running period's minutes out.

use axum::extract::State;
use axum::Json;
use chrono::NaiveDate;
use prorata_engine::{parse_call, IngestReport, UsageSummary, MAX_BATCH};
use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;

/// Each event is kept raw until it is read on its own, so one bad event is reported by index
/// instead of failing the batch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// Call records; each is checked on its own, and a refused one does not refuse the others.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Box<RawValue>>,
}

#[utoipa::path(post, path = "/v1/usage", tag = "usage", request_body = Batch,
    responses((status = 200, description = "Counts of accepted and duplicate events, and each refused event's index, field and reason", body = IngestReport),
              (status = 422, description = "More than 10,000 events")))]
pub async fn ingest(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(batch): ApiJson<Batch>,
) -> Result<Json<IngestReport>, ApiError> {
    if batch.events.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "events",
            format!(
                "{} events: a batch holds at most {MAX_BATCH}",
                batch.events.len()
            ),
        ));
    }
    let events = batch.events.iter().map(|e| parse_call(e.get())).collect();
    Ok(Json(s.engine.ingest_calls(&caller.tenant, events).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// Any day of the invoice period wanted; today's period when absent.
    pub period: Option<NaiveDate>,
}

#[utoipa::path(get, path = "/v1/accounts/{id}/usage", tag = "usage",
    params(("id" = i64, Path), PeriodQuery),
    responses((status = 200, description = "The period's calls per zone and direction: calls, seconds, included, amount so far", body = UsageSummary),
              (status = 404, description = "No such account for this tenant"),
              (status = 422, description = "No subscription, or the trial, on that day")))]
pub async fn summary(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> Result<Json<UsageSummary>, ApiError> {
    Ok(Json(
        s.engine.usage_summary(&caller.tenant, id, q.period).await?,
    ))
}
