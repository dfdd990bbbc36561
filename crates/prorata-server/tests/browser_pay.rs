//! The pay link in a real headless Chromium, on SQLite and PostgreSQL: a card declined at
//! renewal sends the English payment-failure e-mail (its HTML part opened as a mail client
//! would, checked with axe-core), whose link opens the pay page without sign-in, where a
//! test card pays the balance and the page then says it is paid; a French page, and an
//! expired link's page; a French invoice e-mail as a mail client shows it. The SQLite run saves
//! the screenshots into `docs/screenshots/`.

mod mail_common;
mod portal_common;
#[macro_use]
mod browser_common;

use browser_common::*;
use mail_common::parts;
use portal_common::*;
use prorata_core::dunning::Status;
use prorata_core::Lang;
use prorata_engine::gateway::SandboxGateway;
use prorata_engine::people::unix_now;
use prorata_engine::NewPaymentMethod;

async fn a_payment_failure_email_leads_to_a_page_that_pays(url: &str, save: bool) {
    let w = world(url).await;
    let Some((_turn, b)) = start("en").await else {
        return;
    };
    let base = serve(&w).await;
    let pages = Pages::new(save);
    // B's card authorises but every charge is declined: the renewal's charge fails.
    let declining =
        SandboxGateway::tokenize_card(w.tenant.id, "4000000000000341", 12, 2030).expect("token");
    w.engine
        .add_payment_method(&w.tenant, w.b, &NewPaymentMethod::Card { token: declining })
        .await
        .expect("card");
    let mut day = d(2024, 7, 7);
    let since = loop {
        w.engine
            .advance_clock(&w.tenant, day, &mut |_, _| {})
            .await
            .expect("clock");
        let standing = w
            .engine
            .account_standing(&w.tenant, w.b)
            .await
            .expect("standing");
        if let Some(since) = standing.since {
            break since;
        }
        day = day.succ_opt().expect("a day");
        assert!(day < d(2024, 9, 1), "the charge failed");
    };
    let dir = std::env::temp_dir().join(format!(
        "prorata-pay-mail-{}-{}",
        std::process::id(),
        w.tenant.id
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mailer = prorata_server::mail::Mailer::folder(dir.clone(), "Acme <billing@acme.example>")
        .expect("mailer")
        .with_links(&base);
    prorata_server::worker::deliver_emails(&w.engine, &mailer)
        .await
        .expect("delivery");
    let failed = std::fs::read_dir(&dir)
        .expect("mails")
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .find(|m| m.contains("Subject: Your payment failed"))
        .expect("the payment-failure e-mail");
    let found = parts(&failed);
    let (text, html) = (&found[0].1, &found[1].1);
    // Seed 004: the next attempt is two days after the failure.
    let next = since.checked_add_days(chrono::Days::new(2)).expect("date");
    for said in [
        "for invoice INV-".to_string(),
        "your bank declined the payment for insufficient funds".into(),
        format!("again on {}.", prorata_docs::mail::date(Lang::En, next)),
    ] {
        assert!(text.contains(&said), "{said:?} in:\n{text}");
    }
    assert!(!text.contains("batch"), "{text}");
    let at = text.find(&format!("{base}/portal/")).expect("a link");
    let link = text[at..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string();
    assert!(link.contains("/pay/"), "{link}");

    // The HTML part as a mail client shows it.
    let file = dir.join("payment-failed.html");
    std::fs::write(&file, html).expect("written");
    b.goto(&format!("file://{}", file.display()))
        .await
        .expect("the e-mail");
    wait(&b, "a[href]").await;
    pages.check(&b, "mail-payment-failed-en").await;

    // A's invoice e-mail, in French: the date and amount as the locale writes them.
    let invoice = std::fs::read_dir(&dir)
        .expect("mails")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| parts(&std::fs::read_to_string(e.path()).unwrap_or_default()))
        .find(|p| {
            p.first()
                .is_some_and(|(_, t)| t.contains("Veuillez trouver ci-joint la facture"))
        })
        .expect("the French invoice e-mail");
    let file = dir.join("invoice-fr.html");
    std::fs::write(&file, &invoice[1].1).expect("written");
    b.goto(&format!("file://{}", file.display()))
        .await
        .expect("the e-mail");
    wait(&b, "a[href]").await;
    pages.check(&b, "mail-invoice-fr").await;

    // The link: no sign-in, what is owed, a test card, paid.
    b.goto(&link).await.expect("pay page");
    wait(&b, "#pay-card").await;
    let owed = b.text("#balance").await.expect("balance");
    assert!(owed.contains('£') || owed.contains('€'), "{owed}");
    pages.check(&b, "pay-en").await;
    b.fill("#number", "4242 4242 4242 4242")
        .await
        .expect("number");
    b.fill("#expiry", "12/2030").await.expect("expiry");
    b.click("#pay-card").await.expect("pay");
    wait(&b, "#paid").await;
    assert!(b
        .text(".flash")
        .await
        .expect("flash")
        .contains("your payment was received"));
    pages.check(&b, "pay-paid-en").await;
    let standing = w
        .engine
        .account_standing(&w.tenant, w.b)
        .await
        .expect("standing");
    assert_eq!(standing.status, Status::Active, "paid: active again");

    // French, for account A; then an expired link.
    let token = w.engine.sign_pay_link(
        w.tenant.id,
        w.a,
        std::slice::from_ref(&w.a_invoice_number),
        unix_now() + 3600,
    );
    b.goto(&format!(
        "{base}/portal/{}/pay/{token}?lang=fr",
        w.tenant.slug
    ))
    .await
    .expect("pay page");
    wait(&b, "#pay-card").await;
    assert!(b
        .text("h1")
        .await
        .expect("title")
        .contains("Régler vos factures"));
    pages.check(&b, "pay-fr").await;
    let expired = w
        .engine
        .sign_pay_link(w.tenant.id, w.a, &[], unix_now() - 1);
    b.goto(&format!(
        "{base}/portal/{}/pay/{expired}?lang=fr",
        w.tenant.slug
    ))
    .await
    .expect("expired page");
    wait(&b, "main").await;
    assert!(b.text("main").await.expect("text").contains("a expiré"));
    pages.check(&b, "pay-expired-fr").await;
    let _ = std::fs::remove_dir_all(&dir);
}

browser_tests!(a_payment_failure_email_leads_to_a_page_that_pays);
