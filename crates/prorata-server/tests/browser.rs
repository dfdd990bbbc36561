//! The portal in a real headless Chromium, served over a socket, on SQLite and PostgreSQL:
//! an invited owner's first day (password, the plan table against the engine's pricing, an
//! upgrade and its prorated invoice, a downgrade request, a late one refused, a PDF), the
//! admin's and agent's narrower view, a portal-session link, and seed 004's banners up to a
//! suspended account paid by its owner. Every page is checked with axe-core, and the SQLite
//! run saves a screenshot of each in French and English into `docs/screenshots/`.

mod portal_common;
#[macro_use]
mod browser_common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use browser_common::*;
use portal_common::*;
use prorata_core::access::Role;
use prorata_core::dunning::Status;
use prorata_core::Lang;
use prorata_engine::gateway::SandboxGateway;
use prorata_engine::people::PersonSpec;
use prorata_engine::NewPaymentMethod;

async fn the_invited_owners_first_year(url: &str, save: bool) {
    let w = world(url).await;
    let Some((_turn, b)) = start("fr").await else {
        return;
    };
    let base = serve(&w).await;
    let slug = w.tenant.slug.clone();
    let pages = Pages::new(save);
    let p = |path: &str| format!("{base}/portal/{slug}/{path}");
    // A new company and its invited owner.
    let catalog = w.engine.catalogs(&w.tenant).await.expect("catalogs")[0].id;
    let d_id = w
        .engine
        .create_account(&w.tenant, &account("Atelier Vauban SAS", Lang::Fr))
        .await
        .expect("account");
    w.engine
        .create_subscription(&w.tenant, d_id, catalog, &seed_subscription())
        .await
        .expect("subscription");
    w.engine
        .invite_user(
            &w.tenant,
            &PersonSpec {
                account_id: Some(d_id),
                role: Role::Owner,
                email: "claire@vauban.example".into(),
                name: "Claire Vauban".into(),
                language: Lang::Fr,
            },
            None,
        )
        .await
        .expect("invited");
    let jobs = w
        .engine
        .jobs(&w.tenant, prorata_store::JobKind::Email)
        .await
        .expect("jobs");
    let token_id = jobs
        .iter()
        .rev()
        .find_map(|(j, _)| j.payload["data"]["token_id"].as_i64())
        .expect("the invitation");
    let token = w
        .engine
        .token_for(w.tenant.id, token_id)
        .await
        .expect("token");

    b.goto(&p(&format!("password/{token}")))
        .await
        .expect("invitation");
    assert!(b
        .text("main")
        .await
        .expect("text")
        .contains("Claire Vauban"));
    pages.check(&b, "password-fr").await;
    b.fill("#password", "une phrase assez longue")
        .await
        .expect("fill");
    b.fill("#confirm", "une phrase assez longue")
        .await
        .expect("fill");
    b.click("main button[type=submit]").await.expect("submit");
    wait(&b, "#general").await;
    assert!(b.current_url().await.expect("url").ends_with("/company"));
    pages.check(&b, "company-fr").await;

    // The plan table: every cell as the engine prices it.
    b.goto(&p("plan")).await.expect("plan");
    pages.check(&b, "plan-fr").await;
    let view = w
        .engine
        .plan_view(&w.tenant, d_id, Lang::Fr)
        .await
        .expect("view")
        .expect("a plan");
    // WebDriver reads no-break spaces as spaces.
    let money = |m| prorata_web::format::money(Lang::Fr, m).replace(['\u{a0}', '\u{202f}'], " ");
    for row in view.table.rows.iter().chain(&view.table.addons) {
        let cell = |col: &str| {
            format!(
                "tr[data-product=\"{}\"] td[data-col=\"{col}\"]",
                row.product
            )
        };
        for (col, want) in [
            ("a", row.active.to_string()),
            ("b", row.included.to_string()),
            ("c", money(row.included_price)),
            ("d", row.extras.to_string()),
            ("e", money(row.extras_cost)),
            ("total", money(row.total)),
        ] {
            assert_eq!(
                b.text(&cell(col)).await.expect("cell"),
                want,
                "{} {col}",
                row.product
            );
        }
    }
    // Seed 001's customer: 10 users × 30.00 + 1 extra number × 6.00 = 306.00 a month.
    assert_eq!(
        b.text("#plan-total").await.expect("total"),
        money(view.table.total)
    );
    assert_eq!(view.table.total.minor(), 30600);

    // 10 July: 4 more users, previewed then billed (4 × 30.00 × 27/31).
    w.engine
        .advance_clock(&w.tenant, d(2024, 7, 10), &mut |_, _| {})
        .await
        .expect("clock");
    b.goto(&p("plan")).await.expect("plan");
    b.fill("#q-user", "14").await.expect("quantity");
    b.click("#preview-user").await.expect("preview");
    wait(&b, "#confirm").await;
    let preview = b.text("main").await.expect("text");
    assert!(
        preview.contains("27/31") && preview.contains("104,52 €"),
        "{preview}"
    );
    pages.check(&b, "upgrade-preview-fr").await;
    b.click("#confirm").await.expect("confirm");
    wait(&b, "#outcome").await;
    let docs = w
        .engine
        .account_documents(&w.tenant, d_id, None)
        .await
        .expect("docs");
    let invoice = docs.last().expect("the upgrade's invoice").document.clone();
    assert_eq!(invoice.net_total.minor(), 10452);
    assert!(b
        .text("main")
        .await
        .expect("text")
        .contains(&invoice.number));

    // A downgrade in time becomes a request for the account manager.
    b.goto(&p("plan")).await.expect("plan");
    b.fill("#q-user", "10").await.expect("quantity");
    b.click("#preview-user").await.expect("preview");
    wait(&b, "#deadline").await;
    assert!(b
        .text("#deadline")
        .await
        .expect("text")
        .contains("6 juin 2025"));
    pages.check(&b, "downgrade-preview-fr").await;
    b.click("#confirm").await.expect("confirm");
    wait(&b, "#outcome").await;
    let requests = w
        .engine
        .change_requests(&w.tenant, None, Some(d_id))
        .await
        .expect("requests");
    assert_eq!(requests.len(), 1);

    // Billing: the invoices, one downloaded as the browser would (same session), and the
    // prepaid credit beside the balance.
    w.engine
        .top_up(
            &w.tenant,
            d_id,
            5_000,
            prorata_core::wallet::TopUp::Granted,
            "geste commercial",
        )
        .await
        .expect("topped up");
    b.goto(&p("billing")).await.expect("billing");
    pages.check(&b, "billing-fr").await;
    assert!(b.text("#prepaid").await.expect("prepaid").contains("50,00"));
    assert!(b
        .text("#documents")
        .await
        .expect("documents")
        .contains(&invoice.number));
    let href = b
        .find("a.pdf")
        .await
        .expect("a PDF link")
        .attr("href")
        .await
        .expect("href")
        .expect("href");
    let (status, head, body) = fetch(&base, &href, &session_cookie(&b).await).await;
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/pdf"),
        "{head}"
    );
    assert!(body.starts_with(b"%PDF"), "a PDF");
    // After the trial: address, postcode and city only.
    assert!(b
        .find("#city")
        .await
        .expect("city")
        .attr("readonly")
        .await
        .expect("attr")
        .is_none());
    assert!(b
        .find("#country")
        .await
        .expect("country")
        .attr("readonly")
        .await
        .expect("attr")
        .is_some());
    assert!(b
        .find("#vat_number")
        .await
        .expect("vat")
        .attr("readonly")
        .await
        .expect("attr")
        .is_some());

    b.goto(&p("users")).await.expect("users");
    pages.check(&b, "users-fr").await;
    // On a phone: the same plan, one column.
    b.set_window_size(390, 844).await.expect("phone");
    b.goto(&p("plan")).await.expect("plan");
    if let Some(dir) = &pages.dir {
        b.screenshot(dir.join("plan-phone-fr.png"))
            .await
            .expect("screenshot");
    }
    let overflow = b
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1;",
            &[],
        )
        .await
        .expect("width");
    assert_eq!(
        overflow,
        serde_json::Value::Bool(false),
        "no sideways scrolling on a phone"
    );
    b.set_window_size(1280, 900).await.expect("desktop");
    b.goto(&p("users")).await.expect("users");

    // The same pages in English, switched by the person.
    b.click("button[lang=en]").await.expect("switch");
    wait(&b, "html[lang=en]").await;
    pages.check(&b, "users-en").await;
    for page in ["company", "plan", "billing"] {
        b.goto(&p(page)).await.expect("page");
        assert_eq!(
            b.find("html")
                .await
                .expect("html")
                .attr("lang")
                .await
                .expect("lang")
                .as_deref(),
            Some("en")
        );
        pages.check(&b, &format!("{page}-en")).await;
    }

    // 10 June 2025, past the deadline of 6 June: refused with the date and the clause.
    w.engine
        .advance_clock(&w.tenant, d(2025, 6, 10), &mut |_, _| {})
        .await
        .expect("clock");
    b.goto(&p("plan")).await.expect("plan");
    b.fill("#q-user", "8").await.expect("quantity");
    b.click("#preview-user").await.expect("preview");
    wait(&b, "#refusal").await;
    let refusal = b.text("main").await.expect("text");
    assert!(
        refusal.contains("6 June 2025") && refusal.contains("6 July 2025"),
        "{refusal}"
    );
    assert!(refusal.contains("13.1.b"), "{refusal}");
    pages.check(&b, "downgrade-refused-en").await;
    b.goto(&p("plan")).await.expect("plan");
    b.click("#preview-cancel").await.expect("cancel");
    wait(&b, "#refusal").await;

    // Signed out: the sign-in page in both languages.
    b.click("header form[action$=\"/sign-out\"] button")
        .await
        .expect("sign out");
    wait(&b, "#email").await;
    pages.check(&b, "sign-in-en").await;
    b.goto(&format!("{}?lang=fr", p("sign-in")))
        .await
        .expect("fr");
    pages.check(&b, "sign-in-fr").await;
    b.goto(&p("company")).await.expect("company");
    assert!(
        b.current_url().await.expect("url").ends_with("/sign-in"),
        "signed out for good"
    );
}

async fn admins_and_agents_see_less_and_portal_links_work_once(url: &str, save: bool) {
    let w = world(url).await;
    let Some((_turn, b)) = start("en").await else {
        return;
    };
    let base = serve(&w).await;
    let slug = w.tenant.slug.clone();
    let pages = Pages::new(save);
    let file = format!("/portal/{slug}/billing/documents/{}.pdf", w.a_invoice);
    for (email, tabs) in [
        // An admin writes to support (their own tickets); an agent does not.
        (ADMIN_A, vec!["company", "plan", "users", "support"]),
        (AGENT_A, vec!["company", "plan"]),
    ] {
        b.delete_cookies().await.expect("fresh");
        sign_in(&b, &base, &slug, email).await;
        wait(&b, "nav.tabs").await;
        let links = b.find_all("nav.tabs a").await.expect("tabs");
        let mut seen = Vec::new();
        for l in links {
            let href = l.attr("href").await.expect("href").unwrap_or_default();
            seen.push(href.rsplit('/').next().unwrap_or_default().to_string());
        }
        assert_eq!(seen, tabs, "{email}'s tabs");
        let (status, _, body) = fetch(&base, &file, &session_cookie(&b).await).await;
        assert_eq!(status, 403, "{email} may not download the invoice");
        assert!(!body.starts_with(b"%PDF"));
        b.goto(&format!("{base}/portal/{slug}/billing"))
            .await
            .expect("billing");
        assert!(
            !b.exists("#documents").await.expect("exists"),
            "{email} sees no invoice"
        );
        if email == AGENT_A {
            b.goto(&format!("{base}/portal/{slug}/plan"))
                .await
                .expect("plan");
            assert!(
                !b.exists("#preview-user").await.expect("exists"),
                "agents change nothing"
            );
            pages.check(&b, "plan-agent-en").await;
        }
    }
    // A portal session from the vendor's API: the link signs in once.
    let owner = w.engine.account_users(&w.tenant, w.a).await.expect("users")[0].clone();
    let mut api = Client::new(&w.router, &slug);
    let host = base.trim_start_matches("http://").to_string();
    let reply = api
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/v1/portal-sessions")
                .header(header::AUTHORIZATION, format!("Bearer {}", w.api_key))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::HOST, host)
                .body(Body::from(
                    serde_json::json!({"user_id": owner.id, "return_url": "https://app.acme.example/"}).to_string(),
                ))
                .expect("request"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let link: serde_json::Value = serde_json::from_slice(&reply.body).expect("json");
    let link = link["url"].as_str().expect("url").to_string();
    assert!(link.starts_with(&base));
    b.delete_cookies().await.expect("fresh");
    b.goto(&link).await.expect("enter");
    wait(&b, "a.back").await;
    assert!(b.current_url().await.expect("url").ends_with("/company"));
    b.delete_cookies().await.expect("fresh");
    b.goto(&link).await.expect("enter again");
    assert!(
        b.text("h1").await.expect("h1").contains("not valid"),
        "refused the second time"
    );
}

async fn banners_follow_the_dunning_schedule_and_the_owner_pays(url: &str, save: bool) {
    let w = world(url).await;
    let Some((_turn, b)) = start("en").await else {
        return;
    };
    let base = serve(&w).await;
    let slug = w.tenant.slug.clone();
    let pages = Pages::new(save);
    for (role, email) in [
        (Role::Admin, "admin@harbour.example"),
        (Role::Agent, "agent@harbour.example"),
    ] {
        w.engine
            .create_user_with_password(
                &w.tenant,
                &PersonSpec {
                    account_id: Some(w.b),
                    role,
                    email: email.into(),
                    name: format!("Harbour {}", role.as_str()),
                    language: Lang::En,
                },
                PASSWORD,
            )
            .await
            .expect("user");
    }
    // B's card authorises but every charge is declined.
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
    let at = |n: u64| since.checked_add_days(chrono::Days::new(n)).expect("date");
    let banner_for = |email: &'static str| {
        let b = &b;
        let base = base.clone();
        let slug = slug.clone();
        async move {
            b.delete_cookies().await.expect("fresh");
            sign_in(b, &base, &slug, email).await;
            // The signed-in page's tabs, not an h1: the sign-in page has one too, and the
            // check would race the navigation.
            wait(b, "nav.tabs").await;
            if b.exists(".banner").await.expect("exists") {
                Some(b.text(".banner").await.expect("banner"))
            } else {
                None
            }
        }
    };
    w.engine
        .advance_clock(&w.tenant, at(3), &mut |_, _| {})
        .await
        .expect("clock");
    assert_eq!(
        banner_for("admin@harbour.example").await,
        None,
        "no banner before +4"
    );
    w.engine
        .advance_clock(&w.tenant, at(4), &mut |_, _| {})
        .await
        .expect("clock");
    assert!(
        banner_for("admin@harbour.example").await.is_some(),
        "admins see it from +4"
    );
    pages.check(&b, "banner-payment-failed-en").await;
    assert!(banner_for(OWNER_B).await.is_some(), "the owner too");
    assert_eq!(
        banner_for("agent@harbour.example").await,
        None,
        "agents not yet"
    );
    w.engine
        .advance_clock(&w.tenant, at(21), &mut |_, _| {})
        .await
        .expect("clock");
    let warning = banner_for("agent@harbour.example")
        .await
        .expect("every agent from +21");
    assert!(warning.contains("suspended soon"), "{warning}");
    pages.check(&b, "banner-suspension-warning-en").await;
    w.engine
        .advance_clock(&w.tenant, at(29), &mut |_, _| {})
        .await
        .expect("clock");
    assert_eq!(
        w.engine
            .account_standing(&w.tenant, w.b)
            .await
            .expect("standing")
            .status,
        Status::Cancelled
    );
    // The agent (and the admin) can no longer sign in; the owner may, to pay.
    for email in ["agent@harbour.example", "admin@harbour.example"] {
        b.delete_cookies().await.expect("fresh");
        sign_in(&b, &base, &slug, email).await;
        wait(&b, ".error-summary").await;
        assert!(b.current_url().await.expect("url").ends_with("/sign-in"));
    }
    pages.check(&b, "sign-in-suspended-en").await;
    b.delete_cookies().await.expect("fresh");
    sign_in(&b, &base, &slug, OWNER_B).await;
    wait(&b, "#pay").await;
    assert!(b.current_url().await.expect("url").ends_with("/billing"));
    let mut tabs = Vec::new();
    for l in b.find_all("nav.tabs a").await.expect("tabs") {
        let href = l.attr("href").await.expect("href").unwrap_or_default();
        tabs.push(href.rsplit('/').next().unwrap_or_default().to_string());
    }
    // Pay only: the Billing tab, and Support, where a transfer's proof is sent (seed 004).
    assert_eq!(tabs, ["billing", "support"], "pay only");
    pages.check(&b, "billing-pay-only-en").await;
    b.goto(&format!("{base}/portal/{slug}/plan"))
        .await
        .expect("plan");
    assert!(b.text("h1").await.expect("h1").contains("only pay"));
    b.goto(&format!("{base}/portal/{slug}/billing"))
        .await
        .expect("billing");
    b.fill("#number", "4242 4242 4242 4242")
        .await
        .expect("card");
    b.fill("#expiry", "12/2030").await.expect("expiry");
    b.click("form[action$=\"/billing/card\"] button")
        .await
        .expect("replace");
    wait(&b, ".flash").await;
    b.click("#pay").await.expect("pay");
    // Paid: the page comes back without anything to pay.
    for _ in 0..50 {
        if !b.exists("#pay").await.unwrap_or(true) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    wait(&b, ".flash").await;
    assert!(
        !b.exists("#pay").await.expect("exists"),
        "nothing left to pay"
    );
    let standing = w
        .engine
        .account_standing(&w.tenant, w.b)
        .await
        .expect("standing");
    assert_eq!(standing.status, Status::Active, "paying reactivates");
    assert_eq!(w.engine.balance(&w.tenant, w.b).await.expect("balance"), 0);
    b.goto(&format!("{base}/portal/{slug}/company"))
        .await
        .expect("company");
    assert!(
        !b.exists(".banner.danger").await.expect("exists"),
        "the warning is gone"
    );
    assert!(
        banner_for("agent@harbour.example").await.is_none(),
        "agents are back, no banner"
    );
}

browser_tests!(
    the_invited_owners_first_year,
    admins_and_agents_see_less_and_portal_links_work_once,
    banners_follow_the_dunning_schedule_and_the_owner_pays,
);
