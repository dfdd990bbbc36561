//! Customer accounts: creation and edits under seed 003's rules and the VAT number's (both
//! checked by the core: [`prorata_core::account`], [`prorata_core::vat_number`]).

use prorata_core::account::{Account, AccountError, AccountPatch, Actor};
use prorata_store::{AccountRow, LedgerEntry, Page, Tenant};

use crate::{invalid, Engine, EngineError, Result};

fn account_error(e: AccountError) -> EngineError {
    match e {
        AccountError::BillingTeamOnly { .. } => EngineError::Forbidden(e.to_string()),
        AccountError::Invalid { field, problem } => invalid(field, problem),
    }
}

/// The fields of `a` that `b` changed, as two JSON objects: before and after.
fn changed_fields(
    a: &Account,
    b: &Account,
) -> (
    serde_json::Map<String, serde_json::Value>,
    serde_json::Map<String, serde_json::Value>,
) {
    let flat = |acc: &Account| -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(acc) {
            for (k, v) in m {
                match v {
                    // The address's parts are compared one by one.
                    serde_json::Value::Object(inner) => {
                        for (ik, iv) in inner {
                            out.insert(format!("{k}.{ik}"), iv);
                        }
                    }
                    v => {
                        out.insert(k, v);
                    }
                }
            }
        }
        out
    };
    let (fa, fb) = (flat(a), flat(b));
    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    for (k, vb) in &fb {
        let va = fa.get(k).cloned().unwrap_or(serde_json::Value::Null);
        if &va != vb {
            before.insert(k.clone(), va);
            after.insert(k.clone(), vb.clone());
        }
    }
    (before, after)
}

impl Engine {
    pub async fn create_account(&self, tenant: &Tenant, account: &Account) -> Result<i64> {
        // Canonical country and VAT number (`fr 40 303…` is stored `FR40303…`), then the
        // seed's rules and the VAT ones: a number that does not pass, or one without the
        // address an invoice prints, is refused here rather than invoiced wrongly later.
        let account = account.clone().normalised();
        prorata_core::tax::country_code(&account.country).map_err(|p| invalid("country", p))?;
        account.validate().map_err(account_error)?;
        if let Some(number) = &account.vat_number {
            self.check_vat_number(number)?;
        }
        let mut tx = self.store.begin().await?;
        let id = tx.insert_account(tenant.id, &account).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn account(&self, tenant: &Tenant, id: i64) -> Result<Account> {
        let mut tx = self.store.begin().await?;
        tx.account(tenant.id, id)
            .await?
            .ok_or(EngineError::NotFound("account"))
    }

    pub async fn list_accounts(
        &self,
        tenant: &Tenant,
        after: i64,
        limit: i64,
    ) -> Result<Page<AccountRow>> {
        let mut tx = self.store.begin().await?;
        Ok(tx.list_accounts(tenant.id, after, limit).await?)
    }

    /// Applies `patch` as `actor`. The account is in trial while all its subscriptions are.
    pub async fn update_account(
        &self,
        tenant: &Tenant,
        id: i64,
        patch: &AccountPatch,
        actor: Actor,
    ) -> Result<Account> {
        self.update_account_by(tenant, id, patch, actor, crate::tickets::Actor::API, None)
            .await
    }

    /// [`Engine::update_account`] by a person, `who`: the change and its author go to the
    /// audit trail (the fields changed, before and after, and `note` — why, or the consent it
    /// rests on), in the same transaction.
    pub async fn update_account_by(
        &self,
        tenant: &Tenant,
        id: i64,
        patch: &AccountPatch,
        actor: Actor,
        who: crate::tickets::Actor<'_>,
        note: Option<&str>,
    ) -> Result<Account> {
        let today = Engine::today(tenant);
        let mut tx = self.store.begin().await?;
        let account = tx
            .account(tenant.id, id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        let subs = tx.subscriptions_of_account(tenant.id, id).await?;
        let in_trial = in_trial(&subs, today);
        let updated = account
            .patched(patch, actor, in_trial)
            .map_err(account_error)?;
        // A number the account already had was checked when it was saved.
        if let Some(number) = updated
            .vat_number
            .as_ref()
            .filter(|n| account.vat_number.as_ref() != Some(*n))
        {
            self.check_vat_number(number)?;
        }
        tx.update_account(tenant.id, id, &updated).await?;
        let (before, mut after) = changed_fields(&account, &updated);
        if !before.is_empty() {
            if let Some(note) = note {
                after.insert("note".into(), note.into());
            }
            tx.insert_audit(
                tenant.id,
                &who.audit(
                    id,
                    "account.updated",
                    format!("account:{id}"),
                    Some(before.into()),
                    Some(after.into()),
                ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(updated)
    }

    /// A new or changed VAT number through [`Engine::vat_check`] (offline by default).
    fn check_vat_number(&self, number: &str) -> Result<()> {
        self.vat_check
            .check(number)
            .map(|_| ())
            .map_err(|e| invalid("vat_number", e.to_string()))
    }

    /// The account's balance: the sum of its ledger entries, in minor units.
    pub async fn balance(&self, tenant: &Tenant, id: i64) -> Result<i64> {
        let mut tx = self.store.begin().await?;
        tx.account(tenant.id, id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        Ok(tx.balance(tenant.id, id).await?)
    }

    pub async fn ledger(
        &self,
        tenant: &Tenant,
        id: i64,
        after: i64,
        limit: i64,
    ) -> Result<Page<LedgerEntry>> {
        let mut tx = self.store.begin().await?;
        tx.account(tenant.id, id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        Ok(tx.ledger(tenant.id, id, after, limit).await?)
    }
}

/// Seed 003's trial for an account: every subscription of it still in its trial.
pub(crate) fn in_trial(subs: &[prorata_store::SubscriptionRow], today: chrono::NaiveDate) -> bool {
    subs.iter().all(|s| s.subscription.in_trial_on(today))
}
