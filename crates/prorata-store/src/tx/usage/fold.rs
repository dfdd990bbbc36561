//! A fold of a tenant's appended usage totals in a transaction of its own, with as little of it
//! as possible under SQLite's one write lock.
//!
//! SQLite's fold ([`Tx::fold_usage`]) spent about half its time sorting the appended rows
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

use sqlx::{Connection as _, SqliteConnection};

use super::{SQLITE_MONTH, UPSERT};
use crate::{Db, Result, Store, StoreError, TenantWork};

/// Times a fold is staged again after another process's fold took some of its rows (or SQLite
/// reported a conflicting writer) before it gives up with the error.
const ATTEMPTS: u32 = 4;

const CONTESTED: &str = "other processes' folds kept taking this fold's usage totals: fold again";

impl Store {
    /// Folds the tenant's appended partial totals into `usage_daily` and removes them, in a
    /// transaction of its own: committed, both happened; cut off, neither did, so a fold can
    /// always be run again. Readers see the same sums before and after. Usage dated before a
    /// subscription's settled-through horizon voids it, as [`Tx::fold_usage`] does.
    pub async fn fold_usage(&self, tenant: i64) -> Result<()> {
        let Db::Sqlite(pool) = &self.db else {
            // PostgreSQL's fold is one statement; its writers do not wait on each other.
            let mut tx = self.begin().await?;
            tx.fold_usage(tenant).await?;
            return tx.commit().await;
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
    // One statement, one snapshot; written to the temporary database only. Sorted by month
    // and subscription, the order that walks `usage_daily`'s key page by page (see
    // `Tx::fold_usage`); the staged rows keep it as their rowid order.
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
