//! Usage: call records kept whole and deduplicated by event id, and the daily totals invoicing
//! reads.
//!
//! A batch is written with a handful of statements whatever its size: multi-row inserts of
//! 2,000 rows on SQLite, one array per column read by `UNNEST` on PostgreSQL — no per-row
//! round trip.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use prorata_core::reconcile::UsageRecord;
use sqlx::QueryBuilder;

use super::{push_ids, Inner, Tx, ROWS_PER_INSERT};
use crate::Result;

/// A call record ready to be stored: checked, dated, attributed and rated by the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall {
    pub event_id: String,
    pub account_id: i64,
    pub subscription_id: i64,
    pub started_at: DateTime<Utc>,
    pub usage_date: NaiveDate,
    pub outbound: bool,
    pub toll_free: bool,
    pub caller: String,
    pub callee: String,
    pub duration_seconds: i64,
    /// `None`: a free call.
    pub metric: Option<String>,
    pub billable_seconds: i64,
}

/// Usage to add to a subscription's daily total.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DailyUsage {
    pub subscription_id: i64,
    pub metric: String,
    pub usage_date: NaiveDate,
    pub events: i64,
    pub quantity: i64,
}

/// Rows per SQLite statement: 14 binds each, under SQLite's 32,766.
const SQLITE_ROWS: usize = 2000;

fn direction(outbound: bool) -> &'static str {
    if outbound {
        "outbound"
    } else {
        "inbound"
    }
}

impl Tx {
    /// Stores the calls whose event id the tenant has not sent before and returns those ids.
    /// `calls` must not repeat an event id.
    pub async fn insert_calls(
        &mut self,
        tenant: i64,
        recorded_on: NaiveDate,
        calls: &[NewCall],
    ) -> Result<Vec<String>> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        match &mut self.inner {
            Inner::Sqlite(t) => {
                // The ids already known (few: resent events), then a plain insert of the rest.
                // No RETURNING: each returned row would cross from SQLite's worker thread one
                // message at a time. Reading first is safe: were another writer to commit
                // between the read and the insert, SQLite refuses the insert (the read
                // snapshot is stale) and the whole batch fails and is retried.
                let ids: Vec<&str> = calls.iter().map(|c| c.event_id.as_str()).collect();
                let known: Vec<(String,)> = sqlx::query_as(
                    "SELECT event_id FROM usage_events WHERE tenant_id = $1 \
                     AND event_id IN (SELECT value FROM json_each($2))",
                )
                .bind(tenant)
                .bind(serde_json::to_string(&ids)?)
                .fetch_all(&mut **t)
                .await?;
                let known: std::collections::HashSet<String> =
                    known.into_iter().map(|(id,)| id).collect();
                let fresh: Vec<&NewCall> = calls
                    .iter()
                    .filter(|c| !known.contains(&c.event_id))
                    .collect();
                for chunk in fresh.chunks(SQLITE_ROWS) {
                    let mut q = QueryBuilder::new(
                        "INSERT INTO usage_events (tenant_id, event_id, account_id, \
                         subscription_id, started_at, usage_date, direction, toll_free, caller, \
                         callee, duration_seconds, metric, billable_seconds, recorded_on) ",
                    );
                    q.push_values(chunk, |mut b, c| {
                        b.push_bind(tenant)
                            .push_bind(c.event_id.as_str())
                            .push_bind(c.account_id)
                            .push_bind(c.subscription_id)
                            .push_bind(
                                c.started_at
                                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                            )
                            .push_bind(c.usage_date)
                            .push_bind(direction(c.outbound))
                            .push_bind(c.toll_free)
                            .push_bind(c.caller.as_str())
                            .push_bind(c.callee.as_str())
                            .push_bind(c.duration_seconds)
                            .push_bind(c.metric.as_deref())
                            .push_bind(c.billable_seconds)
                            .push_bind(recorded_on);
                    });
                    q.build().execute(&mut **t).await?;
                }
                Ok(fresh.into_iter().map(|c| c.event_id.clone()).collect())
            }
            Inner::Postgres(t) => {
                let ids: Vec<&str> = calls.iter().map(|c| c.event_id.as_str()).collect();
                let new: Vec<(String,)> = sqlx::query_as(
                    "INSERT INTO usage_event_ids (tenant_id, event_id) \
                     SELECT $1, UNNEST($2::TEXT[]) ON CONFLICT DO NOTHING RETURNING event_id",
                )
                .bind(tenant)
                .bind(&ids)
                .fetch_all(&mut **t)
                .await?;
                let new: Vec<String> = new.into_iter().map(|(id,)| id).collect();
                let fresh: std::collections::HashSet<&str> =
                    new.iter().map(String::as_str).collect();
                let keep: Vec<&NewCall> = calls
                    .iter()
                    .filter(|c| fresh.contains(c.event_id.as_str()))
                    .collect();
                if keep.is_empty() {
                    return Ok(new);
                }
                sqlx::query(
                    "INSERT INTO usage_events (tenant_id, event_id, account_id, subscription_id, \
                     started_at, usage_date, direction, toll_free, caller, callee, \
                     duration_seconds, metric, billable_seconds, recorded_on) \
                     SELECT $1, u.*, $14 FROM UNNEST($2::TEXT[], $3::BIGINT[], $4::BIGINT[], \
                     $5::TIMESTAMPTZ[], $6::DATE[], $7::TEXT[], $8::BOOLEAN[], $9::TEXT[], \
                     $10::TEXT[], $11::BIGINT[], $12::TEXT[], $13::BIGINT[]) AS u",
                )
                .bind(tenant)
                .bind(keep.iter().map(|c| c.event_id.as_str()).collect::<Vec<_>>())
                .bind(keep.iter().map(|c| c.account_id).collect::<Vec<_>>())
                .bind(keep.iter().map(|c| c.subscription_id).collect::<Vec<_>>())
                .bind(keep.iter().map(|c| c.started_at).collect::<Vec<_>>())
                .bind(keep.iter().map(|c| c.usage_date).collect::<Vec<_>>())
                .bind(
                    keep.iter()
                        .map(|c| direction(c.outbound))
                        .collect::<Vec<_>>(),
                )
                .bind(keep.iter().map(|c| c.toll_free).collect::<Vec<_>>())
                .bind(keep.iter().map(|c| c.caller.as_str()).collect::<Vec<_>>())
                .bind(keep.iter().map(|c| c.callee.as_str()).collect::<Vec<_>>())
                .bind(keep.iter().map(|c| c.duration_seconds).collect::<Vec<_>>())
                .bind(keep.iter().map(|c| c.metric.as_deref()).collect::<Vec<_>>())
                .bind(keep.iter().map(|c| c.billable_seconds).collect::<Vec<_>>())
                .bind(recorded_on)
                .execute(&mut **t)
                .await?;
                Ok(new)
            }
        }
    }

    /// Adds to the daily totals learnt on `recorded_on`. `rows` must not repeat a
    /// (subscription, metric, day).
    pub async fn add_daily_usage(
        &mut self,
        tenant: i64,
        recorded_on: NaiveDate,
        rows: &[DailyUsage],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        const UPSERT: &str =
            " ON CONFLICT (tenant_id, subscription_id, metric, usage_date, recorded_on) \
             DO UPDATE SET events = usage_daily.events + excluded.events, \
             quantity = usage_daily.quantity + excluded.quantity";
        match &mut self.inner {
            Inner::Sqlite(t) => {
                for chunk in rows.chunks(SQLITE_ROWS) {
                    let mut q = QueryBuilder::new(
                        "INSERT INTO usage_daily (tenant_id, subscription_id, metric, usage_date, \
                         recorded_on, events, quantity) ",
                    );
                    q.push_values(chunk, |mut b, r| {
                        b.push_bind(tenant)
                            .push_bind(r.subscription_id)
                            .push_bind(r.metric.as_str())
                            .push_bind(r.usage_date)
                            .push_bind(recorded_on)
                            .push_bind(r.events)
                            .push_bind(r.quantity);
                    });
                    q.push(UPSERT);
                    q.build().execute(&mut **t).await?;
                }
            }
            Inner::Postgres(t) => {
                sqlx::query(&format!(
                    "INSERT INTO usage_daily (tenant_id, subscription_id, metric, usage_date, \
                     recorded_on, events, quantity) \
                     SELECT $1, u.s, u.m, u.d, $2, u.e, u.q FROM UNNEST($3::BIGINT[], $4::TEXT[], \
                     $5::DATE[], $6::BIGINT[], $7::BIGINT[]) AS u(s, m, d, e, q){UPSERT}"
                ))
                .bind(tenant)
                .bind(recorded_on)
                .bind(rows.iter().map(|r| r.subscription_id).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.metric.as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.usage_date).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.events).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.quantity).collect::<Vec<_>>())
                .execute(&mut **t)
                .await?;
            }
        }
        Ok(())
    }

    /// The daily usage totals of the subscriptions with ids in `first..=last`.
    pub async fn usage_of_subscriptions(
        &mut self,
        tenant: i64,
        first: i64,
        last: i64,
    ) -> Result<BTreeMap<i64, Vec<UsageRecord>>> {
        let mut out: BTreeMap<i64, Vec<UsageRecord>> = BTreeMap::new();
        match &mut self.inner {
            // One row per subscription, its totals as a JSON array: sqlx hands SQLite's rows
            // over from its worker thread one at a time, and a month of calls is hundreds of
            // daily totals per subscription.
            Inner::Sqlite(t) => {
                let rows: Vec<(i64, String)> = sqlx::query_as(
                    "SELECT subscription_id, json_group_array(json_array(metric, usage_date, \
                     recorded_on, events, quantity)) FROM usage_daily \
                     WHERE tenant_id = $1 AND subscription_id BETWEEN $2 AND $3 \
                     GROUP BY subscription_id",
                )
                .bind(tenant)
                .bind(first)
                .bind(last)
                .fetch_all(&mut **t)
                .await?;
                for (sub, totals) in rows {
                    let totals: Vec<(String, NaiveDate, NaiveDate, i64, i64)> =
                        serde_json::from_str(&totals)?;
                    out.insert(
                        sub,
                        totals
                            .into_iter()
                            .map(
                                |(metric, date, recorded_on, events, quantity)| UsageRecord {
                                    metric,
                                    date,
                                    quantity,
                                    recorded_on,
                                    events,
                                },
                            )
                            .collect(),
                    );
                }
            }
            Inner::Postgres(t) => {
                type Row = (i64, String, NaiveDate, NaiveDate, i64, i64);
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT subscription_id, metric, usage_date, recorded_on, events, quantity \
                     FROM usage_daily WHERE tenant_id = $1 AND subscription_id BETWEEN $2 AND $3",
                )
                .bind(tenant)
                .bind(first)
                .bind(last)
                .fetch_all(&mut **t)
                .await?;
                for (sub, metric, date, recorded_on, events, quantity) in rows {
                    out.entry(sub).or_default().push(UsageRecord {
                        metric,
                        date,
                        quantity,
                        recorded_on,
                        events,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Makes ended subscriptions (nothing due any more) due on `day`, so usage that arrives
    /// after their last invoice is billed rather than forgotten.
    pub async fn make_due_if_idle(
        &mut self,
        tenant: i64,
        subscriptions: &[i64],
        day: NaiveDate,
    ) -> Result<()> {
        for chunk in subscriptions.chunks(ROWS_PER_INSERT) {
            on_tx!(self, conn => {
                let mut q = QueryBuilder::new("UPDATE subscriptions SET next_due = ");
                q.push_bind(day)
                    .push(" WHERE tenant_id = ")
                    .push_bind(tenant)
                    .push(" AND next_due IS NULL AND id IN");
                push_ids(&mut q, chunk);
                q.build().execute(&mut *conn).await?;
            });
        }
        Ok(())
    }
}
