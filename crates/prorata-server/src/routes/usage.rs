//! Usage: call records in, and the running period's minutes out.
//!
//! A batch is read twice at most: first by a typed parse that borrows from the body, which
//! takes the common case (every event well formed, no card number anywhere) in one pass;
//! anything else — a malformed event, an unknown field, a card number, a body that is not
//! JSON — is read again by [`ApiJson`], which answers exactly as it always did. The fast
//! path only ever accepts what the careful one would have accepted, with the same values.

use std::borrow::Cow;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use prorata_core::calls::{CallError, CallRecord, Direction};
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

/// A batch as the fast path reads it: strings borrowed from the body (owned only when they
/// hold escapes), every field typed as [`CallRecord`] types it, nothing unknown.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastBatch<'a> {
    #[serde(borrow)]
    events: Vec<FastCall<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastCall<'a> {
    #[serde(borrow)]
    event_id: Cow<'a, str>,
    account_id: i64,
    #[serde(borrow)]
    started_at: Cow<'a, str>,
    direction: Direction,
    #[serde(default)]
    toll_free: bool,
    #[serde(borrow)]
    caller: Cow<'a, str>,
    #[serde(borrow)]
    callee: Cow<'a, str>,
    duration_seconds: i64,
}

/// A string [`ApiJson`] would refuse as holding a card number. Fewer than 13 digits in all
/// cannot hold one, which spares the full scan for every E.164 number but the longest.
fn holds_card_number(text: &str) -> bool {
    text.bytes().filter(u8::is_ascii_digit).count() >= 13
        && prorata_core::payment::contains_card_number(text)
}

impl FastCall<'_> {
    /// The record, or `None` when anything would make the careful path answer otherwise.
    fn record(self) -> Option<CallRecord> {
        let texts = [&self.event_id, &self.started_at, &self.caller, &self.callee];
        if texts.iter().any(|t| holds_card_number(t)) {
            return None;
        }
        // The very deserializer `CallRecord` reads `started_at` with.
        let started_at = DateTime::<Utc>::deserialize(serde::de::value::StrDeserializer::<
            serde::de::value::Error,
        >::new(&self.started_at))
        .ok()?;
        Some(CallRecord {
            event_id: self.event_id.into_owned(),
            account_id: self.account_id,
            started_at,
            direction: self.direction,
            toll_free: self.toll_free,
            caller: self.caller.into_owned(),
            callee: self.callee.into_owned(),
            duration_seconds: self.duration_seconds,
        })
    }
}

/// Whether the request's content type is plainly JSON (`application/json`, perhaps with
/// parameters): a type axum's `Json` takes. Any other spelling goes the careful way, which
/// decides as it always did.
fn plainly_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim())
        .is_some_and(|v| v.eq_ignore_ascii_case("application/json"))
}

/// The batch's events, parsed: by the fast path when it can, else as [`ApiJson`] reads them.
pub struct Events(pub Vec<Result<CallRecord, CallError>>);

impl<S: Send + Sync> FromRequest<S> for Events {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !plainly_json(&request) {
            return careful(request, state).await;
        }
        let (parts, body) = request.into_parts();
        // The body's limit and errors as axum's `Json` (and so `ApiJson`) meets them.
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "the request body is over the limit",
                    )
                } else {
                    ApiError::bad_request(e.body_text())
                }
            })?;
        if let Ok(batch) = serde_json::from_slice::<FastBatch>(&bytes) {
            let records: Option<Vec<_>> = batch.events.into_iter().map(FastCall::record).collect();
            if let Some(records) = records {
                return Ok(Events(records.into_iter().map(Ok).collect()));
            }
        }
        careful(Request::from_parts(parts, Body::from(bytes)), state).await
    }
}

/// The batch read as every other body is ([`ApiJson`]), then each event on its own.
async fn careful<S: Send + Sync>(request: Request, state: &S) -> Result<Events, ApiError> {
    let ApiJson(batch) = ApiJson::<Batch>::from_request(request, state).await?;
    Ok(Events(
        batch.events.iter().map(|e| parse_call(e.get())).collect(),
    ))
}

#[utoipa::path(post, path = "/v1/usage", tag = "usage", request_body = Batch,
    responses((status = 200, description = "Counts of accepted and duplicate events, and each refused event's index, field and reason", body = IngestReport),
              (status = 422, description = "More than 10,000 events")))]
pub async fn ingest(
    State(s): State<AppState>,
    caller: Caller,
    Events(events): Events,
) -> Result<Json<IngestReport>, ApiError> {
    if events.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "events",
            format!("{} events: a batch holds at most {MAX_BATCH}", events.len()),
        ));
    }
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
