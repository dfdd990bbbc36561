//! The billing run the plan tests watch (`plans.rs` on PostgreSQL, `plans_sqlite.rs`): a big
//! tenant billed for two months, the second reading the first one's documents, ledger and
//! January's call minutes, after a small tenant's first month, so that every tenant filter
//! has rows to pass over.

use chrono::NaiveDate;
use prorata_engine::Engine;
use prorata_store::{DailyUsage, Tenant};
use prorata_testkit::bulk::professional_customers;

use crate::common::d;

/// A live tenant of `n` customers on the Professional plan, the `i`-th starting (and due) on
/// `start(i)`, each with a call-minute total on 10 January 2025 (appended, folded by the first
/// run): the runs read and bill usage as a real tenant's do.
async fn tenant_with_usage(
    engine: &Engine,
    name: &str,
    n: usize,
    start: &(dyn Fn(usize) -> NaiveDate + Sync),
) -> Tenant {
    let (tenant, accounts) = professional_customers(engine, name, n, start)
        .await
        .expect("tenant");
    let mut tx = engine.store.begin().await.expect("begin");
    let usage: Vec<DailyUsage> = tx
        .subscriptions_of_accounts(tenant.id, &accounts)
        .await
        .expect("subscriptions")
        .into_iter()
        .map(|s| DailyUsage {
            subscription_id: s.id,
            metric: "outbound_eu".into(),
            usage_date: d(2025, 1, 10),
            events: 3,
            quantity: 180,
        })
        .collect();
    tx.add_daily_usage(tenant.id, d(2025, 1, 10), &usage)
        .await
        .expect("usage");
    tx.commit().await.expect("commit");
    tenant
}

/// The big tenant of `big` subscriptions, due on three days in turn (each day's subscriptions
/// are spread over all the ids, as a real tenant's anniversaries are), written after a small
/// tenant of `small`, whose first month is billed: documents, ledger, usage and renders of
/// another tenant.
pub async fn tenants(engine: &Engine, small: usize, big: usize) -> Tenant {
    let first = tenant_with_usage(engine, "small", small, &|_| d(2025, 1, 6)).await;
    let tenant = tenant_with_usage(engine, "big", big, &|i| d(2025, 1, 6 + (i % 3) as u32)).await;
    engine
        .run_billing(&first, d(2025, 1, 6), &mut |_| {})
        .await
        .expect("small tenant billed");
    tenant
}

/// Bills the big tenant of [`tenants`] for January and February 2025, on its three days each
/// month: every subscription once a month.
pub async fn bill_two_months(engine: &Engine, big: &Tenant, n: usize) {
    for month in [1, 2] {
        let mut invoices = 0;
        for day in [6, 7, 8] {
            let summary = engine
                .run_billing(big, d(2025, month, day), &mut |_| {})
                .await
                .expect("big tenant billed");
            invoices += summary.invoices as usize;
        }
        assert_eq!(invoices, n, "month {month}");
    }
}
