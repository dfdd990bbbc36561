//! Every statement of the billing run plans well on SQLite: the counterpart of `plans.rs`.
//!
//! SQLite had the same class of bug as PostgreSQL (issue #18): the writer's re-read of a
//! chunk's revisions, `… WHERE tenant_id = ? AND next_due <= ? AND id IN (…)`, took the due
//! index for the range `next_due <= ?` instead of the ids it was given, and so read every
//! row still due for each chunk (6 → 17 → 34 ms a chunk from 10,000 to 300,000
//! subscriptions) until `+next_due` kept that term off the index.
//!
//! SQLite tells a client nothing of the rows a statement read, but its plans do not depend on
//! the data here: the store never runs `ANALYZE`, so without `sqlite_stat1` the planner
//! chooses by the schema and the statement's text alone. So this test records the text of
//! every statement a billing run sends (sqlx's per-statement events, target `sqlx::query`,
//! emitted on the connection's worker thread, hence a global subscriber), asks
//! `EXPLAIN QUERY PLAN` for each (unbound parameters are NULL, which changes no plan), and
//! fails on:
//!
//! - a `SCAN` of a big table (one holding more rows than a chunk once the run is done): a
//!   walk over the whole table, with or without a covering index;
//! - in a statement that lists its keys (`IN (?, …)`), a `SEARCH` of a big table by a range
//!   (`<`, `>`) or by the tenant alone: the walk the ids were given to avoid.
//!
//! A tenant of 12,000 subscriptions due on three days (each day's spread over all the ids) is
//! billed for two months after a smaller tenant's first month, as in `plans.rs`; the sizes
//! only make the big tables big, since the plans do not change with them.

mod common;
mod plans_common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use common::open;
use sqlx::{Connection, Row, SqliteConnection};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// The tenant under test.
const BIG: usize = 12_000;
/// The other tenant, billed first.
const SMALL: usize = 2_000;

/// The statements sqlx reports while switched on, one text per shape (see [`shape`]).
#[derive(Clone, Default)]
struct Statements {
    on: Arc<std::sync::atomic::AtomicBool>,
    seen: Arc<Mutex<BTreeMap<String, String>>>,
}

impl<S: tracing::Subscriber> Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if !self.on.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        // sqlx puts a short statement whole in `summary` and leaves `db.statement` empty.
        #[derive(Default)]
        struct Text {
            summary: String,
            statement: String,
        }
        impl tracing::field::Visit for Text {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                match field.name() {
                    "summary" => self.summary = value.to_string(),
                    "db.statement" => self.statement = value.to_string(),
                    _ => {}
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.record_str(field, &format!("{value:?}"));
            }
        }
        let mut text = Text::default();
        event.record(&mut text);
        let sql = if text.statement.trim().is_empty() {
            text.summary
        } else {
            text.statement.trim().to_string()
        };
        if let Ok(mut seen) = self.seen.lock() {
            seen.entry(shape(&sql)).or_insert(sql);
        }
    }
}

/// A statement's text without its binds, so that lists and `VALUES` rows of any length are
/// one statement: parameters, commas, parentheses and spaces dropped.
fn shape(sql: &str) -> String {
    sql.chars()
        .filter(|c| !matches!(c, '?' | '$' | ',' | '(' | ')') && !c.is_ascii_digit())
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Which table each name a plan may print stands for: the tables themselves, and the aliases
/// the statement gives them (`FROM documents d`, `JOIN accounts AS a`). Our SQL writes its
/// keywords in capitals, so a lower-case word after a table is an alias.
///
/// An `INSERT` names only the tables it reads or writes: the others its plan shows are the
/// child tables of a foreign key to the new rows, which SQLite scans only while deferred
/// violations are pending (`OP_FkIfZero`), never with our immediate constraints. An
/// `UPDATE` or `DELETE` keeps them all: there such a scan runs.
fn names(sql: &str, tables: &BTreeMap<String, i64>) -> BTreeMap<String, String> {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | ';'))
        .filter(|w| !w.is_empty())
        .collect();
    let insert = words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("INSERT"));
    let mut out: BTreeMap<String, String> = tables
        .keys()
        .filter(|t| !insert || words.contains(&t.as_str()))
        .map(|t| (t.clone(), t.clone()))
        .collect();
    for (i, word) in words.iter().enumerate() {
        if !tables.contains_key(*word) {
            continue;
        }
        let alias = match words.get(i + 1) {
            Some(&"AS") => words.get(i + 2),
            other => other,
        };
        if let Some(alias) = alias.filter(|a| {
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        }) {
            out.entry((*alias).to_string())
                .or_insert_with(|| (*word).to_string());
        }
    }
    out
}

/// The breaches of the rules in one statement's plan lines.
fn breaches(sql: &str, plan: &[String], tables: &BTreeMap<String, i64>, big: i64) -> Vec<String> {
    let names = names(sql, tables);
    let compact: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let lists_keys = compact.contains("IN (?") || compact.contains("IN ($");
    let mut out = Vec::new();
    for line in plan {
        let (verb, rest) = match line.split_once(' ') {
            Some((v @ ("SCAN" | "SEARCH"), rest)) => (v, rest),
            _ => continue,
        };
        let name = rest.split_whitespace().next().unwrap_or("");
        let Some(table) = names.get(name) else {
            continue;
        };
        let rows = tables.get(table).copied().unwrap_or(0);
        if rows <= big {
            continue;
        }
        let constraint = rest
            .split_once('(')
            .map_or("", |(_, c)| c.trim_end_matches(')'));
        let by_range = constraint.contains('<') || constraint.contains('>');
        let by_tenant_alone = constraint == "tenant_id=?";
        if verb == "SCAN" {
            out.push(format!("walks {table} ({rows} rows): {line}"));
        } else if lists_keys && (by_range || by_tenant_alone) {
            out.push(format!(
                "given keys, searches {table} ({rows} rows) by {}: {line}",
                if by_range {
                    "a range"
                } else {
                    "the tenant alone"
                }
            ));
        }
    }
    out
}

#[tokio::test]
async fn no_billing_run_statement_walks_a_big_table_on_sqlite() {
    let statements = Statements::default();
    let filtered = statements
        .clone()
        .with_filter(tracing_subscriber::filter::filter_fn(|m| {
            m.target() == "sqlx::query"
        }));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(filtered))
        .expect("the test's subscriber");

    let (url, _dir) = prorata_testkit::sqlite_url();
    let engine = open(&url).await;
    let big = plans_common::tenants(&engine, SMALL, BIG).await;

    statements
        .on
        .store(true, std::sync::atomic::Ordering::Relaxed);
    plans_common::bill_two_months(&engine, &big, BIG).await;
    statements
        .on
        .store(false, std::sync::atomic::Ordering::Relaxed);
    engine.store.close().await;

    let mut conn = SqliteConnection::connect(&url).await.expect("connect");
    let mut tables = BTreeMap::new();
    let names: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name NOT LIKE '_sqlx_%'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("the tables");
    for (name,) in names {
        let (rows,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM \"{name}\""))
            .fetch_one(&mut conn)
            .await
            .expect("a table's rows");
        tables.insert(name, rows);
    }

    let seen = statements.seen.lock().expect("statements").clone();
    let mut explained = BTreeSet::new();
    let mut failures = Vec::new();
    for (shape, sql) in &seen {
        let first = sql.split_whitespace().next().unwrap_or("").to_uppercase();
        if !matches!(
            first.as_str(),
            "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "WITH"
        ) {
            continue;
        }
        // The usage fold's staging tables are its connection's own (`temp.`), gone with it:
        // they hold the very rows being folded, read whole by design.
        if sql.contains("temp.") {
            continue;
        }
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("EXPLAIN QUERY PLAN {shape}: {e}"))
            .iter()
            .map(|r| r.try_get::<String, _>("detail").expect("a plan line"))
            .collect();
        let found = breaches(sql, &plan, &tables, prorata_engine::CHUNK);
        if !found.is_empty() {
            failures.push(format!(
                "{}\n  {}",
                shape.chars().take(300).collect::<String>(),
                found.join("\n  ")
            ));
        }
        explained.insert(shape.chars().take(120).collect::<String>());
    }

    // The run's reads and writes were seen, so the test cannot pass by explaining nothing.
    for statement in [
        "INSERT INTO documents",
        "INSERT INTO ledger_entries",
        // The running balances, read by key (triggers keep them).
        "SELECT t.account_id t.balance FROM ledger_balances",
        "INSERT INTO outbox",
        // Next due days and horizons, then the reads from each horizon.
        "UPDATE subscriptions SET next_due",
        "SELECT t.subscription_id t.id t.body FROM VALUES AS k CROSS JOIN documents",
        "SELECT t.subscription_id json_group_arrayjson_arrayt.metric",
        "SELECT id revision FROM subscriptions",
        "SELECT id account_id catalog_version_id body next_due revision horizon FROM subscriptions",
    ] {
        assert!(
            explained.iter().any(|q| q.starts_with(statement)),
            "no plan of {statement} among {} explained: {explained:#?}",
            explained.len()
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} statements walk more than they need ({tables:?}):\n{}",
        failures.len(),
        explained.len(),
        failures.join("\n")
    );
}
