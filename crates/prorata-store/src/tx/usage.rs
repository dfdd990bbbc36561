//! Usage: call records kept whole and deduplicated by event id, and the daily totals invoicing
//! reads.
//!
//! A batch is written with a handful of statements whatever its size: multi-row inserts of
//! 2,000 rows on SQLite, one array per column read by `UNNEST` on PostgreSQL — no per-row
//! round trip.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use prorata_core::reconcile::UsageRecord;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments as _, QueryBuilder};

use super::history::before_all;
use super::{push_ids, Inner, Tx, ROWS_PER_INSERT};
use crate::Result;

mod copy_binary;
mod fold;

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

/// Rows per SQLite statement: at most 5 binds each, under SQLite's 32,766.
const SQLITE_ROWS: usize = 2000;

/// The sizes SQLite statements take: whole statements of [`SQLITE_ROWS`], then the rest in a
/// few smaller fixed sizes. Each size is prepared once and reused from the connection's
/// statement cache, where a statement sized to each batch's remainder (up to 28,000
/// placeholders) would be parsed and planned again for nearly every batch.
const SQLITE_SIZES: [usize; 6] = [SQLITE_ROWS, 500, 125, 25, 5, 1];

/// `rows` cut into statements of [`SQLITE_SIZES`], largest first.
fn sqlite_chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let n = SQLITE_SIZES.iter().copied().find(|&s| s <= rest.len())?;
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

fn direction(outbound: bool) -> &'static str {
    if outbound {
        "outbound"
    } else {
        "inbound"
    }
}

impl Tx {
    /// Stores the calls whose event id the tenant has not sent before and returns their
    /// positions in `calls`, in order. `calls` must not repeat an event id.
    pub async fn insert_calls(
        &mut self,
        tenant: i64,
        recorded_on: NaiveDate,
        calls: &[NewCall],
    ) -> Result<Vec<usize>> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        match &mut self.inner {
            Inner::Sqlite(t) => {
                // In key order: each leaf of the table's b-tree is visited once per batch.
                let mut order: Vec<usize> = (0..calls.len()).collect();
                order.sort_unstable_by(|&a, &b| calls[a].event_id.cmp(&calls[b].event_id));
                let recorded_on = day_text(recorded_on);
                let args = |chunk: &[usize]| event_args(tenant, &recorded_on, calls, chunk);
                // Optimistically, as nearly every event is new: the insert checks each id
                // against the primary key anyway, where reading the known ids first probed the
                // key a second time per event. A known id fails its statement, which SQLite
                // undoes alone (the transaction stands); then that chunk's known ids are read
                // and the others inserted.
                let mut known = std::collections::HashSet::new();
                for (chunk, _) in sqlite_insert(t, &EVENTS_SQL, &order, args).await? {
                    let ids = known_event_ids(t, tenant, calls, chunk).await?;
                    let new: Vec<usize> = chunk
                        .iter()
                        .copied()
                        .filter(|&i| !ids.contains(&calls[i].event_id))
                        .collect();
                    if let Some((_, e)) = sqlite_insert(t, &EVENTS_SQL, &new, args)
                        .await?
                        .into_iter()
                        .next()
                    {
                        return Err(e.into());
                    }
                    known.extend(ids);
                }
                Ok((0..calls.len())
                    .filter(|&i| !known.contains(&calls[i].event_id))
                    .collect())
            }
            Inner::Postgres(t) => {
                // Sorted: the index is filled in order, and concurrent batches sharing ids
                // take their key locks in one order, so they wait for each other instead of
                // deadlocking.
                let mut ids: Vec<&str> = calls.iter().map(|c| c.event_id.as_str()).collect();
                ids.sort_unstable();
                let fresh = new_event_ids(t, tenant, &ids).await?;
                let keep: Vec<usize> = (0..calls.len())
                    .filter(|&i| fresh.contains(calls[i].event_id.as_str()))
                    .collect();
                if keep.is_empty() {
                    return Ok(keep);
                }
                // COPY, not INSERT … SELECT FROM UNNEST: the server parses the rows as a
                // stream and skips the executor's per-row work, which was most of a batch's
                // time (BENCHMARKS.md, "Usage"). In binary: no timestamp, date or number to
                // parse from text on the server.
                let mut data = copy_binary::header(keep.len() * 150);
                for &i in &keep {
                    copy_binary::row(&mut data, tenant, recorded_on, &calls[i]);
                }
                copy_binary::trailer(&mut data);
                copy_in(
                    t,
                    "COPY usage_events (tenant_id, event_id, account_id, subscription_id, \
                     started_at, usage_date, direction, toll_free, caller, callee, \
                     duration_seconds, metric, billable_seconds, recorded_on) \
                     FROM STDIN (FORMAT binary)",
                    data,
                )
                .await?;
                Ok(keep)
            }
        }
    }

    /// Appends a batch's partial daily totals learnt on `recorded_on` (one row per
    /// subscription, metric and day, `rows` not repeating one). Appended, not added in place:
    /// a batch spread over thousands of subscriptions would otherwise rewrite as many random
    /// pages of `usage_daily`'s index; [`crate::Store::fold_usage`] adds them up later, sorted.
    pub async fn add_daily_usage(
        &mut self,
        tenant: i64,
        recorded_on: NaiveDate,
        rows: &[DailyUsage],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        match &mut self.inner {
            Inner::Sqlite(t) => {
                let recorded_on = day_text(recorded_on);
                let args = |chunk: &[DailyUsage]| daily_args(tenant, &recorded_on, chunk);
                // No unique key: a refusal is some other error.
                if let Some((_, e)) = sqlite_insert(t, &DAILY_SQL, rows, args)
                    .await?
                    .into_iter()
                    .next()
                {
                    return Err(e.into());
                }
            }
            // COPY, as for the events: a batch appends about one partial total per event
            // when its calls are spread over many subscriptions and days.
            Inner::Postgres(t) => {
                let mut data = copy_binary::header(rows.len() * 80);
                for r in rows {
                    copy_binary::daily_row(&mut data, tenant, recorded_on, r);
                }
                copy_binary::trailer(&mut data);
                copy_in(
                    t,
                    "COPY usage_daily_pending (tenant_id, subscription_id, metric, usage_date, \
                     recorded_on, events, quantity) FROM STDIN (FORMAT binary)",
                    data,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// The first and last months `usage_daily` holds for the tenant (`usage_month`), if any:
    /// the bounds of a reader's months. Two reads of the key's ends.
    async fn usage_months(&mut self, tenant: i64) -> Result<Option<(i32, i32)>> {
        let (first, last): (Option<i32>, Option<i32>) = on_tx!(self, conn => sqlx::query_as(
            "SELECT (SELECT MIN(usage_month) FROM usage_daily WHERE tenant_id = $1), \
             (SELECT MAX(usage_month) FROM usage_daily WHERE tenant_id = $1)",
        )
        .bind(tenant)
        .fetch_one(&mut *conn)
        .await?);
        Ok(first.zip(last))
    }

    /// The partial totals of subscriptions `first..=last` not folded yet, summed per daily
    /// total: (subscription, metric, day, recorded on, events, quantity).
    async fn pending_usage(
        &mut self,
        tenant: i64,
        first: i64,
        last: i64,
    ) -> Result<Vec<(i64, String, NaiveDate, NaiveDate, i64, i64)>> {
        Ok(on_tx!(self, conn => sqlx::query_as(
            "SELECT subscription_id, metric, usage_date, recorded_on, \
             CAST(SUM(events) AS BIGINT), CAST(SUM(quantity) AS BIGINT) \
             FROM usage_daily_pending \
             WHERE tenant_id = $1 AND subscription_id BETWEEN $2 AND $3 \
             GROUP BY subscription_id, metric, usage_date, recorded_on",
        )
        .bind(tenant)
        .bind(first)
        .bind(last)
        .fetch_all(&mut *conn)
        .await?))
    }

    /// The daily usage totals of the subscriptions `ids`. By list, not by id range: a
    /// day's due subscriptions are spread over the tenant's ids (see `select_by_keys`).
    pub async fn usage_of_subscriptions(
        &mut self,
        tenant: i64,
        ids: &[i64],
    ) -> Result<BTreeMap<i64, Vec<UsageRecord>>> {
        let from: Vec<(i64, Option<NaiveDate>)> = ids.iter().map(|id| (*id, None)).collect();
        self.usage_from(tenant, &from).await
    }

    /// The daily usage totals of each subscription dated on or after its day (its horizon's;
    /// `None`: all of them),
    /// and every partial total of theirs not folded yet, whatever its date (so a caller sees
    /// late usage before a horizon and reads the whole history instead).
    pub async fn usage_from(
        &mut self,
        tenant: i64,
        from: &[(i64, Option<NaiveDate>)],
    ) -> Result<BTreeMap<i64, Vec<UsageRecord>>> {
        let mut out: BTreeMap<i64, Vec<UsageRecord>> = BTreeMap::new();
        let (Some(first), Some(last)) = (
            from.iter().map(|(id, _)| *id).min(),
            from.iter().map(|(id, _)| *id).max(),
        ) else {
            return Ok(out);
        };
        // Each subscription's months, from its day's (or the first held) to the last held:
        // one range of `usage_daily`'s key each.
        let keys: Vec<(i64, i32, NaiveDate)> = match self.usage_months(tenant).await? {
            None => Vec::new(),
            Some((first_month, last_month)) => from
                .iter()
                .flat_map(|&(sub, day)| {
                    let start = day.map_or(first_month, |d| usage_month(d).max(first_month));
                    let day = day.unwrap_or_else(before_all);
                    (start..=last_month).map(move |month| (sub, month, day))
                })
                .collect(),
        };
        for chunk in keys.chunks(ROWS_PER_INSERT) {
            match &mut self.inner {
                // One row per subscription, its totals as a JSON array: sqlx hands SQLite's
                // rows over from its worker thread one at a time, and a month of calls is
                // hundreds of daily totals per subscription.
                Inner::Sqlite(t) => {
                    let mut q = QueryBuilder::new(
                        "SELECT t.subscription_id, json_group_array(json_array(t.metric, \
                         t.usage_date, t.recorded_on, t.events, t.quantity)) FROM (",
                    );
                    q.push_values(chunk, |mut b, (sub, month, day)| {
                        b.push_bind(*sub).push_bind(*month).push_bind(*day);
                    });
                    q.push(") AS k CROSS JOIN usage_daily t WHERE t.tenant_id = ")
                        .push_bind(tenant)
                        .push(
                            " AND t.usage_month = k.column2 AND t.subscription_id = k.column1 \
                             AND t.usage_date >= k.column3 GROUP BY t.subscription_id",
                        );
                    let rows: Vec<(i64, String)> = q.build_query_as().fetch_all(&mut **t).await?;
                    for (sub, totals) in rows {
                        let totals: Vec<(String, NaiveDate, NaiveDate, i64, i64)> =
                            serde_json::from_str(&totals)?;
                        // A subscription's months may span two statements.
                        out.entry(sub).or_default().extend(totals.into_iter().map(
                            |(metric, date, recorded_on, events, quantity)| UsageRecord {
                                metric,
                                date,
                                quantity,
                                recorded_on,
                                events,
                            },
                        ));
                    }
                }
                Inner::Postgres(t) => {
                    type Row = (i64, String, NaiveDate, NaiveDate, i64, i64);
                    let mut subs = Vec::with_capacity(chunk.len());
                    let mut months = Vec::with_capacity(chunk.len());
                    let mut days = Vec::with_capacity(chunk.len());
                    for &(sub, month, day) in chunk {
                        subs.push(sub);
                        months.push(month);
                        days.push(day);
                    }
                    let rows: Vec<Row> = sqlx::query_as(
                        "SELECT t.subscription_id, t.metric, t.usage_date, t.recorded_on, \
                         t.events, t.quantity \
                         FROM UNNEST($2::BIGINT[], $3::INTEGER[], $4::DATE[]) AS k(s, m, d) \
                         CROSS JOIN LATERAL (SELECT u.subscription_id, u.metric, u.usage_date, \
                         u.recorded_on, u.events, u.quantity FROM usage_daily u \
                         WHERE u.tenant_id = $1 AND u.usage_month = k.m \
                         AND u.subscription_id = k.s AND u.usage_date >= k.d OFFSET 0) t",
                    )
                    .bind(tenant)
                    .bind(subs)
                    .bind(months)
                    .bind(days)
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
        }
        // The partial totals not folded yet sit in a table without an index (appending is
        // its point; a fold empties it), so they are read by range and kept by list.
        let wanted: std::collections::HashSet<i64> = from.iter().map(|(id, _)| *id).collect();
        let pending = self
            .pending_usage(tenant, first, last)
            .await?
            .into_iter()
            .filter(|p| wanted.contains(&p.0))
            .collect();
        add_pending(&mut out, pending);
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
        for chunk in subscriptions.chunks(self.keys_per_statement()) {
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

/// The SQL of a multi-row insert into one table on SQLite, made once per statement size: a
/// statement of 2,000 rows is tens of kB of text, which the one writer built again for every
/// chunk.
///
/// Values every row shares (the tenant, the day learnt) are bound once per statement, in the
/// select list over the rows' `VALUES`: each value bound is work on the one writer. Not as
/// numbered parameters (`?1` in every row): SQLite finds a numbered parameter's name by
/// walking a list of all of them, which sqlx asks for each one it binds — ingestion fell to
/// a tenth of its rate (BENCHMARKS.md, eleventh pass).
struct SqliteInsert {
    head: &'static str,
    /// The select list: `?` for a shared value, `columnN` for a row's own `N`-th value.
    select: &'static str,
    made: std::sync::OnceLock<Vec<String>>,
}

impl SqliteInsert {
    const fn new(head: &'static str, select: &'static str) -> SqliteInsert {
        SqliteInsert {
            head,
            select,
            made: std::sync::OnceLock::new(),
        }
    }

    /// The statement for `rows` rows: made once for each of [`SQLITE_SIZES`] (the sizes
    /// [`sqlite_chunks`] cuts), made anew for any other.
    fn get(&self, rows: usize) -> std::borrow::Cow<'_, str> {
        let made = self
            .made
            .get_or_init(|| SQLITE_SIZES.iter().map(|&n| self.make(n)).collect());
        match SQLITE_SIZES.iter().position(|&n| n == rows) {
            Some(i) => made[i].as_str().into(),
            None => self.make(rows).into(),
        }
    }

    fn make(&self, rows: usize) -> String {
        // A row's own values: the select list's `columnN`s.
        let own = self.select.matches("column").count();
        let row = format!("({})", vec!["?"; own].join(", "));
        format!(
            "{} SELECT {} FROM (VALUES {})",
            self.head,
            self.select,
            vec![row; rows].join(", ")
        )
    }
}

/// A call record: the tenant (shared), its event id, and the call as one JSON array (see
/// migration 0022: SQLite's one writer bound fourteen values per event).
static EVENTS_SQL: SqliteInsert = SqliteInsert::new(
    "INSERT INTO usage_events (tenant_id, event_id, call)",
    "?, column1, column2",
);

/// A partial total: the tenant and the day learnt shared.
static DAILY_SQL: SqliteInsert = SqliteInsert::new(
    "INSERT INTO usage_daily_pending (tenant_id, subscription_id, metric, usage_date, \
     recorded_on, events, quantity)",
    "?, column1, column2, column3, ?, column4, column5",
);

/// Inserts `rows` with `sql`, one multi-row statement per chunk of [`SQLITE_SIZES`], and
/// makes each statement's values (`args`) while SQLite's worker thread runs the one before:
/// one connection runs one statement at a time, and usage ingestion has one writer, so values
/// made between statements would leave SQLite idle that long (about a seventh of a batch's
/// time). Returns the chunks refused on a unique key, each undone by SQLite alone (the
/// transaction stands); any other error ends the insert.
async fn sqlite_insert<'r, R>(
    t: &mut sqlx::SqliteConnection,
    sql: &SqliteInsert,
    rows: &'r [R],
    args: impl Fn(&[R]) -> Result<SqliteArguments<'static>>,
) -> Result<Vec<(&'r [R], sqlx::Error)>> {
    let chunks: Vec<&[R]> = sqlite_chunks(rows).collect();
    let mut refused = Vec::new();
    let mut next = chunks.first().map(|&c| args(c));
    for (k, &chunk) in chunks.iter().enumerate() {
        let Some(values) = next.take() else { break };
        let values = values?;
        let statement = sql.get(chunk.len());
        // Biased: the statement is polled first, which hands it to the worker; the next
        // values are then made while the statement's future waits for the worker's answer.
        let (done, made) = tokio::join!(
            biased;
            sqlx::query_with(&statement, values).execute(&mut *t),
            async { chunks.get(k + 1).map(|&c| args(c)) },
        );
        next = made;
        match done {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => refused.push((chunk, e)),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(refused)
}

/// The values of the calls at positions `chunk` of `calls`, in [`EVENTS_SQL`]'s order. Owned,
/// so that handing them to SQLite's thread copies nothing more.
fn event_args(
    tenant: i64,
    recorded_on: &str,
    calls: &[NewCall],
    chunk: &[usize],
) -> Result<SqliteArguments<'static>> {
    let mut args = SqliteArguments::default();
    args.reserve(1 + chunk.len() * 2, 0);
    add(&mut args, tenant)?;
    for c in chunk.iter().map(|&i| &calls[i]) {
        add(&mut args, c.event_id.clone())?;
        add(&mut args, packed_call(recorded_on, c)?)?;
    }
    Ok(args)
}

/// A call as SQLite keeps it: its fields as one JSON array, in the order migration 0022 and
/// the view `usage_calls` name them.
fn packed_call(recorded_on: &str, c: &NewCall) -> Result<String> {
    let started_at = c
        .started_at
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    Ok(serde_json::to_string(&(
        c.account_id,
        c.subscription_id,
        started_at,
        day_text(c.usage_date),
        direction(c.outbound),
        i64::from(c.toll_free),
        &c.caller,
        &c.callee,
        c.duration_seconds,
        &c.metric,
        c.billable_seconds,
        recorded_on,
    ))?)
}

/// The values of partial totals `rows`, in [`DAILY_SQL`]'s order.
fn daily_args(
    tenant: i64,
    recorded_on: &str,
    rows: &[DailyUsage],
) -> Result<SqliteArguments<'static>> {
    let mut args = SqliteArguments::default();
    args.reserve(2 + rows.len() * 5, 0);
    add(&mut args, tenant)?;
    add(&mut args, recorded_on.to_string())?;
    for r in rows {
        add(&mut args, r.subscription_id)?;
        add(&mut args, r.metric.clone())?;
        add(&mut args, day_text(r.usage_date))?;
        add(&mut args, r.events)?;
        add(&mut args, r.quantity)?;
    }
    Ok(args)
}

/// Adds one value to SQLite statement arguments (which fails only for a type SQLite cannot
/// take, none of those above).
fn add<T>(args: &mut SqliteArguments<'static>, value: T) -> Result<()>
where
    T: 'static + sqlx::Encode<'static, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    args.add(value).map_err(sqlx::Error::Encode)?;
    Ok(())
}

/// Of the calls at positions `chunk`, the event ids the tenant has stored already (SQLite).
async fn known_event_ids(
    t: &mut sqlx::SqliteConnection,
    tenant: i64,
    calls: &[NewCall],
    chunk: &[usize],
) -> Result<std::collections::HashSet<String>> {
    let ids: Vec<&str> = chunk.iter().map(|&i| calls[i].event_id.as_str()).collect();
    let known: Vec<(String,)> = sqlx::query_as(
        "SELECT event_id FROM usage_events WHERE tenant_id = $1 \
         AND event_id IN (SELECT value FROM json_each($2))",
    )
    .bind(tenant)
    .bind(serde_json::to_string(&ids)?)
    .fetch_all(&mut *t)
    .await?;
    Ok(known.into_iter().map(|(id,)| id).collect())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// A day as SQLite stores it (`YYYY-MM-DD`, as sqlx writes a `NaiveDate`), written as three
/// numbers: chrono's `%F` parses its format string on every call, four times per event on
/// ingestion's one writer.
fn day_text(day: NaiveDate) -> String {
    use std::fmt::Write as _;
    if !(0..=9999).contains(&day.year()) {
        return day.format("%F").to_string();
    }
    let mut text = String::with_capacity(10);
    let _ = write!(
        text,
        "{:04}-{:02}-{:02}",
        day.year(),
        day.month(),
        day.day()
    );
    text
}

/// Stores the event ids `ids` (sorted, distinct) the tenant has not sent before and returns
/// them.
///
/// Optimistically, as most batches are new events: all of them by binary `COPY`, where an
/// `INSERT … ON CONFLICT DO NOTHING RETURNING` took about two thirds of the server's time per
/// batch (a speculative insertion and a row returned per id). When one of them is known (a
/// resent event, or one a concurrent batch has just committed: the `COPY` waits for it), the
/// `COPY` fails on the primary key, is undone to a savepoint, and the ids go through the
/// `ON CONFLICT` insert, which skips the known ones — the same answer either way, at the old
/// cost for a batch holding duplicates.
async fn new_event_ids<'a>(
    t: &mut sqlx::PgConnection,
    tenant: i64,
    ids: &[&'a str],
) -> Result<std::collections::HashSet<&'a str>> {
    let mut data = copy_binary::header(ids.len() * 32);
    for id in ids {
        copy_binary::id_row(&mut data, tenant, id);
    }
    copy_binary::trailer(&mut data);
    sqlx::query("SAVEPOINT usage_event_ids")
        .execute(&mut *t)
        .await?;
    match copy_in(
        t,
        "COPY usage_event_ids (tenant_id, event_id) FROM STDIN (FORMAT binary)",
        data,
    )
    .await
    {
        Ok(()) => Ok(ids.iter().copied().collect()),
        Err(crate::StoreError::Database(e)) if is_unique_violation(&e) => {
            sqlx::query("ROLLBACK TO SAVEPOINT usage_event_ids")
                .execute(&mut *t)
                .await?;
            let new: Vec<(String,)> = sqlx::query_as(
                "INSERT INTO usage_event_ids (tenant_id, event_id) \
                 SELECT $1, UNNEST($2::TEXT[]) ON CONFLICT DO NOTHING RETURNING event_id",
            )
            .bind(tenant)
            .bind(ids)
            .fetch_all(&mut *t)
            .await?;
            let new: std::collections::HashSet<String> = new.into_iter().map(|(id,)| id).collect();
            Ok(ids.iter().copied().filter(|id| new.contains(*id)).collect())
        }
        Err(e) => Err(e),
    }
}

/// Sends `data`, rows in binary `COPY` format, to the `COPY … FROM STDIN` statement `sql`.
async fn copy_in(t: &mut sqlx::PgConnection, sql: &str, data: Vec<u8>) -> Result<()> {
    let mut copy = t.copy_in_raw(sql).await?;
    if let Err(e) = copy.send(data).await {
        // Ends the COPY so the connection can roll the transaction back.
        let _ = copy.abort(e.to_string()).await;
        return Err(e.into());
    }
    copy.finish().await?;
    Ok(())
}

/// `usage_daily`'s month of a day: year × 12 + month − 1, as the fold writes it.
fn usage_month(day: NaiveDate) -> i32 {
    day.year() * 12 + day.month0() as i32
}

/// A fold's upsert: a partial total is added to the daily total of its key.
const UPSERT: &str = " ON CONFLICT (tenant_id, usage_month, subscription_id, usage_date, \
     metric, recorded_on) \
     DO UPDATE SET events = usage_daily.events + excluded.events, \
     quantity = usage_daily.quantity + excluded.quantity";

/// `usage_month` computed by SQLite from a `usage_date` (text, `YYYY-MM-DD`).
const SQLITE_MONTH: &str = "CAST(substr(usage_date, 1, 4) AS INTEGER) * 12 \
     + CAST(substr(usage_date, 6, 2) AS INTEGER) - 1";

/// `usage_month` computed by PostgreSQL from a `usage_date`.
const POSTGRES_MONTH: &str =
    "(EXTRACT(YEAR FROM usage_date) * 12 + EXTRACT(MONTH FROM usage_date) - 1)::INTEGER";

/// Adds partial totals not folded yet to the folded ones: to a subscription's record of the
/// same metric, day and day learnt, or as a record of its own.
fn add_pending(
    out: &mut BTreeMap<i64, Vec<UsageRecord>>,
    pending: Vec<(i64, String, NaiveDate, NaiveDate, i64, i64)>,
) {
    if pending.is_empty() {
        return;
    }
    // Where each folded record sits, for the subscriptions that have partial ones.
    let subs: std::collections::HashSet<i64> = pending.iter().map(|p| p.0).collect();
    let mut at: HashMap<(i64, String, NaiveDate, NaiveDate), usize> = HashMap::new();
    for sub in subs {
        for (i, r) in out.get(&sub).into_iter().flatten().enumerate() {
            at.insert((sub, r.metric.clone(), r.date, r.recorded_on), i);
        }
    }
    for (sub, metric, date, recorded_on, events, quantity) in pending {
        let records = out.entry(sub).or_default();
        match at.get(&(sub, metric.clone(), date, recorded_on)) {
            Some(&i) => {
                records[i].events += events;
                records[i].quantity += quantity;
            }
            None => {
                at.insert((sub, metric.clone(), date, recorded_on), records.len());
                records.push(UsageRecord {
                    metric,
                    date,
                    quantity,
                    recorded_on,
                    events,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::{day_text, sqlite_chunks, DAILY_SQL, EVENTS_SQL, SQLITE_ROWS, SQLITE_SIZES};

    #[test]
    fn sqlite_inserts_hold_one_row_of_placeholders_per_row_whatever_the_size() {
        for rows in SQLITE_SIZES.into_iter().chain([3, 1999]) {
            // Own values per row, and values shared by all rows.
            for (sql, own, shared) in [(EVENTS_SQL.get(rows), 2, 1), (DAILY_SQL.get(rows), 5, 2)] {
                assert_eq!(sql.matches('?').count(), shared + rows * own, "{rows} rows");
                // The columns' list, the rows' list, and each row.
                assert_eq!(sql.matches('(').count(), rows + 2, "{rows} rows");
            }
        }
    }

    #[test]
    fn shared_values_come_first_then_each_row_its_own() {
        assert_eq!(
            EVENTS_SQL.get(2),
            "INSERT INTO usage_events (tenant_id, event_id, call) \
             SELECT ?, column1, column2 FROM (VALUES (?, ?), (?, ?))"
        );
        let daily = DAILY_SQL.get(1);
        assert!(
            daily.ends_with(
                " SELECT ?, column1, column2, column3, ?, column4, column5 \
                 FROM (VALUES (?, ?, ?, ?, ?))"
            ),
            "{daily}"
        );
    }

    #[test]
    fn days_are_written_as_sqlx_writes_them() {
        let days = [
            (2025, 1, 31),
            (2024, 2, 29),
            (999, 12, 1),
            (1, 1, 1),
            (9999, 12, 31),
        ];
        for (y, m, d) in days {
            let day = NaiveDate::from_ymd_opt(y, m, d).expect("a day");
            assert_eq!(day_text(day), day.format("%F").to_string());
        }
        let far = NaiveDate::from_ymd_opt(12345, 6, 7).expect("a day");
        assert_eq!(day_text(far), "+12345-06-07");
    }

    #[test]
    fn sqlite_statements_take_a_few_fixed_sizes_and_cover_every_row_once() {
        let rows: Vec<usize> = (0..2 * SQLITE_ROWS + 657).collect();
        let sizes: Vec<usize> = sqlite_chunks(&rows).map(<[usize]>::len).collect();
        assert_eq!(sizes, [2000, 2000, 500, 125, 25, 5, 1, 1]);
        let again: Vec<usize> = sqlite_chunks(&rows).flatten().copied().collect();
        assert_eq!(again, rows);
        assert_eq!(sqlite_chunks::<usize>(&[]).count(), 0);
    }
}
