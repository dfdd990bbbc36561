//! Payment data: the tenant's collection settings, payment methods, payments, standings,
//! the purge of an account's personal data, and the sandbox gateway's memory. Every query
//! names its tenant, except the sandbox gateway's (an outside system in-process; its keys
//! carry the tenant).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use prorata_core::account::Account;
use prorata_core::dunning::{Schedule, Standing};
use prorata_core::payment::{CollectionSettings, PaymentMethod};
use prorata_core::{Currency, Money};
use sqlx::{QueryBuilder, Row};

use super::{from_json, json, push_ids, push_texts, Inner, Tx, ROWS_PER_INSERT};
use crate::model::*;
use crate::{now_text, Result, StoreError};

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

    /// Writes many payments in multi-row statements; their ids, in order.
    pub async fn insert_payments(
        &mut self,
        tenant: i64,
        payments: &[NewPayment],
    ) -> Result<Vec<i64>> {
        let now = now_text();
        let mut by_key: BTreeMap<String, i64> = BTreeMap::new();
        for chunk in payments.chunks(ROWS_PER_INSERT) {
            let keys: Vec<String> = chunk.iter().map(|p| p.idempotency_key.clone()).collect();
            on_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO payments (tenant_id, account_id, method, amount, currency, status, \
                     failure, reference, idempotency_key, paid_on, created_at) ",
                );
                q.push_values(chunk, |mut b, p| {
                    b.push_bind(tenant)
                        .push_bind(p.account_id)
                        .push_bind(p.method.clone())
                        .push_bind(p.amount.minor())
                        .push_bind(p.amount.currency().code())
                        .push_bind(p.status.as_str())
                        .push_bind(p.failure.clone())
                        .push_bind(p.reference.clone())
                        .push_bind(p.idempotency_key.clone())
                        .push_bind(p.paid_on)
                        .push_bind(now.clone());
                });
                q.build().execute(&mut *conn).await?;
            });
            // RETURNING's order is not promised: the ids are read back by key, one probe of
            // the unique (tenant, key) index each (see `push_texts`).
            let rows: Vec<(i64, String)> = on_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "SELECT id, idempotency_key FROM payments WHERE tenant_id = ",
                );
                q.push_bind(tenant).push(" AND idempotency_key IN");
                push_texts(&mut q, &keys);
                q.build_query_as().fetch_all(&mut *conn).await?
            });
            by_key.extend(rows.into_iter().map(|(id, key)| (key, id)));
        }
        payments
            .iter()
            .map(|p| {
                by_key.get(&p.idempotency_key).copied().ok_or_else(|| {
                    StoreError::Corrupt(format!("payment {} not written", p.idempotency_key))
                })
            })
            .collect()
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
        let status = standing.status.as_str();
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
            // The account's people are personal data too: their sessions and links go with
            // them (ON DELETE CASCADE); change requests keep no trace of who asked.
            sqlx::query("DELETE FROM account_logos WHERE tenant_id = $1 AND account_id = $2")
                .bind(tenant)
                .bind(account)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND account_id = $2")
                .bind(tenant)
                .bind(account)
                .execute(&mut *conn)
                .await?;
            // Tickets keep their dates, reasons and statuses; what the customer wrote and sent
            // goes. The audit trail keeps who did what and when, without the address or the
            // values (seed 004's deletion; the trail itself is never deleted).
            for sql in [
                "DELETE FROM ticket_files WHERE tenant_id = $1 AND ticket_id IN \
                 (SELECT id FROM tickets WHERE tenant_id = $1 AND account_id = $2)",
                "UPDATE ticket_messages SET body = '(purged)' WHERE tenant_id = $1 AND ticket_id IN \
                 (SELECT id FROM tickets WHERE tenant_id = $1 AND account_id = $2)",
                "UPDATE tickets SET subject = '(purged)' WHERE tenant_id = $1 AND account_id = $2",
                "UPDATE audit_log SET address = NULL, before = NULL, after = NULL \
                 WHERE tenant_id = $1 AND account_id = $2",
            ] {
                sqlx::query(sql)
                    .bind(tenant)
                    .bind(account)
                    .execute(&mut *conn)
                    .await?;
            }
        });
        Ok(())
    }

    // ------------------------------------------------------------ sandbox gateway

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
