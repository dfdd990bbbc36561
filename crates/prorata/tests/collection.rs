//! Collection through the real binary:
//!
//! - a worker killed right after the gateway answered a charge (the `charge-after-gateway`
//!   failpoint aborts the process there) and started again charges the customer once: the
//!   restarted run asks the gateway again under the same idempotency key and the gateway
//!   answers from memory; on SQLite and on PostgreSQL;
//! - no card number reaches the database, the server's output or an API response, whatever
//!   field a caller puts it in; bad IBANs, routing numbers and card tokens get clear errors.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../prorata-engine/tests/common/mod.rs"]
mod common;

use chrono::NaiveDate;
use common::{essentials, french_account, open, sandbox, DEFAULT_CATALOG};
use prorata_engine::gateway::SandboxGateway;
use prorata_engine::{Engine, NewPaymentMethod};
use prorata_store::{LedgerKind, PaymentStatus, Tenant};
use serde_json::{json, Value};

const PAN: &str = "4242424242424242";

fn day0() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 2).expect("date")
}

/// A sandbox tenant with one account paying by a good card and a subscription whose first
/// invoice, issued on day 0, waits to be charged.
async fn setup(url: &str) -> (Engine, Tenant, i64, String) {
    let engine = open(url).await;
    let tenant = sandbox(&engine, "Vendor", day0()).await;
    let catalog = engine
        .import_catalog(&tenant, DEFAULT_CATALOG)
        .await
        .expect("catalog")
        .id;
    let account = engine
        .create_account(&tenant, &french_account("Acme"))
        .await
        .expect("account");
    let token = SandboxGateway::tokenize_card(tenant.id, PAN, 12, 2030).expect("test card");
    engine
        .add_payment_method(
            &tenant,
            account,
            &NewPaymentMethod::Card {
                token: token.clone(),
            },
        )
        .await
        .expect("card");
    engine
        .create_subscription(&tenant, account, catalog, &essentials(day0(), 3))
        .await
        .expect("subscription");
    (engine, tenant, account, token)
}

fn advance(url: &str, tenant: i64, failpoint: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prorata"));
    cmd.args(["--database-url", url, "clock", "advance"])
        .args(["--tenant", &tenant.to_string(), "--to", &day0().to_string()])
        .env_remove("PRORATA_FAILPOINT");
    if let Some(f) = failpoint {
        cmd.env("PRORATA_FAILPOINT", f);
    }
    cmd.output().expect("run prorata")
}

async fn killed_after_the_gateway_answered(url: &str) {
    let (engine, tenant, account, token) = setup(url).await;
    let charges_at_gateway = |engine: Engine, token: String| async move {
        let mut tx = engine.store.begin().await.expect("tx");
        tx.sandbox_count(&format!("t{}", tenant.id), &token, "charge")
            .await
            .expect("count")
    };

    let crashed = advance(url, tenant.id, Some("charge-after-gateway"));
    assert!(!crashed.status.success(), "the failpoint stops the process");
    assert!(String::from_utf8_lossy(&crashed.stderr).contains("failpoint charge-after-gateway"));
    // The gateway charged the card; we recorded nothing.
    assert_eq!(charges_at_gateway(engine.clone(), token.clone()).await, 1);
    assert!(engine
        .payments(&tenant, account)
        .await
        .expect("payments")
        .is_empty());
    let owed = engine.balance(&tenant, account).await.expect("balance");
    assert!(owed > 0);

    // Started again: the same key, the gateway's first answer, recorded once.
    let again = advance(url, tenant.id, None);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        charges_at_gateway(engine.clone(), token.clone()).await,
        1,
        "charged once"
    );
    let payments = engine.payments(&tenant, account).await.expect("payments");
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].status, PaymentStatus::Succeeded);
    assert_eq!(payments[0].amount.minor(), owed);
    assert_eq!(engine.balance(&tenant, account).await.expect("balance"), 0);

    // And once more: nothing left to do.
    let third = advance(url, tenant.id, None);
    assert!(third.status.success());
    assert_eq!(charges_at_gateway(engine.clone(), token).await, 1);
    let ledger = engine
        .ledger(&tenant, account, 0, 100)
        .await
        .expect("ledger");
    let paid = ledger
        .items
        .iter()
        .filter(|e| e.kind == LedgerKind::Payment)
        .count();
    assert_eq!(paid, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_after_the_gateway_answered_charges_once_sqlite() {
    let (url, _guard) = prorata_testkit::sqlite_url();
    killed_after_the_gateway_answered(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_after_the_gateway_answered_charges_once_postgres() {
    let url = prorata_testkit::fresh_database().await;
    killed_after_the_gateway_answered(&url).await;
}

/// One HTTP/1.1 request with `Connection: close`; the status and the JSON body.
fn http(port: u16, method: &str, path: &str, key: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Every spelling of the test card number a leak could take.
fn leaks(text: &[u8]) -> bool {
    let text = String::from_utf8_lossy(text);
    [PAN, "4242 4242 4242 4242", "4242-4242-4242-4242"]
        .iter()
        .any(|p| text.contains(p))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_card_number_reaches_the_database_the_logs_or_a_response() {
    let (url, guard) = prorata_testkit::sqlite_url();
    let (engine, tenant, account, _) = setup(&url).await;
    let key = engine.create_api_key(&tenant).await.expect("key").secret;
    engine.store.close().await;
    let port = free_port();
    let mail_dir = guard.path().join("mail");
    let mut server = Command::new(env!("CARGO_BIN_EXE_prorata"))
        .args([
            "--database-url",
            &url,
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args([
            "--worker-interval",
            "1",
            "--mail-dir",
            &mail_dir.to_string_lossy(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let method_path = format!("/v1/accounts/{account}/payment-method");
    let put = |body: Value| http(port, "PUT", &method_path, &key, Some(&body.to_string()));
    let mut bodies = Vec::new();
    let mut expect = |(status, body): (u16, String), want: u16, needle: &str| {
        assert_eq!(status, want, "{body}");
        assert!(body.contains(needle), "{needle:?} not in {body}");
        bodies.push(body);
    };

    // A card number where a token goes, as a string or as a number: refused, not repeated.
    expect(
        put(json!({"type": "card", "token": PAN})),
        422,
        "never the card number",
    );
    expect(
        put(json!({"type": "card", "token": "4242 4242 4242 4242"})),
        422,
        "\"field\":\"token\"",
    );
    let as_number = format!(r#"{{"type": "card", "token": {PAN}}}"#);
    expect(
        http(port, "PUT", &method_path, &key, Some(&as_number)),
        422,
        "card number removed",
    );
    // A card number under any name is refused before the body is read as a method.
    expect(
        put(json!({"type": "card", "number": PAN})),
        422,
        "\"field\":\"number\"",
    );
    // Unknown tokens, bad IBANs, routing and account numbers: the field and the reason.
    expect(
        put(json!({"type": "card", "token": "tok_nothing_here"})),
        422,
        "unknown card token",
    );
    expect(
        put(json!({"type": "sepa_debit", "iban": "DE89 3704 0044 0532 0130 01"})),
        422,
        "check digits do not match",
    );
    expect(
        put(json!({"type": "sepa_debit", "iban": "DE89"})),
        422,
        "\"field\":\"iban\"",
    );
    expect(
        put(
            json!({"type": "ach_debit", "routing_number": "021000022", "account_number": "000123456789"}),
        ),
        422,
        "\"field\":\"routing_number\"",
    );
    expect(
        put(json!({"type": "ach_debit", "routing_number": "021000021", "account_number": "12"})),
        422,
        "\"field\":\"account_number\"",
    );
    // A declined authorisation refuses the card with the gateway's reason.
    let declined =
        SandboxGateway::tokenize_card(tenant.id, "4000000000009995", 12, 2030).expect("token");
    expect(
        put(json!({"type": "card", "token": declined})),
        402,
        "insufficient funds",
    );
    let stolen =
        SandboxGateway::tokenize_card(tenant.id, "4000000000009979", 12, 2030).expect("token");
    expect(put(json!({"type": "card", "token": stolen})), 402, "stolen");
    let expired = SandboxGateway::tokenize_card(tenant.id, PAN, 1, 2026).expect("token");
    expect(
        put(json!({"type": "card", "token": expired})),
        402,
        "expired",
    );
    // A transfer reference holding a card number.
    expect(
        http(
            port,
            "POST",
            &format!("/v1/accounts/{account}/payments"),
            &key,
            Some(&json!({"amount": 100, "reference": format!("card {PAN}")}).to_string()),
        ),
        422,
        "\"field\":\"reference\"",
    );
    // The sandbox's tokenization takes the number and answers a token without it; the
    // method saved shows brand and last four digits only.
    let (status, token) = http(
        port,
        "POST",
        "/v1/sandbox/card-tokens",
        &key,
        Some(&json!({"number": PAN, "exp_month": 12, "exp_year": 2031}).to_string()),
    );
    let token: Value = serde_json::from_str(&token).expect("json");
    expect(
        (status, token.to_string()),
        201,
        &format!("tok_sandbox_t{}_visa_4242_122031", tenant.id),
    );
    expect(
        put(json!({"type": "card", "token": token["token"]})),
        200,
        "Visa •••• 4242 (12/2031)",
    );
    expect(
        put(json!({"type": "sepa_debit", "iban": "DE89 3704 0044 0532 0130 00"})),
        200,
        "DE89 •••• 3000",
    );
    expect(
        http(
            port,
            "GET",
            &format!("/v1/accounts/{account}/payments"),
            &key,
            None,
        ),
        200,
        "data",
    );
    // Let the worker charge and the mailer write.
    std::thread::sleep(Duration::from_secs(3));
    let _ = server.kill();
    let output = server.wait_with_output().expect("server output");

    for body in &bodies {
        assert!(
            !leaks(body.as_bytes()),
            "a response holds the card number: {body}"
        );
    }
    assert!(
        !leaks(&output.stdout) && !leaks(&output.stderr),
        "the server printed the card number"
    );
    let db = guard
        .path()
        .join("test.sqlite3")
        .to_string_lossy()
        .to_string();
    for file in [db.clone(), format!("{db}-wal")] {
        if let Ok(bytes) = std::fs::read(&file) {
            assert!(!leaks(&bytes), "{file} holds the card number");
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains("DE89370400440532013000"),
                "{file} holds the full IBAN"
            );
        }
    }
    for entry in std::fs::read_dir(&mail_dir).into_iter().flatten().flatten() {
        let bytes = std::fs::read(entry.path()).expect("mail");
        assert!(
            !leaks(&bytes),
            "{} holds the card number",
            entry.path().display()
        );
    }
}
