//! The API's lists (issue #16, item 3): subscriptions by account and status, and invoices with
//! what is due on each and their status, derived from the ledger at the tenant's today.
//!
//! An invoice's status is never stored: it is [`prorata_core::settlement`]'s rule applied to
//! the account's balance and the invoices newer than it. A page costs a fixed handful of
//! statements whatever its size: the heads of a chunk of invoices (columns only), the
//! balances of the chunk's accounts, their newer invoices' totals, then the bodies of the rows
//! kept — never one query per invoice or per account.
//!
//! Filtering by a derived status (`status`, `overdue`) cannot be done by an index: the list
//! reads chunks of invoices in id order, derives their statuses and keeps the matching ones,
//! up to [`SCAN_BUDGET`] invoices a request. A page that reaches the budget before it is full
//! ends early, with a cursor to go on from: a client follows `next_cursor` until it is absent,
//! as for any page, and no request's work grows with the size of the tenant.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use prorata_core::entitlements::Status as SubscriptionStatus;
use prorata_core::money::Money;
use prorata_core::settlement::{settle_one, InvoiceStatus, Owed, Settled};
use prorata_store::{
    DocumentRow, InvoiceHead, InvoiceRange, Page, SubscriptionFilter, SubscriptionRow, Tenant, Tx,
};

use crate::{distinct, Engine, Result};

/// Invoice heads read per statement while filtering by a derived status.
const SCAN_CHUNK: i64 = 500;

/// The most invoices one request reads while filtering by a derived status.
pub const SCAN_BUDGET: usize = 2_000;

/// What the invoice list filters on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InvoiceFilter {
    pub range: InvoiceRange,
    pub status: Option<InvoiceStatus>,
    /// `Some(true)`: only invoices with something due after their due date; `Some(false)`:
    /// only the others.
    pub overdue: Option<bool>,
}

impl InvoiceFilter {
    fn derived(&self) -> bool {
        self.status.is_some() || self.overdue.is_some()
    }

    fn keeps(&self, s: &Settled) -> bool {
        self.status.is_none_or(|status| s.status == status)
            && self
                .overdue
                .is_none_or(|o| o == (s.status == InvoiceStatus::Overdue))
    }
}

/// An invoice with what is due on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceView {
    pub row: DocumentRow,
    pub amount_due: Money,
    pub status: InvoiceStatus,
}

impl Engine {
    /// Subscriptions of `tenant` in id order, optionally of one account and in one status
    /// on the tenant's today.
    pub async fn list_subscriptions(
        &self,
        tenant: &Tenant,
        account: Option<i64>,
        status: Option<SubscriptionStatus>,
        after: i64,
        limit: i64,
    ) -> Result<Page<SubscriptionRow>> {
        let filter = SubscriptionFilter {
            account,
            status: status.map(|s| (s, Engine::today(tenant))),
        };
        let mut tx = self.store.read().await?;
        Ok(tx
            .list_subscriptions(tenant.id, filter, after, limit)
            .await?)
    }

    /// Invoices of `tenant` in id order after id `after`, with what is due on each at the
    /// tenant's today; at most `limit` of them. Filtering by a derived status reads at most
    /// [`SCAN_BUDGET`] invoices: the page may then hold fewer than `limit`, with a cursor.
    pub async fn list_invoices(
        &self,
        tenant: &Tenant,
        filter: &InvoiceFilter,
        after: i64,
        limit: i64,
    ) -> Result<Page<InvoiceView>> {
        let today = Engine::today(tenant);
        let chunk = if filter.derived() {
            SCAN_CHUNK.max(limit + 1)
        } else {
            limit + 1
        };
        let wanted = usize::try_from(limit).unwrap_or(0);
        // One snapshot for the balances and the invoices they settle.
        let mut tx = self.store.begin().await?;
        let mut kept: Vec<(i64, Settled)> = Vec::new();
        let mut next = None;
        let mut cursor = after;
        let mut scanned = 0;
        'scan: loop {
            let heads = tx
                .invoice_heads(tenant.id, filter.range, cursor, chunk)
                .await?;
            let settled = settle_heads(&mut tx, tenant.id, &heads, today).await?;
            for (head, s) in heads.iter().zip(settled) {
                if !filter.keeps(&s) {
                    continue;
                }
                if kept.len() == wanted {
                    next = kept.last().map(|k| k.0);
                    break 'scan;
                }
                kept.push((head.id, s));
            }
            let Some(last) = heads.last() else {
                break;
            };
            if (heads.len() as i64) < chunk {
                break;
            }
            cursor = last.id;
            scanned += heads.len();
            if scanned >= SCAN_BUDGET {
                next = Some(cursor);
                break;
            }
        }
        let ids: Vec<i64> = kept.iter().map(|k| k.0).collect();
        let rows = tx.documents_by_ids(tenant.id, &ids).await?;
        tx.rollback().await?;
        let settled: BTreeMap<i64, Settled> = kept.into_iter().collect();
        let items = rows
            .into_iter()
            .filter_map(|row| {
                let s = settled.get(&row.id)?;
                Some(InvoiceView {
                    amount_due: Money::from_minor(s.amount_due, row.document.currency),
                    status: s.status,
                    row,
                })
            })
            .collect();
        Ok(Page { items, next })
    }

    /// What is due on each of `rows` (invoices of `tenant`; other documents get nothing), at
    /// the tenant's today: one view per invoice, in the order given.
    pub async fn invoice_views(
        &self,
        tenant: &Tenant,
        rows: Vec<DocumentRow>,
    ) -> Result<Vec<InvoiceView>> {
        let heads: Vec<InvoiceHead> = rows
            .iter()
            .map(|r| InvoiceHead {
                id: r.id,
                account_id: r.account_id,
                total: r.document.total.minor(),
                due_on: r.document.due_on,
            })
            .collect();
        let mut tx = self.store.begin().await?;
        let settled = settle_heads(&mut tx, tenant.id, &heads, Engine::today(tenant)).await?;
        tx.rollback().await?;
        Ok(rows
            .into_iter()
            .zip(settled)
            .map(|(row, s)| InvoiceView {
                amount_due: Money::from_minor(s.amount_due, row.document.currency),
                status: s.status,
                row,
            })
            .collect())
    }
}

/// What is due on each head, in order: two statements for all of them (the balances of their
/// accounts, and those accounts' invoices from the oldest head on).
async fn settle_heads(
    tx: &mut Tx,
    tenant: i64,
    heads: &[InvoiceHead],
    today: NaiveDate,
) -> Result<Vec<Settled>> {
    let Some(first) = heads.iter().map(|h| h.id).min() else {
        return Ok(Vec::new());
    };
    let accounts = distinct(heads.iter().map(|h| h.account_id));
    let balances = tx.balances(tenant, &accounts).await?;
    // Per account, its invoices of a positive total from `first` on, in id order, and from
    // each on the sum of their totals: what is owed on newer invoices first.
    let mut newer: BTreeMap<i64, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    for (account, id, total) in tx.invoice_totals_from(tenant, &accounts, first).await? {
        let (ids, totals) = newer.entry(account).or_default();
        ids.push(id);
        totals.push(total);
    }
    for (_, totals) in newer.values_mut() {
        let mut sum = 0i64;
        for t in totals.iter_mut().rev() {
            sum = sum.saturating_add(*t);
            *t = sum;
        }
    }
    Ok(heads
        .iter()
        .map(|h| {
            // The totals of the account's invoices after `h` (all read: their ids are above
            // the first head's).
            let newer_total = newer.get(&h.account_id).map_or(0, |(ids, sums)| {
                let i = ids.partition_point(|id| *id <= h.id);
                sums.get(i).copied().unwrap_or(0)
            });
            let balance = balances.get(&h.account_id).copied().unwrap_or(0);
            settle_one(
                Owed {
                    total: h.total,
                    due_on: h.due_on,
                },
                newer_total,
                balance,
                today,
            )
        })
        .collect())
}
