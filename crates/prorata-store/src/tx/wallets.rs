//! Wallets: each account's prepaid credit, as entries of their own beside the ledger
//! ([`prorata_core::wallet`]).

use std::collections::BTreeMap;

use super::entries::{self, Entries, EntryRow, EntryTuple};
use super::{page, Inner, Tx};
use crate::{NewWalletEntry, Page, Result, WalletEntry, WalletKind};

fn wallet_row(row: EntryTuple) -> Result<WalletEntry> {
    let e = entries::parts(row)?;
    Ok(WalletEntry {
        id: e.id,
        account_id: e.account_id,
        entry_date: e.entry_date,
        kind: WalletKind::parse(&e.kind)?,
        amount: e.amount,
        reference: e.reference,
    })
}

impl Tx {
    pub async fn insert_wallet_entries(
        &mut self,
        tenant: i64,
        entries: &[NewWalletEntry],
    ) -> Result<()> {
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
        self.insert_entries(Entries::Wallet, tenant, &rows).await
    }

    /// Whether any account of `tenant` ever had prepaid credit: billing reads wallets only then,
    /// so tenants that sell none pay nothing for them.
    pub async fn has_wallets(&mut self, tenant: i64) -> Result<bool> {
        let found: Option<i64> = on_tx!(self, conn => {
            sqlx::query_scalar(
                "SELECT CAST(1 AS BIGINT) FROM wallet_entries WHERE tenant_id = $1 LIMIT 1",
            )
            .bind(tenant)
            .fetch_optional(&mut *conn)
            .await?
        });
        Ok(found.is_some())
    }

    /// Prepaid credit (minor units) of the given accounts; absent means none.
    pub async fn wallet_balances(
        &mut self,
        tenant: i64,
        accounts: &[i64],
    ) -> Result<BTreeMap<i64, i64>> {
        self.sums_by_account(Entries::Wallet, tenant, accounts)
            .await
    }

    /// The account's wallet entries after `after`, oldest first.
    pub async fn wallet_entries(
        &mut self,
        tenant: i64,
        account: i64,
        after: i64,
        limit: i64,
    ) -> Result<Page<WalletEntry>> {
        let rows = self
            .entries_after(Entries::Wallet, tenant, account, after, limit)
            .await?;
        page(rows, limit, wallet_row, |e| e.id)
    }
}
