//! What the customer portal reads and does beyond the API's use cases: the tenant by its
//! address, an account's documents, its logo, and paying the balance now.

use prorata_core::document::DocumentKind;
use prorata_store::{DocumentRow, JobKind, NewJob, Tenant};

use crate::{Engine, EngineError, Result};

/// What the Billing tab shows.
#[derive(Debug, Clone)]
pub struct BillingView {
    pub documents: Vec<DocumentRow>,
    pub method: Option<prorata_core::payment::PaymentMethod>,
    /// In minor units of the account's currency; positive when the customer owes.
    pub balance: i64,
    /// Prepaid credit on the account's wallet, in minor units: the next invoices draw on it.
    pub prepaid: i64,
    pub in_trial: bool,
}

/// Documents listed on the billing tab, newest last.
const DOCUMENTS_SHOWN: i64 = 500;

impl Engine {
    /// The account's dunning standing.
    pub async fn account_standing(
        &self,
        tenant: &Tenant,
        account_id: i64,
    ) -> Result<prorata_core::dunning::Standing> {
        let mut tx = self.store.begin().await?;
        Ok(tx.standing(tenant.id, account_id).await?)
    }

    /// The Billing tab's reading, in one transaction: documents (oldest first), the payment
    /// method, the balance, the prepaid credit, and whether the account is in its trial.
    pub async fn billing_view(&self, tenant: &Tenant, account_id: i64) -> Result<BillingView> {
        let today = Engine::today(tenant);
        let mut tx = self.store.read().await?;
        let documents = tx
            .list_documents(tenant.id, None, Some(account_id), 0, DOCUMENTS_SHOWN)
            .await?
            .items;
        let method = tx.payment_method(tenant.id, account_id).await?;
        let balance = tx.balance(tenant.id, account_id).await?;
        let prepaid = crate::wallets::wallet_balance(&mut tx, tenant, account_id).await?;
        let subs = tx.subscriptions_of_account(tenant.id, account_id).await?;
        tx.rollback().await?;
        Ok(BillingView {
            documents,
            method,
            balance,
            prepaid,
            in_trial: crate::accounts::in_trial(&subs, today),
        })
    }

    /// The account's invoices and credit notes, oldest first.
    pub async fn account_documents(
        &self,
        tenant: &Tenant,
        account_id: i64,
        kind: Option<DocumentKind>,
    ) -> Result<Vec<DocumentRow>> {
        let mut tx = self.store.begin().await?;
        Ok(tx
            .list_documents(tenant.id, kind, Some(account_id), 0, DOCUMENTS_SHOWN)
            .await?
            .items)
    }

    /// One document of the account, or `NotFound` (another account's is not found either).
    pub async fn account_document(
        &self,
        tenant: &Tenant,
        account_id: i64,
        id: i64,
    ) -> Result<DocumentRow> {
        let mut tx = self.store.begin().await?;
        tx.document(tenant.id, id)
            .await?
            .filter(|d| d.account_id == account_id)
            .ok_or(EngineError::NotFound("document"))
    }

    /// Charges the account's balance to its payment method now: a charge job, and the
    /// tenant's collection pass run at once (which also reactivates the account when the
    /// balance is settled, as any payment does).
    pub async fn pay_now(&self, tenant: &Tenant, account_id: i64) -> Result<crate::CollectSummary> {
        let mut tx = self.store.begin().await?;
        tx.account(tenant.id, account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        tx.insert_jobs(
            tenant.id,
            &[NewJob {
                account_id: Some(account_id),
                kind: JobKind::Charge,
                payload: serde_json::json!({ "reason": "paid from the portal" }),
            }],
        )
        .await?;
        tx.commit().await?;
        self.collect(tenant, Engine::today(tenant)).await
    }

    /// Stores the account's logo (a PNG the caller has decoded and re-encoded).
    pub async fn set_logo(&self, tenant: &Tenant, account_id: i64, png: &[u8]) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.account(tenant.id, account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        tx.set_logo(tenant.id, account_id, png, &crate::sha256_hex(png))
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The account's logo (PNG) and its SHA-256.
    pub async fn logo(
        &self,
        tenant: &Tenant,
        account_id: i64,
    ) -> Result<Option<(Vec<u8>, String)>> {
        let mut tx = self.store.begin().await?;
        Ok(tx.logo(tenant.id, account_id).await?)
    }
}

/// A call rate as the plan tab shows it: per minute for the account's currency.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallRate {
    pub name: String,
    /// The rate of the first minutes (the only one unless `tiered`).
    pub per_minute: Option<prorata_core::Decimal>,
    pub tiered: bool,
}

/// A call bundle of the plan, and whether the subscription holds it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BundleView {
    pub code: String,
    pub name: String,
    pub included_minutes: i64,
    pub held: bool,
}

/// The Plan tab of seed 003, all from the engine's own pricing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanView {
    pub subscription_id: i64,
    /// The billing frequency in force today (a frequency change moves it).
    pub frequency: prorata_core::Frequency,
    /// The other frequencies the plan is sold at: what a frequency change may ask for.
    pub other_frequencies: Vec<prorata_core::Frequency>,
    pub trial_ends: Option<chrono::NaiveDate>,
    pub next_invoice: Option<chrono::NaiveDate>,
    pub renewal: Option<chrono::NaiveDate>,
    /// The last day to submit a downgrade or cancellation for `renewal`.
    pub deadline: Option<chrono::NaiveDate>,
    pub notice_days: u32,
    /// The day the subscription ends, when it does.
    pub ends: Option<chrono::NaiveDate>,
    pub table: prorata_core::licences::LicenceTable,
    pub calling: Vec<CallRate>,
    pub bundles: Vec<BundleView>,
    /// Add-ons the plan offers (code, name, held).
    pub addons: Vec<(String, String, bool)>,
    pub today: chrono::NaiveDate,
}

impl Engine {
    /// The account's plan as a person reads it in `lang` (names from the catalog), or `None`
    /// without a subscription.
    pub async fn plan_view(
        &self,
        tenant: &Tenant,
        account_id: i64,
        lang: prorata_core::Lang,
    ) -> Result<Option<PlanView>> {
        use prorata_core::catalog::ProductKind;
        use prorata_core::charge::ChargeModel;
        use prorata_core::timeline::start_of;

        let today = Engine::today(tenant);
        let mut tx = self.store.read().await?;
        let Some(row) = crate::change_requests::latest(
            tx.subscriptions_of_account(tenant.id, account_id).await?,
        ) else {
            return Ok(None);
        };
        let catalog = self
            .catalog(&mut tx, tenant.id, row.catalog_version_id)
            .await?;
        tx.rollback().await?;
        let sub = &row.subscription;
        let state = sub.state_at(start_of(today), today);
        let frequency = sub.frequency_on(today, today);
        let other_frequencies = catalog
            .plan(&state.plan)
            .map(|p| {
                p.frequencies
                    .iter()
                    .copied()
                    .filter(|f| *f != frequency)
                    .collect()
            })
            .unwrap_or_default();
        let table = prorata_core::licences::licence_table(
            &catalog,
            &state.plan,
            frequency,
            sub.currency,
            &state.quantities,
            lang,
        )
        .map_err(|e| EngineError::Conflict(format!("the plan cannot be priced: {e}")))?;
        let notice = sub.notice_deadline_after(today);
        let plan = catalog.plan(&state.plan);
        let offered = |code: &str| plan.is_some_and(|p| p.items.contains_key(code));
        let mut bundles = Vec::new();
        let mut addons = Vec::new();
        for (code, product) in &catalog.products {
            if !offered(code) {
                continue;
            }
            let held = state.quantity(code) > 0;
            match &product.kind {
                ProductKind::CallBundle { included_units, .. } => bundles.push(BundleView {
                    code: code.clone(),
                    name: product.name.get(lang).to_string(),
                    included_minutes: *included_units,
                    held,
                }),
                ProductKind::Addon => {
                    addons.push((code.clone(), product.name.get(lang).to_string(), held))
                }
                _ => {}
            }
        }
        let calling = catalog
            .metrics
            .values()
            .filter_map(|m| {
                let model = m.price.get(&sub.currency)?;
                let (per_minute, tiered) = match model {
                    ChargeModel::PerUnit { unit_price } => (Some(*unit_price), false),
                    ChargeModel::Graduated { tiers } | ChargeModel::Volume { tiers } => {
                        (tiers.first().map(|t| t.unit_price), tiers.len() > 1)
                    }
                    _ => (None, false),
                };
                Some(CallRate {
                    name: m.name.get(lang).to_string(),
                    per_minute,
                    tiered,
                })
            })
            .collect();
        Ok(Some(PlanView {
            subscription_id: row.id,
            frequency,
            other_frequencies,
            trial_ends: sub.in_trial_on(today).then(|| sub.first_paid_day(today)),
            next_invoice: row.next_due,
            renewal: notice.map(|n| n.1),
            deadline: notice.map(|n| n.0),
            notice_days: sub.notice_days,
            ends: sub.end(today).map(|e| e.date()),
            table,
            calling,
            bundles,
            addons,
            today,
        }))
    }
}
