//! Subscriptions, contract changes and previews.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use chrono::{NaiveDate, NaiveDateTime};
use prorata_core::change::{Direction, Request};
use prorata_core::document::{Document, Draft};
use prorata_core::entitlements::{Entitlements, Milestones, Status as SubscriptionStatus};
use prorata_core::scenario::SubscriptionSpec;
use prorata_core::timeline::{start_of, Subscription};
use prorata_engine::{ChangeOutcome, Engine};
use prorata_store::SubscriptionRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::export::{self, ExportRow, Format};
use super::ListResponse;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewSubscription {
    pub account_id: i64,
    pub catalog_version_id: i64,
    #[serde(flatten)]
    pub spec: SubscriptionSpec,
}

/// A new subscription.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CreatedSubscription)]
pub struct Created {
    pub id: i64,
    /// Documents issued at creation (the first invoice when the start is today or past).
    pub documents: Vec<Document>,
}

#[utoipa::path(post, path = "/v1/subscriptions", tag = "subscriptions", request_body = NewSubscription,
    responses((status = 201, description = "Created, with the documents issued", body = Created),
              (status = 404, description = "No such account or catalog version"),
              (status = 422, description = "Invalid, or refused by the plan's limits")))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewSubscription>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let (id, documents) = s
        .engine
        .create_subscription(
            &caller.tenant,
            body.account_id,
            body.catalog_version_id,
            &body.spec,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(Created { id, documents })))
}

/// A subscription: its timeline, and its status and the dates derived from it on the
/// tenant's today.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Subscription, example = json!({
    "id": 7,
    "account_id": 3,
    "catalog_version_id": 1,
    "today": "2024-07-10",
    "status": "active",
    "in_trial": false,
    "next_due": "2024-08-06",
    "next_renewal": "2025-07-06",
    "notice_deadline": "2025-06-06",
    "ends": null,
    "subscription": {
        "plan": "essentials",
        "frequency": "monthly",
        "currency": "EUR",
        "start": "2024-07-06",
        "trial_days": 0,
        "term_months": 12,
        "notice_days": 30,
        "quantities": {"user": 10, "number": 2},
        "events": [{
            "recorded_on": "2024-07-10",
            "effective": "2024-07-10T00:00:00",
            "type": "quantity",
            "product": "user",
            "quantity": 6
        }],
        "trial_waives": "everything"
    }
}))]
pub struct SubscriptionOut {
    pub id: i64,
    pub account_id: i64,
    pub catalog_version_id: i64,
    pub today: NaiveDate,
    /// Where it stands today: `not_started`, `trial`, `active` or `ended` (from the day it
    /// ends).
    pub status: SubscriptionStatus,
    pub in_trial: bool,
    pub next_due: Option<NaiveDate>,
    pub next_renewal: Option<NaiveDate>,
    /// The last day a downgrade or cancellation can be submitted for the next renewal.
    pub notice_deadline: Option<NaiveDate>,
    pub ends: Option<NaiveDateTime>,
    /// The timeline: what was sold (plan, frequency, currency, start, quantities, term,
    /// notice) and the dated events that changed it since.
    pub subscription: Subscription,
}

impl SubscriptionOut {
    fn new(row: SubscriptionRow, today: NaiveDate) -> SubscriptionOut {
        let sub = row.subscription;
        let deadline = sub.notice_deadline_after(today);
        SubscriptionOut {
            id: row.id,
            account_id: row.account_id,
            catalog_version_id: row.catalog_version_id,
            today,
            status: Milestones::of(&sub, today).status_on(today),
            in_trial: sub.in_trial_on(today),
            next_due: row.next_due,
            next_renewal: deadline.map(|(_, r)| r),
            notice_deadline: deadline.map(|(d, _)| d),
            ends: sub.end(today),
            subscription: sub,
        }
    }
}

impl ExportRow for SubscriptionOut {
    const CSV_HEADER: &'static str = "id,account_id,catalog_version_id,status,plan,frequency,currency,start,trial_ends,next_due,next_renewal,notice_deadline,ends";

    fn csv_fields(&self) -> Vec<String> {
        let text = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        let sub = &self.subscription;
        let frequency = serde_json::to_value(sub.frequency)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        vec![
            self.id.to_string(),
            self.account_id.to_string(),
            self.catalog_version_id.to_string(),
            self.status.as_str().to_string(),
            sub.plan.clone(),
            frequency,
            sub.currency.code().to_string(),
            sub.start.to_string(),
            text(self.in_trial.then(|| sub.first_paid_day(self.today))),
            text(self.next_due),
            text(self.next_renewal),
            text(self.notice_deadline),
            self.ends.map(|e| e.to_string()).unwrap_or_default(),
        ]
    }
}

/// `GET /v1/subscriptions`: a page (or, asked with `Accept: application/x-ndjson` or
/// `text/csv`, an export of every matching subscription from `cursor` on).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionQuery {
    /// Only this account's subscriptions.
    pub account_id: Option<i64>,
    /// Only those in this status at the tenant's today: `not_started`, `trial`, `active` or
    /// `ended`.
    #[param(value_type = Option<SubscriptionStatus>, inline)]
    pub status: Option<String>,
    /// At most 100 a page, 50 by default (an export ignores it).
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/subscriptions", tag = "subscriptions", params(SubscriptionQuery),
    responses((status = 200, description = "Subscriptions by id, each with its status at the tenant's today. With `Accept: application/x-ndjson` or `Accept: text/csv`, every matching subscription from `cursor` on, streamed: one JSON object a line, or CSV with a header row",
                  content((ListResponse<SubscriptionOut> = "application/json"), (String = "application/x-ndjson"), (String = "text/csv")))))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SubscriptionQuery>,
) -> Result<Response, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|t| {
            SubscriptionStatus::parse(t).ok_or_else(|| {
                ApiError::invalid(
                    "status",
                    format!(
                        "{t:?} is not a subscription status: not_started, trial, active or ended"
                    ),
                )
            })
        })
        .transpose()?;
    let (after, limit) = super::PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .bounds()?;
    let account = q.account_id;
    let (engine, tenant) = (s.engine.clone(), caller.tenant.clone());
    export::answer(Format::of(&headers), after, limit, move |after, limit| {
        let (engine, tenant) = (engine.clone(), tenant.clone());
        async move {
            let page = engine
                .list_subscriptions(&tenant, account, status, after, limit)
                .await?;
            let today = Engine::today(&tenant);
            Ok(prorata_store::Page {
                items: page
                    .items
                    .into_iter()
                    .map(|r| SubscriptionOut::new(r, today))
                    .collect(),
                next: page.next,
            })
        }
    })
    .await
}

#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "subscriptions", params(("id" = i64, Path)),
    responses((status = 200, description = "The timeline and its derived dates", body = SubscriptionOut),
              (status = 404, description = "No such subscription for this tenant")))]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SubscriptionOut>, ApiError> {
    let row = s.engine.subscription(&caller.tenant, id).await?;
    let today = Engine::today(&caller.tenant);
    Ok(Json(SubscriptionOut::new(row, today)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    /// `{"type": "set_quantity", "product": "user", "quantity": 6}`, `add_addon`,
    /// `remove_addon`, `change_plan`, `cancel`, `cancel_immediately`, or
    /// `{"type": "change_frequency", "frequency": "annual"}` (optionally `when` and `anchor`,
    /// else the tenant's policy).
    pub request: Request,
    /// When it takes effect; today when absent.
    pub effective: Option<NaiveDateTime>,
}

#[utoipa::path(post, path = "/v1/subscriptions/{id}/changes", tag = "subscriptions",
    params(("id" = i64, Path)), request_body = ChangeBody,
    responses((status = 200, description = "Accepted, with the documents it caused", body = ChangeOutcome),
              (status = 422, description = "Refused: `refusal` says why, e.g. the notice deadline")))]
pub async fn change(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ChangeBody>,
) -> Result<Json<ChangeOutcome>, ApiError> {
    let outcome = s
        .engine
        .request_change(&caller.tenant, id, &body.request, body.effective)
        .await?;
    Ok(Json(outcome))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangePreview {
    pub direction: Direction,
    /// As the change's own answer would carry them: each with its lines (as before), VAT per
    /// rate, totals and balances, the credit note beside the invoice; `number` is empty.
    pub documents: Vec<Document>,
}

#[utoipa::path(post, path = "/v1/subscriptions/{id}/changes/preview", tag = "subscriptions",
    params(("id" = i64, Path)), request_body = ChangeBody,
    responses((status = 200, description = "What the change would issue, nothing saved: `direction`, and `documents` as they would be issued today — for each invoice and credit note its `kind`, `currency` and `lines` (the arithmetic of each), `taxes` (VAT per rate), `net_total`, `total`, `previous_balance` and `balance_after` (chained from the account's balance), buyer, seller and payment details; `number` is empty, as a preview takes no number", body = ChangePreview),
              (status = 422, description = "It would be refused")))]
pub async fn preview_change(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ChangeBody>,
) -> Result<Json<ChangePreview>, ApiError> {
    let (direction, documents) = s
        .engine
        .preview_change_documents(&caller.tenant, id, &body.request, body.effective)
        .await?;
    Ok(Json(ChangePreview {
        direction,
        documents,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewQuery {
    /// Bill as of this day (YYYY-MM-DD); today when absent.
    pub as_of: Option<NaiveDate>,
}

#[utoipa::path(get, path = "/v1/subscriptions/{id}/preview", tag = "subscriptions",
    params(("id" = i64, Path), PreviewQuery),
    responses((status = 200, description = "The documents billing would issue on that day", body = Vec<Draft>)))]
pub async fn preview(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PreviewQuery>,
) -> Result<Json<Vec<Draft>>, ApiError> {
    if let Some(d) = q.as_of {
        let today = Engine::today(&caller.tenant);
        if start_of(d) < start_of(today) {
            return Err(ApiError::invalid(
                "as_of",
                format!("{d} is before today ({today})"),
            ));
        }
    }
    Ok(Json(s.engine.preview(&caller.tenant, id, q.as_of).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntitlementsQuery {
    /// The day (YYYY-MM-DD); the tenant's today when absent (a sandbox tenant's own clock).
    pub as_of: Option<NaiveDate>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SubscriptionEntitlements)]
pub struct EntitlementsOut {
    pub subscription_id: i64,
    #[serde(flatten)]
    pub entitlements: Entitlements,
}

#[utoipa::path(get, path = "/v1/subscriptions/{id}/entitlements", tag = "subscriptions",
    params(("id" = i64, Path), EntitlementsQuery),
    responses((status = 200, description = "What the subscription gives access to at the end of that day: `status` (`not_started`, `trial`, `active`, `ended`), the `plan` in force and its `frequency`, `features` (each `code`, `name`, `source` — `plan`, or `addon` for an add-on — and `enabled`) and per product of the plan its `limits` (`quantity` held, `included`, `minimum`, `maximum`); no feature and no limit before the start or after the end", body = EntitlementsOut),
              (status = 404, description = "No such subscription for this tenant")))]
pub async fn entitlements(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<EntitlementsQuery>,
) -> Result<Json<EntitlementsOut>, ApiError> {
    let entitlements = s.engine.entitlements(&caller.tenant, id, q.as_of).await?;
    Ok(Json(EntitlementsOut {
        subscription_id: id,
        entitlements,
    }))
}
