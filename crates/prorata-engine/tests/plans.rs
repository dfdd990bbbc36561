//! Every statement of the billing run plans well on PostgreSQL at scale, on tables nobody has
//! analyzed yet (what a bulk billing day right after a large import meets).
//!
//! Three times a statement of the write path planned as a walk over the tenant's every row to
//! find a chunk's 2,000, and each time only a benchmark at 100,000 showed it (the render
//! queue's `number IN (…)`, the collection's pending jobs, the payments' idempotency keys). So
//! this test bills a 100,000-subscription tenant (due on three days, each day's subscriptions
//! spread over all the ids) for two months, the second reading the first one's documents and
//! ledger, with PostgreSQL's `auto_explain` reporting the actual
//! plan of every statement to the client, and fails on any statement whose scans read more rows
//! than the statement has use for:
//!
//! - a scan node that throws away more rows (`Rows Removed by Filter`, `… by Index Recheck`,
//!   `… by Join Filter`) than it keeps, beyond a small allowance; that is the signature of a
//!   walk through the wrong index;
//! - a scan node that reads more than twice the statement's rows (the rows returned; for an
//!   `INSERT`/`UPDATE`, the rows written; for an aggregate, the rows it adds up), beyond the
//!   same allowance: a whole-table scan joined against a chunk's keys.
//!
//! A second, smaller tenant billed first makes the tenant filters discriminate. SQLite's
//! counterpart, from its `EXPLAIN QUERY PLAN`, is `plans_sqlite.rs`.

mod common;
mod plans_common;

use common::open;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;

/// The tenant under test.
const BIG: usize = 100_000;
/// The other tenant, billed first.
const SMALL: usize = 10_000;
/// Rows a node may read or discard beyond the rule (a catalog, a tenant's settings, a series).
const ALLOWANCE: f64 = 200.0;

/// Collects the messages PostgreSQL sends the client (sqlx reports them as tracing events of
/// the target `sqlx::postgres::notice`).
#[derive(Clone, Default)]
struct Notices(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Notices {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::postgres::notice" {
            return;
        }
        struct Message(Option<String>);
        impl tracing::field::Visit for Message {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "message" {
                    self.0 = Some(value.to_string());
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = Some(format!("{value:?}"));
                }
            }
        }
        let mut message = Message(None);
        event.record(&mut message);
        if let (Some(m), Ok(mut all)) = (message.0, self.0.lock()) {
            all.push(m);
        }
    }
}

fn number(node: &Value, key: &str) -> f64 {
    node.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

/// What a plan node's rows mean for the rule: the statement's rows are those of its top node,
/// or, under a node that writes or adds up (its own count says nothing), those it is fed.
fn statement_rows(top: &Value) -> f64 {
    let kind = top.get("Node Type").and_then(Value::as_str).unwrap_or("");
    let own = number(top, "Actual Rows") * number(top, "Actual Loops").max(1.0);
    if matches!(kind, "ModifyTable" | "Aggregate" | "Limit" | "LockRows") {
        let fed = top
            .get("Plans")
            .and_then(Value::as_array)
            .and_then(|p| p.first())
            .map_or(0.0, statement_rows);
        own.max(fed)
    } else {
        own
    }
}

/// The rule's breaches in `node` and below, as lines for the failure message.
fn breaches(node: &Value, rows: f64, out: &mut Vec<String>) {
    let kind = node.get("Node Type").and_then(Value::as_str).unwrap_or("");
    let loops = number(node, "Actual Loops").max(1.0);
    let kept = number(node, "Actual Rows") * loops;
    let removed = (number(node, "Rows Removed by Filter")
        + number(node, "Rows Removed by Index Recheck")
        + number(node, "Rows Removed by Join Filter"))
        * loops;
    // Scans of tables; a function scan is the list of keys itself.
    if node.get("Relation Name").is_some() {
        let what = format!(
            "{kind} on {} ({}): kept {kept}, discarded {removed}, statement rows {rows}",
            node.get("Relation Name")
                .and_then(Value::as_str)
                .unwrap_or("-"),
            node.get("Index Name")
                .and_then(Value::as_str)
                .unwrap_or("no index"),
        );
        // A probe by key reads at most one row a loop: what its filter discards was found by
        // key, not walked over (the usage fold checks each folded subscription's horizon
        // so), and the second rule still bounds how many it reads in all.
        let probe = kept + removed <= loops;
        if removed > kept + ALLOWANCE && !probe {
            out.push(format!("discards more than it keeps: {what}"));
        } else if kept + removed > 2.0 * rows + ALLOWANCE {
            out.push(format!(
                "reads more than twice what the statement needs: {what}"
            ));
        }
    }
    for child in node
        .get("Plans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        breaches(child, rows, out);
    }
}

#[tokio::test]
async fn no_billing_run_statement_scans_more_than_it_needs_at_100000() {
    let url = prorata_testkit::fresh_database().await;
    let big = {
        let engine = open(&url).await;
        let big = plans_common::tenants(&engine, SMALL, BIG).await;
        // Every later connection reports the actual plan of each statement it runs.
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("connect");
        let (database,): (String,) = sqlx::query_as("SELECT current_database()")
            .fetch_one(&mut conn)
            .await
            .expect("the database's name");
        for setting in [
            "session_preload_libraries = 'auto_explain'",
            "auto_explain.log_min_duration = 0",
            "auto_explain.log_analyze = on",
            "auto_explain.log_timing = off",
            "auto_explain.log_format = 'json'",
            "client_min_messages = 'log'",
        ] {
            sqlx::query(&format!("ALTER DATABASE \"{database}\" SET {setting}"))
                .execute(&mut conn)
                .await
                .expect("auto_explain settings");
        }
        engine.store.close().await;
        big
    };
    let notices = Notices::default();
    let subscriber = tracing_subscriber::registry().with(notices.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let engine = open(&url).await;
    plans_common::bill_two_months(&engine, &big, BIG).await;
    engine.store.close().await;

    let messages = notices.0.lock().expect("notices").clone();
    let mut explained = 0;
    let mut seen = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for message in &messages {
        let Some(json) = message.split_once("plan:").map(|(_, j)| j.trim()) else {
            continue;
        };
        let plan: Value = serde_json::from_str(json).expect("auto_explain's JSON plan");
        explained += 1;
        let query = plan
            .get("Query Text")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let top = &plan["Plan"];
        let mut found = Vec::new();
        breaches(top, statement_rows(top), &mut found);
        if !found.is_empty() {
            failures.push(format!(
                "{}\n  {}",
                query.chars().take(300).collect::<String>(),
                found.join("\n  ")
            ));
        }
        seen.insert(query.chars().take(120).collect::<String>());
    }
    // The run's writes were seen, so the test cannot pass by explaining nothing.
    for statement in [
        // The documents and their render queue, one statement.
        "WITH d AS (INSERT INTO documents",
        "INSERT INTO ledger_entries",
        // The running balances, read by key (triggers keep them).
        "SELECT t.account_id, t.balance FROM UNNEST",
        "INSERT INTO outbox",
        // Next due days and horizons, one statement.
        "UPDATE subscriptions s SET next_due",
        // Documents after each horizon, and daily totals from its day.
        "SELECT t.subscription_id, t.id, t.body FROM UNNEST",
        "SELECT t.subscription_id, t.metric, t.usage_date, t.recorded_on, t.events, t.quantity FROM UNNEST",
        // The months of daily totals held: the bounds of that read.
        "SELECT (SELECT MIN(usage_month) FROM usage_daily WHERE tenant_id = $1)",
        "SELECT id, account_id, catalog_version_id, body, next_due, revision, horizon FROM subscriptions",
    ] {
        assert!(
            seen.iter().any(|q| q.starts_with(statement)),
            "no plan of {statement} among {explained} explained: {seen:#?}"
        );
    }
    failures.dedup();
    assert!(
        failures.is_empty(),
        "{} of {explained} statements scan more than they need:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
