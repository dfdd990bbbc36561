//! Support tickets and the back office in a real headless Chromium, served over a socket, on
//! SQLite and PostgreSQL (issue #14): an owner's billing ticket with a PNG and a PDF goes to
//! the billing team, whose answer reaches the owner by e-mail and in the portal, and back
//! until it is solved; subscription matters and a downgrade go to the account's manager, who
//! applies it (the credit note appears in the owner's Billing tab); the billing team changes
//! a VAT number that only the next invoice shows, and records a transfer proved in a ticket,
//! which reactivates a suspended account and tells every billing contact; a monthly
//! subscription moves to annual at once (credit and new invoice, explained) or at the end of
//! its period. Every page is checked with axe-core; the SQLite run saves screenshots in
//! French and English into `docs/screenshots/`.

mod portal_common;
#[macro_use]
mod browser_common;

use std::path::PathBuf;

use browser_common::*;
use portal_common::*;
use prorata_core::access::Role;
use prorata_core::account::AccountPatch;
use prorata_core::document::DocumentKind;
use prorata_core::dunning::Status;
use prorata_core::tickets::{Queue, Status as TicketStatus};
use prorata_engine::gateway::SandboxGateway;
use prorata_engine::tickets::Actor;
use prorata_engine::NewPaymentMethod;
use prorata_server::mail::Mailer;
use prorata_server::worker;
use prorata_store::{FileFormat, QueueFilter};
use prorata_testkit::browser::Browser;
use prorata_testkit::smtp::SmtpServer;

/// A real PNG (a screenshot of the page) and a real PDF (the account's first invoice), saved
/// where the browser can pick them.
async fn proof_files(w: &World, b: &Browser, tag: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("prorata-proof-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let png = dir.join("capture.png");
    std::fs::write(&png, b.screenshot_png().await.expect("png")).expect("write png");
    let row = w
        .engine
        .account_documents(&w.tenant, w.a, None)
        .await
        .expect("documents")[0]
        .clone();
    let (_, pdf_file) = w
        .engine
        .document_file(&w.tenant, row.id, row.document.kind, FileFormat::Pdf)
        .await
        .expect("file")
        .expect("a PDF");
    let pdf = dir.join("preuve-virement.pdf");
    std::fs::write(&pdf, pdf_file.body).expect("write pdf");
    (png, pdf)
}

/// The ticket id at the end of the browser's URL (`…/support/12?done=…`).
async fn ticket_in_url(b: &Browser) -> i64 {
    let url = b.current_url().await.expect("url");
    url.split("/support/")
        .nth(1)
        .and_then(|rest| rest.split(['?', '#']).next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("a ticket's page: {url}"))
}

fn mailer(smtp: &SmtpServer) -> Mailer {
    Mailer::smtp(&smtp.url(), "Acme billing <billing@acme.example>").expect("mailer")
}

/// Chooses `value` in the `<select>` `css`, as a person clicks an option.
async fn choose(b: &Browser, css: &str, value: &str) {
    b.click(&format!("{css} option[value=\"{value}\"]"))
        .await
        .expect("option");
}

async fn a_billing_ticket_goes_to_the_billing_team_and_back_until_solved(url: &str, save: bool) {
    let Some(scene) = Scene::open(url, save, "fr").await else {
        return;
    };
    let (w, b, base, slug, pages) = (&scene.w, &scene.b, &scene.base, &scene.slug, &scene.pages);
    let p = |path: &str| scene.url(path);
    let smtp = SmtpServer::start().await;
    let (png, pdf) = proof_files(w, b, "billing").await;

    // The owner files a billing ticket with a screenshot and a proof of payment.
    scene.customer(OWNER_A).await;
    b.goto(&p("support")).await.expect("support");
    wait(b, "#new-ticket").await;
    b.click("#new-ticket").await.expect("new");
    wait(b, "#ticket-form").await;
    assert!(b
        .text("#reason")
        .await
        .expect("reasons")
        .contains("votre gestionnaire de compte vous répondra"));
    b.fill("#subject", "Facture de juillet payée deux fois")
        .await
        .expect("subject");
    b.fill(
        "#body",
        "Bonjour, nous avons réglé la facture de juillet deux fois. Preuve jointe.",
    )
    .await
    .expect("body");
    b.set_files("#files", &[png.clone(), pdf.clone()])
        .await
        .expect("files");
    pages.check(b, "support-new-fr").await;
    b.click("#send").await.expect("send");
    wait(b, "#thread").await;
    let id = ticket_in_url(b).await;
    let thread = b.text("#thread").await.expect("thread");
    assert!(thread.contains("capture.png") && thread.contains("preuve-virement.pdf"));
    pages.check(b, "support-ticket-fr").await;

    // It waits in the billing team's queue; a staff member answers.
    let mut spare = sign_in_staff(
        b,
        base,
        slug,
        STAFF,
        &mut Vec::new(),
        Some((pages, "staff-second-factor-fr")),
    )
    .await;
    wait(b, "#queue").await;
    assert!(b
        .text("#queue")
        .await
        .expect("queue")
        .contains("Facture de juillet payée deux fois"));
    pages.check(b, "staff-queue-fr").await;
    b.goto(&p(&format!("staff/tickets/{id}")))
        .await
        .expect("ticket");
    wait(b, "#answer-form").await;
    b.fill(
        "#body",
        "Bonjour, nous avons bien reçu les deux paiements : le second sera remboursé.",
    )
    .await
    .expect("answer");
    pages.check(b, "staff-ticket-fr").await;
    b.click("#send").await.expect("send");
    wait(b, ".flash").await;

    // The answer reaches the owner by e-mail, in French.
    let sent = worker::deliver_emails(&w.engine, &mailer(&smtp))
        .await
        .expect("delivery");
    assert!(sent >= 1);
    let mail = smtp
        .messages()
        .into_iter()
        .find(|m| m.to.iter().any(|t| t == OWNER_A))
        .expect("an e-mail to the owner");
    // Quoted-printable: soft line breaks joined.
    let text = mail.data.replace("=\r\n", "").replace("=\n", "");
    assert!(text.contains("les deux paiements"), "{}", mail.data);

    // And in the portal, where the owner replies.
    scene.customer(OWNER_A).await;
    b.goto(&p(&format!("support/{id}"))).await.expect("ticket");
    wait(b, "#reply-form").await;
    assert!(b
        .text("#thread")
        .await
        .expect("thread")
        .contains("remboursé"));
    assert_eq!(
        b.text("#ticket-status").await.expect("status"),
        "En attente de votre réponse"
    );
    b.fill("#body", "Merci, c'est parfait.")
        .await
        .expect("reply");
    b.click("#send").await.expect("send");
    wait(b, ".flash").await;
    assert_eq!(b.text("#ticket-status").await.expect("status"), "Ouverte");
    b.goto(&p("support")).await.expect("list");
    pages.check(b, "support-fr").await;

    // The billing team solves it.
    sign_in_staff(b, base, slug, STAFF, &mut spare, None).await;
    b.goto(&p(&format!("staff/tickets/{id}")))
        .await
        .expect("ticket");
    wait(b, "#set-status").await;
    choose(b, "#new-status", "solved").await;
    b.click("#set-status").await.expect("solve");
    wait(b, ".flash").await;
    let ticket = w.engine.ticket(&w.tenant, id, true).await.expect("ticket");
    assert_eq!(ticket.ticket.status, TicketStatus::Solved);
    assert_eq!(ticket.ticket.queue, Queue::BillingTeam);
    assert_eq!(ticket.files.len(), 2);

    // The same, in English: B's owner files a ticket; a tenant admin reads the queues.
    scene.customer(OWNER_B).await;
    b.goto(&p("support/new")).await.expect("form");
    wait(b, "#ticket-form").await;
    b.fill("#subject", "Invoice address")
        .await
        .expect("subject");
    b.fill("#body", "Please resend the July invoice.")
        .await
        .expect("body");
    b.set_files("#files", std::slice::from_ref(&pdf))
        .await
        .expect("files");
    pages.check(b, "support-new-en").await;
    b.click("#send").await.expect("send");
    wait(b, "#thread").await;
    pages.check(b, "support-ticket-en").await;
    sign_in_staff(
        b,
        base,
        slug,
        TENANT_ADMIN,
        &mut Vec::new(),
        Some((pages, "staff-second-factor-en")),
    )
    .await;
    wait(b, "#queue").await;
    pages.check(b, "staff-queue-en").await;
    b.goto(&p(&format!("staff/tickets/{id}")))
        .await
        .expect("ticket");
    wait(b, "#thread").await;
    pages.check(b, "staff-ticket-en").await;
    b.goto(&p("staff/accounts?q=lumen")).await.expect("search");
    wait(b, "#results").await;
    pages.check(b, "staff-accounts-en").await;
    b.click("#results a").await.expect("account");
    wait(b, "#audit").await;
    assert!(b
        .text("#audit")
        .await
        .expect("audit")
        .contains("ticket.created"));
    pages.check(b, "staff-account-en").await;
}

async fn subscription_matters_go_to_the_account_manager_who_applies_a_downgrade(
    url: &str,
    save: bool,
) {
    let Some(scene) = Scene::open(url, save, "en").await else {
        return;
    };
    let (w, b, base, slug, pages) = (&scene.w, &scene.b, &scene.base, &scene.slug, &scene.pages);
    let p = |path: &str| scene.url(path);
    let manager = w
        .engine
        .staff_users(&w.tenant)
        .await
        .expect("staff")
        .into_iter()
        .find(|u| u.role == Role::AccountManager)
        .expect("the account manager");
    w.engine
        .set_account_manager(&w.tenant, Actor::API, w.a, Some(manager.id))
        .await
        .expect("manager");
    // Seed 001's date: 10 July, 4 users fewer, in time for the 6 June 2025 renewal.
    w.engine
        .advance_clock(&w.tenant, d(2024, 7, 10), &mut |_, _| {})
        .await
        .expect("clock");

    // A subscription question, then a downgrade, from A's owner.
    scene.customer(OWNER_A).await;
    b.goto(&p("support/new")).await.expect("form");
    wait(b, "#ticket-form").await;
    b.click("#reason-subscription").await.expect("reason");
    b.fill("#subject", "Passer à la formule annuelle ?")
        .await
        .expect("subject");
    b.fill("#body", "Quel serait le prix annuel pour 10 utilisateurs ?")
        .await
        .expect("body");
    b.click("#send").await.expect("send");
    wait(b, "#thread").await;
    let question = ticket_in_url(b).await;
    b.goto(&p("plan")).await.expect("plan");
    b.fill("#q-user", "6").await.expect("quantity");
    b.click("#preview-user").await.expect("preview");
    wait(b, "#confirm").await;
    b.click("#confirm").await.expect("confirm");
    wait(b, "#outcome").await;

    // Both wait for the account manager, never in the billing team's queue.
    let filter = QueueFilter {
        account_id: Some(w.a),
        ..QueueFilter::default()
    };
    let tickets = w
        .engine
        .tickets(&w.tenant, &filter, 0, 50)
        .await
        .expect("tickets")
        .items;
    assert_eq!(tickets.len(), 2);
    for t in &tickets {
        assert_eq!(t.queue, Queue::AccountManagement, "#{}", t.id);
        assert_eq!(t.assignee_id, Some(manager.id), "#{}", t.id);
    }
    let change = tickets
        .iter()
        .find(|t| t.change_request_id.is_some())
        .expect("the downgrade's ticket")
        .id;
    let mut spare = Vec::new();
    sign_in_staff(b, base, slug, STAFF, &mut spare, None).await;
    b.goto(&p("staff?queue=billing_team&status=all"))
        .await
        .expect("queue");
    wait(b, "main h1").await;
    let billing_queue = b.text("main").await.expect("queue");
    assert!(!billing_queue.contains("Passer à la formule annuelle"));

    // The account manager applies the downgrade from its ticket.
    sign_in_staff(b, base, slug, MANAGER, &mut spare, None).await;
    wait(b, "#queue").await;
    let mine = b.text("#queue").await.expect("queue");
    assert!(mine.contains("Passer à la formule annuelle"), "{mine}");
    b.goto(&p(&format!("staff/tickets/{change}")))
        .await
        .expect("ticket");
    wait(b, "#change-request").await;
    assert!(b.text("#thread").await.expect("thread").contains("27/31"));
    pages.check(b, "staff-change-request-en").await;
    b.click("#apply-change").await.expect("apply");
    wait(b, ".flash").await;
    let credit = w
        .engine
        .account_documents(&w.tenant, w.a, Some(DocumentKind::CreditNote))
        .await
        .expect("documents")
        .pop()
        .expect("the downgrade's credit note");
    // Seed 001: 4 users × 30.00 € × 27/31 = 104.52 € before VAT.
    assert_eq!(credit.document.net_total.minor(), -10452);
    let solved = w
        .engine
        .ticket(&w.tenant, change, true)
        .await
        .expect("ticket");
    assert_eq!(solved.ticket.status, TicketStatus::Solved);
    assert_eq!(
        w.engine
            .ticket(&w.tenant, question, true)
            .await
            .expect("ticket")
            .ticket
            .status,
        TicketStatus::New,
        "the question waits for its own answer"
    );

    // The credit note is in the owner's Billing tab.
    scene.customer(OWNER_A).await;
    b.goto(&p("billing")).await.expect("billing");
    wait(b, "#documents").await;
    assert!(b
        .text("#documents")
        .await
        .expect("documents")
        .contains(&credit.document.number));
}

async fn the_billing_team_changes_a_vat_number_for_the_next_invoice_only(url: &str, save: bool) {
    let Some(scene) = Scene::open(url, save, "fr").await else {
        return;
    };
    let (w, b, base, slug, pages) = (&scene.w, &scene.b, &scene.base, &scene.slug, &scene.pages);
    let p = |path: &str| scene.url(path);
    let first = w
        .engine
        .account_documents(&w.tenant, w.a, None)
        .await
        .expect("documents")[0]
        .clone();
    let old_vat = first
        .document
        .buyer
        .as_ref()
        .and_then(|b| b.vat_number.clone())
        .expect("a VAT number");
    let mut spare = Vec::new();
    sign_in_staff(b, base, slug, STAFF, &mut spare, None).await;
    b.goto(&p("staff/accounts")).await.expect("search");
    b.fill("#q", &first.document.number).await.expect("q");
    b.click("#search").await.expect("search");
    wait(b, "#results").await;
    b.click("#results a").await.expect("account");
    wait(b, "#tax-form").await;
    b.fill("#vat_number", "FR83404833048").await.expect("vat");
    b.click("#save-tax").await.expect("save");
    wait(b, ".flash").await;
    assert!(b
        .text("#audit")
        .await
        .expect("audit")
        .contains("FR83404833048"));
    pages.check(b, "staff-account-fr").await;
    // The invoice issued keeps its VAT number; the next one prints the new one.
    w.engine
        .advance_clock(&w.tenant, d(2024, 8, 6), &mut |_, _| {})
        .await
        .expect("clock");
    let docs = w
        .engine
        .account_documents(&w.tenant, w.a, Some(DocumentKind::Invoice))
        .await
        .expect("documents");
    let vat_of = |n: usize| {
        docs[n]
            .document
            .buyer
            .as_ref()
            .and_then(|b| b.vat_number.clone())
    };
    assert_eq!(vat_of(0), Some(old_vat));
    let last = docs.len() - 1;
    assert!(last >= 1, "an invoice after the change");
    assert_eq!(vat_of(last).as_deref(), Some("FR83404833048"));
}

async fn a_transfer_proved_in_a_ticket_reactivates_a_suspended_account(url: &str, save: bool) {
    let Some(scene) = Scene::open(url, save, "en").await else {
        return;
    };
    let (w, b, base, slug, pages) = (&scene.w, &scene.b, &scene.base, &scene.slug, &scene.pages);
    let p = |path: &str| scene.url(path);
    let smtp = SmtpServer::start().await;
    let (_, pdf) = proof_files(w, b, "transfer").await;
    let contacts = vec![
        "accounts@harbour.example".to_string(),
        "cfo@harbour.example".to_string(),
    ];
    w.engine
        .update_account(
            &w.tenant,
            w.b,
            &AccountPatch {
                billing_contacts: Some(contacts.clone()),
                ..AccountPatch::default()
            },
            prorata_core::account::Actor::BillingTeam,
        )
        .await
        .expect("contacts");
    // B's card authorises but every charge is declined: suspended after seed 004's schedule.
    let declining =
        SandboxGateway::tokenize_card(w.tenant.id, "4000000000000341", 12, 2030).expect("token");
    w.engine
        .add_payment_method(&w.tenant, w.b, &NewPaymentMethod::Card { token: declining })
        .await
        .expect("card");
    let mut day = d(2024, 7, 7);
    loop {
        w.engine
            .advance_clock(&w.tenant, day, &mut |_, _| {})
            .await
            .expect("clock");
        let status = w
            .engine
            .account_standing(&w.tenant, w.b)
            .await
            .expect("standing")
            .status;
        // Seed 004's default schedule stops the account at +29 (cancelled for non-payment:
        // its owner may only pay); a tenant may add a suspension step before.
        if matches!(status, Status::Suspended | Status::Cancelled) {
            break;
        }
        day = day.succ_opt().expect("a day");
        assert!(day < d(2024, 10, 1), "suspended in time");
    }
    worker::deliver_emails(&w.engine, &mailer(&smtp))
        .await
        .expect("delivery");
    smtp.take();
    let balance = w.engine.balance(&w.tenant, w.b).await.expect("balance");
    assert!(balance > 0);

    // The suspended owner may still write to the billing team, with the proof.
    scene.customer(OWNER_B).await;
    b.goto(&p("support/new?about=payment_details"))
        .await
        .expect("form");
    wait(b, "#ticket-form").await;
    b.fill("#subject", "Paid by bank transfer")
        .await
        .expect("subject");
    b.fill(
        "#body",
        "We paid the balance by transfer today: proof attached.",
    )
    .await
    .expect("body");
    b.set_files("#files", &[pdf]).await.expect("proof");
    b.click("#send").await.expect("send");
    wait(b, "#thread").await;
    let id = ticket_in_url(b).await;

    // The billing team records the transfer from the ticket.
    let mut spare = Vec::new();
    sign_in_staff(b, base, slug, STAFF, &mut spare, None).await;
    b.goto(&p(&format!("staff/tickets/{id}?lang=en")))
        .await
        .expect("ticket");
    wait(b, "#transfer-form").await;
    let amount = format!("{}.{:02}", balance / 100, balance % 100);
    b.fill("#amount", &amount).await.expect("amount");
    b.fill("#reference", "HARBOUR LIGHTS VIR 0712")
        .await
        .expect("reference");
    pages.check(b, "staff-transfer-en").await;
    b.click("#record-transfer").await.expect("record");
    wait(b, ".flash").await;
    assert_eq!(
        w.engine
            .account_standing(&w.tenant, w.b)
            .await
            .expect("standing")
            .status,
        Status::Active,
        "the transfer reactivates the account"
    );
    assert_eq!(w.engine.balance(&w.tenant, w.b).await.expect("balance"), 0);
    // Every billing contact is told.
    worker::deliver_emails(&w.engine, &mailer(&smtp))
        .await
        .expect("delivery");
    let told: Vec<String> = smtp
        .messages()
        .into_iter()
        .filter(|m| m.subject().contains("active again"))
        .flat_map(|m| m.to)
        .collect();
    for c in &contacts {
        assert!(told.contains(c), "{c} is told: {told:?}");
    }
}

async fn monthly_to_annual_at_once_or_at_the_end_of_the_period(url: &str, save: bool) {
    let Some(scene) = Scene::open(url, save, "fr").await else {
        return;
    };
    let (w, b, pages) = (&scene.w, &scene.b, &scene.pages);
    let p = |path: &str| scene.url(path);
    w.engine
        .advance_clock(&w.tenant, d(2024, 7, 20), &mut |_, _| {})
        .await
        .expect("clock");
    // A: at once — the unused July days are credited and the year is billed from today.
    scene.customer(OWNER_A).await;
    b.goto(&p("plan")).await.expect("plan");
    wait(b, "#frequency-form").await;
    choose(b, "#new-frequency", "annual").await;
    choose(b, "#when", "at_once").await;
    b.click("#preview-frequency").await.expect("preview");
    wait(b, "#confirm").await;
    let preview = b.text("main").await.expect("preview");
    assert!(preview.contains("17/31"), "{preview}");
    pages.check(b, "frequency-preview-fr").await;
    b.click("#confirm").await.expect("confirm");
    wait(b, "#outcome").await;
    let docs = w
        .engine
        .account_documents(&w.tenant, w.a, None)
        .await
        .expect("documents");
    let today: Vec<_> = docs
        .iter()
        .filter(|r| r.document.issued_on == d(2024, 7, 20))
        .collect();
    let credit = today
        .iter()
        .find(|d| d.document.kind == DocumentKind::CreditNote)
        .expect("the credit of the unused days");
    assert!(credit
        .document
        .lines
        .iter()
        .all(|l| l
            .proration
            .as_ref()
            .is_some_and(|f| (f.num, f.den) == (17, 31))));
    let annual = today
        .iter()
        .find(|d| d.document.kind == DocumentKind::Invoice)
        .expect("the annual invoice");
    assert!(annual
        .document
        .lines
        .iter()
        .any(|l| l.service.end >= d(2025, 7, 19)));

    // B: at the end of the period — nothing now; the next invoice bills the year.
    scene.customer(OWNER_B).await;
    b.goto(&p("plan")).await.expect("plan");
    wait(b, "#frequency-form").await;
    choose(b, "#new-frequency", "annual").await;
    choose(b, "#when", "end_of_period").await;
    b.click("#preview-frequency").await.expect("preview");
    wait(b, "#confirm").await;
    pages.check(b, "frequency-preview-en").await;
    b.click("#confirm").await.expect("confirm");
    wait(b, "#outcome").await;
    let before = w
        .engine
        .account_documents(&w.tenant, w.b, None)
        .await
        .expect("documents")
        .len();
    w.engine
        .advance_clock(&w.tenant, d(2024, 8, 6), &mut |_, _| {})
        .await
        .expect("clock");
    let docs = w
        .engine
        .account_documents(&w.tenant, w.b, None)
        .await
        .expect("documents");
    let renewal = docs
        .iter()
        .skip(before)
        .find(|d| d.document.kind == DocumentKind::Invoice)
        .expect("the renewal invoice");
    assert_eq!(renewal.document.issued_on, d(2024, 8, 6));
    assert!(renewal
        .document
        .lines
        .iter()
        .any(|l| l.service.end >= d(2025, 8, 5)));
    assert!(
        docs.iter()
            .skip(before)
            .all(|d| d.document.kind == DocumentKind::Invoice),
        "no credit at the end of a period"
    );
}

async fn a_late_downgrade_is_applied_only_by_a_tenant_admin_with_a_reason(url: &str, save: bool) {
    let Some(scene) = Scene::open(url, save, "fr").await else {
        return;
    };
    let (w, b, base, slug, pages) = (&scene.w, &scene.b, &scene.base, &scene.slug, &scene.pages);
    let p = |path: &str| scene.url(path);
    // Past 6 June 2025, the deadline for the 6 July 2025 renewal (seed 001's 30 days).
    w.engine
        .advance_clock(&w.tenant, d(2025, 6, 20), &mut |_, _| {})
        .await
        .expect("clock");
    scene.customer(OWNER_A).await;
    b.goto(&p("plan")).await.expect("plan");
    b.fill("#q-user", "6").await.expect("quantity");
    b.click("#preview-user").await.expect("preview");
    wait(b, "#refusal").await;
    assert!(b
        .text("#refusal")
        .await
        .expect("refusal")
        .contains("6 juin 2025"));
    pages.check(b, "refused-late-fr").await;
    // The customer sends it anyway: it reaches the account manager, marked late.
    b.click("#send-late").await.expect("send");
    wait(b, "#outcome").await;
    let requests = w
        .engine
        .change_requests(&w.tenant, None, Some(w.a))
        .await
        .expect("requests");
    assert_eq!(requests.len(), 1);
    let filter = QueueFilter {
        account_id: Some(w.a),
        ..QueueFilter::default()
    };
    let ticket = w
        .engine
        .tickets(&w.tenant, &filter, 0, 10)
        .await
        .expect("tickets")
        .items
        .into_iter()
        .find(|t| t.change_request_id == Some(requests[0].id))
        .expect("its ticket");
    assert_eq!(ticket.queue, Queue::AccountManagement);
    // The account manager may not apply it.
    let mut spare = Vec::new();
    sign_in_staff(b, base, slug, MANAGER, &mut spare, None).await;
    b.goto(&p(&format!("staff/tickets/{}", ticket.id)))
        .await
        .expect("ticket");
    wait(b, "#change-request").await;
    assert!(b
        .text("#thread")
        .await
        .expect("thread")
        .contains("après la date limite de préavis"));
    b.click("#apply-change").await.expect("apply");
    wait(b, ".error-summary").await;
    let still = w
        .engine
        .change_requests(&w.tenant, None, Some(w.a))
        .await
        .expect("requests");
    assert_eq!(still[0].status, prorata_store::ChangeRequestStatus::Pending);
    // A tenant admin may, with a written reason, which is kept.
    sign_in_staff(b, base, slug, TENANT_ADMIN, &mut spare, None).await;
    b.goto(&p(&format!("staff/tickets/{}", ticket.id)))
        .await
        .expect("ticket");
    wait(b, "#override_reason").await;
    b.click("#apply-change")
        .await
        .expect("apply without a reason");
    wait(b, ".error-summary").await;
    b.fill(
        "#override_reason",
        "Commercial agreement: a customer since 2019",
    )
    .await
    .expect("reason");
    pages.check(b, "staff-override-en").await;
    b.click("#apply-change").await.expect("apply");
    wait(b, ".flash").await;
    let applied = w
        .engine
        .change_requests(&w.tenant, None, Some(w.a))
        .await
        .expect("requests");
    assert_eq!(
        applied[0].status,
        prorata_store::ChangeRequestStatus::Applied
    );
    let trail = w
        .engine
        .audit_trail(&w.tenant, w.a, 0, 50)
        .await
        .expect("audit")
        .items;
    assert!(trail.iter().any(|e| e
        .after
        .as_ref()
        .is_some_and(|a| a.to_string().contains("since 2019"))));
}

browser_tests!(
    a_late_downgrade_is_applied_only_by_a_tenant_admin_with_a_reason,
    a_billing_ticket_goes_to_the_billing_team_and_back_until_solved,
    subscription_matters_go_to_the_account_manager_who_applies_a_downgrade,
    the_billing_team_changes_a_vat_number_for_the_next_invoice_only,
    a_transfer_proved_in_a_ticket_reactivates_a_suspended_account,
    monthly_to_annual_at_once_or_at_the_end_of_the_period,
);
