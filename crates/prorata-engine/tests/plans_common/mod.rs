//! The billing run the plan tests watch (`plans.rs` on PostgreSQL, `plans_sqlite.rs`): a big
//! tenant billed for two months, the second reading the first one's documents and ledger,
//! after a small tenant's first month, so that every tenant filter has rows to pass over.

use prorata_engine::Engine;
use prorata_store::Tenant;
use prorata_testkit::bulk::professional_tenant;

use crate::common::d;

/// The big tenant of `big` subscriptions, due on three days in turn (each day's subscriptions
/// are spread over all the ids, as a real tenant's anniversaries are), written after a small
/// tenant of `small`, whose first month is billed: documents, ledger and renders of another
/// tenant.
pub async fn tenants(engine: &Engine, small: usize, big: usize) -> Tenant {
    let first = professional_tenant(engine, "small", small, &|_| d(2025, 1, 6))
        .await
        .expect("small tenant");
    let tenant = professional_tenant(engine, "big", big, &|i| d(2025, 1, 6 + (i % 3) as u32))
        .await
        .expect("big tenant");
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
