//! # prorata-store: SQL for SQLite and PostgreSQL
//!
//! Both stores are first-class: one schema per backend (`migrations/sqlite`,
//! `migrations/postgres`), and every query written once. Queries use `$1, $2, …` placeholders,
//! which PostgreSQL reads natively and SQLite reads as numbered parameters, *always in
//! ascending order of first use* (SQLite numbers parameters by their first appearance). The
//! [`on_db!`] macro expands a query body once per backend, so the same code runs on either
//! pool with its own types.
//!
//! This crate holds no billing rule. Domain values (accounts, subscriptions, documents) are kept
//! as JSON beside the columns queries filter on; money is `BIGINT` minor units; dates are `DATE`
//! on PostgreSQL and ISO text on SQLite. Every query is scoped by tenant.
//!
//! The billing run works through a [`Tx`]: read due subscriptions, lock the chunk's rows
//! (a row billed meanwhile by another run drops out, so two runs at once never bill twice),
//! read what was billed, take document numbers, write documents, ledger entries and outbox
//! rows, and move each subscription's next due day — all committed together or not at all.
//! Which process bills or collects a tenant is settled by [`TenantLock`]s (`locks.rs`).

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{Datelike, Months, NaiveDate};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

mod checkpoint;
mod locks;
mod model;
mod tx;

pub use locks::{TenantLock, TenantWork};

pub use model::*;
pub use tx::{
    DailyUsage, InvoiceHead, InvoiceRange, NewCall, QueueFilter, Settlement, SubscriptionFilter, Tx,
};

/// Runs `$body` with `$pool` bound to the SQLite or the PostgreSQL pool (or transaction).
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored value cannot be read: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Conflict(String),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    BadUrl(String),
}

impl StoreError {
    /// SQLite's "busy" family: locked (5, 261) or a read snapshot overtaken by another
    /// writer (517). Nothing was written; the transaction may simply be run again.
    pub fn is_busy(&self) -> bool {
        let StoreError::Database(e) = self else {
            return false;
        };
        e.as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|c| matches!(c.as_ref(), "5" | "261" | "517"))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// The page size of a SQLite database the store creates, in bytes; a database keeps the one
/// it was created with (changing it takes a `VACUUM` outside WAL mode: docs/operations.md).
/// 8 KiB rather than SQLite's 4: usage ingestion and the billing run append rows in key order
/// to large tables, and half as many pages means half the page headers, splits and WAL
/// frames for the same rows. Measured alternately on the same build (BENCHMARKS.md, eighth
/// pass): events over HTTP +7–13 %, a group's commit a quarter shorter, the billing run at
/// 100,000 accounts +23 %; 16 KiB gained nothing more.
pub const SQLITE_PAGE_SIZE: u32 = 8192;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A connection pool to one of the two stores.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: Db,
    /// Months whose usage partition is known to exist (PostgreSQL).
    partitions: Arc<Mutex<BTreeSet<NaiveDate>>>,
    /// Tenant locks held in this process (SQLite; PostgreSQL's are the server's).
    locks: locks::LocalLocks,
    /// SQLite's checkpoints off the writers (`checkpoint.rs`), until the last clone of the
    /// store is dropped or [`Store::close`]d.
    checkpointer: Arc<Mutex<Option<checkpoint::Checkpointer>>>,
}

impl Store {
    /// Opens `url`: `sqlite://PATH` (created if missing, with its folder) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Store> {
        let mut checkpointer = None;
        let db = if let Some(path) = url.strip_prefix("sqlite://") {
            let file = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(file).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Corrupt(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
            }
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .page_size(SQLITE_PAGE_SIZE)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL with NORMAL is durable against a process crash (the SIGKILL the billing
                // run is tested with); FULL adds an fsync per commit for power loss.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                // 64 MiB of page cache per connection (SQLite's default is 2 MiB): a billing
                // day's ledger and jobs otherwise come back through a read syscall per page.
                .pragma("cache_size", "-65536")
                // Writers leave checkpoints to the store's checkpointer up to this many pages
                // of WAL (`checkpoint.rs`).
                .pragma(
                    "wal_autocheckpoint",
                    checkpoint::WRITER_CHECKPOINT_PAGES.to_string(),
                )
                .busy_timeout(Duration::from_secs(30));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                // No ping before handing out a connection: it is a file in this process, not
                // a socket that can go stale, and the ping was a round trip to the
                // connection's worker thread on every acquire: up to half of the usage writer's
                // `BEGIN` (BENCHMARKS.md, eighth pass).
                .test_before_acquire(false)
                .connect_with(options.clone())
                .await?;
            checkpointer = checkpoint::Checkpointer::start(&options).await?;
            Db::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await?;
            Db::Postgres(pool)
        } else {
            return Err(StoreError::BadUrl(url.to_string()));
        };
        Ok(Store {
            db,
            partitions: Arc::default(),
            locks: Arc::default(),
            checkpointer: Arc::new(Mutex::new(checkpointer)),
        })
    }

    /// Applies the migrations of this backend that are not applied yet.
    pub async fn migrate(&self) -> Result<()> {
        match &self.db {
            Db::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Db::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        // Migration 13's subscription milestones come from a Rust rule: rows written before
        // it get theirs here, a chunk per transaction (nothing to do once they all have them).
        loop {
            let mut tx = self.begin().await?;
            let filled = tx.fill_milestones().await?;
            tx.commit().await?;
            if filled == 0 {
                return Ok(());
            }
        }
    }

    /// The versions of this backend's migrations not applied to the database (empty when it
    /// is current). Reading the migrations table is also the readiness probe's proof that
    /// the database answers a query.
    pub async fn pending_migrations(&self) -> Result<Vec<i64>> {
        const APPLIED: &str = "SELECT version FROM _sqlx_migrations WHERE success";
        let (migrator, applied): (sqlx::migrate::Migrator, Vec<(i64,)>) = match &self.db {
            Db::Sqlite(pool) => (
                sqlx::migrate!("./migrations/sqlite"),
                sqlx::query_as(APPLIED).fetch_all(pool).await?,
            ),
            Db::Postgres(pool) => (
                sqlx::migrate!("./migrations/postgres"),
                sqlx::query_as(APPLIED).fetch_all(pool).await?,
            ),
        };
        let applied: BTreeSet<i64> = applied.into_iter().map(|(v,)| v).collect();
        Ok(migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    pub fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<Tx> {
        Tx::begin(&self.db).await
    }

    /// A connection for reads that need no snapshot across statements (a page view): the
    /// same queries as a [`Tx`], without `BEGIN` and `ROLLBACK`. Writing through it commits
    /// each statement on its own: use [`Store::begin`] to write.
    pub async fn read(&self) -> Result<Tx> {
        Tx::read(&self.db).await
    }

    /// Creates the monthly partitions of PostgreSQL's usage table for the months of `days`
    /// (a no-op on SQLite). Run outside the batch's transaction, before its rows are written:
    /// DDL would hold locks on the parent table for the whole batch. A failure is not fatal —
    /// the default partition takes the rows — and is tried again on the next batch.
    pub async fn ensure_usage_partitions(&self, days: &[NaiveDate]) {
        let Db::Postgres(pool) = &self.db else {
            return;
        };
        let months: BTreeSet<NaiveDate> = days.iter().filter_map(|d| d.with_day(1)).collect();
        for month in months {
            if self.partitions.lock().is_ok_and(|p| p.contains(&month)) {
                continue;
            }
            let Some(next) = month.checked_add_months(Months::new(1)) else {
                continue;
            };
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS usage_events_{} PARTITION OF usage_events \
                 FOR VALUES FROM ('{month}') TO ('{next}')",
                month.format("%Y_%m")
            );
            let created = match sqlx::query(&sql).execute(pool).await {
                Ok(_) => true,
                // Two writers creating the same partition at once: the other one won.
                Err(e) => e.to_string().contains("already exists"),
            };
            if created {
                if let Ok(mut p) = self.partitions.lock() {
                    p.insert(month);
                }
            }
        }
    }

    /// The sandbox gateway's memory, in one statement outside any transaction (as a remote
    /// gateway's would be): keeps `outcome` for `key` unless the key has one already, and
    /// returns the one kept — the first answer, replayed for a repeated key.
    pub async fn sandbox_remember(
        &self,
        key: &str,
        (operation, token): (&str, &str),
        amount: i64,
        outcome: &str,
    ) -> Result<String> {
        const SQL: &str = "INSERT INTO sandbox_gateway \
             (idempotency_key, operation, token, amount, outcome, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = excluded.idempotency_key \
             RETURNING outcome";
        let now = now_text();
        let row: (String,) = on_db!(&self.db, pool => {
            sqlx::query_as(SQL)
                .bind(key)
                .bind(operation)
                .bind(token)
                .bind(amount)
                .bind(outcome)
                .bind(&now)
                .fetch_one(pool)
                .await?
        });
        Ok(row.0)
    }

    pub async fn close(&self) {
        if let Ok(mut checkpointer) = self.checkpointer.lock() {
            checkpointer.take();
        }
        on_db!(&self.db, pool => pool.close().await)
    }
}

/// The current time as text, for audit columns only (billing never reads it).
pub(crate) fn now_text() -> String {
    chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}
