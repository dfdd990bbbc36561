//! What leaves the system: outbox events, the jobs made from them (charges, e-mails,
//! webhooks), webhook endpoints and their delivery log. Every query names its tenant, except
//! the delivery workers' claim, which serves every tenant and returns each job's tenant, and
//! the queue depths, which are counts.

use sqlx::{QueryBuilder, Row};

use super::{from_json, json, push_ids, select_by_keys, Inner, Tx, ROWS_PER_INSERT};
use crate::model::*;
use crate::{now_text, Result, StoreError};

fn job_kind(s: &str) -> Result<JobKind> {
    Ok(match s {
        "charge" => JobKind::Charge,
        "email" => JobKind::Email,
        "webhook" => JobKind::Webhook,
        other => return Err(StoreError::Corrupt(format!("job kind {other:?}"))),
    })
}

/// id, tenant, account, kind, payload, attempts.
type JobTuple = (i64, i64, Option<i64>, String, String, i64);
/// A job and its outcome.
type JobOutcomeTuple = (i64, i64, Option<i64>, String, String, i64, Option<String>);
/// id, endpoint, event, topic, attempt, status code, error, attempted at.
type DeliveryTuple = (
    i64,
    i64,
    i64,
    String,
    i64,
    Option<i64>,
    Option<String>,
    String,
);

impl Tx {
    // ------------------------------------------------------------ outbox events

    /// Events not yet turned into jobs, oldest first.
    pub async fn pending_events(&mut self, tenant: i64, limit: i64) -> Result<Vec<Event>> {
        let rows: Vec<(i64, String, String, String)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, topic, payload, created_at FROM outbox \
                 WHERE processed_at IS NULL AND tenant_id = $1 ORDER BY id LIMIT $2",
            )
            .bind(tenant)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        });
        rows.into_iter()
            .map(|(id, topic, payload, created_at)| {
                Ok(Event {
                    id,
                    topic,
                    payload: from_json(&payload)?,
                    created_at,
                })
            })
            .collect()
    }

    pub async fn mark_events_processed(&mut self, tenant: i64, ids: &[i64]) -> Result<()> {
        let now = now_text();
        for chunk in ids.chunks(ROWS_PER_INSERT) {
            on_tx!(self, conn => {
                let mut q = QueryBuilder::new("UPDATE outbox SET processed_at = ");
                q.push_bind(now.clone()).push(" WHERE tenant_id = ").push_bind(tenant).push(" AND id IN");
                push_ids(&mut q, chunk);
                q.build().execute(&mut *conn).await?;
            });
        }
        Ok(())
    }

    // ------------------------------------------------------------ jobs

    /// Writes jobs in multi-row statements (jobs are created by the thousand when a billing
    /// run's events are dispatched).
    pub async fn insert_jobs(&mut self, tenant: i64, jobs: &[NewJob]) -> Result<()> {
        let now = now_text();
        let payloads: Vec<String> = jobs
            .iter()
            .map(|j| json(&j.payload))
            .collect::<Result<_>>()?;
        for (chunk, payloads) in jobs
            .chunks(ROWS_PER_INSERT)
            .zip(payloads.chunks(ROWS_PER_INSERT))
        {
            on_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO jobs (tenant_id, account_id, kind, payload, run_after, created_at) ",
                );
                q.push_values(chunk.iter().zip(payloads), |mut b, (j, p)| {
                    b.push_bind(tenant)
                        .push_bind(j.account_id)
                        .push_bind(j.kind.as_str())
                        .push_bind(p)
                        .push_bind(now.clone())
                        .push_bind(now.clone());
                });
                q.build().execute(&mut *conn).await?;
            });
        }
        Ok(())
    }

    /// A tenant's pending jobs of `kind` after the job `after`, oldest first (charges are run
    /// by the tenant's collection pass on its business date, whatever their `run_after`): a
    /// pass walks them with this cursor, so jobs it leaves pending cannot hide those behind.
    /// The order is spelled as the index `jobs_tenant_pending` holds it, so that the planner
    /// walks it rather than sorting every pending job of the kind.
    pub async fn pending_jobs(
        &mut self,
        tenant: i64,
        kind: JobKind,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Job>> {
        let rows: Vec<JobTuple> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, tenant_id, account_id, kind, payload, CAST(attempts AS BIGINT) FROM jobs \
                 WHERE done_at IS NULL AND kind = $1 AND tenant_id = $2 AND id > $3 \
                 ORDER BY tenant_id, kind, id LIMIT $4",
            )
            .bind(kind.as_str())
            .bind(tenant)
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        });
        rows.into_iter().map(job_from).collect()
    }

    /// The pending jobs of `kind` of some accounts.
    pub async fn pending_jobs_of_accounts(
        &mut self,
        tenant: i64,
        kind: JobKind,
        accounts: &[i64],
    ) -> Result<Vec<Job>> {
        let mut jobs = Vec::new();
        for chunk in accounts.chunks(ROWS_PER_INSERT) {
            let rows: Vec<JobTuple> = on_tx!(self, conn => {
                let mut q = select_by_keys(
                    "t.id, t.tenant_id, t.account_id, t.kind, t.payload, CAST(t.attempts AS BIGINT)",
                    "jobs",
                    "account_id",
                    tenant,
                    chunk,
                    |q| {
                        q.push(" AND t.done_at IS NULL AND t.kind = ").push_bind(kind.as_str());
                    },
                );
                q.build_query_as().fetch_all(&mut *conn).await?
            });
            for row in rows {
                jobs.push(job_from(row)?);
            }
        }
        Ok(jobs)
    }

    /// Claims up to `limit` jobs of `kind` due by `now`, across tenants, by pushing their
    /// `run_after` to `lease_until` and counting the attempt: a worker that dies holding them
    /// lets them come back when the lease ends; two workers never hold the same job at once.
    /// Jobs not yet done, by kind, over every tenant: the queue depths an operator watches
    /// (`/metrics`). Counts only, so nothing of a tenant leaves its scope.
    pub async fn open_jobs_by_kind(&mut self) -> Result<Vec<(String, i64)>> {
        Ok(on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT kind, CAST(COUNT(*) AS BIGINT) FROM jobs WHERE done_at IS NULL \
                 GROUP BY kind ORDER BY kind",
            )
            .fetch_all(&mut *conn)
            .await?
        }))
    }

    pub async fn claim_jobs(
        &mut self,
        kind: JobKind,
        now: &str,
        lease_until: &str,
        limit: i64,
    ) -> Result<Vec<Job>> {
        let rows: Vec<JobTuple> = match &mut self.inner {
            Inner::Sqlite(t) => {
                sqlx::query_as(
                    "UPDATE jobs SET run_after = $1, attempts = attempts + 1 WHERE id IN \
                     (SELECT id FROM jobs WHERE done_at IS NULL AND kind = $2 AND run_after <= $3 \
                      ORDER BY run_after, id LIMIT $4) \
                     RETURNING id, tenant_id, account_id, kind, payload, attempts",
                )
                .bind(lease_until)
                .bind(kind.as_str())
                .bind(now)
                .bind(limit)
                .fetch_all(&mut **t)
                .await?
            }
            Inner::Postgres(t) => {
                sqlx::query_as(
                    "UPDATE jobs SET run_after = $1, attempts = attempts + 1 WHERE id IN \
                     (SELECT id FROM jobs WHERE done_at IS NULL AND kind = $2 AND run_after <= $3 \
                      ORDER BY run_after, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                     RETURNING id, tenant_id, account_id, kind, payload, CAST(attempts AS BIGINT)",
                )
                .bind(lease_until)
                .bind(kind.as_str())
                .bind(now)
                .bind(limit)
                .fetch_all(&mut **t)
                .await?
            }
        };
        // RETURNING gives no order; deliveries go out in the order they were made.
        let mut jobs: Vec<Job> = rows.into_iter().map(job_from).collect::<Result<_>>()?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    /// Holds a claimed job until `lease_until`, if the claim is still the caller's: the job
    /// is not done and its attempts are still `attempts`, the count the claim returned (every
    /// later claim counts one more). False when the claim was lost, its lease having run out
    /// and another worker having claimed the job, or the job being finished.
    pub async fn renew_job_lease(
        &mut self,
        tenant: i64,
        id: i64,
        attempts: i64,
        lease_until: &str,
    ) -> Result<bool> {
        let done = on_tx!(self, conn => {
            sqlx::query(
                "UPDATE jobs SET run_after = $1 \
                 WHERE tenant_id = $2 AND id = $3 AND attempts = $4 AND done_at IS NULL",
            )
            .bind(lease_until)
            .bind(tenant)
            .bind(id)
            .bind(attempts)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Gives back a claimed job not started (a worker stopping): due again now, its claim not
    /// counted as an attempt.
    pub async fn release_job(&mut self, tenant: i64, id: i64) -> Result<()> {
        let now = now_text();
        on_tx!(self, conn => {
            sqlx::query(
                "UPDATE jobs SET run_after = $1, attempts = attempts - 1 \
                 WHERE tenant_id = $2 AND id = $3 AND done_at IS NULL",
            )
            .bind(now)
            .bind(tenant)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    /// Ends a job (`done` = its outcome) or schedules its next attempt at `run_after`.
    pub async fn finish_job(
        &mut self,
        tenant: i64,
        id: i64,
        outcome: &str,
        done: bool,
        run_after: Option<&str>,
    ) -> Result<()> {
        let now = now_text();
        on_tx!(self, conn => {
            sqlx::query(
                "UPDATE jobs SET outcome = $1, done_at = $2, run_after = COALESCE($3, run_after) \
                 WHERE tenant_id = $4 AND id = $5",
            )
            .bind(outcome)
            .bind(done.then_some(now))
            .bind(run_after)
            .bind(tenant)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    /// Ends many jobs with the same outcome.
    pub async fn finish_jobs(&mut self, tenant: i64, ids: &[i64], outcome: &str) -> Result<()> {
        let now = now_text();
        for chunk in ids.chunks(ROWS_PER_INSERT) {
            match &mut self.inner {
                Inner::Sqlite(t) => {
                    let mut q = QueryBuilder::new("UPDATE jobs SET outcome = ");
                    q.push_bind(outcome)
                        .push(", done_at = ")
                        .push_bind(now.clone());
                    q.push(" WHERE tenant_id = ")
                        .push_bind(tenant)
                        .push(" AND id IN");
                    push_ids(&mut q, chunk);
                    q.build().execute(&mut **t).await?;
                }
                // Joined on the ids: with an `IN` list and the tenant, a planner that has not
                // analyzed the table yet walks every job of the tenant by its index on
                // (tenant, …), once per chunk (seen at 70 ms a chunk for 20,000 jobs).
                Inner::Postgres(t) => {
                    sqlx::query(
                        "UPDATE jobs SET outcome = $1, done_at = $2 FROM UNNEST($3::bigint[]) AS v(id) \
                         WHERE jobs.id = v.id AND jobs.tenant_id = $4",
                    )
                    .bind(outcome)
                    .bind(&now)
                    .bind(chunk)
                    .bind(tenant)
                    .execute(&mut **t)
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Replaces a pending job's payload and attempt count (a charge to try again under a new
    /// key, or that remembers why it waits).
    pub async fn update_job(
        &mut self,
        tenant: i64,
        id: i64,
        payload: &serde_json::Value,
        attempts: i64,
    ) -> Result<()> {
        let payload = json(payload)?;
        on_tx!(self, conn => {
            sqlx::query("UPDATE jobs SET payload = $1, attempts = $2 WHERE tenant_id = $3 AND id = $4")
                .bind(payload)
                .bind(attempts)
                .bind(tenant)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }

    /// Replaces the payloads of many pending jobs, in a statement per thousand.
    pub async fn update_job_payloads(
        &mut self,
        tenant: i64,
        jobs: &[(i64, serde_json::Value)],
    ) -> Result<()> {
        let payloads: Vec<String> = jobs.iter().map(|(_, p)| json(p)).collect::<Result<_>>()?;
        for (chunk, payloads) in jobs
            .chunks(ROWS_PER_INSERT)
            .zip(payloads.chunks(ROWS_PER_INSERT))
        {
            match &mut self.inner {
                Inner::Sqlite(t) => {
                    let mut q = QueryBuilder::new("UPDATE jobs SET payload = v.column2 FROM (");
                    q.push_values(chunk.iter().zip(payloads), |mut b, ((id, _), p)| {
                        b.push_bind(*id).push_bind(p);
                    });
                    q.push(") AS v WHERE jobs.id = v.column1 AND jobs.tenant_id = ")
                        .push_bind(tenant);
                    q.build().execute(&mut **t).await?;
                }
                Inner::Postgres(t) => {
                    let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
                    sqlx::query(
                        "UPDATE jobs SET payload = v.payload \
                         FROM UNNEST($1::bigint[], $2::text[]) AS v(id, payload) \
                         WHERE jobs.id = v.id AND jobs.tenant_id = $3",
                    )
                    .bind(ids)
                    .bind(payloads)
                    .bind(tenant)
                    .execute(&mut **t)
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// A tenant's jobs of `kind` (pending and done), oldest first: what was sent, for audit
    /// and tests.
    pub async fn jobs(&mut self, tenant: i64, kind: JobKind) -> Result<Vec<(Job, Option<String>)>> {
        let rows: Vec<JobOutcomeTuple> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, tenant_id, account_id, kind, payload, CAST(attempts AS BIGINT), outcome FROM jobs \
                 WHERE kind = $1 AND tenant_id = $2 ORDER BY id",
            )
            .bind(kind.as_str())
            .bind(tenant)
            .fetch_all(&mut *conn)
            .await?
        });
        rows.into_iter()
            .map(|(a, b, c, d, e, f, outcome)| Ok((job_from((a, b, c, d, e, f))?, outcome)))
            .collect()
    }

    /// The account's e-mails, newest first (at most `limit`): what the back office lists as
    /// the e-mails sent, with whether each went out and why not.
    pub async fn emails_of_account(
        &mut self,
        tenant: i64,
        account: i64,
        limit: i64,
    ) -> Result<Vec<MailRow>> {
        /// id, payload, created, done, outcome.
        type MailTuple = (i64, String, String, Option<String>, Option<String>);
        let rows: Vec<MailTuple> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, payload, created_at, done_at, outcome FROM jobs \
                 WHERE tenant_id = $1 AND account_id = $2 AND kind = 'email' \
                 ORDER BY id DESC LIMIT $3",
            )
            .bind(tenant)
            .bind(account)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        });
        rows.into_iter()
            .map(|(id, payload, created_at, done_at, outcome)| {
                let payload: serde_json::Value = from_json(&payload)?;
                let to = match &payload["to"] {
                    serde_json::Value::Array(list) => list
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                    serde_json::Value::String(one) => vec![one.clone()],
                    _ => Vec::new(),
                };
                Ok(MailRow {
                    id,
                    template: payload["template"].as_str().unwrap_or_default().to_string(),
                    what: payload["data"]["number"]
                        .as_str()
                        .or_else(|| payload["data"]["notice"].as_str())
                        .or_else(|| payload["data"]["kind"].as_str())
                        .map(str::to_string),
                    to,
                    created_at,
                    done_at,
                    outcome,
                })
            })
            .collect()
    }

    // ------------------------------------------------------------ webhooks

    pub async fn insert_webhook_endpoint(
        &mut self,
        tenant: i64,
        url: &str,
        secret: &str,
        events: &[String],
    ) -> Result<WebhookEndpoint> {
        let now = now_text();
        let events_json = json(&events)?;
        let id: i64 = on_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO webhook_endpoints (tenant_id, url, secret, events, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(tenant)
            .bind(url)
            .bind(secret)
            .bind(events_json)
            .bind(&now)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?
        });
        Ok(WebhookEndpoint {
            id,
            url: url.to_string(),
            events: events.to_vec(),
            created_at: now,
            disabled_at: None,
        })
    }

    /// The tenant's endpoints, each with its signing secret (for the delivery worker only).
    pub async fn webhook_endpoints(
        &mut self,
        tenant: i64,
    ) -> Result<Vec<(WebhookEndpoint, String)>> {
        let rows: Vec<(i64, String, String, String, String, Option<String>)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, url, secret, events, created_at, disabled_at FROM webhook_endpoints \
                 WHERE tenant_id = $1 ORDER BY id",
            )
            .bind(tenant)
            .fetch_all(&mut *conn)
            .await?
        });
        rows.into_iter()
            .map(|(id, url, secret, events, created_at, disabled_at)| {
                Ok((
                    WebhookEndpoint {
                        id,
                        url,
                        events: from_json(&events)?,
                        created_at,
                        disabled_at,
                    },
                    secret,
                ))
            })
            .collect()
    }

    pub async fn disable_webhook_endpoint(&mut self, tenant: i64, id: i64) -> Result<bool> {
        on_tx!(self, conn => {
            let r = sqlx::query(
                "UPDATE webhook_endpoints SET disabled_at = $1 WHERE tenant_id = $2 AND id = $3 AND disabled_at IS NULL",
            )
            .bind(now_text())
            .bind(tenant)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            Ok(r.rows_affected() == 1)
        })
    }

    pub async fn insert_webhook_delivery(
        &mut self,
        tenant: i64,
        d: &WebhookDelivery,
    ) -> Result<()> {
        on_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO webhook_deliveries (tenant_id, endpoint_id, event_id, topic, attempt, \
                 status_code, error, attempted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(tenant)
            .bind(d.endpoint_id)
            .bind(d.event_id)
            .bind(&d.topic)
            .bind(d.attempt)
            .bind(d.status_code)
            .bind(&d.error)
            .bind(&d.attempted_at)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    pub async fn webhook_deliveries(
        &mut self,
        tenant: i64,
        endpoint: i64,
        after: i64,
        limit: i64,
    ) -> Result<Page<WebhookDelivery>> {
        let rows: Vec<DeliveryTuple> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, endpoint_id, event_id, topic, CAST(attempt AS BIGINT), CAST(status_code AS BIGINT), error, attempted_at \
                 FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2 AND id > $3 ORDER BY id LIMIT $4",
            )
            .bind(tenant)
            .bind(endpoint)
            .bind(after)
            .bind(limit + 1)
            .fetch_all(&mut *conn)
            .await?
        });
        let mut items: Vec<WebhookDelivery> = rows
            .into_iter()
            .map(
                |(id, endpoint_id, event_id, topic, attempt, status_code, error, attempted_at)| {
                    WebhookDelivery {
                        id,
                        endpoint_id,
                        event_id,
                        topic,
                        attempt,
                        status_code,
                        error,
                        attempted_at,
                    }
                },
            )
            .collect();
        let next = (items.len() as i64 > limit).then(|| {
            items.truncate(limit as usize);
            items.last().map_or(after, |d| d.id)
        });
        Ok(Page { items, next })
    }
}

fn job_from(r: JobTuple) -> Result<Job> {
    let (id, tenant_id, account_id, kind, payload, attempts) = r;
    Ok(Job {
        id,
        tenant_id,
        account_id,
        kind: job_kind(&kind)?,
        payload: from_json(&payload)?,
        attempts,
    })
}
