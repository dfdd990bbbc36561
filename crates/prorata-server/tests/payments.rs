//! Payments beyond the dunning timeline: transfers (partial and over), a credit applied to
//! the next invoice, refunds, transient card failures, and the retries of e-mail and webhook
//! deliveries; each on SQLite and on PostgreSQL.

#[path = "../../prorata-engine/tests/common/mod.rs"]
#[macro_use]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{Days, NaiveDate};
use common::*;
use prorata_core::dunning::Status;
use prorata_engine::gateway::SandboxGateway;
use prorata_engine::{Engine, EngineError, NewPaymentMethod};
use prorata_server::mail::Mailer;
use prorata_server::{webhooks, worker};
use prorata_store::{JobKind, LedgerKind, PaymentStatus, Tenant};
use prorata_testkit::smtp::SmtpServer;

const DAY0: NaiveDate = match NaiveDate::from_ymd_opt(2026, 1, 5) {
    Some(d) => d,
    None => panic!("a valid date"),
};

/// The card `number` as a token of `tenant`'s merchant account.
fn card(tenant: &Tenant, number: &str) -> NewPaymentMethod {
    NewPaymentMethod::Card {
        token: SandboxGateway::tokenize_card(tenant.id, number, 12, 2030).unwrap(),
    }
}

/// A sandbox tenant, one French account paying by `method`, subscribed on day 0.
async fn customer(
    url: &str,
    method: impl FnOnce(&Tenant) -> NewPaymentMethod,
) -> (Engine, Tenant, i64) {
    let engine = open(url).await;
    let tenant = sandbox(&engine, "Vendor", DAY0).await;
    let catalog = engine
        .import_catalog(&tenant, DEFAULT_CATALOG)
        .await
        .unwrap()
        .id;
    let account = engine
        .create_account(&tenant, &french_account("Acme"))
        .await
        .unwrap();
    engine
        .add_payment_method(&tenant, account, &method(&tenant))
        .await
        .unwrap();
    engine
        .create_subscription(&tenant, account, catalog, &essentials(DAY0, 3))
        .await
        .unwrap();
    (engine, tenant, account)
}

async fn last_invoice(engine: &Engine, tenant: &Tenant, account: i64) -> prorata_core::Document {
    let mut tx = engine.store.begin().await.unwrap();
    tx.list_documents(
        tenant.id,
        Some(prorata_core::DocumentKind::Invoice),
        Some(account),
        0,
        100,
    )
    .await
    .unwrap()
    .items
    .pop()
    .unwrap()
    .document
}

async fn advance(engine: &Engine, tenant: &Tenant, to: NaiveDate) -> Tenant {
    engine
        .advance_clock(tenant, to, &mut |_, _| {})
        .await
        .unwrap()
        .0
}

async fn transfers_and_refunds(url: &str) {
    let (engine, tenant, account) = customer(url, |_| NewPaymentMethod::BankTransfer).await;
    let tenant = advance(&engine, &tenant, DAY0).await;
    let first = engine.balance(&tenant, account).await.unwrap();
    assert!(first > 0);
    // Nothing is charged for a transfer account, and no dunning starts.
    assert!(engine.payments(&tenant, account).await.unwrap().is_empty());
    assert!(engine
        .jobs(&tenant, JobKind::Charge)
        .await
        .unwrap()
        .is_empty());

    // Half now, then the rest and 10.00 more: the balance says what is left, then a credit.
    let half = first / 2;
    engine
        .record_transfer(&tenant, account, half, "INV-000001")
        .await
        .unwrap();
    assert_eq!(
        engine.balance(&tenant, account).await.unwrap(),
        first - half
    );
    // The rest comes without an account: matched by the invoice number it quotes.
    let unmatched = engine.match_transfer(&tenant, 1, "ACME januari").await;
    assert!(
        matches!(unmatched, Err(EngineError::Invalid { .. })),
        "{unmatched:?}"
    );
    let over = engine
        .match_transfer(
            &tenant,
            first - half + 1000,
            "Virement ACME, INV-000001 (solde)",
        )
        .await
        .unwrap();
    assert_eq!(over.account_id, account);
    assert_eq!(engine.balance(&tenant, account).await.unwrap(), -1000);
    assert_eq!(
        engine
            .standing(&tenant, account)
            .await
            .unwrap()
            .standing
            .status,
        Status::Active
    );

    // The next invoice reads the credit from the ledger as its previous balance.
    let tenant = advance(&engine, &tenant, DAY0 + Days::new(31)).await;
    let second = &last_invoice(&engine, &tenant, account).await;
    assert_eq!(second.previous_balance.map(|m| m.minor()), Some(-1000));
    // It says how it is paid (seed 002): by transfer, quoting its number.
    assert_eq!(
        second.payment,
        Some(prorata_core::payment::PaymentDetails::BankTransfer { bank: None })
    );
    let text = prorata_docs::text::document(second, prorata_core::Lang::Fr, "Acme");
    assert!(
        text.contains(&format!(
            "Détails du paiement : virement bancaire, en indiquant {}",
            second.number
        )),
        "{text}"
    );
    assert_eq!(second.balance_after.minor(), second.total.minor() - 1000);

    // Refunds: part of a payment, never more than is left, never a failed one.
    let refunded = engine
        .refund_payment(&tenant, over.id, Some(400))
        .await
        .unwrap();
    assert_eq!(refunded.refunded.minor(), 400);
    let too_much = engine
        .refund_payment(&tenant, over.id, Some(over.amount.minor()))
        .await;
    assert!(
        matches!(too_much, Err(EngineError::Invalid { .. })),
        "{too_much:?}"
    );
    let ledger = engine.ledger(&tenant, account, 0, 100).await.unwrap().items;
    let kinds: Vec<LedgerKind> = ledger.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            LedgerKind::Invoice,
            LedgerKind::Payment,
            LedgerKind::Payment,
            LedgerKind::Invoice,
            LedgerKind::Refund
        ]
    );
    assert_eq!(ledger[4].amount.minor(), 400);
    assert_eq!(
        engine.balance(&tenant, account).await.unwrap(),
        second.total.minor() - 1000 + 400
    );
}

/// A card's charge is the balance: a credit left by an overpayment lowers the next charge.
async fn a_credit_lowers_the_next_charge(url: &str) {
    let (engine, tenant, account) = customer(url, |t| card(t, "4242424242424242")).await;
    let tenant = advance(&engine, &tenant, DAY0).await;
    let paid = engine.payments(&tenant, account).await.unwrap();
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0].status, PaymentStatus::Succeeded);
    engine
        .record_transfer(&tenant, account, 2500, "goodwill")
        .await
        .unwrap();
    let tenant = advance(&engine, &tenant, DAY0 + Days::new(31)).await;
    let paid = engine.payments(&tenant, account).await.unwrap();
    let invoice = last_invoice(&engine, &tenant, account).await;
    assert_eq!(
        invoice.payment,
        Some(prorata_core::payment::PaymentDetails::Card {
            card: "Visa •••• 4242 (12/2030)".into()
        })
    );
    assert_eq!(paid.len(), 3);
    assert_eq!(paid[2].amount.minor(), invoice.total.minor() - 2500);
    assert_eq!(engine.balance(&tenant, account).await.unwrap(), 0);
}

/// A processing error charges nothing: the next pass tries again under a new key, and no
/// dunning starts.
async fn a_processing_error_is_retried(url: &str) {
    let (engine, tenant, account) = customer(url, |t| card(t, "4000000000000119")).await;
    let tenant = advance(&engine, &tenant, DAY0).await;
    assert!(engine.payments(&tenant, account).await.unwrap().is_empty());
    let jobs = engine.jobs(&tenant, JobKind::Charge).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].0.payload["last_error"]
        .as_str()
        .unwrap()
        .contains("processing_error"));
    worker::run_once(&engine).await.unwrap();
    let paid = engine.payments(&tenant, account).await.unwrap();
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0].status, PaymentStatus::Succeeded);
    assert_eq!(
        engine
            .standing(&tenant, account)
            .await
            .unwrap()
            .standing
            .status,
        Status::Active
    );
}

/// However many charges stay pending in front of the queue (a gateway failing for a while),
/// one pass reaches those behind them: it walks the pending jobs rather than reading the
/// first few hundred again, which used to end the pass once 500 failures sat in front.
async fn charges_behind_many_failures_are_reached(url: &str) {
    const FAILING: usize = 510;
    let engine = open(url).await;
    let tenant = sandbox(&engine, "Vendor", DAY0).await;
    let catalog = engine
        .import_catalog(&tenant, DEFAULT_CATALOG)
        .await
        .unwrap()
        .id;
    let mut last = 0;
    for i in 0..=FAILING {
        let account = engine
            .create_account(&tenant, &french_account(&format!("Acme {i}")))
            .await
            .unwrap();
        // Each failing account has its own token (its own expiry), whose first charge fails
        // with a processing error; the last account's card is good.
        let (number, month, year) = if i < FAILING {
            (
                "4000000000000119",
                (i % 12) as u32 + 1,
                2030 + (i / 12) as i32,
            )
        } else {
            ("4242424242424242", 12, 2030)
        };
        let token = SandboxGateway::tokenize_card(tenant.id, number, month, year).unwrap();
        engine
            .add_payment_method(&tenant, account, &NewPaymentMethod::Card { token })
            .await
            .unwrap();
        engine
            .create_subscription(&tenant, account, catalog, &essentials(DAY0, 3))
            .await
            .unwrap();
        last = account;
    }
    let tenant = advance(&engine, &tenant, DAY0).await;
    let paid = engine.payments(&tenant, last).await.unwrap();
    assert_eq!(
        paid.len(),
        1,
        "the good card behind {FAILING} failures is charged"
    );
    assert_eq!(paid[0].status, PaymentStatus::Succeeded);
    let failed = engine
        .jobs(&tenant, JobKind::Charge)
        .await
        .unwrap()
        .into_iter()
        .filter(|(job, _)| job.payload.get("last_error").is_some())
        .count();
    assert_eq!(failed, FAILING, "each failing card was tried once");
}

/// Makes every pending job of `kind` due now (instead of waiting out its backoff).
async fn due_now(engine: &Engine, tenant: &Tenant, kind: JobKind) {
    let past = prorata_engine::timestamp(SystemTime::now() - Duration::from_secs(1));
    let mut tx = engine.store.begin().await.unwrap();
    for (job, outcome) in tx.jobs(tenant.id, kind).await.unwrap() {
        if outcome.as_deref().is_none_or(|o| o.starts_with("attempt")) {
            tx.finish_job(tenant.id, job.id, "due", false, Some(&past))
                .await
                .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// Lets the sandbox send webhooks to its test receiver on 127.0.0.1 (inside the network,
/// refused otherwise).
async fn allow_loopback_hooks(engine: &Engine, tenant: &Tenant) -> Tenant {
    let mut settings = tenant.settings.clone();
    settings.webhooks.sandbox_private_hosts = vec!["127.0.0.1".into()];
    let mut tx = engine.store.begin().await.unwrap();
    tx.set_settings(tenant.id, &settings).await.unwrap();
    tx.commit().await.unwrap();
    engine.tenant(tenant.id).await.unwrap()
}

async fn deliveries_are_retried_with_backoff(url: &str) {
    let (engine, tenant, _) = customer(url, |_| NewPaymentMethod::BankTransfer).await;
    let tenant = allow_loopback_hooks(&engine, &tenant).await;
    // An endpoint that fails once, then accepts.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (endpoint, secret) = engine
        .create_webhook_endpoint(&tenant, &hook_url, &["invoice.finalized".into()])
        .await
        .unwrap();
    assert!(secret.starts_with("whsec_"));
    let refused = engine
        .create_webhook_endpoint(&tenant, "ftp://example.com", &[])
        .await;
    assert!(matches!(refused, Err(EngineError::Invalid { .. })));
    let refused = engine
        .create_webhook_endpoint(&tenant, &hook_url, &["invoice.paid".into()])
        .await;
    assert!(matches!(refused, Err(EngineError::Invalid { .. })));

    let tenant = advance(&engine, &tenant, DAY0).await;
    let sender = webhooks::Sender::new(Duration::from_secs(5));
    assert_eq!(worker::deliver_webhooks(&engine, &sender).await.unwrap(), 0);
    // Backed off: not due again at once.
    assert_eq!(worker::deliver_webhooks(&engine, &sender).await.unwrap(), 0);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    due_now(&engine, &tenant, JobKind::Webhook).await;
    assert_eq!(worker::deliver_webhooks(&engine, &sender).await.unwrap(), 1);
    let log = engine
        .webhook_deliveries(&tenant, endpoint.id, 0, 10)
        .await
        .unwrap()
        .items;
    let attempts: Vec<(i64, Option<i64>)> =
        log.iter().map(|d| (d.attempt, d.status_code)).collect();
    assert_eq!(attempts, [(1, Some(500)), (2, Some(200))]);
    assert!(log.iter().all(|d| d.topic == "invoice.finalized"));

    // E-mail: the SMTP server is down at first, so the message waits and goes later.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("smtp://127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let down = Mailer::smtp(&dead, "billing@vendor.test").unwrap();
    assert_eq!(worker::deliver_emails(&engine, &down).await.unwrap(), 0);
    let (job, outcome) = engine
        .jobs(&tenant, JobKind::Email)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(job.attempts, 1);
    assert!(outcome.unwrap().starts_with("attempt 1 failed: SMTP"));
    let smtp = SmtpServer::start().await;
    let up = Mailer::smtp(&smtp.url(), "billing@vendor.test").unwrap();
    assert_eq!(
        worker::deliver_emails(&engine, &up).await.unwrap(),
        0,
        "backing off"
    );
    due_now(&engine, &tenant, JobKind::Email).await;
    assert_eq!(worker::deliver_emails(&engine, &up).await.unwrap(), 1);
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].to, ["billing@example.com"]);
    assert!(mail[0].subject().starts_with("Facture INV-000001"));
    // The invoice travels with it.
    assert!(
        mail[0].data.contains("filename=\"INV-000001.pdf\""),
        "{}",
        mail[0].data
    );
    // The attachment is the stored Factur-X PDF, byte for byte.
    let pdf = attachment(&mail[0].data, "INV-000001.pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    let row = engine
        .document_by_number(tenant.id, "INV-000001")
        .await
        .unwrap()
        .unwrap();
    let (_, stored) = engine
        .document_file(
            &tenant,
            row.id,
            row.document.kind,
            prorata_store::FileFormat::Pdf,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pdf, stored.body);
}

/// The decoded body of the attachment named `name` in a raw MIME message.
fn attachment(data: &str, name: &str) -> Vec<u8> {
    use base64::Engine as _;
    let data = data.replace("\r\n", "\n");
    let start = data
        .find(&format!("filename=\"{name}\""))
        .expect("attached");
    let rest = &data[start..];
    let body = &rest[rest.find("\n\n").expect("a body") + 2..];
    let b64: String = body.lines().take_while(|l| !l.starts_with("--")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .expect("base64")
}

/// With no SMTP server configured, messages are written as `.eml` files, named by their job.
async fn without_smtp_mail_is_written_to_a_folder(url: &str) {
    let (engine, tenant, _) = customer(url, |_| NewPaymentMethod::BankTransfer).await;
    advance(&engine, &tenant, DAY0).await;
    // A fresh folder of its own, removed with the guard.
    let (_, guard) = prorata_testkit::sqlite_url();
    let dir = guard.path().join("mail");
    let mailer = Mailer::folder(dir.clone(), "billing@vendor.test").unwrap();
    assert_eq!(worker::deliver_emails(&engine, &mailer).await.unwrap(), 1);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(text.contains("To: billing@example.com"), "{text}");
    assert!(text.contains("Content-Language: fr"), "{text}");
    assert!(text.contains("INV-000001.pdf"));
}

/// Another tenant reaches none of an account's payment data, by any id.
async fn tenants_are_isolated(url: &str) {
    let (engine, tenant, account) = customer(url, |_| NewPaymentMethod::BankTransfer).await;
    let payment = engine
        .record_transfer(&tenant, account, 1000, "INV-000001")
        .await
        .unwrap();
    let (endpoint, _) = engine
        .create_webhook_endpoint(&tenant, "https://hooks.example.com", &[])
        .await
        .unwrap();
    let other = sandbox(&engine, "Other vendor", DAY0).await;
    let not_found = |r: Result<(), EngineError>| {
        assert!(matches!(r, Err(EngineError::NotFound(_))), "{r:?}");
    };
    not_found(engine.payment_method(&other, account).await.map(|_| ()));
    not_found(engine.payments(&other, account).await.map(|_| ()));
    not_found(engine.standing(&other, account).await.map(|_| ()));
    not_found(
        engine
            .record_transfer(&other, account, 1, "x")
            .await
            .map(|_| ()),
    );
    not_found(
        engine
            .refund_payment(&other, payment.id, None)
            .await
            .map(|_| ()),
    );
    not_found(
        engine
            .add_payment_method(&other, account, &NewPaymentMethod::BankTransfer)
            .await
            .map(|_| ()),
    );
    not_found(
        engine
            .webhook_deliveries(&other, endpoint.id, 0, 10)
            .await
            .map(|_| ()),
    );
    not_found(engine.disable_webhook_endpoint(&other, endpoint.id).await);
    assert!(engine.webhook_endpoints(&other).await.unwrap().is_empty());
}

/// Two charges of one account waiting together (a new card retried, and an upgrade's invoice
/// the same day) collect the balance once.
async fn two_charges_of_an_account_collect_once(url: &str) {
    let (engine, tenant, account) = customer(url, |t| card(t, "4000000000000341")).await;
    let tenant = advance(&engine, &tenant, DAY0).await;
    assert_eq!(
        engine
            .standing(&tenant, account)
            .await
            .unwrap()
            .standing
            .status,
        Status::PastDue
    );
    let tenant = advance(&engine, &tenant, DAY0 + Days::new(1)).await;
    let good = SandboxGateway::tokenize_card(tenant.id, "4242424242424242", 12, 2030).unwrap();
    engine
        .add_payment_method(
            &tenant,
            account,
            &NewPaymentMethod::Card {
                token: good.clone(),
            },
        )
        .await
        .unwrap();
    let sub = {
        let mut tx = engine.store.begin().await.unwrap();
        tx.subscriptions_of_account(tenant.id, account)
            .await
            .unwrap()[0]
            .id
    };
    engine
        .request_change(
            &tenant,
            sub,
            &prorata_core::change::Request::SetQuantity {
                product: "user".into(),
                quantity: 5,
            },
            None,
        )
        .await
        .unwrap();
    let owed = engine.balance(&tenant, account).await.unwrap();
    worker::run_once(&engine).await.unwrap();
    let paid: Vec<_> = engine
        .payments(&tenant, account)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.status == PaymentStatus::Succeeded)
        .collect();
    assert_eq!(paid.len(), 1, "{paid:?}");
    assert_eq!(paid[0].amount.minor(), owed);
    assert_eq!(engine.balance(&tenant, account).await.unwrap(), 0);
    let outcomes: Vec<String> = engine
        .jobs(&tenant, JobKind::Charge)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|(_, o)| o)
        .collect();
    assert!(
        outcomes.contains(&"nothing owed".to_string()),
        "{outcomes:?}"
    );
    assert_eq!(
        engine
            .standing(&tenant, account)
            .await
            .unwrap()
            .standing
            .status,
        Status::Active
    );
}

on_both_stores!(
    two_charges_of_an_account_collect_once,
    tenants_are_isolated,
    transfers_and_refunds,
    a_credit_lowers_the_next_charge,
    a_processing_error_is_retried,
    charges_behind_many_failures_are_reached,
    deliveries_are_retried_with_backoff,
    without_smtp_mail_is_written_to_a_folder,
);
