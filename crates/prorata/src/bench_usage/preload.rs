//! `prorata bench usage --preload-events N`: a database already holding N January events,
//! written in bulk by the database itself (a few statements, no HTTP, no engine), so HTTP
//! ingestion can be timed on top of a full usage table in seconds rather than the minutes
//! ingesting them would take.
//!
//! Event `i` is a call of the `i mod accounts`-th subscription on January
//! `1 + (i / accounts) mod 31`, outbound, to one of four metrics in turn, 1–1,200 s long and
//! billed by the started minute, learnt on 31 January; ids `pre-0000000000` upwards. The daily
//! totals are the events grouped, as folded ingestion leaves them.

use std::time::Instant;

use anyhow::Result;
use sqlx::Connection as _;

/// Events written per statement (and transaction): bounds the WAL and the server's memory.
const CHUNK: u64 = 1_000_000;

const METRICS: &str = "outbound_fr_fixed, outbound_fr_mobile, outbound_eu, outbound_us_ca";

/// Writes `events` events and their daily totals for `tenant`'s subscriptions.
pub async fn preload(url: &str, tenant: i64, accounts: usize, events: u64) -> Result<()> {
    if events == 0 {
        return Ok(());
    }
    let t = Instant::now();
    let accounts = accounts.max(1) as i64;
    let bar = crate::progress::bar("pre-loading events", events);
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        // The subscriptions numbered from 0, keyed by that number: each event finds its own
        // by rowid (a join on a computed column would rescan them per event).
        sqlx::query(
            "CREATE TEMP TABLE bench_subs AS SELECT row_number() OVER (ORDER BY id) - 1 AS k, \
             id, account_id FROM subscriptions WHERE tenant_id = $1",
        )
        .bind(tenant)
        .execute(&mut conn)
        .await?;
        sqlx::query("CREATE UNIQUE INDEX temp.bench_subs_k ON bench_subs (k)")
            .execute(&mut conn)
            .await?;
        let mut from = 0;
        while from < events {
            let to = (from + CHUNK).min(events);
            sqlx::query(&format!(
                "WITH RECURSIVE n(i) AS (SELECT $2 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $3) \
                 INSERT INTO usage_events (tenant_id, event_id, call) \
                 SELECT $1, printf('pre-%010d', i), json_array(s.account_id, s.id, \
                 d || 'T10:00:00Z', d, 'outbound', 0, '+33145678900', '+33145678901', dur, \
                 {metric}, (dur + 59) / 60 * 60, '2025-01-31') \
                 FROM (SELECT i, printf('2025-01-%02d', 1 + (i / $4) % 31) AS d, \
                 1 + (i * 7919) % 1200 AS dur FROM n) g JOIN bench_subs s ON s.k = g.i % $4 \
                 ORDER BY i",
                metric = sqlite_metric()
            ))
            .bind(tenant)
            .bind(from as i64)
            .bind(to as i64)
            .bind(accounts)
            .execute(&mut conn)
            .await?;
            from = to;
            bar.set_position(from);
        }
        // SQLite keeps a call in one JSON value; its view gives the columns back.
        sqlx::query(&daily_totals("usage_calls"))
            .bind(tenant)
            .execute(&mut conn)
            .await?;
        conn.close().await?;
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS usage_events_2025_01 PARTITION OF usage_events \
             FOR VALUES FROM ('2025-01-01') TO ('2025-02-01')",
        )
        .execute(&mut conn)
        .await?;
        let mut from = 0;
        while from < events {
            let to = (from + CHUNK).min(events);
            let mut tx = conn.begin().await?;
            sqlx::query(
                "INSERT INTO usage_event_ids (tenant_id, event_id) \
                 SELECT $1, 'pre-' || lpad(i::TEXT, 10, '0') FROM generate_series($2, $3 - 1) i",
            )
            .bind(tenant)
            .bind(from as i64)
            .bind(to as i64)
            .execute(&mut *tx)
            .await?;
            sqlx::query(&format!(
                "INSERT INTO usage_events (tenant_id, event_id, account_id, subscription_id, \
                 started_at, usage_date, direction, toll_free, caller, callee, duration_seconds, \
                 metric, billable_seconds, recorded_on) \
                 SELECT $1, 'pre-' || lpad(i::TEXT, 10, '0'), s.account_id, s.id, \
                 (d + TIME '10:00') AT TIME ZONE 'UTC', d, 'outbound', FALSE, '+33145678900', \
                 '+33145678901', dur, (ARRAY['{metrics}'])[1 + i % 4], (dur + 59) / 60 * 60, \
                 DATE '2025-01-31' \
                 FROM (SELECT i, DATE '2025-01-01' + ((i / $4) % 31)::INT AS d, \
                 1 + (i * 7919) % 1200 AS dur FROM generate_series($2, $3 - 1) i) g \
                 JOIN (SELECT row_number() OVER (ORDER BY id) - 1 AS k, id, account_id \
                 FROM subscriptions WHERE tenant_id = $1) s ON s.k = g.i % $4 ORDER BY i",
                metrics = METRICS.replace(", ", "','")
            ))
            .bind(tenant)
            .bind(from as i64)
            .bind(to as i64)
            .bind(accounts)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            from = to;
            bar.set_position(from);
        }
        sqlx::query(&daily_totals("usage_events"))
            .bind(tenant)
            .execute(&mut conn)
            .await?;
        // A database that has held these rows for a while has its statistics.
        sqlx::query("ANALYZE usage_events, usage_event_ids, usage_daily")
            .execute(&mut conn)
            .await?;
        conn.close().await?;
    }
    bar.finish_and_clear();
    eprintln!(
        "pre-loaded {events} events and their daily totals: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// SQLite's pick of event `i`'s metric, in turn.
fn sqlite_metric() -> String {
    let arms: String = METRICS
        .split(", ")
        .enumerate()
        .map(|(k, m)| format!(" WHEN {k} THEN '{m}'"))
        .collect();
    format!("CASE i % 4{arms} END")
}

/// The pre-loaded events' daily totals, as a fold leaves them, read from `calls` (a table or
/// view with the calls' columns). All are January 2025's: `usage_month` (year × 12 + month −
/// 1) 24,300.
fn daily_totals(calls: &str) -> String {
    format!(
        "INSERT INTO usage_daily (tenant_id, usage_month, subscription_id, metric, usage_date, \
         recorded_on, events, quantity) \
         SELECT tenant_id, 24300, subscription_id, metric, usage_date, recorded_on, COUNT(*), \
         CAST(SUM(billable_seconds) AS BIGINT) FROM {calls} \
         WHERE tenant_id = $1 AND event_id LIKE 'pre-%' \
         GROUP BY tenant_id, subscription_id, metric, usage_date, recorded_on"
    )
}
