//! `prorata bench billing-run`: times one billing run over N monthly subscriptions (each
//! invoice carries three lines: users, extra numbers, Analytics+) and, for comparison, the
//! fastest raw insert of the same rows the store offers ([`crate::bench_yardstick`]), so the
//! engine's overhead is a ratio; then prints where the run's time went (by phase, and its
//! slowest statements, from [`crate::bench_profile`]).
//! Peak memory is measured for the billing run alone (the kernel's high-water mark is reset
//! just before it), to show that it stays flat as N grows.

use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use chrono::NaiveDate;
use prorata_core::reconcile::Settings;
use prorata_store::TenantMode;
use prorata_testkit::bulk::{professional, subscriptions, tenant_with_catalog};

use crate::db::open;

/// The most memory this process held resident since [`reset_peak_rss`], in KiB.
pub(crate) fn peak_rss_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

/// The memory this process holds resident now, in KiB.
pub(crate) fn rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// CPU seconds this process has used (all threads, user and system), from `/proc/self/stat`
/// in clock ticks of 1/100 s (Linux's USER_HZ): on a busy shared machine, a rate per CPU
/// second says more than one per wall-clock second.
pub(crate) fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

pub(crate) fn reset_peak_rss() {
    // Linux: writing 5 to clear_refs resets VmHWM to the current resident size.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A fresh database for the benchmark, and what to drop afterwards.
pub(crate) async fn fresh_url(
    store: &str,
    database_url: Option<String>,
) -> Result<(String, Option<(String, String)>)> {
    match store {
        "sqlite" => {
            let dir = std::env::temp_dir().join(format!("prorata-bench-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            Ok((format!("sqlite://{}/bench.db", dir.display()), None))
        }
        "postgres" => {
            let base = database_url
                .or_else(|| std::env::var("DATABASE_URL").ok())
                .context("--store postgres needs --database-url postgres://… (or DATABASE_URL)")?;
            let name = format!("prorata_bench_{}", std::process::id());
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await?;
            let url = with_database(&base, &name);
            Ok((url, Some((base, name))))
        }
        other => bail!("--store {other}: use sqlite or postgres"),
    }
}

/// `base` with its database name replaced by `name`.
fn with_database(base: &str, name: &str) -> String {
    let (head, query) = base
        .split_once('?')
        .map_or((base, None), |(h, q)| (h, Some(q)));
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let path_start = head[scheme_end..]
        .find('/')
        .map_or(head.len(), |i| scheme_end + i);
    let mut url = format!("{}/{name}", &head[..path_start]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

pub async fn billing_run(store: &str, accounts: usize, database_url: Option<String>) -> Result<()> {
    let (url, cleanup) = fresh_url(store, database_url).await?;
    let result = run(&url, store, accounts).await;
    drop_fresh(&url, cleanup).await?;
    result
}

/// Gives every account of `ids` the sandbox's good Visa (authorised when added, in real use;
/// here attached in bulk).
pub(crate) async fn attach_good_visa(
    engine: &prorata_engine::Engine,
    tenant: i64,
    ids: &[i64],
) -> Result<()> {
    use prorata_core::payment::PaymentMethod;
    let token = prorata_engine::gateway::SandboxGateway::tokenize_card(
        tenant,
        "4242424242424242",
        12,
        2030,
    )?;
    let card = PaymentMethod::Card {
        token,
        brand: "Visa".into(),
        last4: "4242".into(),
        exp_month: 12,
        exp_year: 2030,
    };
    for chunk in ids.chunks(10_000) {
        let mut tx = engine.store.begin().await?;
        for id in chunk {
            tx.attach_payment_method(tenant, *id, &card).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Removes what [`fresh_url`] made.
pub(crate) async fn drop_fresh(url: &str, cleanup: Option<(String, String)>) -> Result<()> {
    if let Some((base, name)) = cleanup {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        if let Some(dir) = std::path::Path::new(path).parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    Ok(())
}

async fn run(url: &str, store: &str, n: usize) -> Result<()> {
    let engine = open(url).await?;
    let as_of = NaiveDate::from_ymd_opt(2025, 1, 6).unwrap_or_default();
    let (tenant, catalog) = tenant_with_catalog(
        &engine,
        "bench",
        TenantMode::Live,
        None,
        &Settings::default(),
    )
    .await?;
    // The yardstick's tenant: the same accounts and subscriptions, which it bills by hand.
    let (raw, raw_catalog) = tenant_with_catalog(
        &engine,
        "bench-raw",
        TenantMode::Live,
        None,
        &Settings::default(),
    )
    .await?;

    let setup = Instant::now();
    // 5 users, 3 numbers (2 included: 1 extra) and Analytics+: three lines an invoice.
    let sub = professional(as_of);
    subscriptions(&engine, tenant.id, catalog, n, &sub).await?;
    subscriptions(&engine, raw.id, raw_catalog, n, &sub).await?;
    eprintln!(
        "setup: 2 × {n} accounts and subscriptions in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    reset_peak_rss();
    // What the process holds before the run: the setup's freed memory the allocator kept
    // (more after setting up more accounts) is part of the peak, not of the run.
    let resident = rss_kib();
    crate::bench_profile::start(true);
    let started = Instant::now();
    let bar = crate::progress::counter("billing run");
    let summary = engine
        .run_billing(&tenant, as_of, &mut |k| bar.set_position(k))
        .await;
    bar.finish_and_clear();
    let run_secs = started.elapsed().as_secs_f64();
    let profile = crate::bench_profile::stop();
    let summary = summary?;
    let run_peak = peak_rss_kib();
    engine.store.close().await;

    // The same rows written the fastest way the store offers, chunk by chunk as the run commits.
    let yardstick = crate::bench_yardstick::raw_write(url, tenant.id, raw.id).await?;

    let rate = summary.invoices as f64 / run_secs;
    let raw_secs = yardstick.elapsed.as_secs_f64();
    let raw_rate = yardstick.invoices as f64 / raw_secs;
    println!(
        "store: {store}; subscriptions: {n}; invoices: {} (3 lines each)",
        summary.invoices
    );
    println!("billing run: {run_secs:.2} s, {rate:.0} invoices/s");
    println!(
        "raw insert of the same rows (document + render queue + ledger entry + outbox row each, next due days; \
         multi-row statements, a transaction per {} invoices): {raw_secs:.2} s, {raw_rate:.0} invoices/s",
        prorata_engine::CHUNK
    );
    println!("engine / raw insert: {:.2}", rate / raw_rate);
    match (run_peak, resident) {
        (Some(peak), Some(before)) => println!(
            "peak memory during the run: {:.1} MiB ({:.1} MiB resident as it started, {:.1} MiB \
             added by the run)",
            peak as f64 / 1024.0,
            before as f64 / 1024.0,
            peak.saturating_sub(before) as f64 / 1024.0
        ),
        _ => println!("peak memory during the run: unavailable (no /proc)"),
    }
    print_profile(&profile, run_secs, &BILLING_STAGES);
    Ok(())
}

/// The stages of a billing run's phase events, in the order printed.
pub(crate) const BILLING_STAGES: [&str; 3] = ["start", "reader", "writer"];

/// Where the run's time went: the phases of each of `stages` (a billing run's reader prepares
/// chunk k+1 while its writer writes chunk k, so the stages overlap), then the statements that
/// took longest, if they were gathered.
pub(crate) fn print_profile(
    profile: &crate::bench_profile::Profile,
    run_secs: f64,
    stages: &[&str],
) {
    println!("time by phase (s, share of the run's wall clock; stages overlap):");
    for &stage in stages {
        let phases: Vec<_> = profile
            .phases
            .iter()
            .filter(|((s, _), _)| s == stage)
            .collect();
        if phases.is_empty() {
            continue; // PostgreSQL's usage batches have no writer of their own, say
        }
        let total: f64 = phases.iter().map(|(_, t)| t.total).sum();
        println!("  {stage}: {total:.2} s");
        for ((_, phase), t) in phases {
            println!(
                "    {phase:<28} {:>7.2} s {:>5.1} %  max {:>7.1} ms",
                t.total,
                100.0 * t.total / run_secs,
                t.max * 1000.0
            );
        }
    }
    if profile.statements.is_empty() {
        return;
    }
    let mut statements: Vec<_> = profile.statements.iter().collect();
    statements.sort_by(|a, b| b.1.total.total_cmp(&a.1.total));
    println!("slowest statements (by total time; count, total, max):");
    for (sql, t) in statements.into_iter().take(8) {
        println!(
            "  {:>6} × {:>7.2} s  max {:>7.1} ms  {sql}",
            t.count,
            t.total,
            t.max * 1000.0
        );
    }
}
