//! Coupons of a subscription: redeemed by code and removed, billed as any contract change is.

use axum::extract::State;
use axum::Json;
use chrono::NaiveDateTime;
use prorata_core::coupon::CouponRequest;
use prorata_engine::CouponOutcome;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemBody {
    /// The coupon's code in the subscription's catalog (`[coupons.CODE]`), e.g. `WELCOME10`.
    #[schema(min_length = 1, max_length = 100)]
    pub code: String,
    /// When it takes effect: the licence periods starting from then are discounted. Today
    /// when absent; a past date repairs the periods already invoiced with a credit note.
    pub effective: Option<NaiveDateTime>,
}

/// Longest coupon code taken: a catalog key, not free text.
const MAX_CODE: usize = 100;

fn checked(code: &str) -> Result<(), ApiError> {
    if code.trim().is_empty() || code.len() > MAX_CODE {
        return Err(ApiError::invalid(
            "code",
            format!("a coupon code of 1 to {MAX_CODE} characters"),
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/subscriptions/{id}/coupons", tag = "subscriptions",
    params(("id" = i64, Path)), request_body = RedeemBody,
    responses((status = 200, description = "Redeemed: `code`, `action` (`applied`), `effective`, and the `documents` it caused (a credit note for periods already invoiced when back-dated; otherwise the discount appears on the next invoice as its own line)", body = CouponOutcome),
              (status = 409, description = "`coupon_used_up` (its `max_redemptions` across the tenant is reached) or `coupon_already_applied`"),
              (status = 422, description = "`coupon_unknown` (not in the subscription's catalog), `coupon_expired` (past `redeem_by`), `coupon_currency` (no amount in the subscription's currency), `subscription_ended`, `before_start`, or an invalid field")))]
pub async fn apply(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<RedeemBody>,
) -> Result<Json<CouponOutcome>, ApiError> {
    checked(&body.code)?;
    let request = CouponRequest::Apply { code: body.code };
    Ok(Json(
        s.engine
            .coupon(&caller.tenant, id, &request, body.effective)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/v1/subscriptions/{id}/coupons/{code}", tag = "subscriptions",
    params(("id" = i64, Path), ("code" = String, Path, description = "The coupon's code")),
    responses((status = 200, description = "Removed from today: licence periods starting from today are no longer discounted; `documents` is what that caused", body = CouponOutcome),
              (status = 409, description = "`coupon_not_applied`: the subscription does not hold this coupon"),
              (status = 422, description = "`subscription_ended`, or an invalid code")))]
pub async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((id, code)): ApiPath<(i64, String)>,
) -> Result<Json<CouponOutcome>, ApiError> {
    checked(&code)?;
    let request = CouponRequest::Remove { code };
    Ok(Json(
        s.engine.coupon(&caller.tenant, id, &request, None).await?,
    ))
}
