//! Deduplication of call records by event id.
//!
//! On PostgreSQL a batch writes its ids by `COPY` and, when one is known, again with
//! `ON CONFLICT DO NOTHING`: an id a concurrent batch has written but not committed yet is
//! still a duplicate once it commits, neither stored twice nor an error, and a batch of known
//! ids stores only the new ones.
//!
//! On SQLite a batch is inserted optimistically, a statement per chunk of ids; a chunk holding
//! a known id fails, is undone alone, and goes again without its known ids.

use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use prorata_core::reconcile::Settings;
use prorata_store::{NewCall, Store, TenantMode};

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 10).expect("a date")
}

fn call(id: &str) -> NewCall {
    NewCall {
        event_id: id.into(),
        account_id: 1,
        subscription_id: 1,
        started_at: Utc
            .with_ymd_and_hms(2025, 3, 10, 9, 0, 0)
            .single()
            .expect("a time"),
        usage_date: day(),
        outbound: true,
        toll_free: false,
        caller: "+33100000000".into(),
        callee: "+33600000000".into(),
        duration_seconds: 60,
        metric: Some("mobile".into()),
        billable_seconds: 60,
    }
}

#[tokio::test]
async fn an_id_committed_by_a_concurrent_batch_after_the_read_is_a_duplicate() {
    let url = prorata_testkit::fresh_database().await;
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.ensure_usage_partitions(&[day()]).await;
    let mut tx = store.begin().await.expect("begin");
    let tenant = tx
        .create_tenant("calls", TenantMode::Live, None, &Settings::default())
        .await
        .expect("tenant");
    tx.commit().await.expect("commit");

    // A stores "b" and keeps its transaction open.
    let mut a = store.begin().await.expect("begin");
    let stored = a
        .insert_calls(tenant, day(), &[call("b")])
        .await
        .expect("insert");
    assert_eq!(stored, [0]);
    // B's COPY waits on A's key for "b", then fails on it once A commits.
    let b = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut b = store.begin().await.expect("begin");
            let stored = b
                .insert_calls(tenant, day(), &[call("a"), call("b"), call("c")])
                .await
                .expect("insert");
            b.commit().await.expect("commit");
            stored
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.commit().await.expect("commit");
    assert_eq!(b.await.expect("task"), [0, 2]);

    // A later batch resending three of them stores the fourth alone.
    let mut tx = store.begin().await.expect("begin");
    let stored = tx
        .insert_calls(tenant, day(), &[call("c"), call("d"), call("a"), call("b")])
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    assert_eq!(stored, [1]);

    // Each id once, and each event once.
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    for table in ["usage_event_ids", "usage_events"] {
        let ids: Vec<(String,)> = sqlx::query_as(&format!(
            "SELECT event_id FROM {table} WHERE tenant_id = $1 ORDER BY event_id"
        ))
        .bind(tenant)
        .fetch_all(&pool)
        .await
        .expect("ids");
        let ids: Vec<String> = ids.into_iter().map(|(id,)| id).collect();
        assert_eq!(ids, ["a", "b", "c", "d"], "{table}");
    }
}

fn numbered(ids: impl Iterator<Item = usize>) -> Vec<NewCall> {
    ids.map(|i| call(&format!("e{i:05}"))).collect()
}

#[tokio::test]
async fn sqlite_stores_only_the_new_ids_of_statements_holding_known_ones() {
    let (url, _dir) = prorata_testkit::sqlite_url();
    let store = Store::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let mut tx = store.begin().await.expect("begin");
    let tenant = tx
        .create_tenant("calls", TenantMode::Live, None, &Settings::default())
        .await
        .expect("tenant");
    // Ids 0, 1000, 2000, … 9000 are known, committed by an earlier batch.
    let known = numbered((0..10).map(|i| i * 1000));
    assert_eq!(
        tx.insert_calls(tenant, day(), &known)
            .await
            .expect("insert"),
        (0..10).collect::<Vec<_>>()
    );
    tx.commit().await.expect("commit");

    // A batch of 10,000 ids, the known ones among them, sent in reverse order: statements of
    // 2,000 in id order, each holding two known ids. Within the same transaction, a first
    // batch stores 10,500 and 10,501; the second batch resends 10,500 among its own.
    let mut tx = store.begin().await.expect("begin");
    let first = numbered([10_500, 10_501].into_iter());
    assert_eq!(
        tx.insert_calls(tenant, day(), &first)
            .await
            .expect("insert"),
        [0, 1]
    );
    let batch = numbered((0..10_000).rev().chain([10_500]));
    let stored = tx
        .insert_calls(tenant, day(), &batch)
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    // Positions in the batch, in order, of every id but the known ones.
    let expected: Vec<usize> = (0..batch.len())
        .filter(|&p| p < 10_000 && (9_999 - p) % 1000 != 0)
        .collect();
    assert_eq!(stored, expected);

    // Each id is stored once: 10 + 2 + 9,990.
    let mut tx = store.begin().await.expect("begin");
    let again = numbered((0..10_000).chain([10_500, 10_501]));
    assert_eq!(
        tx.insert_calls(tenant, day(), &again)
            .await
            .expect("insert"),
        Vec::<usize>::new()
    );
    tx.rollback().await.expect("rollback");
}
