//! A transaction on either store, and every query the engine needs.
//!
//! Reads that serve many accounts at once (the billing run's chunks) take id lists or id
//! ranges and return maps, so a chunk costs a handful of statements, never one per account.
//! Bulk writes are multi-row `INSERT`s, split to stay under each backend's bind limit.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use prorata_core::account::Account;
use prorata_core::document::{Document, DocumentKind};
use prorata_core::entitlements::Milestones;
use prorata_core::reconcile::Settings;
use prorata_core::timeline::Subscription;
use sqlx::{Postgres, QueryBuilder, Row, Sqlite, Transaction};

use crate::model::*;
use crate::{now_text, Db, Result, StoreError};

enum Inner {
    Sqlite(Conn<Sqlite>),
    Postgres(Conn<Postgres>),
}

/// A transaction, or — for a page that only reads — a pooled connection used without one:
/// on SQLite each statement is a hand-off to the connection's worker thread, and `BEGIN`
/// plus `ROLLBACK` were two of a page view's five or six.
enum Conn<DB: sqlx::Database> {
    Tx(Transaction<'static, DB>),
    Read(sqlx::pool::PoolConnection<DB>),
}

impl<DB: sqlx::Database> std::ops::Deref for Conn<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        match self {
            Conn::Tx(t) => t,
            Conn::Read(c) => c,
        }
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for Conn<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match self {
            Conn::Tx(t) => t,
            Conn::Read(c) => c,
        }
    }
}

impl<DB: sqlx::Database> Conn<DB> {
    async fn commit(self) -> Result<()> {
        if let Conn::Tx(t) = self {
            t.commit().await?;
        }
        Ok(())
    }

    async fn rollback(self) -> Result<()> {
        if let Conn::Tx(t) = self {
            t.rollback().await?;
        }
        Ok(())
    }
}

/// An open transaction. Dropped without [`Tx::commit`], it rolls back. One opened by
/// [`crate::Store::read`] is no transaction: each statement sees the database as it is then,
/// and committing it does nothing.
pub struct Tx {
    inner: Inner,
}

/// Runs `$body` with `$conn` bound to the transaction's connection, once per backend.
macro_rules! on_tx {
    ($self:expr, $conn:ident => $body:expr) => {
        match &mut $self.inner {
            Inner::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            Inner::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}

/// Rows per multi-row INSERT: well under SQLite's 32,766 and PostgreSQL's 65,535 binds.
const ROWS_PER_INSERT: usize = 1000;

/// Appends the right-hand side of `IN` for a list of ids, as each backend plans it best:
/// the spelling for a key that is unique (a primary key), in `UPDATE`s, `DELETE`s and reads.
/// For a column several rows share, read with [`select_by_keys`].
///
/// - SQLite: ` (?, ?, …)`, each id bound; its planner probes the index once per element.
/// - PostgreSQL: ` (SELECT UNNEST($n::BIGINT[]))`, the list as one array. A literal list of
///   n binds is estimated as n × 0.5 % of the rows on a table not analyzed yet — 100 % from
///   200 keys up — and the statement's text changes with the list's length, so no prepared
///   statement is reused; an array is one parameter whatever its length.
fn push_ids<'a, DB: KeyList>(q: &mut QueryBuilder<'a, DB>, ids: &'a [i64]) {
    DB::push_ids(q, ids);
}

impl Tx {
    /// How many keys one statement takes through [`push_ids`]: any number on PostgreSQL (one
    /// array parameter, one round trip: a usage batch makes thousands of subscriptions due),
    /// [`ROWS_PER_INSERT`] binds on SQLite.
    fn keys_per_statement(&self) -> usize {
        match self.inner {
            Inner::Postgres(_) => usize::MAX,
            Inner::Sqlite(_) => ROWS_PER_INSERT,
        }
    }
}

/// [`push_ids`] for text keys (document numbers, idempotency keys).
fn push_texts<'a, DB: KeyList>(q: &mut QueryBuilder<'a, DB>, keys: &'a [String]) {
    DB::push_texts(q, keys);
}

/// `SELECT columns FROM table t WHERE t.tenant_id = tenant AND t.key IN keys` and whatever
/// `filter` appends (`AND t.… = …`), planned as one probe of an index on `(tenant_id, key)`
/// per key on both stores, whatever the table's statistics. The caller may append
/// `ORDER BY t.…`; columns are named `t.…`.
///
/// On PostgreSQL a table loaded in bulk and not analyzed yet makes `tenant_id = $1` look
/// like 0.5 % of the rows, and any list of keys like all of them: the planner then reads
/// every row of the tenant through whichever index leads with `tenant_id` and hashes the
/// keys against them — 100,000 documents read to find a chunk's 2,000 (the render queue's
/// `number IN (…)`, 0.4–2.7 s a chunk), every pending job of a tenant to find 200 accounts'
/// (collection). Even a join on `UNNEST` was flattened into such a plan; a `LATERAL`
/// subquery fenced by `OFFSET 0` can only be run once per key, with both columns as the
/// index condition. `tests/plans.rs` (prorata-engine) checks every statement of a billing
/// run at 100,000 subscriptions for reads beyond what it returns.
fn select_by_keys<'a, DB: KeyList>(
    columns: &str,
    table: &str,
    key: &str,
    tenant: i64,
    keys: &'a [i64],
    filter: impl FnOnce(&mut QueryBuilder<'a, DB>),
) -> QueryBuilder<'a, DB> {
    DB::select_by_keys(columns, table, key, tenant, keys, filter)
}

/// How a backend spells a list of keys: see [`push_ids`].
trait KeyList: sqlx::Database + Sized {
    fn push_ids<'a>(q: &mut QueryBuilder<'a, Self>, ids: &'a [i64]);
    fn push_texts<'a>(q: &mut QueryBuilder<'a, Self>, keys: &'a [String]);
    fn select_by_keys<'a>(
        columns: &str,
        table: &str,
        key: &str,
        tenant: i64,
        keys: &'a [i64],
        filter: impl FnOnce(&mut QueryBuilder<'a, Self>),
    ) -> QueryBuilder<'a, Self>;
}

impl KeyList for Sqlite {
    fn push_ids<'a>(q: &mut QueryBuilder<'a, Self>, ids: &'a [i64]) {
        sqlite_list(q, ids);
    }

    fn push_texts<'a>(q: &mut QueryBuilder<'a, Self>, keys: &'a [String]) {
        sqlite_list(q, keys);
    }

    fn select_by_keys<'a>(
        columns: &str,
        table: &str,
        key: &str,
        tenant: i64,
        keys: &'a [i64],
        filter: impl FnOnce(&mut QueryBuilder<'a, Self>),
    ) -> QueryBuilder<'a, Self> {
        let mut q = QueryBuilder::new(format!(
            "SELECT {columns} FROM {table} t WHERE t.tenant_id = "
        ));
        q.push_bind(tenant).push(format!(" AND t.{key} IN"));
        Self::push_ids(&mut q, keys);
        filter(&mut q);
        q
    }
}

impl KeyList for Postgres {
    fn push_ids<'a>(q: &mut QueryBuilder<'a, Self>, ids: &'a [i64]) {
        postgres_array(q, ids, "BIGINT[]");
    }

    fn push_texts<'a>(q: &mut QueryBuilder<'a, Self>, keys: &'a [String]) {
        postgres_array(q, keys, "TEXT[]");
    }

    fn select_by_keys<'a>(
        columns: &str,
        table: &str,
        key: &str,
        tenant: i64,
        keys: &'a [i64],
        filter: impl FnOnce(&mut QueryBuilder<'a, Self>),
    ) -> QueryBuilder<'a, Self> {
        let mut q = QueryBuilder::new(format!("SELECT {columns} FROM UNNEST("));
        q.push_bind(keys)
            .push(format!(
                "::BIGINT[]) AS k(key) CROSS JOIN LATERAL (SELECT * FROM {table} t WHERE t.tenant_id = "
            ))
            .push_bind(tenant)
            .push(format!(" AND t.{key} = k.key"));
        filter(&mut q);
        q.push(" OFFSET 0) t");
        q
    }
}

/// SQLite's list of keys of any type: ` (?, ?, …)`, each key bound.
fn sqlite_list<'a, K>(q: &mut QueryBuilder<'a, Sqlite>, keys: &'a [K])
where
    &'a K: sqlx::Encode<'a, Sqlite> + sqlx::Type<Sqlite>,
{
    q.push(" (");
    let mut list = q.separated(", ");
    for key in keys {
        list.push_bind(key);
    }
    q.push(")");
}

/// PostgreSQL's list of keys of any type: ` (SELECT UNNEST($n::array_type))`, the keys as one
/// array parameter of `array_type` (`BIGINT[]`, `TEXT[]`).
fn postgres_array<'a, K>(q: &mut QueryBuilder<'a, Postgres>, keys: &'a [K], array_type: &str)
where
    &'a [K]: sqlx::Encode<'a, Postgres> + sqlx::Type<Postgres>,
{
    q.push(" (SELECT UNNEST(")
        .push_bind(keys)
        .push("::")
        .push(array_type)
        .push("))");
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    Ok(serde_json::to_string(value)?)
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    Ok(serde_json::from_str(text)?)
}

/// 16 random bytes as lower-case hex.
fn random_hex() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The columns [`tenant_from`] reads, in its order (prefix them with an alias by hand).
const TENANT_COLUMNS: &str = "id, name, slug, mode, clock, settings, collection";

/// A tenant from a row whose first seven columns are [`TENANT_COLUMNS`].
fn tenant_from<R>(r: &R) -> Result<Tenant>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<NaiveDate>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let id: i64 = r.try_get(0)?;
    let slug: Option<String> = r.try_get(2)?;
    let mode: String = r.try_get(3)?;
    let settings: String = r.try_get(5)?;
    let collection: String = r.try_get(6)?;
    Ok(Tenant {
        id,
        name: r.try_get(1)?,
        // NULL only on SQLite, for a row written outside the store.
        slug: slug.unwrap_or_else(|| format!("t{id}")),
        mode: TenantMode::parse(&mode)?,
        clock: r.try_get(4)?,
        settings: from_json::<Settings>(&settings)?,
        collection: from_json(&collection)?,
    })
}

impl Tx {
    pub(crate) async fn begin(db: &Db) -> Result<Tx> {
        let inner = match db {
            Db::Sqlite(pool) => Inner::Sqlite(Conn::Tx(pool.begin().await?)),
            Db::Postgres(pool) => Inner::Postgres(Conn::Tx(pool.begin().await?)),
        };
        Ok(Tx { inner })
    }

    pub(crate) async fn read(db: &Db) -> Result<Tx> {
        let inner = match db {
            Db::Sqlite(pool) => Inner::Sqlite(Conn::Read(pool.acquire().await?)),
            Db::Postgres(pool) => Inner::Postgres(Conn::Read(pool.acquire().await?)),
        };
        Ok(Tx { inner })
    }

    /// Rolls back now (dropping a transaction also rolls it back, but only when its
    /// connection is next used: locks would linger until then).
    pub async fn rollback(self) -> Result<()> {
        match self.inner {
            Inner::Sqlite(t) => t.rollback().await,
            Inner::Postgres(t) => t.rollback().await,
        }
    }

    pub async fn commit(self) -> Result<()> {
        match self.inner {
            Inner::Sqlite(t) => t.commit().await,
            Inner::Postgres(t) => t.commit().await,
        }
    }

    // ---------------------------------------------------------------- tenants and keys

    pub async fn create_tenant(
        &mut self,
        name: &str,
        mode: TenantMode,
        clock: Option<NaiveDate>,
        settings: &Settings,
    ) -> Result<i64> {
        let settings = json(settings)?;
        let now = now_text();
        // The slug is unique and not null: a random placeholder, then `t<id>` once the id is
        // known (or `t<id>-<random>` if a tenant chose `t<id>` for itself).
        let placeholder = format!("~{}", random_hex()?);
        let id: i64 = on_tx!(self, conn => {
            let row = sqlx::query(
                "INSERT INTO tenants (name, mode, clock, settings, created_at, slug) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(name)
            .bind(mode.as_str())
            .bind(clock)
            .bind(&settings)
            .bind(&now)
            .bind(&placeholder)
            .fetch_one(&mut *conn)
            .await?;
            row.try_get(0)?
        });
        let mut slug = format!("t{id}");
        if !self.set_tenant_slug(id, &slug).await? {
            slug = format!("t{id}{}", placeholder.replace('~', "-"));
            self.set_tenant_slug(id, &slug).await?;
        }
        Ok(id)
    }

    /// Gives `tenant` the slug `slug`; false when another tenant has it (nothing changes).
    /// Checked before writing, so a taken slug never aborts a PostgreSQL transaction (two
    /// transactions racing for the same new slug still do: the second fails on the index).
    pub async fn set_tenant_slug(&mut self, tenant: i64, slug: &str) -> Result<bool> {
        on_tx!(self, conn => {
            let holder: Option<(i64,)> = sqlx::query_as("SELECT id FROM tenants WHERE slug = $1")
                .bind(slug)
                .fetch_optional(&mut *conn)
                .await?;
            match holder {
                Some((id,)) => Ok(id == tenant),
                None => {
                    let done = sqlx::query("UPDATE tenants SET slug = $1 WHERE id = $2")
                        .bind(slug)
                        .bind(tenant)
                        .execute(&mut *conn)
                        .await?;
                    Ok(done.rows_affected() == 1)
                }
            }
        })
    }

    pub async fn tenant_by_slug(&mut self, slug: &str) -> Result<Option<Tenant>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE slug = $1");
        on_tx!(self, conn => {
            let row = sqlx::query(&sql).bind(slug).fetch_optional(&mut *conn).await?;
            row.as_ref().map(tenant_from).transpose()
        })
    }

    pub async fn tenant(&mut self, id: i64) -> Result<Option<Tenant>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
        on_tx!(self, conn => {
            let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *conn).await?;
            row.as_ref().map(tenant_from).transpose()
        })
    }

    /// Every tenant's id, in creation order.
    pub async fn tenant_ids(&mut self) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = on_tx!(self, conn => {
            sqlx::query_as("SELECT id FROM tenants ORDER BY id").fetch_all(&mut *conn).await?
        });
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    pub async fn set_clock(&mut self, tenant: i64, clock: NaiveDate) -> Result<()> {
        on_tx!(self, conn => {
            sqlx::query("UPDATE tenants SET clock = $1 WHERE id = $2")
                .bind(clock)
                .bind(tenant)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    pub async fn insert_api_key(
        &mut self,
        tenant: i64,
        prefix: &str,
        secret_hash: &str,
    ) -> Result<i64> {
        let now = now_text();
        on_tx!(self, conn => {
            let row = sqlx::query(
                "INSERT INTO api_keys (tenant_id, prefix, secret_hash, created_at) \
                 VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(tenant)
            .bind(prefix)
            .bind(secret_hash)
            .bind(&now)
            .fetch_one(&mut *conn)
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    /// The tenant of a live (not revoked) key, by the key's hash, and the key's id.
    pub async fn tenant_by_key_hash(&mut self, secret_hash: &str) -> Result<Option<(Tenant, i64)>> {
        on_tx!(self, conn => {
            let row = sqlx::query(
                "SELECT t.id, t.name, t.slug, t.mode, t.clock, t.settings, t.collection, k.id \
                 FROM api_keys k JOIN tenants t ON t.id = k.tenant_id \
                 WHERE k.secret_hash = $1 AND k.revoked_at IS NULL",
            )
            .bind(secret_hash)
            .fetch_optional(&mut *conn)
            .await?;
            row.map(|r| {
                let t = tenant_from(&r)?;
                Ok((t, r.try_get(7)?))
            })
            .transpose()
        })
    }

    pub async fn api_keys(&mut self, tenant: i64) -> Result<Vec<ApiKey>> {
        on_tx!(self, conn => {
            let rows = sqlx::query(
                "SELECT id, prefix, created_at, revoked_at FROM api_keys WHERE tenant_id = $1 ORDER BY id",
            )
            .bind(tenant)
            .fetch_all(&mut *conn)
            .await?;
            rows.iter()
                .map(|r| Ok(ApiKey {
                    id: r.try_get(0)?,
                    prefix: r.try_get(1)?,
                    created_at: r.try_get(2)?,
                    revoked_at: r.try_get(3)?,
                }))
                .collect()
        })
    }

    /// Revokes a key of `tenant`; false when it has no such live key.
    pub async fn revoke_api_key(&mut self, tenant: i64, id: i64) -> Result<bool> {
        let now = now_text();
        on_tx!(self, conn => {
            let done = sqlx::query(
                "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
            )
            .bind(&now)
            .bind(tenant)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    // ---------------------------------------------------------------- catalogs

    /// Stores a new catalog version (already validated by the caller).
    pub async fn insert_catalog(&mut self, tenant: i64, source: &str) -> Result<CatalogVersion> {
        let now = now_text();
        on_tx!(self, conn => {
            let row = sqlx::query(
                "INSERT INTO catalog_versions (tenant_id, version, source, created_at) \
                 VALUES ($1, (SELECT COALESCE(MAX(version), 0) + 1 FROM catalog_versions WHERE tenant_id = $1), $2, $3) \
                 RETURNING id, version",
            )
            .bind(tenant)
            .bind(source)
            .bind(&now)
            .fetch_one(&mut *conn)
            .await?;
            Ok(CatalogVersion {
                id: row.try_get(0)?,
                version: row.try_get(1)?,
                source: source.to_string(),
                created_at: now,
            })
        })
    }

    pub async fn catalog(&mut self, tenant: i64, id: i64) -> Result<Option<CatalogVersion>> {
        let row: Option<CatalogRaw> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, version, source, created_at FROM catalog_versions WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        });
        Ok(row.map(catalog_row))
    }

    pub async fn catalogs(&mut self, tenant: i64) -> Result<Vec<CatalogVersion>> {
        let rows: Vec<CatalogRaw> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, version, source, created_at FROM catalog_versions WHERE tenant_id = $1 ORDER BY version",
            )
            .bind(tenant)
            .fetch_all(&mut *conn)
            .await?
        });
        Ok(rows.into_iter().map(catalog_row).collect())
    }

    // ---------------------------------------------------------------- accounts

    pub async fn insert_account(&mut self, tenant: i64, account: &Account) -> Result<i64> {
        let body = json(account)?;
        let now = now_text();
        on_tx!(self, conn => {
            let row = sqlx::query(
                "INSERT INTO accounts (tenant_id, body, created_at) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(tenant)
            .bind(&body)
            .bind(&now)
            .fetch_one(&mut *conn)
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    /// Many accounts at once (imports, the demo, the benchmark); their ids in the same order.
    pub async fn insert_accounts(&mut self, tenant: i64, accounts: &[Account]) -> Result<Vec<i64>> {
        let now = now_text();
        let bodies: Vec<String> = accounts.iter().map(json).collect::<Result<_>>()?;
        let mut ids = Vec::with_capacity(accounts.len());
        for chunk in bodies.chunks(ROWS_PER_INSERT) {
            let rows: Vec<(i64,)> = on_tx!(self, conn => {
                let mut q = QueryBuilder::new("INSERT INTO accounts (tenant_id, body, created_at) ");
                q.push_values(chunk, |mut b, body| {
                    b.push_bind(tenant).push_bind(body).push_bind(now.clone());
                });
                // Both backends return the rows of a multi-row VALUES in the order given.
                q.push(" RETURNING id");
                q.build_query_as().fetch_all(&mut *conn).await?
            });
            ids.extend(rows.into_iter().map(|r| r.0));
        }
        Ok(ids)
    }

    pub async fn account(&mut self, tenant: i64, id: i64) -> Result<Option<Account>> {
        on_tx!(self, conn => {
            let row = sqlx::query("SELECT body FROM accounts WHERE tenant_id = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            row.map(|r| from_json(&r.try_get::<String, _>(0)?)).transpose()
        })
    }

    pub async fn update_account(&mut self, tenant: i64, id: i64, account: &Account) -> Result<()> {
        let body = json(account)?;
        on_tx!(self, conn => {
            sqlx::query("UPDATE accounts SET body = $1 WHERE tenant_id = $2 AND id = $3")
                .bind(&body)
                .bind(tenant)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    pub async fn list_accounts(
        &mut self,
        tenant: i64,
        after: i64,
        limit: i64,
    ) -> Result<Page<AccountRow>> {
        let rows: Vec<(i64, String)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, body FROM accounts WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(tenant)
            .bind(after)
            .bind(limit + 1)
            .fetch_all(&mut *conn)
            .await?
        });
        page(
            rows,
            limit,
            |(id, body)| {
                Ok(AccountRow {
                    id,
                    account: from_json(&body)?,
                })
            },
            |r| r.id,
        )
    }

    /// The back office's search: accounts whose details contain `text` (company name, VAT
    /// number, address, billing contacts; case folded for ASCII), whose user has that e-mail,
    /// or which hold the document with that number; at most `limit`, by id. The details are
    /// matched by a scan of the tenant's accounts (a search, not a page view: the
    /// benchmark's page views go by id).
    pub async fn search_accounts(
        &mut self,
        tenant: i64,
        text: &str,
        limit: i64,
    ) -> Result<Vec<AccountRow>> {
        let folded = text.trim().to_lowercase();
        if folded.is_empty() {
            return Ok(Vec::new());
        }
        let escaped: String = folded
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        let pattern = format!("%{escaped}%");
        let rows: Vec<(i64, String)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, body FROM accounts WHERE tenant_id = $1 AND id IN ( \
                   SELECT id FROM accounts WHERE tenant_id = $1 \
                     AND lower(body) LIKE $2 ESCAPE '\\' \
                   UNION SELECT account_id FROM users WHERE tenant_id = $1 AND email = $3 \
                   UNION SELECT account_id FROM documents WHERE tenant_id = $1 AND number = $4) \
                 ORDER BY id LIMIT $5",
            )
            .bind(tenant)
            .bind(&pattern)
            .bind(&folded)
            .bind(text.trim().to_uppercase())
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        });
        rows.into_iter()
            .map(|(id, body)| {
                Ok(AccountRow {
                    id,
                    account: from_json(&body)?,
                })
            })
            .collect()
    }

    /// Accounts by id, for a chunk of the billing run.
    pub async fn accounts(&mut self, tenant: i64, ids: &[i64]) -> Result<BTreeMap<i64, Account>> {
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(ROWS_PER_INSERT) {
            let rows: Vec<(i64, String)> = on_tx!(self, conn => {
                let mut q = QueryBuilder::new("SELECT id, body FROM accounts WHERE tenant_id = ");
                q.push_bind(tenant).push(" AND id IN");
                push_ids(&mut q, chunk);
                q.build_query_as().fetch_all(&mut *conn).await?
            });
            for (id, body) in rows {
                out.insert(id, from_json(&body)?);
            }
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- subscriptions

    pub async fn insert_subscription(
        &mut self,
        tenant: i64,
        account_id: i64,
        catalog_version_id: i64,
        subscription: &Subscription,
        next_due: Option<NaiveDate>,
    ) -> Result<i64> {
        let body = json(subscription)?;
        let m = milestones(subscription);
        on_tx!(self, conn => {
            let row = sqlx::query(
                "INSERT INTO subscriptions (tenant_id, account_id, catalog_version_id, body, next_due, \
                 starts_on, paid_from, ends_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(tenant)
            .bind(account_id)
            .bind(catalog_version_id)
            .bind(&body)
            .bind(next_due)
            .bind(m.starts_on)
            .bind(m.paid_from)
            .bind(m.ends_on)
            .fetch_one(&mut *conn)
            .await?;
            Ok(row.try_get(0)?)
        })
    }

    /// Many subscriptions at once (imports, the demo and the benchmark).
    pub async fn insert_subscriptions(
        &mut self,
        tenant: i64,
        rows: &[(i64, i64, Subscription, Option<NaiveDate>)],
    ) -> Result<()> {
        let bodies: Vec<String> = rows.iter().map(|r| json(&r.2)).collect::<Result<_>>()?;
        for (chunk, bodies) in rows
            .chunks(ROWS_PER_INSERT)
            .zip(bodies.chunks(ROWS_PER_INSERT))
        {
            on_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO subscriptions (tenant_id, account_id, catalog_version_id, body, next_due, \
                     starts_on, paid_from, ends_on) ",
                );
                q.push_values(chunk.iter().zip(bodies), |mut b, (r, body)| {
                    let m = milestones(&r.2);
                    b.push_bind(tenant).push_bind(r.0).push_bind(r.1).push_bind(body).push_bind(r.3)
                        .push_bind(m.starts_on).push_bind(m.paid_from).push_bind(m.ends_on);
                });
                q.build().execute(&mut *conn).await?;
            });
        }
        Ok(())
    }

    /// A subscription of `tenant`; with `lock`, the row is locked until the transaction ends
    /// (PostgreSQL; SQLite serializes writers anyway).
    pub async fn subscription(
        &mut self,
        tenant: i64,
        id: i64,
        lock: bool,
    ) -> Result<Option<SubscriptionRow>> {
        let row: Option<SubRowRaw> = match &mut self.inner {
            Inner::Sqlite(t) => {
                sqlx::query_as(SUB_BY_ID)
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&mut **t)
                    .await?
            }
            Inner::Postgres(t) => {
                let sql = if lock {
                    format!("{SUB_BY_ID} FOR UPDATE")
                } else {
                    SUB_BY_ID.to_string()
                };
                sqlx::query_as(&sql)
                    .bind(tenant)
                    .bind(id)
                    .fetch_optional(&mut **t)
                    .await?
            }
        };
        row.map(sub_row).transpose()
    }

    pub async fn subscriptions_of_account(
        &mut self,
        tenant: i64,
        account_id: i64,
    ) -> Result<Vec<SubscriptionRow>> {
        self.subscriptions_of_accounts(tenant, &[account_id]).await
    }

    /// The subscriptions of the given accounts, in id order.
    pub async fn subscriptions_of_accounts(
        &mut self,
        tenant: i64,
        accounts: &[i64],
    ) -> Result<Vec<SubscriptionRow>> {
        let mut out = Vec::new();
        for chunk in accounts.chunks(ROWS_PER_INSERT) {
            let rows: Vec<SubRowRaw> = on_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "SELECT id, account_id, catalog_version_id, body, next_due, revision \
                     FROM subscriptions WHERE tenant_id = ",
                );
                q.push_bind(tenant).push(" AND account_id IN");
                push_ids(&mut q, chunk);
                q.build_query_as().fetch_all(&mut *conn).await?
            });
            for r in rows {
                out.push(sub_row(r)?);
            }
        }
        out.sort_by_key(|r| r.id);
        Ok(out)
    }

    pub async fn update_subscription(
        &mut self,
        tenant: i64,
        id: i64,
        subscription: &Subscription,
        next_due: Option<NaiveDate>,
    ) -> Result<()> {
        let body = json(subscription)?;
        let m = milestones(subscription);
        on_tx!(self, conn => {
            sqlx::query(
                "UPDATE subscriptions SET body = $1, next_due = $2, revision = revision + 1, \
                 starts_on = $3, paid_from = $4, ends_on = $5 WHERE tenant_id = $6 AND id = $7",
            )
            .bind(&body)
            .bind(next_due)
            .bind(m.starts_on)
            .bind(m.paid_from)
            .bind(m.ends_on)
            .bind(tenant)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    /// Up to `limit` subscriptions due on or before `as_of`, oldest due day first, then by id,
    /// after `after` (the last `(next_due, id)` of the previous chunk; `None` to start).
    ///
    /// Walking the due index `(tenant_id, next_due, id)` in its own order reads exactly the
    /// rows returned. In id order (as it was) PostgreSQL read every row still due and sorted
    /// them for each chunk: 100,000 then 98,000… at 100,000 subscriptions, quadratic in the
    /// run (found by prorata-engine's `tests/plans.rs`).
    /// With `lock` (PostgreSQL), the rows stay locked until commit and rows another worker
    /// holds are skipped, so workers share a run without waiting on each other.
    pub async fn claim_due(
        &mut self,
        tenant: i64,
        as_of: NaiveDate,
        after: Option<(NaiveDate, i64)>,
        limit: i64,
        lock: bool,
    ) -> Result<Vec<DueRow>> {
        const SQL: &str = "SELECT id, account_id, catalog_version_id, body, next_due, revision, horizon \
                           FROM subscriptions WHERE tenant_id = $1 AND next_due <= $2 AND (next_due, id) > ($3, $4) \
                           ORDER BY next_due, id LIMIT $5";
        // Before any due day: no date sorts before the year 1 on either store.
        let (after_day, after_id) = after.unwrap_or((history::before_all(), 0));
        let rows: Vec<DueRowRaw> = match &mut self.inner {
            Inner::Sqlite(t) => {
                sqlx::query_as(SQL)
                    .bind(tenant)
                    .bind(as_of)
                    .bind(after_day)
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(&mut **t)
                    .await?
            }
            Inner::Postgres(t) => {
                let sql = if lock {
                    format!("{SQL} FOR UPDATE SKIP LOCKED")
                } else {
                    SQL.to_string()
                };
                // On a table not analyzed since a bulk load, the tenant's due rows look like a
                // few hundred, and the planner reads them all through a bitmap and sorts them
                // rather than walk the due index in its order and stop at `limit`: every row
                // still due was read for each chunk. The walk is the one right plan whatever
                // the statistics, so the bitmap is set aside for this statement alone.
                sqlx::query("SET LOCAL enable_bitmapscan = off")
                    .execute(&mut **t)
                    .await?;
                let rows = sqlx::query_as(&sql)
                    .bind(tenant)
                    .bind(as_of)
                    .bind(after_day)
                    .bind(after_id)
                    .bind(limit)
                    .fetch_all(&mut **t)
                    .await?;
                sqlx::query("SET LOCAL enable_bitmapscan = on")
                    .execute(&mut **t)
                    .await?;
                rows
            }
        };
        rows.into_iter()
            .map(
                |(id, account, catalog, body, next_due, revision, horizon)| {
                    Ok(DueRow {
                        row: sub_row((id, account, catalog, body, next_due, revision))?,
                        horizon: horizon.as_deref().map(from_json).transpose()?,
                    })
                },
            )
            .collect()
    }

    /// The revision of each subscription of `ids` still due on or before `as_of`, locking
    /// those rows in id order. A row another transaction holds is waited for, never skipped:
    /// PostgreSQL re-checks that it is still due once the lock is granted, so a row billed
    /// meanwhile drops out, and one merely held (say by a request being refused) is billed.
    /// (`SKIP LOCKED` here once left rows unbilled behind a lingering lock.)
    pub async fn lock_due(
        &mut self,
        tenant: i64,
        as_of: NaiveDate,
        ids: &[i64],
    ) -> Result<BTreeMap<i64, i64>> {
        let mut out = BTreeMap::new();
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        for chunk in ids.chunks(ROWS_PER_INSERT) {
            let rows: Vec<(i64, i64)> = match &mut self.inner {
                // SQLite's writer holds the whole database: no row lock. Its planner took the
                // due index for `next_due <= ?` and read every row still due for each chunk
                // (34 ms a chunk at 300,000, growing with N); SQLite's unary `+` keeps a term
                // off the index, so the rows are found by their ids.
                Inner::Sqlite(t) => {
                    let mut q = QueryBuilder::new(
                        "SELECT id, revision FROM subscriptions WHERE tenant_id = ",
                    );
                    q.push_bind(tenant)
                        .push(" AND +next_due <= ")
                        .push_bind(as_of)
                        .push(" AND id IN");
                    push_ids(&mut q, chunk);
                    q.build_query_as().fetch_all(&mut **t).await?
                }
                // One probe of the primary key per id, locking as it goes, in id order (the
                // array's): on a table not analyzed yet the planner read every row still due
                // through the due index's bitmap and kept the chunk's (`tests/plans.rs`).
                Inner::Postgres(t) => {
                    sqlx::query_as(
                        "SELECT s.id, s.revision FROM UNNEST($3::BIGINT[]) AS k(id) \
                         CROSS JOIN LATERAL (SELECT id, revision FROM subscriptions \
                         WHERE tenant_id = $1 AND id = k.id AND next_due <= $2 FOR UPDATE) s",
                    )
                    .bind(tenant)
                    .bind(as_of)
                    .bind(chunk)
                    .fetch_all(&mut **t)
                    .await?
                }
            };
            out.extend(rows);
        }
        Ok(out)
    }

    /// How many subscriptions of `tenant` are due on or before `as_of` (for progress bars).
    pub async fn count_due(&mut self, tenant: i64, as_of: NaiveDate) -> Result<i64> {
        on_tx!(self, conn => {
            let row = sqlx::query("SELECT COUNT(*) FROM subscriptions WHERE tenant_id = $1 AND next_due <= $2")
                .bind(tenant)
                .bind(as_of)
                .fetch_one(&mut *conn)
                .await?;
            Ok(row.try_get(0)?)
        })
    }

    /// The earliest day anything is due for `tenant`.
    pub async fn earliest_due(&mut self, tenant: i64) -> Result<Option<NaiveDate>> {
        on_tx!(self, conn => {
            let row = sqlx::query("SELECT MIN(next_due) FROM subscriptions WHERE tenant_id = $1")
                .bind(tenant)
                .fetch_one(&mut *conn)
                .await?;
            Ok(row.try_get::<Option<NaiveDate>, _>(0)?)
        })
    }

    // ---------------------------------------------------------------- documents

    /// Every document of the subscriptions `ids`, in issue order. By list, not by id range:
    /// the subscriptions due on one day are spread over the tenant's ids, and a range would
    /// read the history of every subscription between them.
    pub async fn documents_of_subscriptions(
        &mut self,
        tenant: i64,
        ids: &[i64],
    ) -> Result<BTreeMap<i64, Vec<Document>>> {
        let all: Vec<(i64, i64)> = ids.iter().map(|id| (*id, 0)).collect();
        Ok(self
            .documents_after(tenant, &all)
            .await?
            .into_iter()
            .map(|(sub, docs)| (sub, docs.into_iter().map(|(_, d)| d).collect()))
            .collect())
    }

    /// Replaces a tenant's billing settings (its seller identity, tax rules, proration rules).
    pub async fn set_settings(&mut self, tenant: i64, settings: &Settings) -> Result<()> {
        let body = json(settings)?;
        on_tx!(self, conn => {
            sqlx::query("UPDATE tenants SET settings = $1 WHERE id = $2")
                .bind(body)
                .bind(tenant)
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }

    /// Writes `docs` and queues them for their files. SQLite: one multi-row `INSERT` per
    /// [`ROWS_PER_INSERT`] rows, the render queue filled from its `RETURNING` ids. PostgreSQL:
    /// one statement for both tables, whatever the count — the columns as arrays through
    /// `UNNEST`, the queue filled by a data-modifying `WITH` — where 10 binds a row made the
    /// server parse and bind 20,000 parameters a chunk, and the ids made a round trip.
    pub async fn insert_documents(&mut self, tenant: i64, docs: &[NewDocument]) -> Result<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let bodies: Vec<String> = docs
            .iter()
            .map(|d| json(&d.document))
            .collect::<Result<_>>()?;
        // Only an invoice is due; a credit note's date would mean nothing.
        let due_on = |d: &NewDocument| {
            (d.document.kind == DocumentKind::Invoice)
                .then_some(d.document.due_on)
                .flatten()
        };
        if let Inner::Postgres(t) = &mut self.inner {
            let accounts: Vec<i64> = docs.iter().map(|d| d.account_id).collect();
            let subscriptions: Vec<i64> = docs.iter().map(|d| d.subscription_id).collect();
            let kinds: Vec<&str> = docs
                .iter()
                .map(|d| document_kind_str(d.document.kind))
                .collect();
            let numbers: Vec<&str> = docs.iter().map(|d| d.document.number.as_str()).collect();
            let issued: Vec<NaiveDate> = docs.iter().map(|d| d.document.issued_on).collect();
            let currencies: Vec<&str> = docs.iter().map(|d| d.document.currency.code()).collect();
            let totals: Vec<i64> = docs.iter().map(|d| d.document.total.minor()).collect();
            let due: Vec<Option<NaiveDate>> = docs.iter().map(due_on).collect();
            sqlx::query(
                "WITH d AS (INSERT INTO documents (tenant_id, account_id, subscription_id, kind, \
                 number, issued_on, currency, total, body, due_on) \
                 SELECT $1, * FROM UNNEST($2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], \
                 $6::DATE[], $7::TEXT[], $8::BIGINT[], $9::TEXT[], $10::DATE[]) RETURNING id) \
                 INSERT INTO document_renders (tenant_id, document_id) SELECT $1, id FROM d",
            )
            .bind(tenant)
            .bind(&accounts)
            .bind(&subscriptions)
            .bind(&kinds)
            .bind(&numbers)
            .bind(&issued)
            .bind(&currencies)
            .bind(&totals)
            .bind(&bodies)
            .bind(&due)
            .execute(&mut **t)
            .await?;
            return Ok(());
        }
        for (chunk, bodies) in docs
            .chunks(ROWS_PER_INSERT)
            .zip(bodies.chunks(ROWS_PER_INSERT))
        {
            let ids = on_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO documents (tenant_id, account_id, subscription_id, kind, number, \
                     issued_on, currency, total, body, due_on) ",
                );
                q.push_values(chunk.iter().zip(bodies), |mut b, (d, body)| {
                    b.push_bind(tenant)
                        .push_bind(d.account_id)
                        .push_bind(d.subscription_id)
                        .push_bind(document_kind_str(d.document.kind))
                        .push_bind(d.document.number.as_str())
                        .push_bind(d.document.issued_on)
                        .push_bind(d.document.currency.code())
                        .push_bind(d.document.total.minor())
                        .push_bind(body.as_str())
                        .push_bind(due_on(d));
                });
                // The new rows' ids, so the render queue is filled without looking them up.
                q.push(" RETURNING id");
                let ids: Vec<i64> = q.build_query_scalar().fetch_all(&mut *conn).await?;
                ids
            });
            self.queue_renders(tenant, &ids).await?;
        }
        Ok(())
    }

    pub async fn document(&mut self, tenant: i64, id: i64) -> Result<Option<DocumentRow>> {
        let row: Option<(i64, i64, i64, String)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, account_id, subscription_id, body FROM documents WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        });
        row.map(doc_row).transpose()
    }

    pub async fn document_by_number(
        &mut self,
        tenant: i64,
        number: &str,
    ) -> Result<Option<DocumentRow>> {
        let row: Option<(i64, i64, i64, String)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, account_id, subscription_id, body FROM documents WHERE tenant_id = $1 AND number = $2",
            )
            .bind(tenant)
            .bind(number)
            .fetch_optional(&mut *conn)
            .await?
        });
        row.map(doc_row).transpose()
    }

    /// Documents of `tenant`, optionally of one kind and one account, in issue order.
    pub async fn list_documents(
        &mut self,
        tenant: i64,
        kind: Option<DocumentKind>,
        account: Option<i64>,
        after: i64,
        limit: i64,
    ) -> Result<Page<DocumentRow>> {
        let rows: Vec<(i64, i64, i64, String)> = on_tx!(self, conn => {
            let mut q = QueryBuilder::new(
                "SELECT id, account_id, subscription_id, body FROM documents WHERE tenant_id = ",
            );
            q.push_bind(tenant);
            if let Some(k) = kind {
                q.push(" AND kind = ").push_bind(document_kind_str(k));
            }
            if let Some(a) = account {
                q.push(" AND account_id = ").push_bind(a);
            }
            q.push(" AND id > ").push_bind(after).push(" ORDER BY id LIMIT ").push_bind(limit + 1);
            q.build_query_as().fetch_all(&mut *conn).await?
        });
        page(rows, limit, doc_row, |d| d.id)
    }

    /// The account's latest `limit` documents, newest first (the back office's account page).
    pub async fn list_documents_newest(
        &mut self,
        tenant: i64,
        account: i64,
        limit: i64,
    ) -> Result<Vec<DocumentRow>> {
        let rows: Vec<(i64, i64, i64, String)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, account_id, subscription_id, body FROM documents \
                 WHERE tenant_id = $1 AND account_id = $2 ORDER BY id DESC LIMIT $3",
            )
            .bind(tenant)
            .bind(account)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        });
        rows.into_iter().map(doc_row).collect()
    }

    /// Documents of `tenant` by kind and currency: how many, and their total in minor units.
    pub async fn count_documents(
        &mut self,
        tenant: i64,
    ) -> Result<BTreeMap<(String, String), (i64, i64)>> {
        let rows: Vec<(String, String, i64, i64)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT kind, currency, COUNT(*), CAST(COALESCE(SUM(total), 0) AS BIGINT) FROM documents \
                 WHERE tenant_id = $1 GROUP BY kind, currency ORDER BY kind, currency",
            )
            .bind(tenant)
            .fetch_all(&mut *conn)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(k, c, n, t)| ((k, c), (n, t)))
            .collect())
    }

    // ---------------------------------------------------------------- numbering

    /// Takes `count` consecutive numbers of `series`; returns the first. Taken inside the
    /// issuing transaction, so a rolled-back run leaves no gap. On PostgreSQL the `UPDATE`
    /// holds the series' row lock until commit, serializing concurrent issuers.
    pub async fn take_numbers(&mut self, tenant: i64, series: &str, count: i64) -> Result<i64> {
        on_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO number_series (tenant_id, series, next) VALUES ($1, $2, 1) \
                 ON CONFLICT (tenant_id, series) DO NOTHING",
            )
            .bind(tenant)
            .bind(series)
            .execute(&mut *conn)
            .await?;
            let row = sqlx::query(
                "UPDATE number_series SET next = next + $1 WHERE tenant_id = $2 AND series = $3 RETURNING next",
            )
            .bind(count)
            .bind(tenant)
            .bind(series)
            .fetch_one(&mut *conn)
            .await?;
            let next: i64 = row.try_get(0)?;
            Ok(next - count)
        })
    }

    // ---------------------------------------------------------------- ledger and outbox

    pub async fn insert_ledger(&mut self, tenant: i64, entries: &[NewLedgerEntry]) -> Result<()> {
        let rows: Vec<EntryRow<'_>> = entries
            .iter()
            .map(|e| EntryRow {
                account_id: e.account_id,
                entry_date: e.entry_date,
                kind: e.kind.as_str(),
                amount: e.amount,
                reference: &e.reference,
            })
            .collect();
        self.insert_entries(Entries::Ledger, tenant, &rows).await
    }

    /// Balances (the sum of the entries, kept by the database; minor units) of the given
    /// accounts; absent means zero.
    pub async fn balances(&mut self, tenant: i64, accounts: &[i64]) -> Result<BTreeMap<i64, i64>> {
        self.sums_by_account(Entries::Ledger, tenant, accounts)
            .await
    }

    pub async fn ledger(
        &mut self,
        tenant: i64,
        account: i64,
        after: i64,
        limit: i64,
    ) -> Result<Page<LedgerEntry>> {
        let rows = self
            .entries_after(Entries::Ledger, tenant, account, after, limit)
            .await?;
        page(rows, limit, ledger_row, |e| e.id)
    }

    /// The account's latest `limit` ledger entries, newest first (the back office's page).
    pub async fn ledger_newest(
        &mut self,
        tenant: i64,
        account: i64,
        limit: i64,
    ) -> Result<Vec<LedgerEntry>> {
        let rows: Vec<EntryTuple> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT id, account_id, entry_date, kind, amount, currency, reference FROM ledger_entries \
                 WHERE tenant_id = $1 AND account_id = $2 ORDER BY id DESC LIMIT $3",
            )
            .bind(tenant)
            .bind(account)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        });
        rows.into_iter().map(ledger_row).collect()
    }

    pub async fn insert_outbox(&mut self, tenant: i64, rows: &[NewOutbox]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let now = now_text();
        let payloads: Vec<String> = rows
            .iter()
            .map(|r| json(&r.payload))
            .collect::<Result<_>>()?;
        // PostgreSQL: the columns as arrays, one statement whatever the count.
        if let Inner::Postgres(t) = &mut self.inner {
            let topics: Vec<&str> = rows.iter().map(|r| r.topic.as_str()).collect();
            sqlx::query(
                "INSERT INTO outbox (tenant_id, topic, payload, created_at) \
                 SELECT $1, topic, payload, $4 FROM UNNEST($2::TEXT[], $3::TEXT[]) AS r (topic, payload)",
            )
            .bind(tenant)
            .bind(&topics)
            .bind(&payloads)
            .bind(&now)
            .execute(&mut **t)
            .await?;
            return Ok(());
        }
        for (chunk, payloads) in rows
            .chunks(ROWS_PER_INSERT)
            .zip(payloads.chunks(ROWS_PER_INSERT))
        {
            on_tx!(self, conn => {
                let mut q = QueryBuilder::new("INSERT INTO outbox (tenant_id, topic, payload, created_at) ");
                q.push_values(chunk.iter().zip(payloads), |mut b, (r, p)| {
                    b.push_bind(tenant).push_bind(r.topic.clone()).push_bind(p).push_bind(now.clone());
                });
                q.build().execute(&mut *conn).await?;
            });
        }
        Ok(())
    }

    pub async fn outbox_count(&mut self, tenant: i64) -> Result<i64> {
        on_tx!(self, conn => {
            let row = sqlx::query("SELECT COUNT(*) FROM outbox WHERE tenant_id = $1")
                .bind(tenant)
                .fetch_one(&mut *conn)
                .await?;
            Ok(row.try_get(0)?)
        })
    }

    // ---------------------------------------------------------------- idempotency

    pub async fn idempotent_response(
        &mut self,
        tenant: i64,
        key: &str,
    ) -> Result<Option<IdempotentResponse>> {
        let row: Option<(String, i64, String)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT request_hash, status, response FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
            )
            .bind(tenant)
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?
        });
        row.map(|(request_hash, status, body)| {
            Ok(IdempotentResponse {
                request_hash,
                status: u16::try_from(status).map_err(|_| StoreError::Corrupt("status".into()))?,
                body,
            })
        })
        .transpose()
    }

    /// Reserves `key` for a request about to run (status 0: pending). False when the key is
    /// already there, pending or done: the caller must not run the request.
    pub async fn reserve_idempotency_key(
        &mut self,
        tenant: i64,
        key: &str,
        request_hash: &str,
    ) -> Result<bool> {
        let now = now_text();
        on_tx!(self, conn => {
            let done = sqlx::query(
                "INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, response, created_at) \
                 VALUES ($1, $2, $3, 0, '', $4) ON CONFLICT (tenant_id, key) DO NOTHING",
            )
            .bind(tenant)
            .bind(key)
            .bind(request_hash)
            .bind(&now)
            .execute(&mut *conn)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Stores the response of a reserved key.
    pub async fn complete_idempotency_key(
        &mut self,
        tenant: i64,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<()> {
        on_tx!(self, conn => {
            sqlx::query(
                "UPDATE idempotency_keys SET status = $1, response = $2 WHERE tenant_id = $3 AND key = $4",
            )
            .bind(i64::from(status))
            .bind(body)
            .bind(tenant)
            .bind(key)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    /// Frees a reserved key whose request failed before doing anything (a retry may run it).
    pub async fn release_idempotency_key(&mut self, tenant: i64, key: &str) -> Result<()> {
        on_tx!(self, conn => {
            sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND status = 0")
                .bind(tenant)
                .bind(key)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// Records the response to a POST; a concurrent twin that recorded first wins (the
    /// caller's transaction then fails on the key and rolls back its effects).
    pub async fn save_idempotent_response(
        &mut self,
        tenant: i64,
        key: &str,
        response: &IdempotentResponse,
    ) -> Result<()> {
        let now = now_text();
        on_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, response, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(tenant)
            .bind(key)
            .bind(&response.request_hash)
            .bind(i64::from(response.status))
            .bind(&response.body)
            .bind(&now)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }
}

/// The days a stored subscription's status turns on: with every event recorded (a tenant's
/// clock only moves forward, so nothing is recorded after its today).
fn milestones(sub: &Subscription) -> Milestones {
    Milestones::of(sub, NaiveDate::MAX)
}

const SUB_BY_ID: &str = "SELECT id, account_id, catalog_version_id, body, next_due, revision \
                         FROM subscriptions WHERE tenant_id = $1 AND id = $2";

type CatalogRaw = (i64, i64, String, String);

fn catalog_row((id, version, source, created_at): CatalogRaw) -> CatalogVersion {
    CatalogVersion {
        id,
        version,
        source,
        created_at,
    }
}

type SubRowRaw = (i64, i64, i64, String, Option<NaiveDate>, i64);

/// A [`SubRowRaw`] and the subscription's horizon as JSON.
type DueRowRaw = (
    i64,
    i64,
    i64,
    String,
    Option<NaiveDate>,
    i64,
    Option<String>,
);

fn sub_row(
    (id, account_id, catalog_version_id, body, next_due, revision): SubRowRaw,
) -> Result<SubscriptionRow> {
    Ok(SubscriptionRow {
        id,
        account_id,
        catalog_version_id,
        subscription: from_json(&body)?,
        next_due,
        revision,
    })
}

fn doc_row(
    (id, account_id, subscription_id, body): (i64, i64, i64, String),
) -> Result<DocumentRow> {
    Ok(DocumentRow {
        id,
        account_id,
        subscription_id,
        document: from_json(&body)?,
    })
}

/// Turns `limit + 1` fetched rows into a page and the cursor of the next one.
fn page<R, T>(
    mut rows: Vec<R>,
    limit: i64,
    map: impl Fn(R) -> Result<T>,
    id: impl Fn(&T) -> i64,
) -> Result<Page<T>> {
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let items: Vec<T> = rows.into_iter().map(map).collect::<Result<_>>()?;
    let next = if more { items.last().map(&id) } else { None };
    Ok(Page { items, next })
}

mod coupons;
mod entries;
mod files;
mod history;
mod jobs;
mod lists;
mod payments;
mod people;
mod seller_logos;
mod tickets;
mod usage;
mod wallets;

pub(crate) use entries::Entries;
use entries::{EntryRow, EntryTuple};
pub use history::Settlement;
pub use lists::{InvoiceHead, InvoiceRange, SubscriptionFilter};
pub use tickets::QueueFilter;
pub use usage::{DailyUsage, NewCall};

fn ledger_row(row: EntryTuple) -> Result<LedgerEntry> {
    let e = entries::parts(row)?;
    Ok(LedgerEntry {
        id: e.id,
        account_id: e.account_id,
        entry_date: e.entry_date,
        kind: LedgerKind::parse(&e.kind)?,
        amount: e.amount,
        reference: e.reference,
    })
}
