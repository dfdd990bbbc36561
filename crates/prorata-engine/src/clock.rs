//! Sandbox clocks: move a sandbox tenant's date forward and run, in date order, everything
//! that falls due on the way (billing days, renewals, ends of subscriptions).

use chrono::NaiveDate;
use prorata_store::{Tenant, TenantMode};

use crate::{invalid, Engine, EngineError, Result, RunSummary};

impl Engine {
    /// Advances `tenant`'s test clock to `to`, billing each due day on the way. Returns the
    /// tenant with its new clock and what was billed.
    pub async fn advance_clock(
        &self,
        tenant: &Tenant,
        to: NaiveDate,
        progress: &mut (dyn FnMut(NaiveDate, u64) + Send),
    ) -> Result<(Tenant, RunSummary)> {
        if tenant.mode != TenantMode::Sandbox {
            return Err(EngineError::Forbidden(
                "only a sandbox tenant has a test clock; a live tenant bills on the calendar"
                    .into(),
            ));
        }
        let now = Engine::today(tenant);
        if to < now {
            return Err(invalid(
                "to",
                format!("{to} is before the clock ({now}); clocks only move forward"),
            ));
        }
        let mut total = RunSummary::default();
        loop {
            let next = {
                let mut tx = self.store.begin().await?;
                tx.earliest_due(tenant.id).await?
            };
            let Some(day) = next.filter(|d| *d <= to) else {
                break;
            };
            let day = day.max(now);
            let summary = self
                .run_billing(tenant, day, &mut |n| progress(day, n))
                .await?;
            total.add(&summary);
            total.as_of = Some(day);
        }
        let mut tx = self.store.begin().await?;
        tx.set_clock(tenant.id, to).await?;
        let tenant = tx
            .tenant(tenant.id)
            .await?
            .ok_or(EngineError::NotFound("tenant"))?;
        tx.commit().await?;
        Ok((tenant, total))
    }
}
