//! Sandbox clocks: move a sandbox tenant's date forward and run, in date order, everything
//! that falls due on the way (billing days, renewals, ends of subscriptions, and the
//! collection of each day: charges and dunning steps).

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
        crate::bounds::check_date("to", to, now)?;
        if to < now {
            return Err(invalid(
                "to",
                format!("{to} is before the clock ({now}); clocks only move forward"),
            ));
        }
        let mut total = RunSummary::default();
        // What is pending at the clock's date (a card updated since, say) goes first.
        self.collect(tenant, now).await?;
        loop {
            let next = {
                let mut tx = self.store.begin().await?;
                let billing = tx.earliest_due(tenant.id).await?;
                let dunning = tx.earliest_standing_due(tenant.id).await?;
                billing.into_iter().chain(dunning).min()
            };
            let Some(day) = next.filter(|d| *d <= to) else {
                break;
            };
            let day = day.max(now);
            let summary = self
                .run_billing(tenant, day, &mut |n| progress(day, n))
                .await?;
            // Invoices issued today are charged today; dunning steps due today are taken.
            self.collect(tenant, day).await?;
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
        self.forget_tenants();
        Ok((tenant, total))
    }
}
