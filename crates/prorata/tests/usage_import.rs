//! `prorata usage import`: call records from CSV and NDJSON files, and an import killed with
//! SIGKILL mid-file loses nothing it acknowledged and bills nothing twice when run again; nor
//! does a fold of the appended usage totals killed midway (`prorata usage fold`).
//!
//! Each test runs on a SQLite file and on a fresh PostgreSQL database. The setup goes through
//! the engine: a sandbox tenant with the default catalog, clock on 2025-02-01, and accounts
//! on a monthly Essentials plan from 2025-01-01. The real binary then imports the file.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use prorata_core::account::Account;
use prorata_core::reconcile::Settings;
use prorata_core::scenario::SubscriptionSpec;
use prorata_core::{Currency, Frequency};
use prorata_engine::Engine;
use prorata_store::{Store, TenantMode};

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (url, guard) = prorata_testkit::sqlite_url();
                    super::$name(&url, guard.path()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let url = prorata_testkit::fresh_database().await;
                    let dir = prorata_testkit::TempDirGuard::new("prorata-import");
                    super::$name(&url, dir.path()).await;
                }
            )*
        }
    };
}

on_both_stores!(
    a_csv_file_is_imported_with_each_bad_row_named_by_line_and_field,
    an_import_killed_mid_file_and_run_again_keeps_every_acknowledged_batch_and_bills_each_call_once,
    imports_and_folds_killed_midway_count_every_accepted_event_once,
);

/// A tenant with `n` accounts on Essentials from 2025-01-01; (tenant id, account ids).
async fn setup(url: &str, n: usize) -> (Engine, i64, Vec<i64>) {
    let store = Store::connect(url).await.expect("store opens");
    store.migrate().await.expect("migrations apply");
    let engine = Engine::new(store);
    let jan = NaiveDate::from_ymd_opt(2025, 1, 1).expect("a date");
    let feb = NaiveDate::from_ymd_opt(2025, 2, 1).expect("a date");
    let tenant = engine
        .create_tenant(
            "Imports",
            TenantMode::Sandbox,
            Some(jan),
            &Settings::default(),
        )
        .await
        .expect("tenant");
    let catalog = engine
        .import_catalog(&tenant, include_str!("../../../catalog/default.toml"))
        .await
        .expect("catalog");
    let mut ids = Vec::new();
    for i in 0..n {
        let account = Account {
            name: format!("Customer {i}"),
            website: String::new(),
            address: Default::default(),
            country: "FR".into(),
            vat_number: None,
            currency: Currency::EUR,
            language: Default::default(),
            time_zone: "Europe/Paris".into(),
            billing_contacts: Vec::new(),
            siren: None,
            siret: None,
            delivery_address: None,
        };
        let id = engine
            .create_account(&tenant, &account)
            .await
            .expect("account");
        let spec = SubscriptionSpec {
            plan: "essentials".into(),
            frequency: Frequency::Monthly,
            currency: Currency::EUR,
            start: jan,
            trial_days: Some(0),
            term_months: 12,
            notice_days: 30,
            quantities: [("user".to_string(), 3)].into(),
            billing_day: None,
        };
        engine
            .create_subscription(&tenant, id, catalog.id, &spec)
            .await
            .expect("subscription");
        ids.push(id);
    }
    // Move to 31 January: January's calls are in the past, February's invoice not yet issued.
    let jan31 = feb.pred_opt().expect("a date");
    engine
        .advance_clock(&tenant, jan31, &mut |_, _| {})
        .await
        .expect("clock moves");
    (engine, tenant.id, ids)
}

fn import(url: &str, tenant: i64, file: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_prorata"));
    c.args(["--database-url", url, "usage", "import"])
        .arg(file)
        .args(["--tenant", &tenant.to_string()]);
    c
}

async fn a_csv_file_is_imported_with_each_bad_row_named_by_line_and_field(url: &str, dir: &Path) {
    let (engine, tenant, ids) = setup(url, 1).await;
    let a = ids[0];
    let file = dir.join("calls.csv");
    std::fs::write(
        &file,
        format!(
            "event_id,account_id,started_at,direction,toll_free,caller,callee,duration_seconds\n\
             e1,{a},2025-01-10T09:00:00Z,outbound,false,+33145678900,+12125550100,61\n\
             e2,{a},2025-01-10T09:05:00Z,outbound,false,+33145678900,0612,30\n\
             e3,{a},2025-01-10T09:10:00Z,sideways,false,+33145678900,+12125550100,30\n\
             e1,{a},2025-01-10T09:00:00Z,outbound,false,+33145678900,+12125550100,61\n\
             e4,{a},2025-01-11T09:00:00Z,inbound,true,+33612345678,+33800100100,10\n"
        ),
    )
    .expect("file written");
    let out = import(url, tenant, &file).output().expect("prorata runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Part of the file was refused: the exit code says so, and how many.
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("5 events read, 2 accepted, 1 duplicates, 2 refused"),
        "{stdout}"
    );
    assert!(stderr.contains("2 of 5 events refused"), "{stderr}");
    assert!(stderr.contains("line 3: callee"), "{stderr}");
    // Standard error is a pipe here: no progress bar drawn into it.
    assert!(
        !stderr.contains('\r') && !stderr.contains("[#"),
        "{stderr:?}"
    );
    assert!(stderr.contains("line 4: direction"), "{stderr}");
    // What was stored is what the invoice shows: the February invoice bills January's minutes.
    let t = engine.tenant(tenant).await.expect("tenant");
    let s = engine
        .usage_summary(&t, a, NaiveDate::from_ymd_opt(2025, 1, 15))
        .await
        .expect("summary");
    let lines: Vec<(String, Option<i64>, i64)> = s
        .lines
        .iter()
        .map(|l| (l.description.clone(), l.events, l.quantity))
        .collect();
    // USA per minute: 61 s -> 120 s; toll-free per second after the first minute: 10 s -> 60 s.
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines.iter().any(|(_, e, q)| *e == Some(1) && *q == 120),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|(_, e, q)| *e == Some(1) && *q == 60),
        "{lines:?}"
    );
}

/// Events in the file: 30 batches of 10,000.
const EVENTS: usize = 300_000;

async fn an_import_killed_mid_file_and_run_again_keeps_every_acknowledged_batch_and_bills_each_call_once(
    url: &str,
    dir: &Path,
) {
    let (engine, tenant, ids) = setup(url, 20).await;
    let file = dir.join("calls.ndjson");
    let seconds_total = write_calls(&file, &ids, |i| 1 + i % 30);

    let mut child = import(url, tenant, &file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prorata starts");
    let t = engine.tenant(tenant).await.expect("tenant");
    let started = Instant::now();
    // Kill once some batches are committed and before the file is done.
    loop {
        let done = stored_calls(&engine, &t, &ids).await;
        if done >= 30_000 {
            assert!(
                done < EVENTS as i64,
                "the import finished before it could be killed"
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    assert!(
        child.wait().expect("exit status").code().is_none(),
        "killed, not exited"
    );
    let killed_at = stored_calls(&engine, &t, &ids).await;
    assert_eq!(killed_at % 10_000, 0, "whole batches only: {killed_at}");

    let out = import(url, tenant, &file).output().expect("prorata runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{EVENTS} events read, {} accepted, {killed_at} duplicates, 0 refused",
            EVENTS as i64 - killed_at
        )),
        "{stdout}"
    );
    assert_eq!(stored_calls(&engine, &t, &ids).await, EVENTS as i64);
    assert_eq!(stored_seconds(&engine, &t, &ids).await, seconds_total);
}

/// Writes [`EVENTS`] outbound January calls of `ids` to `file`, the `i`th on January
/// `day(i)`; returns their seconds.
fn write_calls(file: &Path, ids: &[i64], day: impl Fn(usize) -> usize) -> i64 {
    let mut text = String::with_capacity(EVENTS * 200);
    let mut seconds_total = 0i64;
    for i in 0..EVENTS {
        let account = ids[i % ids.len()];
        let secs = 60 * (1 + (i as i64 % 5)); // whole minutes: rounding leaves them as they are
        seconds_total += secs;
        let _ = writeln!(
            text,
            r#"{{"event_id":"k{i}","account_id":{account},"started_at":"2025-01-{:02}T10:00:00Z","direction":"outbound","caller":"+33145678900","callee":"+1212555{:04}","duration_seconds":{secs}}}"#,
            day(i),
            i % 10_000
        );
    }
    std::fs::write(file, text).expect("file written");
    seconds_total
}

/// Ingestion appends each batch's partial daily totals and folds them into the daily totals
/// later; a process killed in the middle of either leaves every acknowledged event counted
/// once. Killed first: an import folding in the background every few batches (mid-batch or
/// mid-fold, whichever it was doing); then `prorata usage fold`, once it has said it is
/// folding.
async fn imports_and_folds_killed_midway_count_every_accepted_event_once(url: &str, dir: &Path) {
    // 100 accounts calling on 30 days: each batch appends 3,000 partial totals, so the folds
    // below have tens of thousands of rows to add up.
    let (engine, tenant, ids) = setup(url, 100).await;
    let file = dir.join("calls.ndjson");
    let seconds_total = write_calls(&file, &ids, |i| 1 + (i / 100) % 30);
    let t = engine.tenant(tenant).await.expect("tenant");

    let mut child = import(url, tenant, &file)
        .args(["--fold-after", "5000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prorata starts");
    let started = Instant::now();
    loop {
        let done = stored_calls(&engine, &t, &ids).await;
        if done >= 50_000 {
            assert!(
                done < EVENTS as i64,
                "the import finished before it could be killed"
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    assert!(
        child.wait().expect("exit status").code().is_none(),
        "killed, not exited"
    );
    let killed_at = stored_calls(&engine, &t, &ids).await;
    assert_eq!(killed_at % 10_000, 0, "whole batches only: {killed_at}");

    // Run again without background folds: the rest of the file stays appended.
    let out = import(url, tenant, &file)
        .args(["--fold-after", "0"])
        .output()
        .expect("prorata runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{EVENTS} events read, {} accepted, {killed_at} duplicates, 0 refused",
            EVENTS as i64 - killed_at
        )),
        "{stdout}"
    );
    assert_eq!(
        totals(&engine, &t, &ids).await,
        (EVENTS as i64, seconds_total)
    );
    let appended = pending_rows(url, tenant).await;
    assert!(appended >= 3_000, "{appended} partial totals appended");

    // A fold killed midway: all of it or nothing happened.
    let mut fold = Command::new(env!("CARGO_BIN_EXE_prorata"))
        .args(["--database-url", url, "usage", "fold", "--tenant"])
        .arg(tenant.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prorata starts");
    let mut said = String::new();
    let mut stderr = std::io::BufReader::new(fold.stderr.take().expect("stderr piped"));
    while !said.contains("folding") {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).expect("stderr read");
        assert!(n > 0, "the fold ended without folding: {said}");
        said.push_str(&line);
    }
    fold.kill().expect("SIGKILL");
    assert!(
        fold.wait().expect("exit status").code().is_none(),
        "killed, not exited"
    );
    assert_eq!(
        pending_rows(url, tenant).await,
        appended,
        "the fold finished before it could be killed, or left half its work"
    );
    assert_eq!(
        totals(&engine, &t, &ids).await,
        (EVENTS as i64, seconds_total)
    );

    // Run again: everything folded, each event counted once, in the summary and the invoice.
    let out = Command::new(env!("CARGO_BIN_EXE_prorata"))
        .args(["--database-url", url, "usage", "fold", "--tenant"])
        .arg(tenant.to_string())
        .output()
        .expect("prorata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(pending_rows(url, tenant).await, 0);
    assert_eq!(
        totals(&engine, &t, &ids).await,
        (EVENTS as i64, seconds_total)
    );
    let feb = NaiveDate::from_ymd_opt(2025, 2, 1).expect("a date");
    let (t, _) = engine
        .advance_clock(&t, feb, &mut |_, _| {})
        .await
        .expect("clock moves and bills");
    let invoiced = invoiced_calls(&engine, &t, &ids).await;
    assert_eq!(invoiced, (EVENTS as i64, seconds_total));
}

/// Calls and seconds on the usage lines of the accounts' invoices.
async fn invoiced_calls(engine: &Engine, t: &prorata_store::Tenant, ids: &[i64]) -> (i64, i64) {
    let mut calls = 0;
    let mut seconds = 0;
    for id in ids {
        let docs = engine
            .account_documents(t, *id, None)
            .await
            .expect("documents");
        for line in docs.iter().flat_map(|d| &d.document.lines) {
            if let prorata_core::document::LineKey::Usage { .. } = line.key {
                calls += line.events.unwrap_or(0);
                seconds += line.quantity;
            }
        }
    }
    (calls, seconds)
}

/// Partial usage totals of `tenant` not folded yet.
async fn pending_rows(url: &str, tenant: i64) -> i64 {
    const SQL: &str = "SELECT COUNT(*) FROM usage_daily_pending WHERE tenant_id = $1";
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite opens");
        let n = sqlx::query_scalar(SQL).bind(tenant).fetch_one(&pool).await;
        pool.close().await;
        n.expect("count")
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres opens");
        let n = sqlx::query_scalar(SQL).bind(tenant).fetch_one(&pool).await;
        pool.close().await;
        n.expect("count")
    }
}

/// Calls in the accounts' January totals, as the invoice will read them.
async fn stored_calls(engine: &Engine, t: &prorata_store::Tenant, ids: &[i64]) -> i64 {
    totals(engine, t, ids).await.0
}

async fn stored_seconds(engine: &Engine, t: &prorata_store::Tenant, ids: &[i64]) -> i64 {
    totals(engine, t, ids).await.1
}

async fn totals(engine: &Engine, t: &prorata_store::Tenant, ids: &[i64]) -> (i64, i64) {
    let mut calls = 0;
    let mut seconds = 0;
    for id in ids {
        let s = engine
            .usage_summary(t, *id, NaiveDate::from_ymd_opt(2025, 1, 15))
            .await
            .expect("summary");
        for l in &s.lines {
            calls += l.events.unwrap_or(0);
            seconds += l.quantity;
        }
    }
    (calls, seconds)
}
