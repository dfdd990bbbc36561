//! The API's lists and exports (issue #16, item 3): subscriptions by account and status, and
//! invoices with what the derivation of their status needs, read in batches.
//!
//! Subscriptions filter by status in SQL on the three days stored beside each timeline
//! ([`prorata_core::entitlements::Milestones`]; the conditions below are
//! [`Milestones::status_on`] written in SQL, and a store test holds them to it). Invoices are
//! read as heads (id, account, total, due date: columns, no body) so a caller can derive
//! statuses for a chunk and then read the bodies of the rows it keeps only.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use prorata_core::entitlements::{Milestones, Status as SubscriptionStatus};
use prorata_core::timeline::Subscription;
use sqlx::QueryBuilder;

use super::{doc_row, from_json, page, push_ids, sub_row, Inner, SubRowRaw, Tx, ROWS_PER_INSERT};
use crate::{DocumentRow, Page, Result, SubscriptionRow};

/// What `GET /v1/subscriptions` filters on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriptionFilter {
    pub account: Option<i64>,
    /// The status on a day (the tenant's today).
    pub status: Option<(SubscriptionStatus, NaiveDate)>,
}

/// What the invoice list filters on in SQL (its derived status is the caller's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvoiceRange {
    pub account: Option<i64>,
    /// Issued on or after.
    pub issued_from: Option<NaiveDate>,
    /// Issued on or before.
    pub issued_to: Option<NaiveDate>,
}

/// An invoice without its body: what its status is derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvoiceHead {
    pub id: i64,
    pub account_id: i64,
    /// Minor units.
    pub total: i64,
    pub due_on: Option<NaiveDate>,
}

/// Subscriptions whose stored milestones were not written yet (rows from before migration
/// 13), filled at most this many per transaction.
const FILL_CHUNK: i64 = 500;

impl Tx {
    /// Subscriptions of `tenant` in id order, after id `after`, filtered.
    pub async fn list_subscriptions(
        &mut self,
        tenant: i64,
        filter: SubscriptionFilter,
        after: i64,
        limit: i64,
    ) -> Result<Page<SubscriptionRow>> {
        let rows: Vec<SubRowRaw> = on_tx!(self, conn => {
            let mut q = QueryBuilder::new(
                "SELECT id, account_id, catalog_version_id, body, next_due, revision \
                 FROM subscriptions WHERE tenant_id = ",
            );
            q.push_bind(tenant);
            if let Some(a) = filter.account {
                q.push(" AND account_id = ").push_bind(a);
            }
            if let Some((status, today)) = filter.status {
                // `Milestones::status_on`, in SQL.
                match status {
                    SubscriptionStatus::NotStarted => {
                        q.push(" AND starts_on > ").push_bind(today);
                    }
                    SubscriptionStatus::Ended => {
                        q.push(" AND starts_on <= ").push_bind(today);
                        q.push(" AND ends_on <= ").push_bind(today);
                    }
                    SubscriptionStatus::Trial | SubscriptionStatus::Active => {
                        q.push(" AND starts_on <= ").push_bind(today);
                        q.push(" AND (ends_on IS NULL OR ends_on > ").push_bind(today).push(")");
                        if status == SubscriptionStatus::Trial {
                            q.push(" AND paid_from > ").push_bind(today);
                        } else {
                            q.push(" AND paid_from <= ").push_bind(today);
                        }
                    }
                }
            }
            q.push(" AND id > ").push_bind(after).push(" ORDER BY id LIMIT ").push_bind(limit + 1);
            q.build_query_as().fetch_all(&mut *conn).await?
        });
        page(rows, limit, sub_row, |r| r.id)
    }

    /// Up to `limit` invoices of `tenant` after id `after`, in id order, as heads.
    pub async fn invoice_heads(
        &mut self,
        tenant: i64,
        range: InvoiceRange,
        after: i64,
        limit: i64,
    ) -> Result<Vec<InvoiceHead>> {
        let rows: Vec<(i64, i64, i64, Option<NaiveDate>)> = on_tx!(self, conn => {
            let mut q = QueryBuilder::new(
                "SELECT id, account_id, total, due_on FROM documents WHERE tenant_id = ",
            );
            q.push_bind(tenant).push(" AND kind = 'invoice'");
            if let Some(a) = range.account {
                q.push(" AND account_id = ").push_bind(a);
            }
            if let Some(from) = range.issued_from {
                q.push(" AND issued_on >= ").push_bind(from);
            }
            if let Some(to) = range.issued_to {
                q.push(" AND issued_on <= ").push_bind(to);
            }
            q.push(" AND id > ").push_bind(after).push(" ORDER BY id LIMIT ").push_bind(limit);
            q.build_query_as().fetch_all(&mut *conn).await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, account_id, total, due_on)| InvoiceHead {
                id,
                account_id,
                total,
                due_on,
            })
            .collect())
    }

    /// The invoices of a positive total of the given accounts with id `from` or more, as
    /// `(account, id, total)` in id order: what [`prorata_core::settlement::settle_one`]
    /// needs of the invoices newer than one of them.
    pub async fn invoice_totals_from(
        &mut self,
        tenant: i64,
        accounts: &[i64],
        from: i64,
    ) -> Result<Vec<(i64, i64, i64)>> {
        let mut out = Vec::new();
        for chunk in accounts.chunks(ROWS_PER_INSERT) {
            let rows: Vec<(i64, i64, i64)> = on_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "SELECT account_id, id, total FROM documents WHERE tenant_id = ",
                );
                q.push_bind(tenant)
                    .push(" AND kind = 'invoice' AND total > 0 AND id >= ")
                    .push_bind(from)
                    .push(" AND account_id IN");
                push_ids(&mut q, chunk);
                q.build_query_as().fetch_all(&mut *conn).await?
            });
            out.extend(rows);
        }
        out.sort_by_key(|r| r.1);
        Ok(out)
    }

    /// Documents of `tenant` by id, in id order (ids of another tenant are not found).
    pub async fn documents_by_ids(&mut self, tenant: i64, ids: &[i64]) -> Result<Vec<DocumentRow>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_INSERT) {
            let rows: Vec<(i64, i64, i64, String)> = on_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "SELECT id, account_id, subscription_id, body FROM documents WHERE tenant_id = ",
                );
                q.push_bind(tenant).push(" AND id IN");
                push_ids(&mut q, chunk);
                q.build_query_as().fetch_all(&mut *conn).await?
            });
            for r in rows {
                out.push(doc_row(r)?);
            }
        }
        out.sort_by_key(|d| d.id);
        Ok(out)
    }

    /// Writes the milestones of up to [`FILL_CHUNK`] subscriptions that have none yet (of any
    /// tenant: a migration step, run by `Store::migrate`); how many it wrote.
    pub(crate) async fn fill_milestones(&mut self) -> Result<usize> {
        let rows: Vec<(i64, String)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, body FROM subscriptions WHERE starts_on IS NULL ORDER BY id LIMIT $1",
            )
            .bind(FILL_CHUNK)
            .fetch_all(&mut *conn)
            .await?
        });
        let mut days: BTreeMap<i64, Milestones> = BTreeMap::new();
        for (id, body) in &rows {
            let sub: Subscription = from_json(body)?;
            days.insert(*id, super::milestones(&sub));
        }
        for (id, m) in &days {
            on_tx!(self, conn => {
                sqlx::query(
                    "UPDATE subscriptions SET starts_on = $1, paid_from = $2, ends_on = $3 WHERE id = $4",
                )
                .bind(m.starts_on)
                .bind(m.paid_from)
                .bind(m.ends_on)
                .bind(*id)
                .execute(&mut *conn)
                .await?;
            });
        }
        Ok(days.len())
    }
}
