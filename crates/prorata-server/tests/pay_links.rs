//! The pay link of the e-mails about money owed (issue 17, item 5), on SQLite and PostgreSQL:
//! the e-mail arrives over SMTP as text and HTML with the link; the link opens a page without
//! sign-in showing what is owed, charges once however often it is submitted, and an expired,
//! altered or other tenant's link gets a page saying so, never a server error.

mod mail_common;
mod portal_common;

use axum::http::StatusCode;
use mail_common::parts;
use portal_common::*;
use prorata_core::{Lang, Money};
use prorata_engine::gateway::SandboxGateway;
use prorata_engine::people::unix_now;
use prorata_server::mail::Mailer;
use prorata_store::PaymentStatus;
use prorata_testkit::smtp::SmtpServer;
use prorata_web::format::money;

/// What the account owes now, as the engine says.
async fn owed(w: &World, account: i64) -> Money {
    let link = prorata_engine::pay_links::PayLink {
        account_id: account,
        invoices: Vec::new(),
        expires_at: i64::MAX,
    };
    w.engine
        .pay_link_view(&w.tenant, &link)
        .await
        .expect("view")
        .balance
}

fn link(w: &World, account: i64, expires_at: i64) -> String {
    let token = w.engine.sign_pay_link(
        w.tenant.id,
        account,
        std::slice::from_ref(&w.a_invoice_number),
        expires_at,
    );
    format!("pay/{token}?lang=fr")
}

async fn succeeded(w: &World, account: i64) -> usize {
    w.engine
        .payments(&w.tenant, account)
        .await
        .expect("payments")
        .iter()
        .filter(|p| p.status == PaymentStatus::Succeeded)
        .count()
}

/// The gateway's charges of the card `number` for this tenant: what the bank saw.
async fn charges_seen(w: &World, number: &str) -> i64 {
    let token = SandboxGateway::tokenize_card(w.tenant.id, number, 12, 2030).expect("token");
    let mut tx = w.engine.store.begin().await.expect("tx");
    tx.sandbox_count(&format!("t{}-", w.tenant.id), &token, "charge")
        .await
        .expect("count")
}

async fn a_pay_link_shows_what_is_owed_and_charges_once(url: &str) {
    let w = world(url).await;
    let due = owed(&w, w.a).await;
    assert!(due.minor() > 0, "account A owes its first invoice");
    let path = link(&w, w.a, unix_now() + 3600);
    let mut visitor = Client::new(&w.router, &w.tenant.slug);
    let page = visitor.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(html.contains(&w.a_invoice_number), "{html}");
    assert!(
        html.contains(&money(Lang::Fr, due)),
        "the amount in French: {html}"
    );
    assert!(
        html.contains("Régler vos factures"),
        "in the link's language"
    );
    assert!(
        !html.contains("id=\"pay\""),
        "no card on file yet: only the card form"
    );

    let card = [("number", "4242 4242 4242 4242"), ("expiry", "12/2030")];
    let r = visitor.post(&path, &card).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let back = r.location().expect("back to the link").to_string();
    assert!(back.ends_with("paid=1"), "{back}");
    let thanks = visitor.get(&back).await.text();
    assert!(
        thanks.contains("votre paiement a bien été reçu"),
        "{thanks}"
    );
    assert!(thanks.contains("id=\"paid\""), "{thanks}");
    assert!(!thanks.contains("id=\"pay-card\""), "no form once paid");
    assert_eq!(owed(&w, w.a).await.minor(), 0);
    assert_eq!(succeeded(&w, w.a).await, 1);

    // Submitted again (a double click, the back button): nothing charged, "already paid".
    let again = visitor.post(&path, &card).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert!(again.location().unwrap_or("").ends_with("seen=1"));
    let mut second = Client::new(&w.router, &w.tenant.slug);
    let revisit = second.get(&path).await.text();
    assert!(revisit.contains("id=\"paid\""), "{revisit}");
    assert!(!revisit.contains("id=\"pay-card\""), "{revisit}");
    let r = second.post(&path, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(succeeded(&w, w.a).await, 1, "charged once");
    assert_eq!(
        charges_seen(&w, "4242424242424242").await,
        1,
        "the bank saw one charge"
    );
}

async fn an_expired_altered_or_foreign_pay_link_is_refused_with_a_page(url: &str) {
    let w = world(url).await;
    let mut visitor = Client::new(&w.router, &w.tenant.slug);
    let expired = link(&w, w.a, unix_now() - 1);
    let r = visitor.get(&expired).await;
    assert_eq!(r.status, StatusCode::GONE);
    assert!(
        r.text().contains("Ce lien de paiement a expiré"),
        "{}",
        r.text()
    );
    let r = visitor
        .post(
            &expired,
            &[("number", "4242424242424242"), ("expiry", "12/2030")],
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE, "an expired link pays nothing");

    let good = link(&w, w.a, unix_now() + 3600);
    let token = good
        .trim_start_matches("pay/")
        .trim_end_matches("?lang=fr")
        .to_string();
    let parts: Vec<&str> = token.split('.').collect();
    let mut last = parts[3].to_string();
    let flipped = if last.ends_with('0') { '1' } else { '0' };
    last.pop();
    last.push(flipped);
    let other_tenant = w.engine.sign_pay_link(
        w.other_tenant.id,
        w.a,
        std::slice::from_ref(&w.a_invoice_number),
        unix_now() + 3600,
    );
    let later = (unix_now() + 10 * 86400).to_string();
    for bad in [
        // The MAC altered.
        format!("{}.{}.{}.{last}", parts[0], parts[1], parts[2]),
        // Another account, a later expiry, other invoices: each under the old MAC.
        format!("{}.{}.{}.{}", w.b, parts[1], parts[2], parts[3]),
        format!("{}.{later}.{}.{}", parts[0], parts[2], parts[3]),
        format!("{}.{}.{}.{}", parts[0], parts[1], "494e562d39", parts[3]),
        // Made for another tenant.
        other_tenant,
        "nonsense".into(),
        "1.2.zz.".into(),
        "x".repeat(5000),
    ] {
        let r = visitor.get(&format!("pay/{bad}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}");
        assert!(
            r.text().contains("is not valid") || r.text().contains("n'est pas valide"),
            "{}",
            r.text()
        );
    }
    // Without the form's token: refused before anything else.
    let r = visitor
        .post_raw(
            &good,
            &[("number", "4242424242424242"), ("expiry", "12/2030")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(succeeded(&w, w.a).await, 0, "nothing was charged");
}

async fn a_declined_card_says_why_and_charges_nothing(url: &str) {
    let w = world(url).await;
    let due = owed(&w, w.a).await;
    let path = link(&w, w.a, unix_now() + 3600);
    let mut visitor = Client::new(&w.router, &w.tenant.slug);
    visitor.get(&path).await;
    // A card that attaches but whose charges the bank declines for insufficient funds.
    let r = visitor
        .post(
            &path,
            &[("number", "4000000000000341"), ("expiry", "12/2030")],
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYMENT_REQUIRED, "{}", r.text());
    assert!(
        r.text().contains("faute de provision suffisante"),
        "the reason in words: {}",
        r.text()
    );
    assert_eq!(owed(&w, w.a).await, due, "still owed");
    // A number that is no card is the visitor's mistake: said on the form.
    let r = visitor
        .post(&path, &[("number", "1234"), ("expiry", "12/2030")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn the_invoice_email_arrives_as_text_and_html_with_a_pay_link_that_opens(url: &str) {
    let w = world(url).await;
    let smtp = SmtpServer::start().await;
    let mailer = Mailer::smtp(&smtp.url(), "Acme Telecom <billing@acme.example>")
        .expect("mailer")
        .with_links("http://portal.test/");
    // The collection pass turns the invoice's event into its e-mail.
    w.engine
        .collect(&w.tenant, prorata_engine::Engine::today(&w.tenant))
        .await
        .expect("collect");
    prorata_server::worker::deliver_emails(&w.engine, &mailer)
        .await
        .expect("delivery");
    let mail = smtp
        .messages()
        .into_iter()
        .find(|m| {
            m.subject()
                .starts_with(&format!("Facture {}", w.a_invoice_number))
        })
        .expect("A's invoice e-mail");
    let content_type = mail.header("Content-Type").unwrap_or_default();
    assert!(
        content_type.starts_with("multipart/mixed"),
        "{content_type}"
    );
    assert!(mail.data.contains("multipart/alternative"), "{}", mail.data);
    let found = parts(&mail.data);
    let kinds: Vec<&str> = found.iter().map(|(ct, _)| ct.as_str()).collect();
    assert_eq!(
        kinds,
        ["text/plain", "text/html", "application/pdf"],
        "{}",
        mail.data
    );
    let (text, html) = (&found[0].1, &found[1].1);
    let due = owed(&w, w.a).await;
    // E-mails write amounts as the documents do (prorata_docs::words).
    for part in [text, html] {
        assert!(part.contains(&w.a_invoice_number), "{part}");
        assert!(
            part.contains(&prorata_docs::mail::money(Lang::Fr, due)),
            "{part}"
        );
    }
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    let at = text
        .find("http://portal.test/portal/")
        .expect("a link in the text");
    let link = text[at..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_start_matches("http://portal.test")
        .to_string();
    assert!(
        link.contains("/pay/") && link.ends_with("?lang=fr"),
        "{link}"
    );
    assert!(
        html.contains(&link.replace('&', "&#38;")),
        "the same link in the HTML"
    );
    let mut visitor = Client::new(&w.router, &w.tenant.slug);
    let page = visitor.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains(&money(Lang::Fr, due)));
}

on_both_stores!(
    a_pay_link_shows_what_is_owed_and_charges_once,
    an_expired_altered_or_foreign_pay_link_is_refused_with_a_page,
    a_declined_card_says_why_and_charges_nothing,
    the_invoice_email_arrives_as_text_and_html_with_a_pay_link_that_opens,
);
