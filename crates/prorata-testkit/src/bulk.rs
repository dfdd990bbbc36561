//! Customers with subscriptions written in bulk (feature `bulk`): the one set-up of the
//! benchmarks (`prorata bench …`) and of the tests that need a tenant at scale
//! (prorata-engine's `tests/plans*.rs`, prorata's `tests/crash.rs`), so that what a figure or
//! a plan was measured on is the same everywhere.
//!
//! Accounts and subscriptions go through the store's multi-row inserts, a transaction per
//! [`BATCH`] customers, not through the engine's use cases one customer at a time: 100,000
//! customers take seconds, not many minutes. Each subscription is due on the day it starts,
//! as a new one is.

use chrono::NaiveDate;
use prorata_core::account::{Account, Address};
use prorata_core::catalog::Lang;
use prorata_core::reconcile::Settings;
use prorata_core::timeline::Subscription;
use prorata_core::{Currency, Frequency};
use prorata_engine::{Engine, Result};
use prorata_store::{Tenant, TenantMode};

/// The catalog every bulk tenant is given.
pub const DEFAULT_CATALOG: &str = include_str!("../../../catalog/default.toml");

/// Customers written per transaction.
pub const BATCH: usize = 10_000;

/// A tenant with [`DEFAULT_CATALOG`] imported: the tenant and the catalog version's id.
pub async fn tenant_with_catalog(
    engine: &Engine,
    name: &str,
    mode: TenantMode,
    clock: Option<NaiveDate>,
    settings: &Settings,
) -> Result<(Tenant, i64)> {
    let tenant = engine.create_tenant(name, mode, clock, settings).await?;
    let catalog = engine.import_catalog(&tenant, DEFAULT_CATALOG).await?;
    Ok((tenant, catalog.id))
}

/// A monthly subscription in euros, no trial, a year's term, 30 days' notice, starting
/// `start`.
pub fn monthly(plan: &str, start: NaiveDate, quantities: &[(&str, i64)]) -> Subscription {
    Subscription {
        plan: plan.into(),
        frequency: Frequency::Monthly,
        currency: Currency::EUR,
        start,
        trial_days: 0,
        term_months: 12,
        notice_days: 30,
        quantities: quantities
            .iter()
            .map(|(k, v)| ((*k).to_string(), *v))
            .collect(),
        events: Vec::new(),
        alignment: Default::default(),
        billing_day: None,
        trial_waives: Default::default(),
    }
}

/// The billing-run benchmark's subscription: Professional with 5 users, 3 numbers (2
/// included: 1 extra) and Analytics+, three lines an invoice.
pub fn professional(start: NaiveDate) -> Subscription {
    monthly(
        "professional",
        start,
        &[("user", 5), ("number", 3), ("analytics_plus", 1)],
    )
}

/// The `i`-th customer: French, in euros, in Paris's time zone, no billing contact.
pub fn customer(i: usize) -> Account {
    Account {
        name: format!("Bench customer {i}"),
        website: String::new(),
        address: Address::default(),
        country: "FR".into(),
        vat_number: None,
        currency: Currency::EUR,
        language: Lang::Fr,
        time_zone: "Europe/Paris".into(),
        billing_contacts: Vec::new(),
        siren: None,
        siret: None,
        delivery_address: None,
    }
}

/// The billing run's tenant at scale: a live tenant of `n` [`customer`]s on
/// [`professional`], the `i`-th starting (and due) on `start(i)`.
pub async fn professional_tenant(
    engine: &Engine,
    name: &str,
    n: usize,
    start: &(dyn Fn(usize) -> NaiveDate + Sync),
) -> Result<Tenant> {
    Ok(professional_customers(engine, name, n, start).await?.0)
}

/// [`professional_tenant`], with its customers' account ids, in order.
pub async fn professional_customers(
    engine: &Engine,
    name: &str,
    n: usize,
    start: &(dyn Fn(usize) -> NaiveDate + Sync),
) -> Result<(Tenant, Vec<i64>)> {
    let (tenant, catalog) =
        tenant_with_catalog(engine, name, TenantMode::Live, None, &Settings::default()).await?;
    let accounts = customers(engine, tenant.id, catalog, n, &customer, &|i| {
        professional(start(i))
    })
    .await?;
    Ok((tenant, accounts))
}

/// `n` [`customer`]s, each with `sub`; their account ids, in order.
pub async fn subscriptions(
    engine: &Engine,
    tenant: i64,
    catalog: i64,
    n: usize,
    sub: &Subscription,
) -> Result<Vec<i64>> {
    customers(engine, tenant, catalog, n, &customer, &|_| sub.clone()).await
}

/// `n` customers, the `i`-th with the account `account(i)` and the subscription
/// `subscription(i)` of the catalog version `catalog`; their account ids, in order.
pub async fn customers(
    engine: &Engine,
    tenant: i64,
    catalog: i64,
    n: usize,
    account: &(dyn Fn(usize) -> Account + Sync),
    subscription: &(dyn Fn(usize) -> Subscription + Sync),
) -> Result<Vec<i64>> {
    write(engine, tenant, n, account, Some((catalog, subscription))).await
}

/// `n` accounts without a subscription, the `i`-th `account(i)`; their ids, in order.
pub async fn accounts(
    engine: &Engine,
    tenant: i64,
    n: usize,
    account: &(dyn Fn(usize) -> Account + Sync),
) -> Result<Vec<i64>> {
    write(engine, tenant, n, account, None).await
}

/// What a customer's subscription is made of: a catalog version and the `i`-th's
/// subscription.
type Subscriptions<'a> = Option<(i64, &'a (dyn Fn(usize) -> Subscription + Sync))>;

async fn write(
    engine: &Engine,
    tenant: i64,
    n: usize,
    account: &(dyn Fn(usize) -> Account + Sync),
    subscriptions: Subscriptions<'_>,
) -> Result<Vec<i64>> {
    let mut all = Vec::with_capacity(n);
    let mut done = 0;
    while done < n {
        let batch = BATCH.min(n - done);
        let accounts: Vec<Account> = (done..done + batch).map(account).collect();
        let mut tx = engine.store.begin().await?;
        let ids = tx.insert_accounts(tenant, &accounts).await?;
        if let Some((catalog, subscription)) = subscriptions {
            let rows: Vec<_> = ids
                .iter()
                .zip(done..)
                .map(|(id, i)| {
                    let sub = subscription(i);
                    let due = sub.start;
                    (*id, catalog, sub, Some(due))
                })
                .collect();
            tx.insert_subscriptions(tenant, &rows).await?;
        }
        tx.commit().await?;
        all.extend(ids);
        done += batch;
    }
    Ok(all)
}
