//! The billing run's yardstick: the fastest way each store offers to write the very rows a run
//! wrote, with no engine in the way. Per invoice: its document (the ~1.5 kB JSON body, with the
//! table's indexes), its place in the render queue, a ledger entry and an outbox row; per
//! subscription, its next due day. One transaction per chunk of [`prorata_engine::CHUNK`], as
//! the run commits, into another tenant whose accounts and subscriptions mirror the billed
//! tenant's. Straight SQL against the same schema:
//!
//! - SQLite: one multi-row `INSERT` per table per chunk (as many rows a statement as the bind
//!   limit allows), the same text every full chunk, so the connection's cached prepared
//!   statement is reused.
//! - PostgreSQL: `INSERT … SELECT FROM UNNEST` of one array per column — one statement per
//!   table per chunk, a handful of binds whatever the chunk's size — and the render queue
//!   filled by the documents insert itself (a data-modifying `WITH`).
//!
//! Only the writes are timed: the rows are read back from the billed tenant beforehand, chunk
//! by chunk, as text, so neither JSON nor the engine's types cost the yardstick anything.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use chrono::NaiveDate;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection as _, FromRow, QueryBuilder};

/// SQLite's bind limit (`SQLITE_MAX_VARIABLE_NUMBER` since 3.32).
const SQLITE_BINDS: usize = 32_766;

/// One document of the billed tenant, with what the raw writer needs to mirror it.
struct Doc {
    account_id: i64,
    subscription_id: i64,
    kind: String,
    number: String,
    issued_on: NaiveDate,
    currency: String,
    total: i64,
    body: String,
    due_on: Option<NaiveDate>,
    /// The outbox payload the run wrote for it (built before timing).
    payload: String,
}

/// A chunk to write: the documents and the subscriptions whose next due day moves.
struct Chunk {
    docs: Vec<Doc>,
    next_due: Vec<(i64, Option<NaiveDate>)>,
}

/// What the yardstick measured: invoices written and the time the writes took.
pub(crate) struct Measured {
    pub invoices: u64,
    pub elapsed: Duration,
}

/// The columns read back, in [`Doc`]'s order.
type DocTuple = (
    i64,
    i64,
    String,
    String,
    NaiveDate,
    String,
    i64,
    String,
    Option<NaiveDate>,
);

/// Writes the documents of tenant `billed` again into tenant `into`, chunk by chunk, timing
/// the writes only. `into` holds as many subscriptions as `billed`, made in the same order:
/// the i-th of one (in id order) stands for the i-th of the other.
pub(crate) async fn raw_write(url: &str, billed: i64, into: i64) -> Result<Measured> {
    let mut writer = Writer::open(url).await?;
    let theirs = writer.subscriptions_of(billed).await?;
    let ours = writer.subscriptions_of(into).await?;
    // The other tenant's subscription, and its account, by the billed subscription's id.
    let mirror: HashMap<i64, (i64, i64)> = theirs.iter().map(|(id, _)| *id).zip(ours).collect();
    let chunk = usize::try_from(prorata_engine::CHUNK).unwrap_or(2000);
    let mut measured = Measured {
        invoices: 0,
        elapsed: Duration::ZERO,
    };
    let mut after_doc = 0;
    let mut after_sub = 0;
    loop {
        let Some((docs, last_doc)) = writer.read_docs(billed, after_doc, chunk).await? else {
            break;
        };
        after_doc = last_doc;
        let subs = writer.read_next_due(billed, after_sub, chunk).await?;
        if let Some((id, _)) = subs.last() {
            after_sub = *id;
        }
        let mut out = Chunk {
            docs: Vec::with_capacity(docs.len()),
            next_due: subs
                .into_iter()
                .filter_map(|(id, day)| Some((mirror.get(&id)?.0, day)))
                .collect(),
        };
        for (_, sub, kind, number, issued_on, currency, total, body, due_on) in docs {
            let (subscription_id, account_id) = *mirror
                .get(&sub)
                .context("a document of no mirrored subscription")?;
            let payload = serde_json::json!({
                "number": number, "account_id": account_id, "subscription_id": subscription_id,
                "total": total, "currency": currency, "due_on": due_on,
            })
            .to_string();
            out.docs.push(Doc {
                account_id,
                subscription_id,
                kind,
                number,
                issued_on,
                currency,
                total,
                body,
                due_on,
                payload,
            });
        }
        let t = Instant::now();
        writer.write(into, &out).await?;
        measured.elapsed += t.elapsed();
        measured.invoices += out.docs.iter().filter(|d| d.kind == "invoice").count() as u64;
    }
    writer.close().await?;
    Ok(measured)
}

enum Writer {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Runs `$body` with `$c` bound to the writer's connection, once per backend (as the store's
/// `on_tx!` does): a query's text and binds are written once for both.
macro_rules! on_writer {
    ($writer:expr, $c:ident => $body:expr) => {
        match $writer {
            Writer::Sqlite($c) => $body,
            Writer::Postgres($c) => $body,
        }
    };
}

impl Writer {
    async fn open(url: &str) -> Result<Writer> {
        if url.starts_with("sqlite://") {
            // The store's own settings: WAL, synchronous=NORMAL, a 64 MiB page cache (the
            // database, the store's, has the store's page size).
            let options = SqliteConnectOptions::from_str(url)?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .pragma("cache_size", "-65536")
                .busy_timeout(Duration::from_secs(30));
            Ok(Writer::Sqlite(
                SqliteConnection::connect_with(&options).await?,
            ))
        } else {
            Ok(Writer::Postgres(PgConnection::connect(url).await?))
        }
    }

    async fn close(self) -> Result<()> {
        on_writer!(self, c => c.close().await?);
        Ok(())
    }

    /// Every subscription of `tenant` with its account, in id order.
    async fn subscriptions_of(&mut self, tenant: i64) -> Result<Vec<(i64, i64)>> {
        const SQL: &str =
            "SELECT id, account_id FROM subscriptions WHERE tenant_id = $1 ORDER BY id";
        Ok(on_writer!(self, c => sqlx::query_as(SQL).bind(tenant).fetch_all(c).await?))
    }

    /// Up to `limit` documents of `tenant` after id `after`, and the last one's id.
    async fn read_docs(
        &mut self,
        tenant: i64,
        after: i64,
        limit: usize,
    ) -> Result<Option<(Vec<DocTuple>, i64)>> {
        const SQL: &str =
            "SELECT id, account_id, subscription_id, kind, number, issued_on, currency, \
                           total, body, due_on FROM documents WHERE tenant_id = $1 AND id > $2 \
                           ORDER BY id LIMIT $3";
        type WithId = (
            i64,
            i64,
            i64,
            String,
            String,
            NaiveDate,
            String,
            i64,
            String,
            Option<NaiveDate>,
        );
        let rows: Vec<WithId> = self.page(SQL, tenant, after, limit).await?;
        let Some(last) = rows.last().map(|r| r.0) else {
            return Ok(None);
        };
        let docs = rows
            .into_iter()
            .map(|(_, a, s, k, n, i, c, t, b, d)| (a, s, k, n, i, c, t, b, d))
            .collect();
        Ok(Some((docs, last)))
    }

    /// Up to `limit` subscriptions of `tenant` after id `after`, with their next due day.
    async fn read_next_due(
        &mut self,
        tenant: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Option<NaiveDate>)>> {
        const SQL: &str =
            "SELECT id, next_due FROM subscriptions WHERE tenant_id = $1 AND id > $2 \
                           ORDER BY id LIMIT $3";
        self.page(SQL, tenant, after, limit).await
    }

    /// One page of a keyset walk: the rows of `sql`, whose binds are the tenant, the last id
    /// of the page before and the page's size.
    async fn page<T>(&mut self, sql: &str, tenant: i64, after: i64, limit: usize) -> Result<Vec<T>>
    where
        T: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>,
    {
        let limit = i64::try_from(limit)?;
        Ok(on_writer!(self, c => {
            sqlx::query_as(sql)
                .bind(tenant)
                .bind(after)
                .bind(limit)
                .fetch_all(c)
                .await?
        }))
    }

    /// One chunk, in one transaction.
    async fn write(&mut self, tenant: i64, chunk: &Chunk) -> Result<()> {
        match self {
            Writer::Sqlite(c) => write_sqlite(c, tenant, chunk).await,
            Writer::Postgres(c) => write_postgres(c, tenant, chunk).await,
        }
    }
}

/// The chunk's days, each with its subscriptions (a run moves most to the same day).
fn by_day(next_due: &[(i64, Option<NaiveDate>)]) -> Vec<(Option<NaiveDate>, Vec<i64>)> {
    let mut days: std::collections::BTreeMap<Option<NaiveDate>, Vec<i64>> = Default::default();
    for (id, day) in next_due {
        days.entry(*day).or_default().push(*id);
    }
    days.into_iter().collect()
}

async fn write_sqlite(c: &mut SqliteConnection, tenant: i64, chunk: &Chunk) -> Result<()> {
    let mut tx = c.begin().await?;
    for docs in chunk.docs.chunks(SQLITE_BINDS / 10) {
        let mut q = QueryBuilder::new(
            "INSERT INTO documents (tenant_id, account_id, subscription_id, kind, number, \
             issued_on, currency, total, body, due_on) ",
        );
        q.push_values(docs, |mut b, d| {
            b.push_bind(tenant)
                .push_bind(d.account_id)
                .push_bind(d.subscription_id)
                .push_bind(d.kind.as_str())
                .push_bind(d.number.as_str())
                .push_bind(d.issued_on)
                .push_bind(d.currency.as_str())
                .push_bind(d.total)
                .push_bind(d.body.as_str())
                .push_bind(d.due_on);
        });
        q.push(" RETURNING id");
        let ids: Vec<i64> = q.build_query_scalar().fetch_all(&mut *tx).await?;
        for ids in ids.chunks(SQLITE_BINDS / 2) {
            let mut q = QueryBuilder::new("INSERT INTO document_renders (tenant_id, document_id) ");
            q.push_values(ids, |mut b, id| {
                b.push_bind(tenant).push_bind(*id);
            });
            q.build().execute(&mut *tx).await?;
        }
    }
    for docs in chunk.docs.chunks(SQLITE_BINDS / 7) {
        let mut q = QueryBuilder::new(
            "INSERT INTO ledger_entries (tenant_id, account_id, entry_date, kind, amount, currency, reference) ",
        );
        q.push_values(docs, |mut b, d| {
            b.push_bind(tenant)
                .push_bind(d.account_id)
                .push_bind(d.issued_on)
                .push_bind(d.kind.as_str())
                .push_bind(d.total)
                .push_bind(d.currency.as_str())
                .push_bind(d.number.as_str());
        });
        q.build().execute(&mut *tx).await?;
    }
    let now = now_text();
    for docs in chunk.docs.chunks(SQLITE_BINDS / 4) {
        let mut q =
            QueryBuilder::new("INSERT INTO outbox (tenant_id, topic, payload, created_at) ");
        q.push_values(docs, |mut b, d| {
            b.push_bind(tenant)
                .push_bind(topic(&d.kind))
                .push_bind(d.payload.as_str())
                .push_bind(now.as_str());
        });
        q.build().execute(&mut *tx).await?;
    }
    for (day, ids) in by_day(&chunk.next_due) {
        for ids in ids.chunks(SQLITE_BINDS - 2) {
            let mut q = QueryBuilder::new("UPDATE subscriptions SET next_due = ");
            q.push_bind(day)
                .push(" WHERE tenant_id = ")
                .push_bind(tenant)
                .push(" AND id IN (");
            let mut list = q.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            q.push(")");
            q.build().execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn write_postgres(c: &mut PgConnection, tenant: i64, chunk: &Chunk) -> Result<()> {
    let docs = &chunk.docs;
    let accounts: Vec<i64> = docs.iter().map(|d| d.account_id).collect();
    let subs: Vec<i64> = docs.iter().map(|d| d.subscription_id).collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d.kind.as_str()).collect();
    let numbers: Vec<&str> = docs.iter().map(|d| d.number.as_str()).collect();
    let issued: Vec<NaiveDate> = docs.iter().map(|d| d.issued_on).collect();
    let currencies: Vec<&str> = docs.iter().map(|d| d.currency.as_str()).collect();
    let totals: Vec<i64> = docs.iter().map(|d| d.total).collect();
    let bodies: Vec<&str> = docs.iter().map(|d| d.body.as_str()).collect();
    let due: Vec<Option<NaiveDate>> = docs.iter().map(|d| d.due_on).collect();
    let topics: Vec<&str> = docs.iter().map(|d| topic(&d.kind)).collect();
    let payloads: Vec<&str> = docs.iter().map(|d| d.payload.as_str()).collect();
    let now = now_text();

    let mut tx = c.begin().await?;
    sqlx::query(
        "WITH d AS (INSERT INTO documents (tenant_id, account_id, subscription_id, kind, number, \
         issued_on, currency, total, body, due_on) \
         SELECT $1, * FROM UNNEST($2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::DATE[], \
         $7::TEXT[], $8::BIGINT[], $9::TEXT[], $10::DATE[]) RETURNING id) \
         INSERT INTO document_renders (tenant_id, document_id) SELECT $1, id FROM d",
    )
    .bind(tenant)
    .bind(&accounts)
    .bind(&subs)
    .bind(&kinds)
    .bind(&numbers)
    .bind(&issued)
    .bind(&currencies)
    .bind(&totals)
    .bind(&bodies)
    .bind(&due)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO ledger_entries (tenant_id, account_id, entry_date, kind, amount, currency, reference) \
         SELECT $1, * FROM UNNEST($2::BIGINT[], $3::DATE[], $4::TEXT[], $5::BIGINT[], $6::TEXT[], $7::TEXT[])",
    )
    .bind(tenant)
    .bind(&accounts)
    .bind(&issued)
    .bind(&kinds)
    .bind(&totals)
    .bind(&currencies)
    .bind(&numbers)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO outbox (tenant_id, topic, payload, created_at) \
         SELECT $1, t, p, $4 FROM UNNEST($2::TEXT[], $3::TEXT[]) AS u (t, p)",
    )
    .bind(tenant)
    .bind(&topics)
    .bind(&payloads)
    .bind(&now)
    .execute(&mut *tx)
    .await?;
    for (day, ids) in by_day(&chunk.next_due) {
        sqlx::query("UPDATE subscriptions SET next_due = $1 WHERE tenant_id = $2 AND id IN (SELECT UNNEST($3::BIGINT[]))")
            .bind(day)
            .bind(tenant)
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The outbox's time stamp, as the store writes it.
fn now_text() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The outbox topic the run writes for a document of `kind`.
fn topic(kind: &str) -> &'static str {
    if kind == "invoice" {
        "invoice.finalized"
    } else {
        "credit_note.issued"
    }
}
