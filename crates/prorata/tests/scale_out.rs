//! Three `prorata serve` processes on one PostgreSQL database bill, charge and e-mail 20,000
//! subscriptions (six live tenants) while the first is SIGKILLed a third of the way through
//! the billing and started again (`prorata bench scale-out --kill-one`, on a throwaway
//! cluster). Then, from the database and the SMTP server that received the mail: every
//! subscription billed once, every invoice charged once, every invoice with a billing contact
//! (one customer in ten) e-mailed once, numbers
//! without a gap, and each process did part of the work.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;
use sqlx::Connection as _;

const ACCOUNTS: i64 = 20_000;
/// One customer in this many has a billing contact: 2,000 e-mails, each with its PDF, keep
/// the test's debug build within a couple of minutes.
const MAIL_EVERY: i64 = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_bill_charge_and_mail_once_with_one_killed_and_restarted() {
    let base = tokio::task::spawn_blocking(prorata_testkit::throwaway_postgres_url)
        .await
        .unwrap();
    let smtp = prorata_testkit::smtp::SmtpServer::start().await;
    let smtp_url = smtp.url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_prorata"))
            .args(["--database-url", &base, "bench", "scale-out"])
            .args(["--accounts", &ACCOUNTS.to_string()])
            .args(["--processes", "3", "--tenants", "6", "--kill-one"])
            .args(["--mail-every", &MAIL_EVERY.to_string()])
            .args(["--smtp-url", &smtp_url, "--keep", "--json"])
            .output()
            .expect("prorata runs")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scale-out failed: {stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    let url = report["database_url"].as_str().unwrap().to_string();
    let mut db = sqlx::PgConnection::connect(&url).await.unwrap();

    // Every subscription billed once.
    let (invoices, subscriptions): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT subscription_id) FROM documents WHERE kind = 'invoice'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!((invoices, subscriptions), (ACCOUNTS, ACCOUNTS));

    // Every invoice charged once: one payment per account, for its invoice's total, and the
    // gateway's own record of one charge each.
    let charged: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT p.account_id, COUNT(*), MAX(p.amount) - MAX(d.total) FROM payments p \
         JOIN documents d ON d.account_id = p.account_id AND d.kind = 'invoice' \
         WHERE p.status = 'succeeded' GROUP BY p.account_id",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(charged.len() as i64, ACCOUNTS, "every account charged");
    assert!(
        charged.iter().all(|(_, n, diff)| *n == 1 && *diff == 0),
        "an account charged twice or for another amount: {:?}",
        charged.iter().find(|(_, n, d)| *n != 1 || *d != 0)
    );
    let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE done_at IS NULL")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(open, 0, "no job left undone");

    // Numbers without a gap: per tenant and series, 1..=n.
    let numbers: Vec<(i64, String)> =
        sqlx::query_as("SELECT tenant_id, number FROM documents ORDER BY tenant_id, id")
            .fetch_all(&mut db)
            .await
            .unwrap();
    let mut series: BTreeMap<(i64, String), BTreeSet<u64>> = BTreeMap::new();
    for (tenant, number) in &numbers {
        let digits = number.len()
            - number
                .chars()
                .rev()
                .take_while(char::is_ascii_digit)
                .count();
        let (prefix, n) = number.split_at(digits);
        series
            .entry((*tenant, prefix.to_string()))
            .or_default()
            .insert(n.parse().unwrap());
    }
    assert_eq!(
        series.len(),
        6,
        "one invoice series per tenant: {:?}",
        series.keys()
    );
    for ((tenant, prefix), taken) in &series {
        let expected: BTreeSet<u64> = (1..=taken.len() as u64).collect();
        assert_eq!(
            taken, &expected,
            "tenant {tenant}'s series {prefix} has a gap"
        );
    }

    // Every invoice e-mailed: one message per e-mail job (its Message-ID), to its contact. A
    // message the killed process had handed to the SMTP server but not yet marked sent is
    // sent again after its lease (delivery is at least once; receivers deduplicate on the
    // Message-ID): at most the one in flight at the kill.
    // The customers with a contact: every tenth of each tenant's, from its first.
    let per_tenant = |t: i64| ACCOUNTS / 6 + i64::from(t < ACCOUNTS % 6);
    let mails: i64 = (0..6)
        .map(|t| (per_tenant(t) + MAIL_EVERY - 1) / MAIL_EVERY)
        .sum();
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'email'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(jobs, mails, "one e-mail job per invoice with a contact");
    let messages = smtp.messages();
    let ids: BTreeSet<String> = messages
        .iter()
        .map(|m| m.header("Message-ID").expect("a Message-ID"))
        .collect();
    assert_eq!(
        ids.len() as i64,
        mails,
        "one e-mail per invoice with a contact"
    );
    assert!(
        messages.len() as i64 <= mails + 1,
        "{} messages for {mails} e-mails",
        messages.len()
    );
    let recipients: BTreeSet<&str> = messages
        .iter()
        .flat_map(|m| m.to.iter().map(String::as_str))
        .collect();
    assert_eq!(recipients.len() as i64, mails, "each contact mailed");

    // Each process did part of the work, as its log says. (A run or pass is logged when it
    // ends, so what the killed process did before the kill is in the database, not its log.)
    let per_process = report["per_process"].as_array().unwrap();
    assert_eq!(per_process.len(), 3);
    let sum = |field: &str| {
        per_process
            .iter()
            .map(|p| p[field].as_u64().unwrap())
            .sum::<u64>()
    };
    assert!(sum("invoices") <= ACCOUNTS as u64, "{per_process:?}");
    assert!(sum("emails") >= mails as u64 / 2, "{per_process:?}");
    for p in per_process {
        let did = p["invoices"].as_u64().unwrap()
            + p["charges"].as_u64().unwrap()
            + p["emails"].as_u64().unwrap();
        assert!(
            did > 0,
            "process {} did nothing: {per_process:?}",
            p["process"]
        );
    }
    assert_eq!(
        per_process[0]["lives"], 2,
        "the first process was restarted"
    );
    let billers = per_process
        .iter()
        .filter(|p| p["invoices"].as_u64().unwrap() > 0)
        .count();
    assert!(billers >= 2, "the billing was spread: {per_process:?}");

    db.close().await.unwrap();
    let mut admin = sqlx::PgConnection::connect(&prorata_testkit::throwaway_postgres_url())
        .await
        .unwrap();
    let path = url.split('?').next().unwrap();
    let name = path.rsplit('/').next().unwrap().to_string();
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
}
