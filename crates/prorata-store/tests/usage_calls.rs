//! A call record is kept whole: every field the engine stored reads back as it was sent,
//! dated and rated. SQLite keeps a call as one JSON value (migration 0022, for its one
//! writer's sake) and gives the columns back through the view `usage_calls`; PostgreSQL keeps
//! the columns. Calls stored before 0022 read the same after it.

use std::path::Path;

use chrono::{NaiveDate, TimeZone, Utc};
use prorata_core::reconcile::Settings;
use prorata_store::{NewCall, Store, TenantMode};
use prorata_testkit::{both_stores, migrations_before};

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 10).expect("a date")
}

/// A billed outbound call, and a free inbound call to a toll-free number.
fn calls() -> Vec<NewCall> {
    vec![
        NewCall {
            event_id: "call-1".into(),
            account_id: 4,
            subscription_id: 7,
            started_at: Utc
                .with_ymd_and_hms(2025, 3, 9, 23, 30, 5)
                .single()
                .expect("a time"),
            usage_date: day(),
            outbound: true,
            toll_free: false,
            caller: "+33100000000".into(),
            callee: "+33600000000".into(),
            duration_seconds: 61,
            metric: Some("mobile \"fr\"".into()),
            billable_seconds: 120,
        },
        NewCall {
            event_id: "call-2".into(),
            account_id: 5,
            subscription_id: 8,
            started_at: Utc
                .with_ymd_and_hms(2025, 3, 10, 8, 0, 0)
                .single()
                .expect("a time"),
            usage_date: day(),
            outbound: false,
            toll_free: true,
            caller: "+14155550100".into(),
            callee: "+18005550199".into(),
            duration_seconds: 0,
            metric: None,
            billable_seconds: 0,
        },
    ]
}

/// A call as a reader finds it, a column each.
#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Row {
    event_id: String,
    account_id: i64,
    subscription_id: i64,
    started_at: String,
    usage_date: String,
    direction: String,
    toll_free: i64,
    caller: String,
    callee: String,
    duration_seconds: i64,
    metric: Option<String>,
    billable_seconds: i64,
    recorded_on: String,
}

/// What a reader of the tenant's calls should find for `calls`, learnt on `recorded_on`.
fn expected(calls: &[NewCall], recorded_on: NaiveDate) -> Vec<Row> {
    calls
        .iter()
        .map(|c| Row {
            event_id: c.event_id.clone(),
            account_id: c.account_id,
            subscription_id: c.subscription_id,
            started_at: c
                .started_at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            usage_date: c.usage_date.to_string(),
            direction: if c.outbound { "outbound" } else { "inbound" }.to_string(),
            toll_free: i64::from(c.toll_free),
            caller: c.caller.clone(),
            callee: c.callee.clone(),
            duration_seconds: c.duration_seconds,
            metric: c.metric.clone(),
            billable_seconds: c.billable_seconds,
            recorded_on: recorded_on.to_string(),
        })
        .collect()
}

/// The tenant's calls as a reader finds them, by event id (PostgreSQL's typed columns read
/// as SQLite's; its calls start on whole seconds here).
async fn read_calls(url: &str, tenant: i64) -> Vec<Row> {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("pool");
        sqlx::query_as(
            "SELECT event_id, account_id, subscription_id, started_at, usage_date, direction, \
             toll_free, caller, callee, duration_seconds, metric, billable_seconds, recorded_on \
             FROM usage_calls WHERE tenant_id = $1 ORDER BY event_id",
        )
        .bind(tenant)
        .fetch_all(&pool)
        .await
        .expect("calls")
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("pool");
        sqlx::query_as(
            "SELECT event_id, account_id, subscription_id, \
             to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
             AS started_at, usage_date::TEXT AS usage_date, direction, \
             toll_free::INT::BIGINT AS toll_free, caller, callee, duration_seconds, metric, \
             billable_seconds, recorded_on::TEXT AS recorded_on \
             FROM usage_events WHERE tenant_id = $1 ORDER BY event_id",
        )
        .bind(tenant)
        .fetch_all(&pool)
        .await
        .expect("calls")
    }
}

async fn every_field_of_a_call_reads_back_as_stored(url: &str) {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.ensure_usage_partitions(&[day()]).await;
    let recorded_on = NaiveDate::from_ymd_opt(2025, 3, 11).expect("a date");
    let mut tenants = Vec::new();
    let mut tx = store.begin().await.expect("begin");
    for name in ["calls", "other"] {
        tenants.push(
            tx.create_tenant(name, TenantMode::Live, None, &Settings::default())
                .await
                .expect("tenant"),
        );
    }
    // The other tenant sends the same event ids: its own calls, not duplicates.
    for &tenant in &tenants {
        let stored = tx
            .insert_calls(tenant, recorded_on, &calls())
            .await
            .expect("insert");
        assert_eq!(stored, [0, 1]);
    }
    tx.commit().await.expect("commit");
    for tenant in tenants {
        assert_eq!(
            read_calls(url, tenant).await,
            expected(&calls(), recorded_on)
        );
    }
}

both_stores!(call_records, every_field_of_a_call_reads_back_as_stored);

#[tokio::test]
async fn calls_stored_in_columns_before_0022_read_the_same_after_it_and_stay_known() {
    let (url, _dir) = prorata_testkit::sqlite_url();
    let all = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let folder = migrations_before(&all, 22);
    let old = sqlx::migrate::Migrator::new(folder.path())
        .await
        .expect("migrations to 0021");
    let pool = sqlx::SqlitePool::connect(&url).await.expect("pool");
    old.run(&pool).await.expect("migrate to 0021");
    let store = Store::connect(&url).await.expect("connect");
    let mut tx = store.begin().await.expect("begin");
    let tenant = tx
        .create_tenant("calls", TenantMode::Live, None, &Settings::default())
        .await
        .expect("tenant");
    tx.commit().await.expect("commit");
    // The calls as the previous release wrote them, a column each.
    let recorded_on = NaiveDate::from_ymd_opt(2025, 3, 11).expect("a date");
    for row in expected(&calls(), recorded_on) {
        sqlx::query(
            "INSERT INTO usage_events (tenant_id, event_id, account_id, subscription_id, \
             started_at, usage_date, direction, toll_free, caller, callee, duration_seconds, \
             metric, billable_seconds, recorded_on) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(tenant)
        .bind(row.event_id)
        .bind(row.account_id)
        .bind(row.subscription_id)
        .bind(row.started_at)
        .bind(row.usage_date)
        .bind(row.direction)
        .bind(row.toll_free)
        .bind(row.caller)
        .bind(row.callee)
        .bind(row.duration_seconds)
        .bind(row.metric)
        .bind(row.billable_seconds)
        .bind(row.recorded_on)
        .execute(&pool)
        .await
        .expect("an old call");
    }
    pool.close().await;

    store.migrate().await.expect("migrate to the latest");
    assert_eq!(
        read_calls(&url, tenant).await,
        expected(&calls(), recorded_on)
    );
    // Still known: sent again, neither is stored twice; a new one is.
    let mut again = calls();
    again.push(NewCall {
        event_id: "call-3".into(),
        ..calls()[0].clone()
    });
    let mut tx = store.begin().await.expect("begin");
    let stored = tx
        .insert_calls(tenant, recorded_on, &again)
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    assert_eq!(stored, [2]);
}
