//! `prorata demo` on both stores: the same companies and changes give the same documents and
//! totals, payments and dunning outcomes on SQLite and on PostgreSQL (the demo works on
//! either store).

use std::process::Command;

fn demo(url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_prorata"))
        .args([
            "--database-url",
            url,
            "demo",
            "--companies",
            "12",
            "--no-serve",
        ])
        .output()
        .expect("run prorata demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "demo failed on {url}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Everything but the lines that name the store or carry the random API key.
    stdout
        .lines()
        .filter(|l| !l.starts_with("store:") && !l.starts_with("API key"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_demo_bills_the_same_documents_on_sqlite_and_postgres() {
    let (sqlite, _guard) = prorata_testkit::sqlite_url();
    let postgres = prorata_testkit::fresh_database().await;
    let a = demo(&sqlite);
    let b = demo(&postgres);
    assert!(a.contains("invoice in EUR:"), "{a}");
    assert!(a.contains("changes refused:"), "{a}");
    // Cards, SEPA and ACH are collected; the two declining cards go through dunning.
    assert!(a.contains("payments in EUR:"), "{a}");
    assert!(a.contains("failed charges: 7;"), "{a}");
    assert_eq!(a, b);
}
