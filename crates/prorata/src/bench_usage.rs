//! `prorata bench usage`: ingestion over HTTP and the invoicing of a month of calls.
//!
//! Setup (not timed): a sandbox tenant with the default catalog, `accounts` companies on a
//! monthly Professional plan from 1 January 2025 with a Europe call bundle, their 1 January
//! invoices issued, the clock on 1 February.
//!
//! 0. With `--preload-events N`: N January events and their daily totals written in bulk
//!    ([`preload`]), so what follows runs on a database already holding them. Timed apart.
//! 1. HTTP: `http_events` generated January calls (1 % resent, 0.1 % broken) posted to
//!    `POST /v1/usage` on loopback in batches of 10,000 over [`http::CONNECTIONS`] keep-alive
//!    connections at once, each connection waiting for its batch's answer (committed) before
//!    sending the next. Timed: the round trips; the generator's time is left out. Then where
//!    the usage writer's time went (the engine's phase events: waiting for batches or writing
//!    them, each batch's events and partial totals, a background fold).
//! 2. The month: calls up to `month_calls` in all, ingested through the engine (validated,
//!    dated, rated, stored, daily totals kept), then the 1 February billing run, which invoices
//!    January's minutes from the daily totals. Both timed, with peak memory; the run's phases
//!    and slowest statements printed as `bench billing-run` prints them (its fold of the
//!    appended totals first, then the reader's and the writer's).

use std::time::Instant;

use anyhow::{Context as _, Result};
use chrono::{NaiveDate, TimeZone, Utc};
use prorata_core::reconcile::Settings;

use prorata_engine::{IngestReport, MAX_BATCH};
use prorata_store::TenantMode;

use crate::bench::{drop_fresh, fresh_url, peak_rss_kib, reset_peak_rss};
use crate::callgen::CallGen;
use crate::db::open;
use prorata_testkit::bulk;

mod http;
mod preload;

pub async fn usage(
    store: &str,
    accounts: usize,
    http_events: usize,
    month_calls: usize,
    preload_events: usize,
    database_url: Option<String>,
) -> Result<()> {
    let (url, cleanup) = fresh_url(store, database_url).await?;
    let result = run(
        &url,
        store,
        accounts,
        http_events,
        month_calls,
        preload_events,
    )
    .await;
    drop_fresh(&url, cleanup).await?;
    result
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("unavailable".into(), |k| {
        format!("{:.0} MiB", k as f64 / 1024.0)
    })
}

async fn run(
    url: &str,
    store: &str,
    accounts: usize,
    http_events: usize,
    month_calls: usize,
    preload_events: usize,
) -> Result<()> {
    let engine = open(url).await?;
    let day = |m, d| NaiveDate::from_ymd_opt(2025, m, d).context("a date");
    let (jan, jan31, feb) = (day(1, 1)?, day(1, 31)?, day(2, 1)?);
    let (tenant, catalog) = bulk::tenant_with_catalog(
        &engine,
        "bench-usage",
        TenantMode::Sandbox,
        Some(jan),
        &Settings::default(),
    )
    .await?;
    let sub = bulk::monthly(
        "professional",
        jan,
        &[("user", 5), ("number", 2), ("bundle_europe", 1)],
    );
    let setup = Instant::now();
    let ids = bulk::subscriptions(&engine, tenant.id, catalog, accounts, &sub).await?;
    engine.run_billing(&tenant, jan, &mut |_| {}).await?;
    // The clock stays in January: the run of 1 February, timed below, is what invoices it.
    let (tenant, _) = engine.advance_clock(&tenant, jan31, &mut |_, _| {}).await?;
    eprintln!(
        "setup: {accounts} subscriptions, their January invoices, clock on {jan31}: {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    let january = Utc
        .with_ymd_and_hms(2024, 12, 31, 23, 0, 0) // 1 January 00:00 in Paris
        .single()
        .context("a time")?;
    let month_seconds = 31 * 86_400;
    preload::preload(url, tenant.id, accounts, preload_events as u64).await?;

    // 1. HTTP ingestion.
    let key = engine.create_api_key(&tenant).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = prorata_server::app(prorata_server::AppState::new(engine.clone()));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut gen = CallGen::new(7, ids.clone(), january, month_seconds, "http");
    gen.duplicate_every = 100;
    gen.bad_every = 1000;
    let bodies = http::write_bodies(&mut gen, http_events)?;
    let bar = crate::progress::bar("HTTP events", http_events as u64);
    reset_peak_rss();
    crate::bench_profile::start(false);
    let http::Sent {
        report: http,
        secs: http_secs,
        cpu_secs: http_cpu,
    } = http::send(addr, &key.secret, bodies, &bar).await?;
    let profile = crate::bench_profile::stop();
    bar.finish_and_clear();
    let http_peak = peak_rss_kib();
    server.abort();

    // 2. The rest of the month through the engine, then the billing run.
    let mut gen = CallGen::new(11, ids, january, month_seconds, "month");
    let rest = month_calls.saturating_sub(http_events + preload_events);
    let mut month = IngestReport::default();
    let mut ingest_secs = 0.0;
    let mut done = 0;
    let bar = crate::progress::bar("rating and storing calls", rest as u64);
    reset_peak_rss();
    while done < rest {
        let n = MAX_BATCH.min(rest - done);
        let batch: Vec<_> = (0..n).map(|_| Ok(gen.next_call())).collect();
        let t = Instant::now();
        let r = engine.ingest_calls(&tenant, batch).await?;
        ingest_secs += t.elapsed().as_secs_f64();
        month.add(r, done);
        done += n;
        bar.set_position(done as u64);
    }
    bar.finish_and_clear();
    let ingest_peak = peak_rss_kib();
    reset_peak_rss();
    crate::bench_profile::start(true);
    let t = Instant::now();
    let summary = engine.run_billing(&tenant, feb, &mut |_| {}).await;
    let bill_secs = t.elapsed().as_secs_f64();
    let bill_profile = crate::bench_profile::stop();
    let summary = summary?;
    let bill_peak = peak_rss_kib();
    engine.store.close().await;

    let calls = preload_events as u64 + http.accepted + month.accepted;
    println!("store: {store}; accounts: {accounts}; pre-loaded events: {preload_events}");
    println!(
        "HTTP ingestion: {http_events} events in batches of {MAX_BATCH} over {} connections: \
         {http_secs:.2} s, {:.0} events/s ({} accepted, {} duplicates, {} refused); peak memory \
         {}; this process's CPU during the round trips {http_cpu:.2} s, {:.0} events per CPU \
         second",
        http::CONNECTIONS,
        http_events as f64 / http_secs,
        http.accepted,
        http.duplicates,
        http.rejected.len(),
        mib(http_peak),
        http_events as f64 / http_cpu
    );
    // What holds ingestion back: a writer waiting for batches is starved by its clients; one
    // always writing is the limit, and its phases say where its time goes.
    crate::bench::print_profile(
        &profile,
        http_secs,
        &[
            "usage writer",
            "usage transaction",
            "usage batch",
            "usage fold",
        ],
    );
    if rest == 0 {
        println!(
            "engine ingestion: nothing left to ingest (the HTTP and pre-loaded events make the month)"
        );
    } else {
        println!(
            "engine ingestion (validate, date, rate, store, daily totals): {rest} calls: {ingest_secs:.2} s, {:.0} calls/s; peak memory {}",
            rest as f64 / ingest_secs,
            mib(ingest_peak)
        );
    }
    println!(
        "billing run of 1 February: {} invoices carrying January's {calls} calls: {bill_secs:.2} s; peak memory {}",
        summary.invoices,
        mib(bill_peak)
    );
    // The month's run folds what ingestion left pending, then reads the daily totals: its
    // phases and statements say which of the two a slow run spent its time on.
    crate::bench::print_profile(&bill_profile, bill_secs, &crate::bench::BILLING_STAGES);
    Ok(())
}
