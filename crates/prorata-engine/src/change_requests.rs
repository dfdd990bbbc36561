//! Contract changes asked by a customer in the portal (seeds 000 and 001).
//!
//! An upgrade is made at once and billed as the API's change is. A downgrade or a
//! cancellation is decided by the same core rule (refused after the notice deadline, with
//! the date and the clause) and, when in time, recorded as a *change request* for the
//! vendor's account manager: seed 000 sends subscription management to them, not to the
//! billing team. Applying it later judges it as of the day it was submitted, so the
//! customer who asked in time keeps the benefit of the notice rule.

use chrono::NaiveDate;
use prorata_core::change::{decide, Direction, Request};
use prorata_core::document::Draft;
use prorata_store::{ChangeRequestRow, ChangeRequestStatus, Tenant};
use serde::Serialize;

use crate::{invalid, ChangeOutcome, Engine, EngineError, Result};

/// What became of a change asked in the portal.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Submitted {
    /// An upgrade, made and billed at once.
    Applied(ChangeOutcome),
    /// A downgrade or cancellation in time: recorded for the account manager.
    Requested {
        id: i64,
        deadline: Option<NaiveDate>,
    },
}

/// A change's preview as the portal shows it: its direction, the documents it would issue
/// today, and the notice deadline that governs it.
#[derive(Debug, Clone, Serialize)]
pub struct ChangePreview {
    pub direction: Direction,
    pub drafts: Vec<Draft>,
    /// The last day to submit a downgrade or cancellation for the coming renewal.
    pub deadline: Option<NaiveDate>,
    pub renewal: Option<NaiveDate>,
}

/// The subscription the portal shows for an account: its latest.
pub(crate) fn latest(
    subs: Vec<prorata_store::SubscriptionRow>,
) -> Option<prorata_store::SubscriptionRow> {
    subs.into_iter().max_by_key(|s| s.id)
}

/// A cancellation reason is one short line (the tenant's list proposes them).
const MAX_REASON: usize = 500;

impl Engine {
    /// The subscription of `account_id` the portal shows (its latest).
    pub async fn account_subscription(
        &self,
        tenant: &Tenant,
        account_id: i64,
    ) -> Result<Option<prorata_store::SubscriptionRow>> {
        let mut tx = self.store.begin().await?;
        Ok(latest(
            tx.subscriptions_of_account(tenant.id, account_id).await?,
        ))
    }

    /// Previews a change of the account's subscription: what it would issue and its deadline.
    pub async fn preview_account_change(
        &self,
        tenant: &Tenant,
        account_id: i64,
        request: &Request,
    ) -> Result<ChangePreview> {
        let row = self
            .account_subscription(tenant, account_id)
            .await?
            .ok_or(EngineError::NotFound("subscription"))?;
        let (direction, drafts) = self.preview_change(tenant, row.id, request, None).await?;
        let today = Engine::today(tenant);
        let notice = row.subscription.notice_deadline_after(today);
        Ok(ChangePreview {
            direction,
            drafts,
            deadline: notice.map(|n| n.0),
            renewal: notice.map(|n| n.1),
        })
    }

    /// Submits a change asked by `user_id` of `account_id`: an upgrade is applied, a
    /// downgrade or cancellation becomes a change request, a late one is refused.
    pub async fn submit_account_change(
        &self,
        tenant: &Tenant,
        account_id: i64,
        user_id: Option<i64>,
        request: &Request,
        reason: Option<&str>,
    ) -> Result<Submitted> {
        if reason.is_some_and(|r| r.len() > MAX_REASON) {
            return Err(invalid(
                "reason",
                format!("at most {MAX_REASON} characters"),
            ));
        }
        let row = self
            .account_subscription(tenant, account_id)
            .await?
            .ok_or(EngineError::NotFound("subscription"))?;
        let today = Engine::today(tenant);
        let mut tx = self.store.begin().await?;
        let catalog = self
            .catalog(&mut tx, tenant.id, row.catalog_version_id)
            .await?;
        let accepted = decide(&row.subscription, &catalog, request, today, None)
            .map_err(EngineError::Refused)?;
        if accepted.direction == Direction::Upgrade {
            tx.rollback().await?;
            let outcome = self.request_change(tenant, row.id, request, None).await?;
            return Ok(Submitted::Applied(outcome));
        }
        let id = tx
            .insert_change_request(
                tenant.id,
                account_id,
                row.id,
                user_id,
                &serde_json::to_value(request).map_err(|e| invalid("request", e))?,
                reason.map(str::trim).filter(|r| !r.is_empty()),
                today,
            )
            .await?;
        tx.commit().await?;
        Ok(Submitted::Requested {
            id,
            deadline: row.subscription.notice_deadline_after(today).map(|n| n.0),
        })
    }

    pub async fn change_requests(
        &self,
        tenant: &Tenant,
        status: Option<ChangeRequestStatus>,
        account_id: Option<i64>,
    ) -> Result<Vec<ChangeRequestRow>> {
        let mut tx = self.store.begin().await?;
        Ok(tx.change_requests(tenant.id, status, account_id).await?)
    }

    /// Applies a pending change request, judged as of the day it was submitted.
    pub async fn apply_change_request(&self, tenant: &Tenant, id: i64) -> Result<ChangeOutcome> {
        let mut tx = self.store.begin().await?;
        let cr = tx
            .change_request(tenant.id, id)
            .await?
            .ok_or(EngineError::NotFound("change request"))?;
        if cr.status != ChangeRequestStatus::Pending {
            return Err(EngineError::Conflict(format!(
                "the change request is {} already",
                cr.status.as_str()
            )));
        }
        tx.rollback().await?;
        let request: Request =
            serde_json::from_value(cr.request.clone()).map_err(|e| invalid("request", e))?;
        let outcome = self
            .change_as_of(tenant, cr.subscription_id, &request, cr.submitted_on)
            .await?;
        let mut tx = self.store.begin().await?;
        tx.decide_change_request(tenant.id, id, ChangeRequestStatus::Applied, None)
            .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Refuses a pending change request, with a note for the customer.
    pub async fn refuse_change_request(
        &self,
        tenant: &Tenant,
        id: i64,
        note: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        if !tx
            .decide_change_request(tenant.id, id, ChangeRequestStatus::Refused, note)
            .await?
        {
            return Err(EngineError::Conflict(
                "no pending change request with this id".into(),
            ));
        }
        tx.commit().await?;
        Ok(())
    }
}
