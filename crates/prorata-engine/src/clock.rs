//! Sandbox clocks: move a sandbox tenant's date forward and run, in date order, everything
//! that falls due on the way (billing days, renewals, ends of subscriptions, and the
//! collection of each day: charges and dunning steps).
//!
//! An advance is a series of steps, one per due day, each committed before the next begins;
//! it is not one transaction (a year of a large tenant is far too much for one), it is
//! resumable: the clock always names the day whose work is in progress or done, and calling
//! advance again with the same target finishes the work exactly as one uninterrupted call.

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
            // The clock moves to the day before its work starts, so an advance cut short (a
            // crash, a lost connection) is resumable: the clock names the day in progress,
            // and advancing again first collects at that date what its committed batches
            // queued, then bills the rest of it — the same documents, charges and dates as an
            // uninterrupted advance.
            self.set_clock(tenant, day).await?;
            let summary = self
                .run_billing(tenant, day, &mut |n| progress(day, n))
                .await?;
            // Invoices issued today are charged today; dunning steps due today are taken.
            self.collect(tenant, day).await?;
            total.add(&summary);
            total.as_of = Some(day);
        }
        let tenant = self.set_clock(tenant, to).await?;
        Ok((tenant, total))
    }

    async fn set_clock(&self, tenant: &Tenant, on: NaiveDate) -> Result<Tenant> {
        let mut tx = self.store.begin().await?;
        tx.set_clock(tenant.id, on).await?;
        let tenant = tx
            .tenant(tenant.id)
            .await?
            .ok_or(EngineError::NotFound("tenant"))?;
        tx.commit().await?;
        self.forget_tenants();
        Ok(tenant)
    }
}
