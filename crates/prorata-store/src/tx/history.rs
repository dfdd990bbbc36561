//! What the billing run reads of each subscription's history, from its settled-through
//! horizon on ([`prorata_core::horizon`]), and where it writes the next one.
//!
//! Each read takes a list of `(subscription, bound)` pairs: a chunk's subscriptions are due on
//! the same days but spread over the tenant's ids, and each has its own horizon. SQLite joins
//! a `VALUES` list (outer loop, `CROSS JOIN` keeps it so) to the table's index; PostgreSQL
//! probes the index once per pair through a `LATERAL` subquery over two arrays (see
//! `select_by_keys` for why a plain join is not enough on tables not analyzed yet).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use prorata_core::document::Document;
use prorata_core::horizon::Horizon;
use sqlx::QueryBuilder;

use super::{from_json, json, Inner, Tx, ROWS_PER_INSERT};
use crate::Result;

/// The day before every horizon: a subscription without one is read from its start.
pub(crate) fn before_all() -> NaiveDate {
    NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or_default()
}

type SettleRow = (i64, Option<NaiveDate>, Option<NaiveDate>, Option<String>);

/// A subscription's next due day and horizon, as a billing run leaves them.
#[derive(Debug, Clone)]
pub struct Settlement<'a> {
    pub subscription_id: i64,
    pub next_due: Option<NaiveDate>,
    /// `None`: read the whole history next time.
    pub horizon: Option<&'a Horizon>,
}

impl Tx {
    /// The documents of each subscription issued after the given document id (0: all of
    /// them), each with its id, in issue order.
    pub async fn documents_after(
        &mut self,
        tenant: i64,
        after: &[(i64, i64)],
    ) -> Result<BTreeMap<i64, Vec<(i64, Document)>>> {
        let mut out: BTreeMap<i64, Vec<(i64, Document)>> = BTreeMap::new();
        for chunk in after.chunks(ROWS_PER_INSERT) {
            let rows: Vec<(i64, i64, String)> = match &mut self.inner {
                Inner::Sqlite(t) => {
                    let mut q = QueryBuilder::new("SELECT t.subscription_id, t.id, t.body FROM (");
                    q.push_values(chunk, |mut b, (sub, id)| {
                        b.push_bind(*sub).push_bind(*id);
                    });
                    q.push(") AS k CROSS JOIN documents t WHERE t.tenant_id = ")
                        .push_bind(tenant)
                        .push(
                            " AND t.subscription_id = k.column1 AND t.id > k.column2 ORDER BY t.id",
                        );
                    q.build_query_as().fetch_all(&mut **t).await?
                }
                Inner::Postgres(t) => {
                    let (subs, ids): (Vec<i64>, Vec<i64>) = chunk.iter().copied().unzip();
                    sqlx::query_as(
                        "SELECT t.subscription_id, t.id, t.body \
                         FROM UNNEST($2::BIGINT[], $3::BIGINT[]) AS k(s, a) \
                         CROSS JOIN LATERAL (SELECT d.subscription_id, d.id, d.body \
                         FROM documents d WHERE d.tenant_id = $1 AND d.subscription_id = k.s \
                         AND d.id > k.a OFFSET 0) t ORDER BY t.id",
                    )
                    .bind(tenant)
                    .bind(subs)
                    .bind(ids)
                    .fetch_all(&mut **t)
                    .await?
                }
            };
            for (sub, id, body) in rows {
                out.entry(sub).or_default().push((id, from_json(&body)?));
            }
        }
        Ok(out)
    }

    /// Writes what a billing run leaves of each subscription: its next due day and its
    /// horizon. One statement per chunk on both stores (PostgreSQL's arrays; SQLite's
    /// `UPDATE … FROM (VALUES …)`, each row found by its id).
    pub async fn settle(&mut self, tenant: i64, rows: &[Settlement<'_>]) -> Result<()> {
        // (id, next due day, settled through, horizon as JSON)
        let values: Vec<SettleRow> = rows
            .iter()
            .map(|r| {
                Ok((
                    r.subscription_id,
                    r.next_due,
                    r.horizon.map(|h| h.through),
                    r.horizon.map(json).transpose()?,
                ))
            })
            .collect::<Result<_>>()?;
        match &mut self.inner {
            Inner::Sqlite(t) => {
                for chunk in values.chunks(ROWS_PER_INSERT) {
                    let mut q = QueryBuilder::new(
                        "UPDATE subscriptions SET next_due = k.column2, settled_through = k.column3, \
                         horizon = k.column4 FROM (",
                    );
                    q.push_values(chunk, |mut b, (id, due, through, horizon)| {
                        b.push_bind(*id)
                            .push_bind(*due)
                            .push_bind(*through)
                            .push_bind(horizon.as_deref());
                    });
                    q.push(") AS k WHERE subscriptions.tenant_id = ")
                        .push_bind(tenant)
                        .push(" AND subscriptions.id = k.column1");
                    q.build().execute(&mut **t).await?;
                }
            }
            Inner::Postgres(t) => {
                let ids: Vec<i64> = values.iter().map(|v| v.0).collect();
                let due: Vec<Option<NaiveDate>> = values.iter().map(|v| v.1).collect();
                let through: Vec<Option<NaiveDate>> = values.iter().map(|v| v.2).collect();
                let horizons: Vec<Option<String>> = values.into_iter().map(|v| v.3).collect();
                // On a table not analyzed since a bulk load, the tenant's rows look few, and the
                // planner hashed the 2,000 pairs against every row of the tenant read through a
                // bitmap (100,000 read per chunk, found by `tests/plans.rs`). One probe of the
                // primary key per pair is the right plan whatever the statistics.
                for set in [
                    "SET LOCAL enable_hashjoin = off",
                    "SET LOCAL enable_mergejoin = off",
                ] {
                    sqlx::query(set).execute(&mut **t).await?;
                }
                sqlx::query(
                    "UPDATE subscriptions s SET next_due = k.d, settled_through = k.t, horizon = k.h \
                     FROM UNNEST($2::BIGINT[], $3::DATE[], $4::DATE[], $5::TEXT[]) AS k(id, d, t, h) \
                     WHERE s.tenant_id = $1 AND s.id = k.id",
                )
                .bind(tenant)
                .bind(ids)
                .bind(due)
                .bind(through)
                .bind(horizons)
                .execute(&mut **t)
                .await?;
                for set in [
                    "SET LOCAL enable_hashjoin = on",
                    "SET LOCAL enable_mergejoin = on",
                ] {
                    sqlx::query(set).execute(&mut **t).await?;
                }
            }
        }
        Ok(())
    }
}
