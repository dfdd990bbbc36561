//! `Store::fold_usage` folds appended partial totals while batches keep being appended and
//! other folds of the same tenant run: on SQLite it stages the rows off the write lock and
//! moves them later, so a row appended in between, or taken by another fold, must neither be
//! lost nor counted twice. Every total appended is read back exactly once, and nothing is
//! left appended after a last fold.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::NaiveDate;
use prorata_core::reconcile::Settings;
use prorata_store::{DailyUsage, Store, TenantMode};
use prorata_testkit::both_stores;
use sqlx::ConnectOptions;

const BATCHES: i64 = 60;
const ROWS: i64 = 500;
const SUBSCRIPTIONS: i64 = 200;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, d).expect("a date")
}

/// Batch `b`'s partial totals: spread over the subscriptions, days and two metrics, several
/// rows of one batch on one key, quantities telling batches apart.
fn batch(b: i64) -> Vec<DailyUsage> {
    (0..ROWS)
        .map(|r| {
            let n = b * ROWS + r;
            DailyUsage {
                subscription_id: 1 + n % SUBSCRIPTIONS,
                metric: if n % 3 == 0 { "outbound_eu" } else { "inbound" }.into(),
                usage_date: day(1 + (n % 7) as u32),
                events: 1,
                quantity: 60 + b,
            }
        })
        .collect()
}

async fn appended_rows_left(url: &str, tenant: i64) -> i64 {
    macro_rules! count {
        ($options:ty) => {{
            let mut c = <$options>::from_str(url)
                .expect("a URL")
                .connect()
                .await
                .expect("open");
            sqlx::query_scalar("SELECT COUNT(*) FROM usage_daily_pending WHERE tenant_id = $1")
                .bind(tenant)
                .fetch_one(&mut c)
                .await
                .expect("count")
        }};
    }
    if url.starts_with("sqlite://") {
        count!(sqlx::sqlite::SqliteConnectOptions)
    } else {
        count!(sqlx::postgres::PgConnectOptions)
    }
}

async fn every_total_is_folded_once_while_batches_and_other_folds_run(url: &str) {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let mut tx = store.begin().await.expect("begin");
    let tenant = tx
        .create_tenant("Folds", TenantMode::Live, None, &Settings::default())
        .await
        .expect("tenant");
    // Another tenant's appended totals are neither folded nor counted with these.
    let other = tx
        .create_tenant("Others", TenantMode::Live, None, &Settings::default())
        .await
        .expect("tenant");
    tx.add_daily_usage(other, day(20), &batch(0))
        .await
        .expect("append");
    tx.commit().await.expect("commit");

    let appender = {
        let store = store.clone();
        tokio::spawn(async move {
            for b in 0..BATCHES {
                let mut tx = store.begin().await.expect("begin");
                tx.add_daily_usage(tenant, day(20), &batch(b))
                    .await
                    .expect("append");
                tx.commit().await.expect("commit");
                tokio::task::yield_now().await;
            }
        })
    };
    let folders: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            let appender = appender.abort_handle();
            tokio::spawn(async move {
                let mut folds = 0;
                while !appender.is_finished() || folds == 0 {
                    store.fold_usage(tenant).await.expect("fold");
                    folds += 1;
                }
                folds
            })
        })
        .collect();
    appender.await.expect("appender");
    for f in folders {
        assert!(f.await.expect("folder") > 0);
    }
    store.fold_usage(tenant).await.expect("last fold");

    let mut want: BTreeMap<(i64, String, NaiveDate), (i64, i64)> = BTreeMap::new();
    for b in 0..BATCHES {
        for r in batch(b) {
            let total = want
                .entry((r.subscription_id, r.metric, r.usage_date))
                .or_default();
            total.0 += r.events;
            total.1 += r.quantity;
        }
    }
    let ids: Vec<i64> = (1..=SUBSCRIPTIONS).collect();
    let mut tx = store.begin().await.expect("begin");
    let read = tx.usage_of_subscriptions(tenant, &ids).await.expect("read");
    tx.commit().await.expect("commit");
    let mut got: BTreeMap<(i64, String, NaiveDate), (i64, i64)> = BTreeMap::new();
    for (sub, records) in read {
        for r in records {
            let total = got.entry((sub, r.metric, r.date)).or_default();
            total.0 += r.events;
            total.1 += r.quantity;
        }
    }
    assert_eq!(got, want, "every appended total read back once");
    assert_eq!(appended_rows_left(url, tenant).await, 0);
    assert_eq!(
        appended_rows_left(url, other).await,
        ROWS,
        "the other tenant's totals stay appended"
    );
}

both_stores!(
    folds_during_ingestion,
    every_total_is_folded_once_while_batches_and_other_folds_run
);
