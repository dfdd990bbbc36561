//! What the server's delivery workers need: claiming e-mail and webhook jobs with a lease,
//! finishing them or scheduling their retry with backoff, and the tenant's webhook endpoints.

use std::time::{Duration, SystemTime};

use prorata_store::{DocumentRow, Job, JobKind, Page, Tenant, WebhookDelivery, WebhookEndpoint};

use crate::{invalid, Engine, EngineError, Result};

/// Every topic a webhook endpoint may subscribe to.
pub const TOPICS: [&str; 11] = [
    "invoice.finalized",
    "credit_note.issued",
    "payment.succeeded",
    "payment.failed",
    "account.past_due",
    "account.suspended",
    "account.cancelled",
    "account.reactivated",
    "account.purged",
    "ticket.created",
    "ticket.updated",
];

/// Attempts before a delivery is given up.
pub const MAX_DELIVERY_ATTEMPTS: i64 = 10;

/// A UTC timestamp as the jobs table keeps it (sortable text).
pub fn timestamp(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The wait before attempt `n + 1` after `n` failed ones: 30 s doubling, at most 6 hours.
pub fn backoff(failed_attempts: i64) -> Duration {
    let exp = failed_attempts.clamp(1, 20) - 1;
    Duration::from_secs(30u64.saturating_mul(1 << exp).min(6 * 3600))
}

impl Engine {
    /// Claims up to `limit` due jobs of `kind` for `lease` (module docs of the store's
    /// `claim_jobs`); each returned job has its attempt counted.
    pub async fn claim_jobs(&self, kind: JobKind, limit: i64, lease: Duration) -> Result<Vec<Job>> {
        let now = SystemTime::now();
        let mut tx = self.store.begin().await?;
        let jobs = tx
            .claim_jobs(kind, &timestamp(now), &timestamp(now + lease), limit)
            .await?;
        tx.commit().await?;
        Ok(jobs)
    }

    /// Holds a claimed job for `lease` from now, just before working on it; false when the
    /// claim was lost (its lease ran out and another worker claimed it, or it was finished):
    /// the job is then the other worker's and must be left alone. A batch is claimed under
    /// one lease, so without this a batch slower than its lease (PDFs rendered on a loaded
    /// machine) was sent a second time by the worker that claimed it next: 2008 e-mails for
    /// 2004 in prorata's `tests/scale_out.rs` with 20-second leases.
    pub async fn renew_lease(&self, job: &Job, lease: Duration) -> Result<bool> {
        let until = timestamp(SystemTime::now() + lease);
        let mut tx = self.store.begin().await?;
        let held = tx
            .renew_job_lease(job.tenant_id, job.id, job.attempts, &until)
            .await?;
        tx.commit().await?;
        Ok(held)
    }

    /// Open jobs by kind over every tenant (`email`, `webhook`, `charge`), for the metrics.
    pub async fn open_jobs(&self) -> Result<Vec<(String, i64)>> {
        let mut tx = self.store.begin().await?;
        let depths = tx.open_jobs_by_kind().await?;
        tx.commit().await?;
        Ok(depths)
    }

    /// Gives claimed jobs back unstarted, for the next worker to take at once rather than
    /// when their lease runs out.
    pub async fn release_jobs(&self, jobs: &[Job]) -> Result<()> {
        let mut tx = self.store.begin().await?;
        for job in jobs {
            tx.release_job(job.tenant_id, job.id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn job_done(&self, job: &Job, outcome: &str) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.finish_job(job.tenant_id, job.id, outcome, true, None)
            .await?;
        Ok(tx.commit().await?)
    }

    /// A delivery failed: retried after [`backoff`], or given up after
    /// [`MAX_DELIVERY_ATTEMPTS`]. Returns whether it was given up.
    pub async fn job_failed(&self, job: &Job, error: &str) -> Result<bool> {
        let give_up = job.attempts >= MAX_DELIVERY_ATTEMPTS;
        let next = timestamp(SystemTime::now() + backoff(job.attempts));
        let outcome = if give_up {
            format!("gave up after {} attempts: {error}", job.attempts)
        } else {
            format!("attempt {} failed: {error}", job.attempts)
        };
        let mut tx = self.store.begin().await?;
        tx.finish_job(job.tenant_id, job.id, &outcome, give_up, Some(&next))
            .await?;
        tx.commit().await?;
        Ok(give_up)
    }

    /// A document of a tenant by its number (what an e-mail job names).
    pub async fn document_by_number(
        &self,
        tenant_id: i64,
        number: &str,
    ) -> Result<Option<DocumentRow>> {
        let mut tx = self.store.begin().await?;
        Ok(tx.document_by_number(tenant_id, number).await?)
    }

    /// A tenant's jobs of one kind, oldest first, with their outcomes.
    pub async fn jobs(&self, tenant: &Tenant, kind: JobKind) -> Result<Vec<(Job, Option<String>)>> {
        let mut tx = self.store.begin().await?;
        Ok(tx.jobs(tenant.id, kind).await?)
    }

    /// Creates a webhook endpoint and returns it with its signing secret, shown this once.
    pub async fn create_webhook_endpoint(
        &self,
        tenant: &Tenant,
        url: &str,
        events: &[String],
    ) -> Result<(WebhookEndpoint, String)> {
        let url = url.trim();
        prorata_core::destination::check(
            url,
            tenant.mode == prorata_store::TenantMode::Sandbox,
            &tenant.settings.webhooks,
        )
        .map_err(|e| invalid("url", e))?;
        for e in events {
            if !TOPICS.contains(&e.as_str()) {
                return Err(invalid(
                    "events",
                    format!("unknown topic {e:?}; topics: {}", TOPICS.join(", ")),
                ));
            }
        }
        let secret = format!("whsec_{}", crate::random_hex(24)?);
        let mut tx = self.store.begin().await?;
        let endpoint = tx
            .insert_webhook_endpoint(tenant.id, url, &secret, events)
            .await?;
        tx.commit().await?;
        Ok((endpoint, secret))
    }

    pub async fn webhook_endpoints(&self, tenant: &Tenant) -> Result<Vec<WebhookEndpoint>> {
        let mut tx = self.store.begin().await?;
        Ok(tx
            .webhook_endpoints(tenant.id)
            .await?
            .into_iter()
            .map(|(e, _)| e)
            .collect())
    }

    pub async fn disable_webhook_endpoint(&self, tenant: &Tenant, id: i64) -> Result<()> {
        let mut tx = self.store.begin().await?;
        if !tx.disable_webhook_endpoint(tenant.id, id).await? {
            return Err(EngineError::NotFound("webhook endpoint"));
        }
        Ok(tx.commit().await?)
    }

    /// An endpoint with its secret, for the delivery worker.
    pub async fn webhook_target(
        &self,
        tenant_id: i64,
        endpoint: i64,
    ) -> Result<Option<(WebhookEndpoint, String)>> {
        let mut tx = self.store.begin().await?;
        Ok(tx
            .webhook_endpoints(tenant_id)
            .await?
            .into_iter()
            .find(|(e, _)| e.id == endpoint))
    }

    pub async fn log_delivery(&self, tenant_id: i64, delivery: &WebhookDelivery) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.insert_webhook_delivery(tenant_id, delivery).await?;
        Ok(tx.commit().await?)
    }

    pub async fn webhook_deliveries(
        &self,
        tenant: &Tenant,
        endpoint: i64,
        after: i64,
        limit: i64,
    ) -> Result<Page<WebhookDelivery>> {
        let mut tx = self.store.begin().await?;
        if !tx
            .webhook_endpoints(tenant.id)
            .await?
            .iter()
            .any(|(e, _)| e.id == endpoint)
        {
            return Err(EngineError::NotFound("webhook endpoint"));
        }
        Ok(tx
            .webhook_deliveries(tenant.id, endpoint, after, limit)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(5), Duration::from_secs(480));
        assert_eq!(backoff(30), Duration::from_secs(6 * 3600));
    }
}
