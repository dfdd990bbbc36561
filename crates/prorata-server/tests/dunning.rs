//! Seed 004's dunning timeline, driven by the sandbox clock, with e-mail delivered over SMTP to
//! a server on loopback and webhooks to an HTTP endpoint on loopback; each test runs on SQLite
//! and on PostgreSQL.

#[path = "../../prorata-engine/tests/common/mod.rs"]
#[macro_use]
mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use chrono::{Days, NaiveDate};
use common::*;
use prorata_core::dunning::{Access, Notice, Status};
use prorata_engine::gateway::SandboxGateway;
use prorata_engine::{Engine, NewPaymentMethod};
use prorata_server::mail::Mailer;
use prorata_server::{webhooks, worker};
use prorata_store::{LedgerKind, PaymentStatus, Tenant};
use prorata_testkit::smtp::{Received, SmtpServer};

/// Signature header and body of each webhook request received.
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

const DAY0: NaiveDate = match NaiveDate::from_ymd_opt(2026, 1, 5) {
    Some(d) => d,
    None => panic!("a valid date"),
};

fn day(n: u64) -> NaiveDate {
    DAY0 + Days::new(n)
}

/// Everything a test looks at.
struct World {
    engine: Engine,
    tenant: Tenant,
    account: i64,
    smtp: SmtpServer,
    mailer: Mailer,
    hooks: Seen,
    hook_secret: String,
    _hook_server: tokio::task::JoinHandle<()>,
}

/// A webhook receiver on loopback that keeps each request's signature header and body.
async fn hook_receiver() -> (String, Seen, tokio::task::JoinHandle<()>) {
    let seen: Seen = Arc::default();
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                let sig = headers
                    .get("prorata-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                store.lock().unwrap().push((sig, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, seen, task)
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

/// A French customer with two billing contacts paying by a sandbox card that authorises but
/// whose charges are declined, subscribed on day 0 (its first invoice is issued then).
async fn world(url: &str) -> World {
    let engine = open(url).await;
    let tenant = sandbox(&engine, "Vendor", DAY0).await;
    let tenant = allow_loopback_hooks(&engine, &tenant).await;
    let catalog = engine
        .import_catalog(&tenant, DEFAULT_CATALOG)
        .await
        .unwrap()
        .id;
    let mut account = french_account("Acme");
    account.billing_contacts = vec!["owner@acme.test".into(), "finance@acme.test".into()];
    let account = engine.create_account(&tenant, &account).await.unwrap();
    let token = SandboxGateway::tokenize_card(tenant.id, "4000 0000 0000 0341", 12, 2030).unwrap();
    engine
        .add_payment_method(&tenant, account, &NewPaymentMethod::Card { token })
        .await
        .unwrap();
    let (hook_url, hooks, hook_server) = hook_receiver().await;
    let (_, hook_secret) = engine
        .create_webhook_endpoint(&tenant, &hook_url, &[])
        .await
        .unwrap();
    engine
        .create_subscription(&tenant, account, catalog, &essentials(DAY0, 3))
        .await
        .unwrap();
    let smtp = SmtpServer::start().await;
    let mailer = Mailer::smtp(&smtp.url(), "Vendor billing <billing@vendor.test>").unwrap();
    World {
        engine,
        tenant,
        account,
        smtp,
        mailer,
        hooks,
        hook_secret,
        _hook_server: hook_server,
    }
}

impl World {
    /// Moves the clock to `to` (collecting on every due day), then delivers what is queued;
    /// returns what the advance issued.
    async fn advance(&mut self, to: NaiveDate) -> prorata_engine::RunSummary {
        let (tenant, issued) = self
            .engine
            .advance_clock(&self.tenant, to, &mut |_, _| {})
            .await
            .unwrap();
        self.tenant = tenant;
        self.deliver().await;
        issued
    }

    async fn deliver(&self) {
        worker::deliver_emails(&self.engine, &self.mailer)
            .await
            .unwrap();
        let sender = webhooks::Sender::new(Duration::from_secs(5));
        worker::deliver_webhooks(&self.engine, &sender)
            .await
            .unwrap();
    }

    /// Subjects of the e-mails received since the last call; each went to both contacts.
    fn mail(&self) -> Vec<String> {
        let received: Vec<Received> = self.smtp.take();
        for m in &received {
            let mut to = m.to.clone();
            to.sort();
            assert_eq!(to, ["finance@acme.test", "owner@acme.test"], "{}", m.data);
            assert_eq!(m.header("Content-Language").as_deref(), Some("fr"));
        }
        received.iter().map(Received::subject).collect()
    }

    async fn failed_charges(&self) -> usize {
        self.engine
            .payments(&self.tenant, self.account)
            .await
            .unwrap()
            .iter()
            .filter(|p| p.status == PaymentStatus::Failed)
            .count()
    }

    /// Topics received by the webhook endpoint since the last call, each signature checked.
    fn hooks(&self) -> Vec<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut seen = self.hooks.lock().unwrap();
        let topics = seen
            .iter()
            .map(|(sig, body)| {
                assert!(
                    webhooks::verify(&self.hook_secret, sig, body, now, 300),
                    "bad signature {sig}"
                );
                let v: serde_json::Value = serde_json::from_slice(body).unwrap();
                v["type"].as_str().unwrap().to_string()
            })
            .collect();
        seen.clear();
        topics
    }
}

async fn whole_timeline(url: &str) {
    let mut w = world(url).await;
    let standing = |w: &World| {
        let engine = w.engine.clone();
        let tenant = w.tenant.clone();
        let account = w.account;
        async move { engine.standing(&tenant, account).await.unwrap() }
    };
    // The card was authorised for 1 EUR and the authorisation voided (seed 004).
    assert_eq!(w.failed_charges().await, 0);

    // Day 0: the invoice is charged and the charge fails: e-mail, past due.
    w.advance(day(0)).await;
    let mail = w.mail();
    assert_eq!(mail.len(), 2, "{mail:?}");
    assert!(mail[0].starts_with("Facture INV-"), "{mail:?}");
    assert_eq!(mail[1], "Votre paiement a échoué – Vendor");
    assert_eq!(w.failed_charges().await, 1);
    let s = standing(&w).await;
    assert_eq!(s.standing.status, Status::PastDue);
    assert!(s.balance > 0);
    assert!(s.banners.is_empty());
    assert_eq!(s.next_step_on, Some(day(2)));
    assert_eq!(
        w.hooks(),
        ["invoice.finalized", "payment.failed", "account.past_due"]
    );
    let ledger = w.engine.ledger(&w.tenant, w.account, 0, 50).await.unwrap();
    assert!(ledger
        .items
        .iter()
        .any(|e| e.kind == LedgerKind::PaymentFailed && e.reference.contains("•••• 0341")));

    // Day 1: nothing.
    w.advance(day(1)).await;
    assert!(w.mail().is_empty());
    assert_eq!(w.failed_charges().await, 1);

    // +2: retry and e-mail.
    w.advance(day(2)).await;
    assert_eq!(w.mail(), ["Votre paiement a échoué – Vendor"]);
    assert_eq!(w.failed_charges().await, 2);
    assert!(standing(&w).await.banners.is_empty());

    // +4: retry, e-mail, banner for the owner and admins only.
    w.advance(day(4)).await;
    assert_eq!(w.mail(), ["Votre paiement a échoué – Vendor"]);
    assert_eq!(w.failed_charges().await, 3);
    let s = standing(&w).await;
    assert_eq!(s.banners.get("owner"), Some(&Notice::PaymentFailed));
    assert_eq!(s.banners.get("admin"), Some(&Notice::PaymentFailed));
    assert_eq!(s.banners.get("agent"), None);
    assert_eq!(s.access["agent"], Access::Full);

    // +21: retry, suspension warning by e-mail and to every agent.
    w.advance(day(20)).await;
    assert!(w.mail().is_empty());
    w.advance(day(21)).await;
    assert_eq!(w.mail(), ["Votre compte sera bientôt suspendu – Vendor"]);
    assert_eq!(w.failed_charges().await, 4);
    let s = standing(&w).await;
    assert_eq!(s.banners.get("agent"), Some(&Notice::SuspensionWarning));
    assert_eq!(s.standing.status, Status::PastDue);
    assert!(s.access.values().all(|a| *a == Access::Full));
    w.hooks();

    // +29: cancelled; only the owner may sign in, only to pay; the subscription ends and
    // its unused days are credited.
    let issued = w.advance(day(29)).await;
    assert_eq!(
        (issued.invoices, issued.credit_notes),
        (0, 1),
        "what the advance issued counts the cancellation's credit note"
    );
    let mail = w.mail();
    assert!(
        mail.contains(&"Votre compte est résilié – Vendor".to_string()),
        "{mail:?}"
    );
    assert!(mail.iter().any(|m| m.starts_with("Avoir ")), "{mail:?}");
    assert_eq!(
        w.failed_charges().await,
        4,
        "no retry on the day of cancellation"
    );
    let s = standing(&w).await;
    assert_eq!(s.standing.status, Status::Cancelled);
    assert_eq!(s.access["owner"], Access::PayOnly);
    assert_eq!(s.access["admin"], Access::None);
    assert_eq!(s.access["agent"], Access::None);
    assert_eq!(s.next_step_on, Some(day(29 + 90)));
    let hooks = w.hooks();
    assert!(
        hooks.contains(&"account.cancelled".to_string()),
        "{hooks:?}"
    );
    assert!(
        hooks.contains(&"credit_note.issued".to_string()),
        "{hooks:?}"
    );

    // The subscription is over: its next monthly invoice day passes without an invoice.
    w.advance(day(40)).await;
    assert!(w.mail().is_empty());

    // 90 days after the suspension: personal data purged, legal records kept.
    let invoices_before = w
        .engine
        .ledger(&w.tenant, w.account, 0, 100)
        .await
        .unwrap()
        .items
        .len();
    w.advance(day(118)).await;
    assert_eq!(
        w.engine.account(&w.tenant, w.account).await.unwrap().name,
        "Acme"
    );
    w.advance(day(119)).await;
    let account = w.engine.account(&w.tenant, w.account).await.unwrap();
    assert_eq!(account.name, "(purged)");
    assert!(account.billing_contacts.is_empty());
    assert_eq!(account.address.line1, "");
    assert!(w
        .engine
        .payment_method(&w.tenant, w.account)
        .await
        .unwrap()
        .is_none());
    let s = standing(&w).await;
    assert_eq!(s.standing.status, Status::Purged);
    assert_eq!(s.access["owner"], Access::None);
    assert_eq!(
        w.engine
            .ledger(&w.tenant, w.account, 0, 100)
            .await
            .unwrap()
            .items
            .len(),
        invoices_before,
        "the ledger stays"
    );
    let mut tx = w.engine.store.begin().await.unwrap();
    for (job, _) in tx
        .jobs(w.tenant.id, prorata_store::JobKind::Email)
        .await
        .unwrap()
    {
        assert!(
            !job.payload.to_string().contains("acme.test"),
            "{}",
            job.payload
        );
    }
    assert_eq!(w.hooks(), ["account.purged"]);
}

/// Paying at +10 (a new card, retried in the next batch) or at +25 (a bank transfer)
/// reactivates the account and e-mails every billing contact.
async fn reactivation(url: &str) {
    for (when, by_card) in [(10, true), (25, false)] {
        let mut w = world(url).await;
        w.advance(day(when)).await;
        w.mail();
        w.hooks();
        let s = w.engine.standing(&w.tenant, w.account).await.unwrap();
        assert_eq!(s.standing.status, Status::PastDue);
        assert!(!s.banners.is_empty());
        if by_card {
            let token = SandboxGateway::tokenize_card(w.tenant.id, "4242 4242 4242 4242", 12, 2030)
                .unwrap();
            w.engine
                .add_payment_method(&w.tenant, w.account, &NewPaymentMethod::Card { token })
                .await
                .unwrap();
        } else {
            w.engine
                .record_transfer(&w.tenant, w.account, s.balance, "F-2026-000001")
                .await
                .unwrap();
        }
        // The worker's next batch charges the new card, and sends what the payment caused.
        worker::run_once(&w.engine).await.unwrap();
        w.deliver().await;
        let s = w.engine.standing(&w.tenant, w.account).await.unwrap();
        assert_eq!(s.standing.status, Status::Active, "paid at +{when}");
        assert_eq!(s.balance, 0);
        assert!(s.banners.is_empty());
        assert!(s.access.values().all(|a| *a == Access::Full));
        assert_eq!(
            w.mail(),
            ["Paiement reçu\u{a0}: votre compte est réactivé – Vendor"],
            "paid at +{when}"
        );
        assert_eq!(w.hooks(), ["payment.succeeded", "account.reactivated"]);
        // Nothing more happens on the old schedule's days.
        w.advance(day(30)).await;
        assert_eq!(
            w.engine
                .standing(&w.tenant, w.account)
                .await
                .unwrap()
                .standing
                .status,
            Status::Active
        );
        let paid: Vec<_> = w
            .engine
            .payments(&w.tenant, w.account)
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.status == PaymentStatus::Succeeded)
            .collect();
        assert_eq!(paid.len(), 1, "charged once");
    }
}

on_both_stores!(whole_timeline, reactivation);
