//! Coupons redeemed and removed through the API: decided by the core
//! ([`prorata_core::coupon::decide`]) with the tenant's count of earlier redemptions of the
//! code, recorded as a timeline event and billed at once, as any contract change is.
//!
//! The count and the event are one transaction: the code's counter row is locked first
//! ([`prorata_store::Tx::lock_coupon`]), so two subscriptions redeeming the last use of a
//! code at once are served one after the other and the second is refused as used up.

use chrono::NaiveDateTime;
use prorata_core::coupon::{decide, CouponRequest};
use prorata_core::document::Document;
use prorata_store::Tenant;
use serde::Serialize;

use crate::{Engine, EngineError, Result};

/// What a coupon request came to.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CouponOutcome {
    pub code: String,
    /// `applied` or `removed`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub action: &'static str,
    pub effective: NaiveDateTime,
    /// Documents issued because of it: the discount of periods already invoiced comes back as
    /// a credit note when the coupon is back-dated; a coupon that takes effect today
    /// discounts the next invoice, issued when it falls due.
    pub documents: Vec<Document>,
}

impl Engine {
    /// Applies or removes a coupon on subscription `id` of `tenant`, effective at `effective`
    /// (today when `None`), and bills what that changes.
    pub async fn coupon(
        &self,
        tenant: &Tenant,
        id: i64,
        request: &CouponRequest,
        effective: Option<NaiveDateTime>,
    ) -> Result<CouponOutcome> {
        let crate::subscriptions::Opened {
            today,
            mut tx,
            mut row,
            catalog,
        } = self.open_for_change(tenant, id, effective).await?;
        let code = request.code();
        let limited = matches!(request, CouponRequest::Apply { .. })
            && catalog
                .coupons
                .get(code)
                .is_some_and(|c| c.max_redemptions.is_some());
        // Only a limited coupon's count matters; it is read under the code's lock.
        let times_redeemed = if limited {
            tx.lock_coupon(tenant.id, code).await?;
            let n = tx.coupon_redemptions(tenant.id, code, id).await?;
            u32::try_from(n).unwrap_or(u32::MAX)
        } else {
            0
        };
        let mut event = match decide(
            &row.subscription,
            &catalog,
            request,
            today,
            effective,
            times_redeemed,
        ) {
            Ok(e) => e,
            Err(refusal) => {
                tx.rollback().await?;
                return Err(EngineError::CouponRefused(refusal));
            }
        };
        if matches!(request, CouponRequest::Apply { .. }) {
            tx.insert_coupon_redemption(tenant.id, code, id, today)
                .await?;
        }
        event.recorded_on = today;
        let effective = event.effective;
        row.subscription.events.push(event);
        let documents = self.bill_one(&mut tx, tenant, &row, today).await?;
        tx.commit().await?;
        Ok(CouponOutcome {
            code: code.to_string(),
            action: match request {
                CouponRequest::Apply { .. } => "applied",
                CouponRequest::Remove { .. } => "removed",
            },
            effective,
            documents,
        })
    }
}
