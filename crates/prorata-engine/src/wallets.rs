//! Prepaid credit: topping up an account's wallet and reading it ([`prorata_core::wallet`]).
//! Invoices draw on it as they are issued ([`crate::billing`]).

use prorata_core::payment;
use prorata_core::wallet::TopUp;
use prorata_core::Money;
use prorata_store::{NewWalletEntry, Page, Tenant, WalletEntry, WalletKind};
use serde::Serialize;

use crate::{invalid, Engine, EngineError, Result};

/// An account's prepaid credit.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Wallet {
    pub account_id: i64,
    /// Minor units of credit left.
    pub balance: i64,
    pub currency: String,
}

impl Engine {
    /// Puts `amount_minor` of prepaid credit on the account's wallet, in the account's
    /// currency, as of the tenant's today; returns the wallet after it.
    pub async fn top_up(
        &self,
        tenant: &Tenant,
        account_id: i64,
        amount_minor: i64,
        kind: TopUp,
        reference: &str,
    ) -> Result<Wallet> {
        crate::bounds::check_amount("amount", amount_minor)?;
        let reference = reference.trim();
        if reference.is_empty() || reference.len() > 140 {
            return Err(invalid(
                "reference",
                "1 to 140 characters: the payment, order or reason of the top-up",
            ));
        }
        if payment::contains_card_number(reference) {
            return Err(invalid("reference", "must not hold a card number"));
        }
        let mut tx = self.store.begin().await?;
        let account = tx
            .account(tenant.id, account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        tx.insert_wallet_entries(
            tenant.id,
            &[NewWalletEntry {
                account_id,
                entry_date: Engine::today(tenant),
                kind: WalletKind::of_top_up(kind),
                amount: Money::from_minor(amount_minor, account.currency),
                reference: reference.to_string(),
            }],
        )
        .await?;
        let balance = wallet_balance(&mut tx, tenant, account_id).await?;
        tx.commit().await?;
        Ok(Wallet {
            account_id,
            balance,
            currency: account.currency.code().into(),
        })
    }

    /// The account's prepaid credit now.
    pub async fn wallet(&self, tenant: &Tenant, account_id: i64) -> Result<Wallet> {
        let mut tx = self.store.begin().await?;
        let account = tx
            .account(tenant.id, account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        Ok(Wallet {
            account_id,
            balance: wallet_balance(&mut tx, tenant, account_id).await?,
            currency: account.currency.code().into(),
        })
    }

    /// The account's wallet entries, oldest first: top-ups and the invoices that drew on them.
    pub async fn wallet_entries(
        &self,
        tenant: &Tenant,
        account_id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Page<WalletEntry>> {
        let mut tx = self.store.begin().await?;
        tx.account(tenant.id, account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        Ok(tx
            .wallet_entries(tenant.id, account_id, after, limit)
            .await?)
    }
}

/// The account's prepaid credit, in minor units, read in `tx`.
pub(crate) async fn wallet_balance(
    tx: &mut prorata_store::Tx,
    tenant: &Tenant,
    account_id: i64,
) -> Result<i64> {
    Ok(tx
        .wallet_balances(tenant.id, &[account_id])
        .await?
        .get(&account_id)
        .copied()
        .unwrap_or(0))
}
