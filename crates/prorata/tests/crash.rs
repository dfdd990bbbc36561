//! The billing run is crash-safe: a run killed with SIGKILL at any point and started again
//! ends in exactly the state of an uninterrupted run — no duplicate document, no gap in
//! numbering.
//!
//! For each store (a SQLite file; a fresh PostgreSQL database) the same setup is made twice,
//! in database A and database B: one live tenant with the default catalog and [`N`] accounts,
//! each with a Professional monthly subscription (5 users, 3 numbers, Analytics+) starting and
//! due on 2025-01-06, inserted in bulk as `prorata bench billing-run` does. Then the real
//! binary runs `prorata --database-url <url> bill --as-of 2025-01-06`:
//!
//! - on A it is killed with SIGKILL ([`std::process::Child::kill`]) several times: once early
//!   (before or while the first chunk commits), then three times each after the run has
//!   committed a chunk more than before, at increasing delays after that commit, so the kills
//!   land at different points of a chunk (reading, reconciling, writing, committing). Each
//!   time the test asserts the process was still running when killed. Then it is run again
//!   to completion;
//! - on B it runs once, uninterrupted.
//!
//! Committed progress is watched through a separate connection (the count of documents).
//!
//! Afterwards A must hold exactly N invoices numbered INV-000001 … INV-N (no gap, no
//! duplicate), one per subscription, N ledger entries and N outbox rows; and A must equal B.
//!
//! What "equal" means, and why it can be exact: the run claims due subscriptions in id order,
//! a chunk at a time, and takes numbers in that order inside the chunk's transaction. A killed
//! chunk leaves nothing; the restarted run claims what is still due, again in id order, and
//! continues the series from the committed counter. With one worker the order is the same as
//! in an uninterrupted run, so each subscription must get the *same* number in A and B. The
//! test therefore compares, row for row: every document (subscription, account, kind, number,
//! issue date, total and the whole stored JSON body, which holds the lines, VAT and balances),
//! every ledger entry (account, date, kind, amount, reference), every outbox row (topic and
//! payload), every subscription's next due day and the number series' counters. (Were the
//! order allowed to differ — several workers — only the multiset of (subscription, total) and
//! the set of numbers could be compared; this test checks those too, as a first, clearer
//! failure.)

#[macro_use]
mod crash_common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use crash_common::{kill_running, log_text, Db};
use prorata_engine::Engine;
use prorata_store::Store;
use prorata_testkit::bulk::professional_tenant;

/// Subscriptions billed. The run commits chunks of 2,000 (`prorata_engine::CHUNK`); with a
/// debug build a chunk takes about a second, so the run lasts long enough to be killed
/// several times mid-run.
const N: i64 = 30_000;
const AS_OF: &str = "2025-01-06";
/// Extra delays after a new chunk is seen committed, one kill each.
const KILL_DELAYS_MS: [u64; 3] = [0, 250, 600];
/// The early kill: this long after the start, before or while the first chunk commits.
const EARLY_KILL_MS: u64 = 400;
/// How long one attempt may take to show progress before the test gives up.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(300);

on_both_stores!(
    sigterm_stops_the_billing_worker_mid_run_and_the_next_process_finishes_it,
    a_billing_run_killed_with_sigkill_four_times_and_restarted_ends_exactly_like_an_uninterrupted_run,
);

// ------------------------------------------------------------------------------ the database

/// One document as stored.
type DocRow = (i64, i64, String, String, String, i64, String);

impl Db {
    async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let (n,): (i64,) = on_db!(self, p => sqlx::query_as(&sql).fetch_one(p).await)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        n
    }

    /// Every document, in number order.
    async fn documents(&self) -> Vec<DocRow> {
        const SQL: &str = "SELECT subscription_id, account_id, kind, number, \
                           CAST(issued_on AS TEXT), total, body FROM documents ORDER BY number";
        on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL)
    }

    /// Every ledger entry, by reference.
    async fn ledger(&self) -> Vec<(i64, String, String, i64, String, String)> {
        const SQL: &str = "SELECT account_id, CAST(entry_date AS TEXT), kind, amount, currency, \
                           reference FROM ledger_entries ORDER BY reference";
        on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL)
    }

    /// Each account's running balance against the sum of its ledger entries: (tenant,
    /// account) → (kept, summed). A crash between an entry and its balance would show here.
    async fn balances(&self) -> BTreeMap<(i64, i64), (Option<i64>, Option<i64>)> {
        const KEPT: &str = "SELECT tenant_id, account_id, balance FROM ledger_balances";
        const SUMMED: &str = "SELECT tenant_id, account_id, CAST(SUM(amount) AS BIGINT) \
                              FROM ledger_entries GROUP BY tenant_id, account_id";
        let kept: Vec<(i64, i64, i64)> =
            on_db!(self, p => sqlx::query_as(KEPT).fetch_all(p).await).expect(KEPT);
        let summed: Vec<(i64, i64, i64)> =
            on_db!(self, p => sqlx::query_as(SUMMED).fetch_all(p).await).expect(SUMMED);
        let mut both = BTreeMap::new();
        for (t, a, b) in kept {
            both.entry((t, a)).or_insert((None, None)).0 = Some(b);
        }
        for (t, a, s) in summed {
            both.entry((t, a)).or_insert((None, None)).1 = Some(s);
        }
        both
    }

    /// Every outbox row (topic, payload), sorted.
    async fn outbox(&self) -> Vec<(String, String)> {
        const SQL: &str = "SELECT topic, payload FROM outbox ORDER BY payload";
        let mut rows: Vec<(String, String)> =
            on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL);
        rows.sort();
        rows
    }

    /// Every subscription's id and next due day.
    async fn next_due(&self) -> Vec<(i64, Option<String>)> {
        const SQL: &str = "SELECT id, CAST(next_due AS TEXT) FROM subscriptions ORDER BY id";
        on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL)
    }

    async fn number_series(&self) -> Vec<(String, i64)> {
        const SQL: &str = "SELECT series, next FROM number_series ORDER BY series";
        on_db!(self, p => sqlx::query_as(SQL).fetch_all(p).await).expect(SQL)
    }
}

// ------------------------------------------------------------------------------ setup

fn as_of() -> NaiveDate {
    NaiveDate::from_str(AS_OF).expect("a date")
}

/// One live tenant, the default catalog, and `n` accounts with one subscription each, all
/// starting and due on `start`, inserted in bulk (as `prorata bench billing-run` does).
async fn set_up(store_name: &str, url: &str, n: i64, start: NaiveDate) {
    let started = Instant::now();
    let store = Store::connect(url).await.expect("the store opens");
    store.migrate().await.expect("migrations apply");
    let engine = Engine::new(store);
    let count = usize::try_from(n).expect("a count");
    professional_tenant(&engine, "crash", count, &|_| start)
        .await
        .expect("the tenant and its customers");
    engine.store.close().await;
    eprintln!(
        "{store_name}: setup of {n} subscriptions in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

// ------------------------------------------------------------------------------ the binary

/// Starts `prorata --database-url <url> bill --as-of 2025-01-06`, its output in `log`.
fn start_bill(url: &str, log: &Path) -> Child {
    let out = File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    Command::new(env!("CARGO_BIN_EXE_prorata"))
        .args(["--database-url", url, "bill", "--as-of", AS_OF])
        .env_remove("PRORATA_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("the prorata binary starts")
}

/// Waits until more than `above` documents are committed, while `child` runs.
async fn wait_for_documents_above(db: &Db, child: &mut Child, log: &Path, above: i64) -> i64 {
    let deadline = Instant::now() + PROGRESS_TIMEOUT;
    loop {
        let n = db.count("documents").await;
        if n > above {
            return n;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "the run ended ({status:?}) before committing past {above} documents\n{}",
                log_text(log)
            );
        }
        assert!(
            Instant::now() < deadline,
            "no progress past {above} documents"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs the binary to completion and returns its output.
fn bill_to_completion(url: &str, log: &Path) -> String {
    let mut child = start_bill(url, log);
    let status = child.wait().expect("wait");
    let text = log_text(log);
    assert!(status.success(), "prorata bill failed: {status:?}\n{text}");
    text
}

// ------------------------------------------------------------------------------ the test

async fn a_billing_run_killed_with_sigkill_four_times_and_restarted_ends_exactly_like_an_uninterrupted_run(
    url_a: &str,
    url_b: &str,
) {
    let store = if url_a.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let logs = prorata_testkit::TempDirGuard::new("prorata-crash-logs");
    let log = logs.path().join("bill.log");
    set_up(store, url_a, N, as_of()).await;
    set_up(store, url_b, N, as_of()).await;
    let a = Db::connect(url_a).await;
    let b = Db::connect(url_b).await;
    assert_eq!(a.count("subscriptions").await, N);
    assert_eq!(a.count("documents").await, 0);

    // The early kill: EARLY_KILL_MS after the start, whatever the run is doing.
    let started = Instant::now();
    let mut child = start_bill(url_a, &log);
    tokio::time::sleep(Duration::from_millis(EARLY_KILL_MS)).await;
    kill_running(&mut child, &log, "early kill");
    let mut committed = a.count("documents").await;
    eprintln!(
        "{store}: kill 1 at {:.2} s after the start: {committed} documents committed",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(committed % 2000, 0, "only whole chunks are committed");

    // Three kills, each once the run has committed past what was there before, plus a delay.
    for (i, delay) in KILL_DELAYS_MS.into_iter().enumerate() {
        let started = Instant::now();
        let mut child = start_bill(url_a, &log);
        let seen = wait_for_documents_above(&a, &mut child, &log, committed).await;
        let seen_after = started.elapsed();
        tokio::time::sleep(Duration::from_millis(delay)).await;
        kill_running(&mut child, &log, &format!("kill {}", i + 2));
        let at_kill = started.elapsed();
        committed = a.count("documents").await;
        eprintln!(
            "{store}: kill {} at {:.2} s after the restart ({seen} documents seen at {:.2} s, then \
             {delay} ms): {committed} documents committed",
            i + 2,
            at_kill.as_secs_f64(),
            seen_after.as_secs_f64()
        );
        assert!(committed < N, "the run had finished before kill {}", i + 2);
        assert_eq!(committed % 2000, 0, "only whole chunks are committed");
        // No partial chunk: every committed document has its ledger entry and outbox row,
        // and every entry is in its account's balance.
        assert_eq!(a.count("ledger_entries").await, committed);
        assert_eq!(a.count("outbox").await, committed);
        let balances = a.balances().await;
        assert_eq!(
            balances.len() as i64,
            committed,
            "one balance per billed account"
        );
        assert!(
            balances.values().all(|(kept, summed)| kept == summed),
            "balances that are not the sum of their entries"
        );
    }

    // Started again, to the end.
    let started = Instant::now();
    let text = bill_to_completion(url_a, &log);
    eprintln!(
        "{store}: restarted run to completion in {:.2} s: {}",
        started.elapsed().as_secs_f64(),
        text.lines().last().unwrap_or_default()
    );
    let remaining = N - committed;
    assert!(
        text.contains(&format!(
            ": {remaining} due, {remaining} invoices, 0 credit notes"
        )),
        "the last run billed the {remaining} subscriptions left\n{text}"
    );

    // The uninterrupted reference.
    let started = Instant::now();
    let text = bill_to_completion(url_b, &log);
    eprintln!(
        "{store}: uninterrupted run in {:.2} s: {}",
        started.elapsed().as_secs_f64(),
        text.lines().last().unwrap_or_default()
    );
    assert!(
        text.contains(&format!(": {N} due, {N} invoices, 0 credit notes")),
        "{text}"
    );

    // A holds N invoices, INV-000001 … INV-N, one per subscription.
    let docs_a = a.documents().await;
    let docs_b = b.documents().await;
    assert_eq!(docs_a.len() as i64, N, "invoices in A");
    assert!(docs_a.iter().all(|d| d.2 == "invoice"));
    let numbers: Vec<&str> = docs_a.iter().map(|d| d.3.as_str()).collect();
    let expected: Vec<String> = (1..=N).map(|i| format!("INV-{i:06}")).collect();
    assert!(
        numbers == expected,
        "numbers are not exactly INV-000001 … INV-{N:06}: first difference at {:?}",
        numbers
            .iter()
            .zip(&expected)
            .find(|(got, want)| **got != want.as_str())
    );
    let per_sub: BTreeMap<i64, usize> = docs_a.iter().fold(BTreeMap::new(), |mut m, d| {
        *m.entry(d.0).or_default() += 1;
        m
    });
    let subs: BTreeSet<i64> = a.next_due().await.into_iter().map(|s| s.0).collect();
    assert_eq!(per_sub.len() as i64, N, "every subscription was invoiced");
    assert!(
        per_sub.values().all(|n| *n == 1),
        "no subscription invoiced twice"
    );
    assert_eq!(per_sub.keys().copied().collect::<BTreeSet<_>>(), subs);
    // 5 × 50.00 + 1 extra number × 6.00 + Analytics+ 150.00 = 406.00; × 1.2 = 487.20.
    assert!(docs_a.iter().all(|d| d.5 == 48720));
    assert_eq!(a.count("ledger_entries").await, N);
    assert_eq!(a.count("outbox").await, N);

    // A equals B. First the order-free view: the multiset of (subscription, total) and the
    // set of numbers.
    let multiset = |docs: &[DocRow]| {
        let mut v: Vec<(i64, i64)> = docs.iter().map(|d| (d.0, d.5)).collect();
        v.sort_unstable();
        v
    };
    assert_eq!(multiset(&docs_a), multiset(&docs_b));
    let number_set = |docs: &[DocRow]| docs.iter().map(|d| d.3.clone()).collect::<BTreeSet<_>>();
    assert_eq!(number_set(&docs_a), number_set(&docs_b));
    // Then row for row (see the module comment for why the numbers must match too).
    for (da, db) in docs_a.iter().zip(&docs_b) {
        assert_eq!(da, db, "document {} differs between A and B", da.3);
    }
    assert_eq!(a.ledger().await, b.ledger().await, "ledger entries");
    assert_eq!(a.outbox().await, b.outbox().await, "outbox rows");
    let due = a.next_due().await;
    assert_eq!(due, b.next_due().await, "next due days");
    // Every subscription moved on to its next invoice day, 2025-01-06 + 1 month.
    assert!(due.iter().all(|(_, d)| d.as_deref() == Some("2025-02-06")));
    let series = a.number_series().await;
    assert_eq!(series, b.number_series().await);
    assert_eq!(series, [("INV".to_string(), N + 1)]);

    a.close().await;
    b.close().await;
}

// ------------------------------------------------------------------------------ SIGTERM

/// Subscriptions of the SIGTERM test: a few chunks, so the signal lands mid-run.
const N_STOP: i64 = 10_000;

/// Starts `prorata serve` with only the billing worker (its pass at once, then hourly).
fn start_serve(url: &str, log: &Path) -> Child {
    let out = File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    Command::new(env!("CARGO_BIN_EXE_prorata"))
        .args(["--database-url", url, "--log-format", "json", "serve"])
        .args(["--listen", "127.0.0.1:0", "--workers", "billing"])
        .args(["--worker-interval", "3600"])
        .env_remove("PRORATA_DATABASE_URL")
        .env("PRORATA_SECRET_KEY", "00".repeat(32))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("the prorata binary starts")
}

/// SIGTERM, then the exit it brings within `within`: its status.
fn terminate(child: &mut Child, log: &Path, within: Duration) -> std::process::ExitStatus {
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running {within:?} after SIGTERM\n{}", log_text(log));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn sigterm_stops_the_billing_worker_mid_run_and_the_next_process_finishes_it(
    url: &str,
    _unused: &str,
) {
    let store = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let today = chrono::Utc::now().date_naive();
    set_up(store, url, N_STOP, today).await;
    let db = Db::connect(url).await;
    let logs = prorata_testkit::TempDirGuard::new("prorata-stop-logs");
    let first_log = logs.path().join("first.log");

    // The first process is stopped once its run has committed a chunk.
    let mut first = start_serve(url, &first_log);
    wait_for_documents_above(&db, &mut first, &first_log, 0).await;
    let status = terminate(&mut first, &first_log, Duration::from_secs(20));
    let text = log_text(&first_log);
    assert!(status.success(), "exit after SIGTERM: {status:?}\n{text}");
    assert!(text.contains("billing run stopped"), "{text}");
    assert!(text.contains("\"stopped\""), "{text}");
    let after_first = db.count("documents").await;
    assert!(
        after_first > 0 && after_first < N_STOP,
        "the run was stopped mid-way: {after_first} of {N_STOP}"
    );
    assert_eq!(after_first % 2000, 0, "only whole chunks are committed");

    // The next process bills the rest, and nothing twice. Its run is over when it says so:
    // the last chunk's commit comes a moment before the run returns, and a SIGTERM in that
    // moment would stop a run with nothing left to do (it did in CI).
    let second_log = logs.path().join("second.log");
    let mut second = start_serve(url, &second_log);
    let deadline = Instant::now() + PROGRESS_TIMEOUT;
    while !log_text(&second_log).contains("billing run done") {
        assert!(Instant::now() < deadline, "{}", log_text(&second_log));
        assert!(
            second.try_wait().expect("try_wait").is_none(),
            "{}",
            log_text(&second_log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = terminate(&mut second, &second_log, Duration::from_secs(20));
    assert!(status.success(), "{}", log_text(&second_log));
    let text = log_text(&second_log);
    let remaining = N_STOP - after_first;
    assert!(
        text.contains(&format!("\"invoices\":{remaining}")),
        "the second process billed the {remaining} left\n{text}"
    );
    assert_eq!(db.count("documents").await, N_STOP);
    let docs = db.documents().await;
    let billed: BTreeSet<i64> = docs.iter().map(|d| d.0).collect();
    assert_eq!(billed.len() as i64, N_STOP, "every subscription billed");
    let numbers: BTreeSet<String> = docs.iter().map(|d| d.3.clone()).collect();
    let expected: BTreeSet<String> = (1..=N_STOP).map(|i| format!("INV-{i:06}")).collect();
    assert_eq!(
        numbers, expected,
        "one invoice each, numbered without a gap"
    );
    db.close().await;
}
