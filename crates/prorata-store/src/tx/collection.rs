//! Collection: payment methods, payments, standings, jobs, outbox events, webhook endpoints
//! and deliveries, and the sandbox gateway's memory. Every query names its tenant, except the
//! delivery workers' claim (it serves every tenant and returns each job's tenant) and the
//! sandbox gateway (an outside system in-process; its keys carry the tenant).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use prorata_core::account::Account;
use prorata_core::dunning::{Schedule, Standing};
use prorata_core::payment::{CollectionSettings, PaymentMethod};
use prorata_core::{Currency, Money};
use sqlx::{QueryBuilder, Row};

use super::{from_json, json, push_ids, Inner, Tx, ROWS_PER_INSERT};
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

fn currency(code: &str) -> Result<Currency> {
    code.parse().map_err(|e: prorata_core::money::MoneyError| {
        StoreError::Corrupt(format!("currency {code:?}: {e}"))
    })
}

type PaymentTuple = (
    i64,
    i64,
    String,
    i64,
    i64,
    String,
    String,
    Option<String>,
    String,
    NaiveDate,
);

fn payment_from(r: PaymentTuple) -> Result<Payment> {
    let (id, account_id, method, amount, refunded, cur, status, failure, reference, paid_on) = r;
    let cur = currency(&cur)?;
    Ok(Payment {
        id,
        account_id,
        method,
        amount: Money::from_minor(amount, cur),
        refunded: Money::from_minor(refunded, cur),
        status: match status.as_str() {
            "succeeded" => PaymentStatus::Succeeded,
            "failed" => PaymentStatus::Failed,
            other => return Err(StoreError::Corrupt(format!("payment status {other:?}"))),
        },
        failure,
        reference,
        paid_on,
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

const PAYMENT_COLUMNS: &str =
    "id, account_id, method, amount, refunded, currency, status, failure, reference, paid_on";

impl Tx {
    pub async fn set_collection(
        &mut self,
        tenant: i64,
        settings: &CollectionSettings,
    ) -> Result<()> {
        let body = json(settings)?;
        on_tx!(self, conn => {
            sqlx::query("UPDATE tenants SET collection = $1 WHERE id = $2")
                .bind(body)
                .bind(tenant)
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }

    // ------------------------------------------------------------ payment methods

    /// Makes `method` the account's payment method, detaching the one before.
    pub async fn attach_payment_method(
        &mut self,
        tenant: i64,
        account: i64,
        method: &PaymentMethod,
    ) -> Result<i64> {
        let body = json(method)?;
        let now = now_text();
        on_tx!(self, conn => {
            sqlx::query(
                "UPDATE payment_methods SET detached_at = $1 \
                 WHERE tenant_id = $2 AND account_id = $3 AND detached_at IS NULL",
            )
            .bind(&now)
            .bind(tenant)
            .bind(account)
            .execute(&mut *conn)
            .await?;
            let row = sqlx::query(
                "INSERT INTO payment_methods (tenant_id, account_id, kind, body, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(tenant)
            .bind(account)
            .bind(method.kind())
            .bind(&body)
            .bind(&now)
            .fetch_one(&mut *conn)
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    /// The current payment method of each of `accounts` that has one.
    pub async fn payment_methods(
        &mut self,
        tenant: i64,
        accounts: &[i64],
    ) -> Result<BTreeMap<i64, PaymentMethod>> {
        let mut out = BTreeMap::new();
        for chunk in accounts.chunks(ROWS_PER_INSERT) {
            let rows: Vec<(i64, String)> = on_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "SELECT account_id, body FROM payment_methods WHERE detached_at IS NULL AND tenant_id = ",
                );
                q.push_bind(tenant).push(" AND account_id IN");
                push_ids(&mut q, chunk);
                q.build_query_as().fetch_all(&mut *conn).await?
            });
            for (account, body) in rows {
                out.insert(account, from_json(&body)?);
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------ payments

    pub async fn insert_payment(&mut self, tenant: i64, p: &NewPayment) -> Result<i64> {
        let now = now_text();
        on_tx!(self, conn => {
            let row = sqlx::query(
                "INSERT INTO payments (tenant_id, account_id, method, amount, currency, status, \
                 failure, reference, idempotency_key, paid_on, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(tenant)
            .bind(p.account_id)
            .bind(&p.method)
            .bind(p.amount.minor())
            .bind(p.amount.currency().code())
            .bind(p.status.as_str())
            .bind(&p.failure)
            .bind(&p.reference)
            .bind(&p.idempotency_key)
            .bind(p.paid_on)
            .bind(&now)
            .fetch_one(&mut *conn)
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    pub async fn payments(&mut self, tenant: i64, account: i64) -> Result<Vec<Payment>> {
        let rows: Vec<PaymentTuple> = on_tx!(self, conn => {
            sqlx::query_as(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments WHERE tenant_id = $1 AND account_id = $2 ORDER BY id"
            ))
            .bind(tenant)
            .bind(account)
            .fetch_all(&mut *conn)
            .await?
        });
        rows.into_iter().map(payment_from).collect()
    }

    pub async fn payment(&mut self, tenant: i64, id: i64) -> Result<Option<Payment>> {
        let row: Option<PaymentTuple> = on_tx!(self, conn => {
            sqlx::query_as(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments WHERE tenant_id = $1 AND id = $2"
            ))
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        });
        row.map(payment_from).transpose()
    }

    /// Adds `amount` to what was refunded of a payment, unless that would exceed the payment:
    /// returns whether it was added.
    pub async fn add_refunded(&mut self, tenant: i64, id: i64, amount: i64) -> Result<bool> {
        on_tx!(self, conn => {
            let done = sqlx::query(
                "UPDATE payments SET refunded = refunded + $1 \
                 WHERE tenant_id = $2 AND id = $3 AND status = 'succeeded' AND refunded + $1 <= amount",
            )
            .bind(amount)
            .bind(tenant)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    // ------------------------------------------------------------ standings

    /// The standing of each of `accounts`; accounts never in trouble have none stored and
    /// get the default (active).
    pub async fn standings(
        &mut self,
        tenant: i64,
        accounts: &[i64],
    ) -> Result<BTreeMap<i64, Standing>> {
        let mut out: BTreeMap<i64, Standing> =
            accounts.iter().map(|a| (*a, Standing::default())).collect();
        for chunk in accounts.chunks(ROWS_PER_INSERT) {
            let rows: Vec<(i64, String)> = on_tx!(self, conn => {
                let mut q = QueryBuilder::new("SELECT account_id, body FROM standings WHERE tenant_id = ");
                q.push_bind(tenant).push(" AND account_id IN");
                push_ids(&mut q, chunk);
                q.build_query_as().fetch_all(&mut *conn).await?
            });
            for (account, body) in rows {
                out.insert(account, from_json(&body)?);
            }
        }
        Ok(out)
    }

    /// One account's standing.
    pub async fn standing(&mut self, tenant: i64, account: i64) -> Result<Standing> {
        Ok(self
            .standings(tenant, &[account])
            .await?
            .remove(&account)
            .unwrap_or_default())
    }

    /// One account's current payment method.
    pub async fn payment_method(
        &mut self,
        tenant: i64,
        account: i64,
    ) -> Result<Option<PaymentMethod>> {
        Ok(self
            .payment_methods(tenant, &[account])
            .await?
            .remove(&account))
    }

    /// One account's balance (the sum of its ledger entries), in minor units.
    pub async fn balance(&mut self, tenant: i64, account: i64) -> Result<i64> {
        Ok(self
            .balances(tenant, &[account])
            .await?
            .get(&account)
            .copied()
            .unwrap_or(0))
    }

    pub async fn save_standing(
        &mut self,
        tenant: i64,
        account: i64,
        standing: &Standing,
        schedule: &Schedule,
    ) -> Result<()> {
        let body = json(standing)?;
        let status = json(&standing.status)?;
        let status = status.trim_matches('"').to_string();
        let next = standing.next_due(schedule);
        on_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO standings (tenant_id, account_id, status, next_due, body) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (tenant_id, account_id) DO UPDATE \
                 SET status = excluded.status, next_due = excluded.next_due, body = excluded.body",
            )
            .bind(tenant)
            .bind(account)
            .bind(status)
            .bind(next)
            .bind(body)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    /// Accounts whose dunning schedule has something to do on or before `on`.
    pub async fn standings_due(
        &mut self,
        tenant: i64,
        on: NaiveDate,
        limit: i64,
    ) -> Result<Vec<(i64, Standing)>> {
        let rows: Vec<(i64, String)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT account_id, body FROM standings WHERE tenant_id = $1 AND next_due <= $2 \
                 ORDER BY next_due, account_id LIMIT $3",
            )
            .bind(tenant)
            .bind(on)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        });
        rows.into_iter()
            .map(|(a, body)| Ok((a, from_json(&body)?)))
            .collect()
    }

    /// The earliest day any account's dunning schedule has something to do.
    pub async fn earliest_standing_due(&mut self, tenant: i64) -> Result<Option<NaiveDate>> {
        on_tx!(self, conn => {
            let row: (Option<NaiveDate>,) = sqlx::query_as("SELECT MIN(next_due) FROM standings WHERE tenant_id = $1")
                .bind(tenant)
                .fetch_one(&mut *conn)
                .await?;
            Ok(row.0)
        })
    }

    /// Seed 004's purge: the account keeps its row (documents and the ledger point to it) but
    /// loses every personal field; its payment methods are deleted and the e-mail addresses
    /// kept in its finished jobs are blanked. Documents keep the buyer they were issued to.
    pub async fn purge_account(
        &mut self,
        tenant: i64,
        account: i64,
        purged: &Account,
    ) -> Result<()> {
        self.update_account(tenant, account, purged).await?;
        on_tx!(self, conn => {
            sqlx::query("DELETE FROM payment_methods WHERE tenant_id = $1 AND account_id = $2")
                .bind(tenant)
                .bind(account)
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "UPDATE jobs SET payload = '{\"purged\":true}' \
                 WHERE tenant_id = $1 AND account_id = $2 AND kind = 'email' AND done_at IS NOT NULL",
            )
            .bind(tenant)
            .bind(account)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE jobs SET payload = '{\"purged\":true}', done_at = $3, outcome = 'purged' \
                 WHERE tenant_id = $1 AND account_id = $2 AND kind = 'email' AND done_at IS NULL",
            )
            .bind(tenant)
            .bind(account)
            .bind(now_text())
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

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

    pub async fn insert_jobs(&mut self, tenant: i64, jobs: &[NewJob]) -> Result<Vec<i64>> {
        let now = now_text();
        let mut ids = Vec::with_capacity(jobs.len());
        for job in jobs {
            let payload = json(&job.payload)?;
            let id: i64 = on_tx!(self, conn => {
                sqlx::query(
                    "INSERT INTO jobs (tenant_id, account_id, kind, payload, run_after, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                )
                .bind(tenant)
                .bind(job.account_id)
                .bind(job.kind.as_str())
                .bind(payload)
                .bind(&now)
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?
            });
            ids.push(id);
        }
        Ok(ids)
    }

    /// A tenant's pending jobs of `kind`, oldest first (charges are run by the tenant's
    /// collection pass on its business date, whatever their `run_after`).
    pub async fn pending_jobs(
        &mut self,
        tenant: i64,
        kind: JobKind,
        limit: i64,
    ) -> Result<Vec<Job>> {
        let rows: Vec<JobTuple> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, tenant_id, account_id, kind, payload, CAST(attempts AS BIGINT) FROM jobs \
                 WHERE done_at IS NULL AND kind = $1 AND tenant_id = $2 ORDER BY id LIMIT $3",
            )
            .bind(kind.as_str())
            .bind(tenant)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        });
        rows.into_iter().map(job_from).collect()
    }

    /// Claims up to `limit` jobs of `kind` due by `now`, across tenants, by pushing their
    /// `run_after` to `lease_until` and counting the attempt: a worker that dies holding them
    /// lets them come back when the lease ends; two workers never hold the same job at once.
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

    /// Replaces a pending job's payload and attempt count (a charge fixes its amount and key
    /// before calling the gateway).
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

    /// The tenant's endpoints; with `secrets`, each one's signing secret beside it.
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

    // ------------------------------------------------------------ sandbox gateway

    /// The sandbox gateway's stored outcome for an idempotency key.
    pub async fn sandbox_call(&mut self, key: &str) -> Result<Option<String>> {
        on_tx!(self, conn => {
            let row: Option<(String,)> = sqlx::query_as("SELECT outcome FROM sandbox_gateway WHERE idempotency_key = $1")
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?;
            Ok(row.map(|r| r.0))
        })
    }

    pub async fn sandbox_record(
        &mut self,
        key: &str,
        operation: &str,
        token: &str,
        amount: i64,
        outcome: &str,
    ) -> Result<()> {
        on_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO sandbox_gateway (idempotency_key, operation, token, amount, outcome, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(key)
            .bind(operation)
            .bind(token)
            .bind(amount)
            .bind(outcome)
            .bind(now_text())
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    /// How many `operation` calls the sandbox gateway has answered for `token`, and for keys
    /// starting with `key_prefix` (one tenant's calls).
    pub async fn sandbox_count(
        &mut self,
        key_prefix: &str,
        token: &str,
        operation: &str,
    ) -> Result<i64> {
        on_tx!(self, conn => {
            let row: (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM sandbox_gateway WHERE token = $1 AND operation = $2 \
                 AND substr(idempotency_key, 1, length($3)) = $3",
            )
            .bind(token)
            .bind(operation)
            .bind(key_prefix)
            .fetch_one(&mut *conn)
            .await?;
            Ok(row.0)
        })
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
