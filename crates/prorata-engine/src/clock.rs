//! Sandbox clocks: move a sandbox tenant's date forward and run, in date order, everything
//! that falls due on the way (billing days, renewals, ends of subscriptions, and the
//! collection of each day: charges and dunning steps).
//!
//! An advance is a series of steps, one per due day, each committed before the next begins;
//! it is not one transaction (a year of a large tenant is far too much for one), it is
//! resumable: the clock always names the day whose work is in progress or done, and calling
//! advance again with the same target finishes the work exactly as one uninterrupted call.

use chrono::NaiveDate;
use prorata_store::{Tenant, TenantMode, TenantWork};

use crate::{invalid, Engine, EngineError, Result, RunSummary};

impl Engine {
    /// Advances `tenant`'s test clock to `to`, billing each due day on the way. Returns the
    /// tenant with its new clock and what was billed. The clock is read from the store, not
    /// from `tenant`: a caller holding an older copy (another request moved the clock since)
    /// can neither move it back nor bill days again at a date already passed.
    pub async fn advance_clock(
        &self,
        tenant: &Tenant,
        to: NaiveDate,
        progress: &mut (dyn FnMut(NaiveDate, u64) + Send),
    ) -> Result<(Tenant, RunSummary)> {
        // One advance or collection pass at a time per tenant, in any process: two advances
        // at once would both bill and collect the same days.
        let lock = self
            .store
            .lock_tenant(tenant.id, TenantWork::Collection)
            .await?;
        let advanced = self.advance_locked(tenant, to, progress).await;
        lock.release().await;
        advanced
    }

    async fn advance_locked(
        &self,
        tenant: &Tenant,
        to: NaiveDate,
        progress: &mut (dyn FnMut(NaiveDate, u64) + Send),
    ) -> Result<(Tenant, RunSummary)> {
        let tenant = &{
            let mut tx = self.store.read().await?;
            tx.tenant(tenant.id)
                .await?
                .ok_or(EngineError::NotFound("tenant"))?
        };
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
        // The first step is the clock's own day: what is due by then is billed, then collected
        // with whatever is pending at that date (a card updated since, say). After an advance
        // cut short this finishes the day in progress as the uninterrupted advance did — the
        // rest of its billing first, then its collection; collecting first would charge
        // before the day's invoices are issued, with other amounts and previous balances.
        let mut day = now;
        let mut due = self.next_due_day(tenant).await?.is_some_and(|d| d <= now);
        loop {
            let summary = self
                .run_billing(tenant, day, &mut |n| progress(day, n))
                .await?;
            // Invoices issued today are charged today; dunning steps due today are taken.
            let collected = self.collect_day(tenant, day).await?;
            total.add(&summary);
            // A cancellation by the dunning schedule issues its credit note there.
            total.add(&collected.issued);
            if due {
                total.as_of = Some(day);
            }
            let Some(next) = self.next_due_day(tenant).await?.filter(|d| *d <= to) else {
                break;
            };
            day = next.max(now);
            due = true;
            // The clock moves to the day before its work starts, so an advance cut short (a
            // crash, a lost connection) is resumable: the clock names the day in progress,
            // and advancing again to the same target finishes it, then goes on — the same
            // documents, charges and dates as an uninterrupted advance.
            self.set_clock(tenant, day).await?;
        }
        let tenant = self.set_clock(tenant, to).await?;
        Ok((tenant, total))
    }

    /// The earliest day a subscription or a dunning schedule has something to do.
    async fn next_due_day(&self, tenant: &Tenant) -> Result<Option<NaiveDate>> {
        let mut tx = self.store.begin().await?;
        let billing = tx.earliest_due(tenant.id).await?;
        let dunning = tx.earliest_standing_due(tenant.id).await?;
        Ok(billing.into_iter().chain(dunning).min())
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
