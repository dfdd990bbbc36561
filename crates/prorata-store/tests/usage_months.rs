//! Migration 0020 keys daily usage totals by month first (issue #18): on SQLite it rebuilds
//! the table, on PostgreSQL it back-fills a column and swaps the key. A database of the
//! previous release, migrated to 0019 with daily totals over several months, some of them
//! empty, for two tenants, reads exactly the same totals after it, whole or from a horizon's
//! day, and a fold afterwards adds to the right ones.

use std::path::Path;

use chrono::NaiveDate;
use prorata_core::reconcile::{Settings, UsageRecord};
use prorata_store::{DailyUsage, Store, TenantMode};
use prorata_testkit::{both_stores, migrations_before, TempDirGuard};

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a date")
}

/// (subscription, metric, day, day learnt, events, quantity), written before the migration.
/// Subscription 7 has totals in December, January and March (none in February), 8 in
/// February only; the other tenant's 9 shares 7's days.
fn before() -> Vec<(i64, &'static str, NaiveDate, NaiveDate, i64, i64)> {
    vec![
        (7, "outbound_eu", day(2024, 12, 31), day(2025, 1, 1), 2, 120),
        (7, "outbound_eu", day(2025, 1, 1), day(2025, 1, 2), 1, 60),
        (
            7,
            "outbound_fr_mobile",
            day(2025, 1, 1),
            day(2025, 1, 2),
            3,
            240,
        ),
        (7, "outbound_eu", day(2025, 1, 15), day(2025, 1, 15), 4, 300),
        (7, "outbound_eu", day(2025, 1, 15), day(2025, 2, 20), 1, 30),
        (
            7,
            "outbound_fr_mobile",
            day(2025, 3, 2),
            day(2025, 3, 3),
            5,
            420,
        ),
        (
            8,
            "outbound_us_ca",
            day(2025, 2, 10),
            day(2025, 2, 11),
            6,
            600,
        ),
    ]
}

/// The migrations of this backend up to 0019: what a database of the previous release has
/// applied.
fn migrations_before_0020(backend: &str) -> TempDirGuard {
    let all = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    migrations_before(&all, 20)
}

/// The totals as comparable tuples, in order.
fn sorted(records: Option<&Vec<UsageRecord>>) -> Vec<(String, NaiveDate, NaiveDate, i64, i64)> {
    let mut out: Vec<_> = records
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r.metric.clone(),
                r.date,
                r.recorded_on,
                r.events,
                r.quantity,
            )
        })
        .collect();
    out.sort();
    out
}

fn expected(sub: i64, from: NaiveDate) -> Vec<(String, NaiveDate, NaiveDate, i64, i64)> {
    let mut out: Vec<_> = before()
        .into_iter()
        .filter(|r| r.0 == sub && r.2 >= from)
        .map(|(_, metric, date, learnt, events, quantity)| {
            (metric.to_string(), date, learnt, events, quantity)
        })
        .collect();
    out.sort();
    out
}

async fn daily_totals_written_before_the_month_key_read_the_same_after_it(url: &str) {
    let backend = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let folder = migrations_before_0020(backend);
    let old = sqlx::migrate::Migrator::new(folder.path())
        .await
        .expect("migrations to 0019");
    let store = Store::connect(url).await.expect("connect");
    const INSERT: &str = "INSERT INTO usage_daily (tenant_id, subscription_id, metric, \
                          usage_date, recorded_on, events, quantity) \
                          VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let mut tenants = Vec::new();
    // The database as the previous release left it: migrated to 0019, totals in the old key.
    macro_rules! previous_release {
        ($pool:ty) => {{
            let pool = <$pool>::connect(url).await.expect("pool");
            old.run(&pool).await.expect("migrate to 0019");
            let mut tx = store.begin().await.expect("begin");
            for name in ["calls", "other"] {
                let tenant = tx
                    .create_tenant(name, TenantMode::Live, None, &Settings::default())
                    .await
                    .expect("tenant");
                tenants.push(tenant);
            }
            tx.commit().await.expect("commit");
            for (tenant, shift) in [(tenants[0], 0), (tenants[1], 2)] {
                for (sub, metric, date, learnt, events, quantity) in before() {
                    sqlx::query(INSERT)
                        .bind(tenant)
                        .bind(sub + shift)
                        .bind(metric)
                        .bind(date)
                        .bind(learnt)
                        .bind(events)
                        .bind(quantity)
                        .execute(&pool)
                        .await
                        .expect("old total");
                }
            }
            pool.close().await;
        }};
    }
    if backend == "sqlite" {
        previous_release!(sqlx::SqlitePool);
    } else {
        previous_release!(sqlx::PgPool);
    }

    store.migrate().await.expect("migrate to the latest");
    let (tenant, other) = (tenants[0], tenants[1]);
    let all = day(1, 1, 1);
    let mut tx = store.begin().await.expect("begin");
    let read = tx
        .usage_of_subscriptions(tenant, &[7, 8])
        .await
        .expect("read");
    assert_eq!(sorted(read.get(&7)), expected(7, all));
    assert_eq!(sorted(read.get(&8)), expected(8, all));
    // From a horizon's day: January's rows from the 15th on, and March's.
    let from = tx
        .usage_from(
            tenant,
            &[(7, Some(day(2025, 1, 10))), (8, Some(day(2025, 3, 1)))],
        )
        .await
        .expect("read from a day");
    assert_eq!(sorted(from.get(&7)), expected(7, day(2025, 1, 10)));
    assert_eq!(sorted(from.get(&8)), Vec::new());
    // The other tenant's subscription 9 is 7's shifted: its own, and nothing of 7's.
    let theirs = tx
        .usage_of_subscriptions(other, &[7, 9])
        .await
        .expect("read");
    assert_eq!(sorted(theirs.get(&7)), Vec::new());
    assert_eq!(sorted(theirs.get(&9)), expected(7, all));

    // A fold after the migration adds to a total it found, and starts a month it had not.
    let added = [
        DailyUsage {
            subscription_id: 7,
            metric: "outbound_eu".into(),
            usage_date: day(2025, 1, 15),
            events: 2,
            quantity: 90,
        },
        DailyUsage {
            subscription_id: 7,
            metric: "outbound_eu".into(),
            usage_date: day(2025, 4, 1),
            events: 1,
            quantity: 60,
        },
    ];
    tx.add_daily_usage(tenant, day(2025, 2, 20), &added)
        .await
        .expect("append");
    tx.commit().await.expect("commit");
    store.fold_usage(tenant).await.expect("fold");
    let mut tx = store.begin().await.expect("begin");
    let read = tx.usage_of_subscriptions(tenant, &[7]).await.expect("read");
    let mut want = expected(7, all);
    for r in want.iter_mut() {
        if r.1 == day(2025, 1, 15) && r.2 == day(2025, 2, 20) {
            r.3 += 2;
            r.4 += 90;
        }
    }
    want.push((
        "outbound_eu".into(),
        day(2025, 4, 1),
        day(2025, 2, 20),
        1,
        60,
    ));
    want.sort();
    assert_eq!(sorted(read.get(&7)), want);
    tx.commit().await.expect("commit");
}

both_stores!(
    month_key_migration,
    daily_totals_written_before_the_month_key_read_the_same_after_it
);
