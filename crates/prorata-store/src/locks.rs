//! Tenant locks: which process does a tenant's billing run or collection pass when several
//! `prorata serve` share one database.
//!
//! On PostgreSQL a lock is a session advisory lock held by a connection of its own, taken out
//! of the pool: it is released when the holder drops it, and also when the holding process dies
//! (SIGKILL closes its sockets and the server ends the session), so a crashed worker never
//! leaves a tenant locked. On SQLite, which one process serves, the lock is in memory.
//!
//! A billing run needs no lock for correctness (each chunk's rows are locked as they are
//! written, and a row billed by another worker drops out); the worker takes one to spread
//! tenants across processes rather than have them all read the same chunks. A collection pass
//! does need one: dispatching events, stepping dunning cases and charging read what is pending
//! and act on it, and two passes at once would e-mail or charge twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, Postgres};

use crate::{Db, Result, Store};

/// The work a tenant lock is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantWork {
    Billing = 1,
    Collection = 2,
    /// Rendering the files of new documents, and sign-in housekeeping: safe twice, but
    /// rendering is the costliest work per document, so not done twice at once.
    Documents = 3,
    /// SQLite's fold of appended usage totals in two steps (`Store::fold_usage`): two at once
    /// would each stage the same rows, and all but one would be thrown away.
    UsageFold = 4,
}

/// Advisory lock keys are one `bigint` shared by everything on the server: Prorata's carry this
/// prefix ("PR") in their top bits, the work in the next byte, and the tenant id below.
const KEY_PREFIX: i64 = 0x5052 << 48;

fn key(tenant: i64, work: TenantWork) -> i64 {
    KEY_PREFIX | ((work as i64) << 40) | (tenant & ((1 << 40) - 1))
}

/// The locks held in this process (SQLite).
pub(crate) type LocalLocks = Arc<Mutex<HashMap<(i64, TenantWork), Arc<tokio::sync::Mutex<()>>>>>;

/// A held tenant lock; dropping it releases it.
#[derive(Debug)]
pub struct TenantLock {
    _held: Held,
}

#[derive(Debug)]
enum Held {
    /// The session holding the advisory lock; closing it releases the lock.
    Postgres(#[allow(dead_code)] sqlx::PgConnection),
    Local(#[allow(dead_code)] tokio::sync::OwnedMutexGuard<()>),
}

impl TenantLock {
    /// Releases the lock now, closing its session cleanly (dropping it does too, abruptly).
    pub async fn release(self) {
        if let Held::Postgres(conn) = self._held {
            let _ = conn.close().await;
        }
    }
}

impl Store {
    /// Takes `tenant`'s lock for `work` if no one holds it; `None` when another worker does.
    pub async fn try_lock_tenant(
        &self,
        tenant: i64,
        work: TenantWork,
    ) -> Result<Option<TenantLock>> {
        match &self.db {
            Db::Postgres(pool) => {
                let mut conn = session(pool.acquire().await?);
                let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(key(tenant, work))
                    .fetch_one(&mut conn)
                    .await?;
                if !held {
                    let _ = conn.close().await;
                    return Ok(None);
                }
                Ok(Some(TenantLock {
                    _held: Held::Postgres(conn),
                }))
            }
            Db::Sqlite(_) => Ok(self
                .local_lock(tenant, work)
                .try_lock_owned()
                .ok()
                .map(|g| TenantLock {
                    _held: Held::Local(g),
                })),
        }
    }

    /// Takes `tenant`'s lock for `work`, waiting for whoever holds it to finish.
    pub async fn lock_tenant(&self, tenant: i64, work: TenantWork) -> Result<TenantLock> {
        match &self.db {
            Db::Postgres(pool) => {
                let mut conn = session(pool.acquire().await?);
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(key(tenant, work))
                    .execute(&mut conn)
                    .await?;
                Ok(TenantLock {
                    _held: Held::Postgres(conn),
                })
            }
            Db::Sqlite(_) => Ok(TenantLock {
                _held: Held::Local(self.local_lock(tenant, work).lock_owned().await),
            }),
        }
    }

    pub(crate) fn local_lock(&self, tenant: i64, work: TenantWork) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry((tenant, work)).or_default().clone()
    }
}

/// A pooled connection taken out of the pool, so that the session (and the advisory lock it
/// holds) ends with it rather than going back to the pool still holding the lock; the pool
/// opens another in its place.
fn session(conn: PoolConnection<Postgres>) -> sqlx::PgConnection {
    conn.detach()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_tenant_and_work_and_carry_the_prefix() {
        let a = key(1, TenantWork::Billing);
        assert_ne!(a, key(2, TenantWork::Billing));
        assert_ne!(a, key(1, TenantWork::Collection));
        assert_eq!(a >> 48, 0x5052);
    }
}
