//! Tables of money entries that add up per account: the ledger (what the customer owes) and
//! the wallets (the prepaid credit they hold). Both have the same columns and the same index
//! `(tenant_id, account_id, id)`, so they are written, summed and paged the same way.
//!
//! Each book keeps a running balance per account beside its entries (`ledger_balances`,
//! `wallet_balances`): the database's triggers add each inserted entry to it and refuse to
//! change or delete an entry (migration 0018), so it is always their sum. Reading a balance is
//! one key, whatever the account's age, where a sum read every entry the account ever had (the
//! slowest read of a billing run on five-year-old customers).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use prorata_core::money::{Currency, Money};
use sqlx::QueryBuilder;

use super::{select_by_keys, Inner, Tx, ROWS_PER_INSERT};
use crate::{Result, StoreError};

#[derive(Debug, Clone, Copy)]
pub(crate) enum Entries {
    /// `ledger_entries`: what the customer owes.
    Ledger,
    /// `wallet_entries`: the prepaid credit the customer holds.
    Wallet,
}

impl Entries {
    fn name(self) -> &'static str {
        match self {
            Entries::Ledger => "ledger_entries",
            Entries::Wallet => "wallet_entries",
        }
    }

    /// The table of running balances per account, kept equal to the sum of its entries by
    /// the database's triggers.
    fn balances(self) -> &'static str {
        match self {
            Entries::Ledger => "ledger_balances",
            Entries::Wallet => "wallet_balances",
        }
    }
}

/// An entry to write.
pub(crate) struct EntryRow<'a> {
    pub account_id: i64,
    pub entry_date: NaiveDate,
    pub kind: &'static str,
    pub amount: Money,
    pub reference: &'a str,
}

/// An entry as read: `(id, account_id, entry_date, kind, amount, currency, reference)`.
pub(crate) type EntryTuple = (i64, i64, NaiveDate, String, i64, String, String);

/// An entry read, its amount in its currency; the kind is left to its table's type.
pub(crate) struct EntryParts {
    pub id: i64,
    pub account_id: i64,
    pub entry_date: NaiveDate,
    pub kind: String,
    pub amount: Money,
    pub reference: String,
}

pub(crate) fn parts(
    (id, account_id, entry_date, kind, amount, currency, reference): EntryTuple,
) -> Result<EntryParts> {
    let currency: Currency = currency
        .parse()
        .map_err(|e: prorata_core::money::MoneyError| StoreError::Corrupt(e.to_string()))?;
    Ok(EntryParts {
        id,
        account_id,
        entry_date,
        kind,
        amount: Money::from_minor(amount, currency),
        reference,
    })
}

impl Tx {
    pub(crate) async fn insert_entries(
        &mut self,
        table: Entries,
        tenant: i64,
        rows: &[EntryRow<'_>],
    ) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // PostgreSQL: the columns as arrays, one statement whatever the count (7 binds a row
        // made the server parse and bind 14,000 parameters a chunk).
        if let Inner::Postgres(t) = &mut self.inner {
            let accounts: Vec<i64> = rows.iter().map(|e| e.account_id).collect();
            let dates: Vec<NaiveDate> = rows.iter().map(|e| e.entry_date).collect();
            let kinds: Vec<&str> = rows.iter().map(|e| e.kind).collect();
            let amounts: Vec<i64> = rows.iter().map(|e| e.amount.minor()).collect();
            let currencies: Vec<&str> = rows.iter().map(|e| e.amount.currency().code()).collect();
            let references: Vec<&str> = rows.iter().map(|e| e.reference).collect();
            let sql = format!(
                "INSERT INTO {} (tenant_id, account_id, entry_date, kind, amount, currency, reference) \
                 SELECT $1, * FROM UNNEST($2::BIGINT[], $3::DATE[], $4::TEXT[], $5::BIGINT[], \
                 $6::TEXT[], $7::TEXT[])",
                table.name()
            );
            sqlx::query(&sql)
                .bind(tenant)
                .bind(&accounts)
                .bind(&dates)
                .bind(&kinds)
                .bind(&amounts)
                .bind(&currencies)
                .bind(&references)
                .execute(&mut **t)
                .await?;
            return Ok(());
        }
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            on_tx!(self, conn => {
                let mut q = QueryBuilder::new(format!(
                    "INSERT INTO {} (tenant_id, account_id, entry_date, kind, amount, currency, reference) ",
                    table.name()
                ));
                q.push_values(chunk, |mut b, e| {
                    b.push_bind(tenant)
                        .push_bind(e.account_id)
                        .push_bind(e.entry_date)
                        .push_bind(e.kind)
                        .push_bind(e.amount.minor())
                        .push_bind(e.amount.currency().code())
                        .push_bind(e.reference.to_string());
                });
                q.build().execute(&mut *conn).await?;
            });
        }
        Ok(())
    }

    /// The running balance of `table` of each of `accounts` (minor units): the sum of its
    /// entries; an account without entries is absent.
    pub(crate) async fn sums_by_account(
        &mut self,
        table: Entries,
        tenant: i64,
        accounts: &[i64],
    ) -> Result<BTreeMap<i64, i64>> {
        let mut out = BTreeMap::new();
        for chunk in accounts.chunks(ROWS_PER_INSERT) {
            let rows: Vec<(i64, i64)> = on_tx!(self, conn => {
                let mut q = select_by_keys(
                    "t.account_id, t.balance",
                    table.balances(),
                    "account_id",
                    tenant,
                    chunk,
                    |_| {},
                );
                q.build_query_as().fetch_all(&mut *conn).await?
            });
            out.extend(rows);
        }
        Ok(out)
    }

    /// Up to `limit + 1` entries of `account` after the id `after`, oldest first (a page and
    /// whether there is another).
    pub(crate) async fn entries_after(
        &mut self,
        table: Entries,
        tenant: i64,
        account: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<EntryTuple>> {
        let sql = format!(
            "SELECT id, account_id, entry_date, kind, amount, currency, reference FROM {} \
             WHERE tenant_id = $1 AND account_id = $2 AND id > $3 ORDER BY id LIMIT $4",
            table.name()
        );
        Ok(on_tx!(self, conn => {
            sqlx::query_as(&sql)
                .bind(tenant)
                .bind(account)
                .bind(after)
                .bind(limit + 1)
                .fetch_all(&mut *conn)
                .await?
        }))
    }
}
