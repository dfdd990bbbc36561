//! Subscriptions: creation, contract changes (seed 001's rules, decided by the core) and
//! previews. An accepted change is reconciled at once, so an upgrade billed `immediate` or a
//! downgrade's credit note is issued in the same transaction that records the change.

use chrono::{NaiveDate, NaiveDateTime};
use prorata_core::catalog::Catalog;
use prorata_core::change::{check_initial, decide_with, Accepted, Direction, Request, Rules};
use prorata_core::document::{Document, Draft};
use prorata_core::reconcile::{reconcile, Context};
use prorata_core::scenario::SubscriptionSpec;
use prorata_core::timeline::Subscription;
use prorata_store::{SubscriptionRow, Tenant, Tx};
use serde::Serialize;

use crate::billing::{finish, issue, next_due_after, stamp, Pending, RunSummary};
use crate::{invalid, Engine, EngineError, Result};

/// A subscription opened for a change ([`Engine::open_for_change`]).
pub(crate) struct Opened {
    pub today: NaiveDate,
    pub tx: Tx,
    pub row: SubscriptionRow,
    pub catalog: std::sync::Arc<Catalog>,
}

/// What a change request came to.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangeOutcome {
    pub direction: Direction,
    pub effective: NaiveDateTime,
    /// Documents issued because of it (an invoice for an upgrade, a credit note for a
    /// downgrade), possibly none when billing waits for the next invoice day.
    pub documents: Vec<Document>,
}

/// What a change of `tenant`'s subscription sold on `catalog` is judged by: the catalog and
/// the tenant's billing-frequency policy.
pub(crate) fn rules<'a>(tenant: &Tenant, catalog: &'a Catalog) -> Rules<'a> {
    Rules {
        catalog,
        frequency: tenant.settings.frequency_changes,
        trial: tenant.settings.trial_on_plan_change,
    }
}

impl Engine {
    /// Creates a subscription on `catalog_version_id` for `account_id` and bills what is due
    /// today.
    pub async fn create_subscription(
        &self,
        tenant: &Tenant,
        account_id: i64,
        catalog_version_id: i64,
        spec: &SubscriptionSpec,
    ) -> Result<(i64, Vec<Document>)> {
        let today = Engine::today(tenant);
        crate::bounds::check_date("start", spec.start, today)?;
        let mut tx = self.store.begin().await?;
        let account = tx
            .account(tenant.id, account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        let catalog = self.catalog(&mut tx, tenant.id, catalog_version_id).await?;
        // Sold under the tenant's billing alignment, copied into the subscription.
        let alignment = tenant.settings.billing_alignment;
        let sub = prorata_core::scenario::subscription_aligned(spec, &catalog, alignment).map_err(
            |e| match e {
                prorata_core::scenario::ScenarioError::Invalid { path, problem } => {
                    invalid(path, problem)
                }
                other => invalid("subscription", other),
            },
        )?;
        if sub.currency != account.currency {
            return Err(invalid(
                "currency",
                format!("the account bills in {}", account.currency),
            ));
        }
        check_initial(&catalog, &sub).map_err(EngineError::Refused)?;
        let next_due = next_due_after(&sub, sub.start.pred_opt().unwrap_or(sub.start));
        let id = tx
            .insert_subscription(tenant.id, account_id, catalog_version_id, &sub, next_due)
            .await?;
        let row = tx
            .subscription(tenant.id, id, true)
            .await?
            .ok_or(EngineError::NotFound("subscription"))?;
        let docs = self.bill_one(&mut tx, tenant, &row, today).await?;
        tx.commit().await?;
        Ok((id, docs))
    }

    pub async fn subscription(&self, tenant: &Tenant, id: i64) -> Result<SubscriptionRow> {
        let mut tx = self.store.begin().await?;
        tx.subscription(tenant.id, id, false)
            .await?
            .ok_or(EngineError::NotFound("subscription"))
    }

    /// Decides on `request` submitted today and, when accepted, records it and issues what it
    /// causes. A refusal (for instance a downgrade past the notice deadline) is an error
    /// carrying the reason.
    pub async fn request_change(
        &self,
        tenant: &Tenant,
        id: i64,
        request: &Request,
        effective: Option<NaiveDateTime>,
    ) -> Result<ChangeOutcome> {
        self.change_judged_on(tenant, id, request, effective, None)
            .await
    }

    /// Records a change that was asked on `submitted_on` (a customer's change request the
    /// vendor applies later): judged by the notice rule as of that day, effective that day,
    /// recorded today.
    pub async fn change_as_of(
        &self,
        tenant: &Tenant,
        id: i64,
        request: &Request,
        submitted_on: NaiveDate,
    ) -> Result<ChangeOutcome> {
        self.change_judged_on(tenant, id, request, None, Some(submitted_on))
            .await
    }

    /// What every change to subscription `id` starts with: the tenant's today, `effective`
    /// checked against it, a transaction holding the subscription's row locked, and its catalog.
    pub(crate) async fn open_for_change(
        &self,
        tenant: &Tenant,
        id: i64,
        effective: Option<NaiveDateTime>,
    ) -> Result<Opened> {
        let today = Engine::today(tenant);
        if let Some(e) = effective {
            crate::bounds::check_date("effective", e.date(), today)?;
        }
        let mut tx = self.store.begin().await?;
        let row = tx
            .subscription(tenant.id, id, true)
            .await?
            .ok_or(EngineError::NotFound("subscription"))?;
        let catalog = self
            .catalog(&mut tx, tenant.id, row.catalog_version_id)
            .await?;
        Ok(Opened {
            today,
            tx,
            row,
            catalog,
        })
    }

    async fn change_judged_on(
        &self,
        tenant: &Tenant,
        id: i64,
        request: &Request,
        effective: Option<NaiveDateTime>,
        submitted_on: Option<NaiveDate>,
    ) -> Result<ChangeOutcome> {
        let Opened {
            today,
            mut tx,
            mut row,
            catalog,
        } = self.open_for_change(tenant, id, effective).await?;
        let judged_on = submitted_on.unwrap_or(today).min(today);
        let accepted = match decide_with(
            &row.subscription,
            &rules(tenant, &catalog),
            request,
            judged_on,
            effective,
        ) {
            Ok(a) => a,
            Err(refusal) => {
                // Release the row lock now rather than when the connection is next used.
                tx.rollback().await?;
                return Err(EngineError::Refused(refusal));
            }
        };
        let outcome = self
            .record_change(&mut tx, tenant, &mut row, accepted, today)
            .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Appends an accepted change to the (locked) subscription `row`, recorded `today`, and
    /// issues what it causes, in `tx`.
    pub(crate) async fn record_change(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        row: &mut SubscriptionRow,
        mut accepted: Accepted,
        today: NaiveDate,
    ) -> Result<ChangeOutcome> {
        accepted.event.recorded_on = today;
        row.subscription.events.push(accepted.event.clone());
        let documents = self.bill_one(tx, tenant, row, today).await?;
        Ok(ChangeOutcome {
            direction: accepted.direction,
            effective: accepted.event.effective,
            documents,
        })
    }

    /// Reconciles one subscription at `today`, issues what is due, and saves its timeline and
    /// next due day.
    pub(crate) async fn bill_one(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        row: &SubscriptionRow,
        today: NaiveDate,
    ) -> Result<Vec<Document>> {
        let drafts = self
            .drafts(tx, tenant, row, &row.subscription, today)
            .await?;
        let account = tx
            .account(tenant.id, row.account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        let mut balances = tx.balances(tenant.id, &[row.account_id]).await?;
        let mut summary = RunSummary::default();
        let docs = issue(
            tx,
            tenant,
            vec![Pending {
                row,
                account: &account,
                drafts,
            }],
            today,
            &mut balances,
            &mut summary,
        )
        .await?;
        let next_due = next_due_after(&row.subscription, today);
        tx.update_subscription(tenant.id, row.id, &row.subscription, next_due)
            .await?;
        Ok(docs)
    }

    pub(crate) async fn drafts(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        row: &SubscriptionRow,
        timeline: &Subscription,
        as_of: NaiveDate,
    ) -> Result<Vec<Draft>> {
        let catalog = self.catalog(tx, tenant.id, row.catalog_version_id).await?;
        let account = tx
            .account(tenant.id, row.account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        let billed = tx
            .documents_of_subscriptions(tenant.id, &[row.id])
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        let usage = tx
            .usage_of_subscriptions(tenant.id, &[row.id])
            .await?
            .remove(&row.id)
            .unwrap_or_default();
        let buyer = account.buyer();
        let ctx = Context {
            catalog: &catalog,
            settings: &tenant.settings,
            buyer: &buyer,
            lang: account.language,
        };
        Ok(reconcile(&ctx, timeline, &usage, &billed, as_of)?)
    }

    /// What billing would issue for the subscription at `as_of` (today when `None`), without
    /// saving anything.
    pub async fn preview(
        &self,
        tenant: &Tenant,
        id: i64,
        as_of: Option<NaiveDate>,
    ) -> Result<Vec<Draft>> {
        let today = Engine::today(tenant);
        let as_of = as_of.unwrap_or(today);
        crate::bounds::check_date("as_of", as_of, today)?;
        let mut tx = self.store.begin().await?;
        let row = tx
            .subscription(tenant.id, id, false)
            .await?
            .ok_or(EngineError::NotFound("subscription"))?;
        self.drafts(&mut tx, tenant, &row, &row.subscription, as_of)
            .await
    }

    /// What a change would cause today, without recording it: the decision (or its refusal)
    /// and the drafts.
    pub async fn preview_change(
        &self,
        tenant: &Tenant,
        id: i64,
        request: &Request,
        effective: Option<NaiveDateTime>,
    ) -> Result<(Direction, Vec<Draft>)> {
        let mut tx = self.store.begin().await?;
        let (direction, drafts, _) = self
            .judge_preview(&mut tx, tenant, id, request, effective)
            .await?;
        Ok((direction, drafts))
    }

    /// [`Engine::preview_change`] with each draft as billing would issue it today, in one
    /// transaction: VAT per rate, totals, the balance before and after (chained from the
    /// account's balance, invoice then credit note, as the run chains them), the buyer, the
    /// seller and how an invoice would be paid — through the same [`Draft::issue`] and
    /// [`stamp`] the run uses. A preview takes no number: `number` is left empty.
    pub async fn preview_change_documents(
        &self,
        tenant: &Tenant,
        id: i64,
        request: &Request,
        effective: Option<NaiveDateTime>,
    ) -> Result<(Direction, Vec<Document>)> {
        let today = Engine::today(tenant);
        let mut tx = self.store.begin().await?;
        let (direction, drafts, row) = self
            .judge_preview(&mut tx, tenant, id, request, effective)
            .await?;
        let account = tx
            .account(tenant.id, row.account_id)
            .await?
            .ok_or(EngineError::NotFound("account"))?;
        let mut balance = tx
            .balances(tenant.id, &[row.account_id])
            .await?
            .get(&row.account_id)
            .copied()
            .unwrap_or(0);
        let mut wallet = crate::wallets::wallet_balance(&mut tx, tenant, row.account_id).await?;
        let methods = tx.payment_methods(tenant.id, &[row.account_id]).await?;
        let method = methods.get(&row.account_id);
        let seller = tenant
            .settings
            .seller
            .snapshot(&tenant.name, &tenant.settings.tax.seller_country);
        let mut documents = Vec::with_capacity(drafts.len());
        for draft in drafts {
            documents.push(finish(
                draft,
                String::new(),
                today,
                &mut balance,
                &mut wallet,
                |doc| stamp(doc, tenant, &account, &seller, method),
            )?);
        }
        Ok((direction, documents))
    }

    /// Decides on `request` as of today in `tx` and reconciles the timeline with it appended:
    /// the direction, the drafts, and the subscription read.
    async fn judge_preview(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        id: i64,
        request: &Request,
        effective: Option<NaiveDateTime>,
    ) -> Result<(Direction, Vec<Draft>, SubscriptionRow)> {
        let today = Engine::today(tenant);
        if let Some(e) = effective {
            crate::bounds::check_date("effective", e.date(), today)?;
        }
        let row = tx
            .subscription(tenant.id, id, false)
            .await?
            .ok_or(EngineError::NotFound("subscription"))?;
        let catalog = self.catalog(tx, tenant.id, row.catalog_version_id).await?;
        let accepted = decide_with(
            &row.subscription,
            &rules(tenant, &catalog),
            request,
            today,
            effective,
        )
        .map_err(EngineError::Refused)?;
        let mut changed = row.subscription.clone();
        changed.events.push(accepted.event);
        let drafts = self.drafts(tx, tenant, &row, &changed, today).await?;
        Ok((accepted.direction, drafts, row))
    }
}
