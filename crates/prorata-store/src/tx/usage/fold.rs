//! A fold of a tenant's appended usage totals in a transaction of its own, with as little of it
//! as possible under SQLite's one write lock.
//!
//! SQLite's fold, in one transaction, spent about half its time sorting the appended rows
//! into `usage_daily`'s order, all of it holding the write lock that usage ingestion's writer
//! waits for (BENCHMARKS.md, eighth pass). Here the rows are first copied, sorted and with each
//! subscription's first day, into tables of the connection's own temporary database: one
//! statement reading a snapshot of the main database, taking no lock that a writer waits on.
//! Then one write transaction deletes exactly those rows (their ids only grow, migration 0021:
//! a row appended meanwhile has a higher id), voids the horizons they fall before and adds
//! them to `usage_daily` in the staged order. Folds of a tenant take turns in the process
//! (SQLite is served by one); should another process's fold take some of the staged rows in
//! between, the number deleted shows it: the transaction is rolled back and the fold staged
//! again.

use sqlx::{Connection as _, PgConnection, SqliteConnection};

use super::{POSTGRES_MONTH, SQLITE_MONTH, UPSERT};
use crate::{Db, Result, Store, StoreError, TenantWork};

/// Times a fold is staged again after another process's fold took some of its rows (or SQLite
/// reported a conflicting writer) before it gives up with the error.
const ATTEMPTS: u32 = 4;

const CONTESTED: &str = "other processes' folds kept taking this fold's usage totals: fold again";

impl Store {
    /// Folds the tenant's appended partial totals into `usage_daily` and removes them, in a
    /// transaction of its own: committed, both happened; cut off, neither did, so a fold can
    /// always be run again. Readers see the same sums before and after.
    ///
    /// Usage dated before a subscription's settled-through horizon voids it (and bumps the
    /// revision, so a billing run that read the subscription before reconciles it again):
    /// the next run reads its whole history and bills the late usage.
    pub async fn fold_usage(&self, tenant: i64) -> Result<()> {
        let pool = match &self.db {
            Db::Sqlite(pool) => pool,
            // PostgreSQL's fold is one statement; its writers do not wait on each other.
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                fold_postgres(&mut tx, tenant).await?;
                return Ok(tx.commit().await?);
            }
        };
        // One fold of the tenant at a time in this process (the billing run's and
        // ingestion's): the others wait, then fold what was appended meanwhile.
        let _one_at_a_time = self
            .local_lock(tenant, TenantWork::UsageFold)
            .lock_owned()
            .await;
        let mut c = pool.acquire().await?;
        let mut attempt = 1;
        let folded = loop {
            match fold_staged(&mut c, tenant).await {
                Ok(true) => break Ok(()),
                Ok(false) if attempt < ATTEMPTS => attempt += 1,
                Err(e) if attempt < ATTEMPTS && e.is_busy() => attempt += 1,
                Ok(false) => break Err(StoreError::Conflict(CONTESTED.into())),
                Err(e) => break Err(e),
            }
        };
        // The connection goes back to the pool without the staging tables; should dropping
        // them fail, it is closed instead.
        if unstage(&mut c).await.is_err() {
            c.close_on_drop();
        }
        folded
    }
}

/// Stages the tenant's appended rows, then moves them in one write transaction. `Ok(false)`:
/// another fold took some of the staged rows first, and nothing was written.
async fn fold_staged(c: &mut SqliteConnection, tenant: i64) -> Result<bool> {
    unstage(c).await?;
    sqlx::query(
        "CREATE TEMP TABLE usage_fold (id INTEGER NOT NULL, usage_month INTEGER NOT NULL, \
         subscription_id INTEGER NOT NULL, metric TEXT NOT NULL, usage_date TEXT NOT NULL, \
         recorded_on TEXT NOT NULL, events INTEGER NOT NULL, quantity INTEGER NOT NULL)",
    )
    .execute(&mut *c)
    .await?;
    // One statement, one snapshot; written to the temporary database only. Each appended row
    // is added on its own, ungrouped: SQLite's upsert adds a row to the total an earlier row
    // of the same statement inserted. Sorted by month and subscription only, which keeps the
    // walk of `usage_daily`'s key in order page by page: a sort on two numbers instead of
    // grouping on the whole key and sorting the groups again, a sixth of the time. The staged
    // rows keep that order as their rowid order.
    sqlx::query(&format!(
        "INSERT INTO temp.usage_fold SELECT id, {SQLITE_MONTH}, subscription_id, metric, \
         usage_date, recorded_on, events, quantity FROM main.usage_daily_pending \
         WHERE tenant_id = $1 ORDER BY 2, subscription_id"
    ))
    .bind(tenant)
    .execute(&mut *c)
    .await?;
    let (staged, last): (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), MAX(id) FROM temp.usage_fold")
            .fetch_one(&mut *c)
            .await?;
    let Some(last) = last else {
        return Ok(true);
    };
    sqlx::query(
        "CREATE TEMP TABLE usage_fold_first AS SELECT subscription_id, \
         MIN(usage_date) AS first_day FROM temp.usage_fold GROUP BY subscription_id",
    )
    .execute(&mut *c)
    .await?;

    let mut tx = c.begin().await?;
    // A write first, so the transaction takes the write lock before it reads anything: no
    // snapshot of its own to be overtaken by another writer meanwhile.
    let deleted = sqlx::query("DELETE FROM usage_daily_pending WHERE tenant_id = $1 AND id <= $2")
        .bind(tenant)
        .bind(last)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if i64::try_from(deleted).ok() != Some(staged) {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "UPDATE subscriptions SET settled_through = NULL, horizon = NULL, \
         revision = revision + 1 FROM temp.usage_fold_first AS p \
         WHERE subscriptions.tenant_id = $1 AND subscriptions.id = p.subscription_id \
         AND subscriptions.settled_through > p.first_day",
    )
    .bind(tenant)
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "INSERT INTO usage_daily (tenant_id, usage_month, subscription_id, metric, usage_date, \
         recorded_on, events, quantity) \
         SELECT $1, usage_month, subscription_id, metric, usage_date, recorded_on, events, \
         quantity FROM temp.usage_fold ORDER BY rowid{UPSERT}"
    ))
    .bind(tenant)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// PostgreSQL's fold, in the caller's transaction. Batches commit concurrently: the rows
/// deleted are exactly the rows summed (those this statement's snapshot sees), never one
/// committed meanwhile. The horizons are voided in the same statement, from the very rows
/// moved; their rows are locked in id order, as the billing run's writer locks them, so the
/// two never wait on each other in a cycle. Grouped, as PostgreSQL's upsert may not touch a
/// row twice in one statement; sorted by `usage_daily`'s key, so it walks that index once, in
/// order.
async fn fold_postgres(c: &mut PgConnection, tenant: i64) -> Result<()> {
    sqlx::query(&format!(
        "WITH moved AS (DELETE FROM usage_daily_pending WHERE tenant_id = $1 \
         RETURNING subscription_id, metric, usage_date, recorded_on, events, quantity), \
         late AS (SELECT s.id FROM subscriptions s JOIN (SELECT subscription_id, \
         MIN(usage_date) AS d FROM moved GROUP BY subscription_id) p \
         ON s.id = p.subscription_id WHERE s.tenant_id = $1 \
         AND s.settled_through > p.d ORDER BY s.id FOR UPDATE OF s), \
         voided AS (UPDATE subscriptions s SET settled_through = NULL, \
         horizon = NULL, revision = s.revision + 1 FROM late WHERE s.id = late.id) \
         INSERT INTO usage_daily (tenant_id, usage_month, subscription_id, metric, \
         usage_date, recorded_on, events, quantity) \
         SELECT $1, {POSTGRES_MONTH}, subscription_id, metric, usage_date, \
         recorded_on, SUM(events)::BIGINT, SUM(quantity)::BIGINT FROM moved \
         GROUP BY subscription_id, metric, usage_date, recorded_on \
         ORDER BY 2, subscription_id, usage_date, metric, recorded_on{UPSERT}"
    ))
    .bind(tenant)
    .execute(c)
    .await?;
    Ok(())
}

/// Drops the staging tables, if any.
async fn unstage(c: &mut SqliteConnection) -> Result<()> {
    for table in ["temp.usage_fold", "temp.usage_fold_first"] {
        sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
            .execute(&mut *c)
            .await
            .map_err(StoreError::from)?;
    }
    Ok(())
}
