//! The customer portal through the router (no socket), on SQLite and PostgreSQL: who may
//! open what (a matrix of routes × people, zero leaks), sign-in, sessions, CSRF, links, the
//! plan's changes and the billing tab's rules. Browser tests are in `browser.rs`.

mod portal_common;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use portal_common::*;
use prorata_core::access::Role;
use prorata_core::Lang;
use prorata_engine::people::PersonSpec;

/// Who asks, in the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    SignedOut,
    Owner,
    Admin,
    Agent,
    /// The owner of account B, same tenant.
    OtherAccount,
    /// The owner of account C, other tenant, using their own session cookie here.
    OtherTenant,
    Staff,
}

const EVERYONE: [Who; 7] = [
    Who::SignedOut,
    Who::Owner,
    Who::Admin,
    Who::Agent,
    Who::OtherAccount,
    Who::OtherTenant,
    Who::Staff,
];

async fn client_for(w: &World, who: Who) -> Client {
    let mut c = Client::new(&w.router, &w.tenant.slug);
    let email = match who {
        Who::SignedOut => return c,
        Who::Owner => OWNER_A,
        Who::Admin => ADMIN_A,
        Who::Agent => AGENT_A,
        Who::OtherAccount => OWNER_B,
        Who::Staff => {
            c.sign_in_staff(STAFF).await;
            return c;
        }
        Who::OtherTenant => {
            // Signed in to the other tenant's portal; the cookie is then sent here.
            let mut other = Client::new(&w.router, &w.other_tenant.slug);
            let r = other.sign_in(OWNER_C, PASSWORD).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER);
            c.cookies = other.cookies.clone();
            c.get("sign-in").await;
            return c;
        }
    };
    let r = c.sign_in(email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{email} signs in");
    c
}

/// The expected answer: 200, 303 (to sign in), 403 or 404.
fn expected(route: &str, who: Who) -> u16 {
    use Who::*;
    let signed_in_elsewhere = matches!(who, SignedOut | OtherTenant);
    if signed_in_elsewhere {
        return 303;
    }
    if who == Staff {
        return 403;
    }
    match (route, who) {
        ("company" | "plan", _) => 200,
        ("billing", Owner | OtherAccount) => 200,
        ("billing", _) => 403,
        // A's invoice: B's owner may see B's billing tab, not A's document.
        ("invoice_pdf" | "invoice_xml", Owner) => 200,
        ("invoice_pdf" | "invoice_xml", OtherAccount) => 404,
        ("invoice_pdf" | "invoice_xml", _) => 403,
        ("users", Owner | Admin | OtherAccount) => 200,
        ("users", _) => 403,
        ("logo", _) => 404,
        // Support: the owner and admins; an agent has no tickets at all.
        (_, Agent) if route.starts_with("support") || route.starts_with("ticket") => 403,
        ("support" | "support_new", _) => 200,
        // A's owner's ticket and its file: the owner's; A's admin filed the other one.
        ("ticket_owner" | "ticket_owner_file", Owner) => 200,
        ("ticket_admin" | "ticket_admin_file", Owner | Admin) => 200,
        // A file asked for under another ticket than its own is not found, for anyone.
        ("ticket_owner" | "ticket_owner_file" | "ticket_admin" | "ticket_admin_file", _)
        | ("ticket_file_elsewhere", _) => 404,
        _ => 0,
    }
}

/// A's tickets for the matrix: one filed by A's owner, one by A's admin, each with a file.
struct Tickets {
    owner: i64,
    owner_file: i64,
    admin: i64,
    admin_file: i64,
}

/// The subject of A's owner's ticket: no page shows it to anyone else.
const OWNER_SUBJECT: &str = "Virement du 3 juillet";

async fn file_tickets(w: &World) -> Tickets {
    use prorata_engine::tickets::{Actor, TicketInput, Upload};
    let users = w.engine.account_users(&w.tenant, w.a).await.expect("users");
    let mut filed = Vec::new();
    for (email, role, subject) in [
        (OWNER_A, Role::Owner, OWNER_SUBJECT),
        (ADMIN_A, Role::Admin, "Question sur la facture"),
    ] {
        let user = users.iter().find(|u| u.email == email).expect("user");
        let view = w
            .engine
            .file_ticket(
                &w.tenant,
                Actor {
                    user_id: Some(user.id),
                    role: Some(role),
                    address: None,
                },
                &TicketInput {
                    account_id: w.a,
                    reason: "billing".into(),
                    subject: subject.into(),
                    body: "Voir la pièce jointe.".into(),
                    document_id: None,
                    files: vec![Upload {
                        name: "preuve.pdf".into(),
                        bytes: b"%PDF-1.4\n%%EOF\n".to_vec(),
                    }],
                },
            )
            .await
            .expect("ticket filed");
        filed.push((view.ticket.id, view.files[0].id));
    }
    Tickets {
        owner: filed[0].0,
        owner_file: filed[0].1,
        admin: filed[1].0,
        admin_file: filed[1].1,
    }
}

async fn the_authorisation_matrix_has_no_leak(url: &str) {
    let w = world(url).await;
    let tickets = file_tickets(&w).await;
    let routes = [
        ("company", "company".to_string()),
        ("plan", "plan".to_string()),
        ("billing", "billing".to_string()),
        (
            "invoice_pdf",
            format!("billing/documents/{}.pdf", w.a_invoice),
        ),
        (
            "invoice_xml",
            format!("billing/documents/{}.xml", w.a_invoice),
        ),
        ("users", "users".to_string()),
        ("logo", "company/logo".to_string()),
        ("support", "support".to_string()),
        ("support_new", "support/new".to_string()),
        ("ticket_owner", format!("support/{}", tickets.owner)),
        (
            "ticket_owner_file",
            format!("support/{}/files/{}", tickets.owner, tickets.owner_file),
        ),
        ("ticket_admin", format!("support/{}", tickets.admin)),
        (
            "ticket_admin_file",
            format!("support/{}/files/{}", tickets.admin, tickets.admin_file),
        ),
        (
            "ticket_file_elsewhere",
            format!("support/{}/files/{}", tickets.admin, tickets.owner_file),
        ),
    ];
    let mut wrong = Vec::new();
    let agent = w
        .engine
        .account_users(&w.tenant, w.a)
        .await
        .expect("users")
        .into_iter()
        .find(|u| u.email == AGENT_A)
        .expect("A's agent");
    let agent_removal = format!("users/{}/remove", agent.id);
    // The agent is removed by the admin; the owner, last, removes them again (still allowed,
    // and still the same answer): everyone else asks while the agent is there.
    let order = [
        Who::SignedOut,
        Who::OtherTenant,
        Who::Staff,
        Who::OtherAccount,
        Who::Agent,
        Who::Admin,
        Who::Owner,
    ];
    assert_eq!(order.len(), EVERYONE.len());
    for who in order {
        let mut c = client_for(&w, who).await;
        let invitee = format!("new-{who:?}@lumen.example").to_lowercase();
        for (name, path) in &routes {
            let r = c.get(path).await;
            let want = expected(name, who);
            if r.status.as_u16() != want {
                wrong.push(format!(
                    "{who:?} GET {path}: {} (expected {want})",
                    r.status
                ));
            }
            if r.status == StatusCode::SEE_OTHER {
                assert!(
                    r.location().is_some_and(|l| l.ends_with("/sign-in")),
                    "{who:?} {path} redirects to sign-in"
                );
            }
            // Nothing of A's billing, nor the owner's ticket, reaches anyone but A's owner.
            if who != Who::Owner && r.text().contains(&w.a_invoice_number) {
                wrong.push(format!("{who:?} GET {path} shows A's invoice"));
            }
            if who != Who::Owner && r.text().contains(OWNER_SUBJECT) {
                wrong.push(format!("{who:?} GET {path} shows the owner's ticket"));
            }
        }
        // A reply to the owner's ticket, with a file: the owner's alone.
        let r = c
            .post_multipart(
                &format!("support/{}/reply", tickets.owner),
                &[("body", "Ci-joint le justificatif.")],
                &[("justificatif.pdf", b"%PDF-1.4\n%%EOF\n")],
            )
            .await;
        let replied = r.status == StatusCode::SEE_OTHER
            && !r.location().is_some_and(|l| l.ends_with("/sign-in"));
        if replied != (who == Who::Owner) {
            wrong.push(format!(
                "{who:?} replies to the owner's ticket: {}",
                r.status
            ));
        }
        // Writes: the address (owner only), an invitation (owner, admin), a change (owner,
        // admin). A refusal changes nothing.
        for (path, fields, allowed) in [
            (
                "billing/address",
                vec![("city", "Lyon")],
                matches!(who, Who::Owner | Who::OtherAccount),
            ),
            (
                "users",
                vec![
                    ("email", invitee.as_str()),
                    ("name", "New person"),
                    ("role", "agent"),
                ],
                matches!(who, Who::Owner | Who::Admin | Who::OtherAccount),
            ),
            (
                "plan/preview",
                vec![
                    ("kind", "quantity"),
                    ("product", "user"),
                    ("quantity", "12"),
                ],
                matches!(who, Who::Owner | Who::Admin | Who::OtherAccount),
            ),
            (
                "company",
                vec![("name", "Renamed SAS"), ("website", "")],
                matches!(who, Who::Owner | Who::Admin | Who::OtherAccount),
            ),
            (
                "billing/contacts",
                vec![("contacts", "ap@example.com")],
                matches!(who, Who::Owner | Who::OtherAccount),
            ),
            (
                "billing/card",
                vec![("number", "4242 4242 4242 4242"), ("expiry", "12/2030")],
                matches!(who, Who::Owner | Who::OtherAccount),
            ),
            // A's agent: removed only from A, by its owner or admin (whoever comes first).
            (
                agent_removal.as_str(),
                vec![],
                matches!(who, Who::Owner | Who::Admin),
            ),
        ] {
            let r = c.post(path, &fields).await;
            let ok = matches!(r.status, StatusCode::OK | StatusCode::SEE_OTHER)
                && !r.location().is_some_and(|l| l.ends_with("/sign-in"));
            if ok != allowed {
                wrong.push(format!("{who:?} POST {path}: {}", r.status));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "unexpected answers:\n{}",
        wrong.join("\n")
    );
    // The address changed by A's owner only; B's owner changed B's.
    let a = w.engine.account(&w.tenant, w.a).await.expect("A");
    assert_eq!(a.address.city, "Lyon");
    let c = w.engine.account(&w.other_tenant, w.c).await.expect("C");
    assert_eq!(
        c.address.city, "Paris",
        "the other tenant's account is untouched"
    );
    // One reply reached the owner's ticket, the owner's, with its file.
    let thread = w
        .engine
        .ticket(&w.tenant, tickets.owner, true)
        .await
        .expect("ticket");
    assert_eq!(thread.messages.len(), 2);
    assert_eq!(thread.files.len(), 2);
}

async fn forms_without_the_right_token_or_from_another_site_are_refused(url: &str) {
    let w = world(url).await;
    let mut c = client_for(&w, Who::Owner).await;
    let before = w.engine.account(&w.tenant, w.a).await.expect("A");
    let no_token = c
        .post_raw("billing/address", &[("city", "Evil")], None)
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let wrong = c
        .post_raw(
            "billing/address",
            &[
                ("csrf", "0123456789abcdef0123456789abcdef"),
                ("city", "Evil"),
            ],
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let token = c.csrf.clone();
    let cross = c
        .post_raw(
            "billing/address",
            &[("csrf", token.as_str()), ("city", "Evil")],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let same = c
        .post_raw(
            "billing/address",
            &[("csrf", token.as_str()), ("city", "Nantes")],
            Some("http://portal.test"),
        )
        .await;
    assert_eq!(same.status, StatusCode::SEE_OTHER);
    let after = w.engine.account(&w.tenant, w.a).await.expect("A");
    assert_eq!(before.address.city, "Paris");
    assert_eq!(
        after.address.city, "Nantes",
        "only the genuine form changed it"
    );
    // Another visitor's token (another CSRF cookie) does not work with this cookie.
    let mut stranger = Client::new(&w.router, &w.tenant.slug);
    stranger.get("sign-in").await;
    let theirs = stranger.csrf.clone();
    assert_ne!(theirs, token);
    let r = c
        .post_raw(
            "billing/address",
            &[("csrf", theirs.as_str()), ("city", "Evil")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn the_sixth_wrong_password_is_throttled_and_unknown_emails_look_the_same(url: &str) {
    let w = world(url).await;
    let mut c = Client::new(&w.router, &w.tenant.slug);
    let unknown = c.sign_in("nobody@lumen.example", "whatever it is!").await;
    let wrong = c.sign_in(ADMIN_A, "not the password").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let strip = |r: &Reply| {
        r.text()
            .replace(&csrf_of(&r.text()).unwrap_or_default(), "")
            .replace("nobody@lumen.example", "")
            .replace(ADMIN_A, "")
    };
    assert_eq!(strip(&unknown), strip(&wrong), "the same page either way");
    for _ in 0..4 {
        let r = c.sign_in(ADMIN_A, "not the password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let sixth = c.sign_in(ADMIN_A, PASSWORD).await;
    assert_eq!(
        sixth.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    // Another user is not held up.
    let other = c.sign_in(AGENT_A, PASSWORD).await;
    assert_eq!(other.status, StatusCode::SEE_OTHER);
}

async fn a_new_session_id_at_each_sign_in_and_sign_out_ends_it(url: &str) {
    let w = world(url).await;
    let mut c = Client::new(&w.router, &w.tenant.slug);
    c.sign_in(OWNER_A, PASSWORD).await;
    let first = c.session().expect("a session cookie");
    c.sign_in(OWNER_A, PASSWORD).await;
    let second = c.session().expect("a session cookie");
    assert_ne!(first, second, "sign-in makes a new id");
    let mut old = c.clone();
    old.cookies
        .insert(prorata_web::SESSION_COOKIE.into(), first);
    assert_eq!(
        old.get("company").await.status,
        StatusCode::SEE_OTHER,
        "the old id is dead"
    );
    assert_eq!(c.get("company").await.status, StatusCode::OK);
    let out = c.post("sign-out", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let mut replay = c.clone();
    replay
        .cookies
        .insert(prorata_web::SESSION_COOKIE.into(), second);
    assert_eq!(replay.get("company").await.status, StatusCode::SEE_OTHER);
}

async fn cookies_and_headers_are_set_by_the_book(url: &str) {
    let w = world(url).await;
    let mut c = Client::new(&w.router, &w.tenant.slug);
    let page = c.get("sign-in").await;
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap_or("");
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(
        !csp.contains("script-src") || !csp.contains("'unsafe"),
        "{csp}"
    );
    assert_eq!(page.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(page.headers[header::REFERRER_POLICY], "same-origin");
    assert!(!page.text().contains("<script"), "no script at all");
    let signed = {
        c.post("sign-in", &[("email", OWNER_A), ("password", PASSWORD)])
            .await
    };
    let cookie = signed
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap_or("").to_string())
        .find(|v| v.starts_with(prorata_web::SESSION_COOKIE))
        .expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        cookie.contains(&format!("Path=/portal/{}", w.tenant.slug)),
        "{cookie}"
    );
}

async fn an_invitation_sets_a_password_once(url: &str) {
    let w = world(url).await;
    let user = w
        .engine
        .invite_user(
            &w.tenant,
            &PersonSpec {
                account_id: Some(w.a),
                role: Role::Agent,
                email: "Invited@Lumen.example".into(),
                name: "Ivy Invited".into(),
                language: Lang::Fr,
            },
            Some("Alice"),
        )
        .await
        .expect("invited");
    assert_eq!(
        user.email, "invited@lumen.example",
        "e-mails are kept lower-case"
    );
    // The e-mail job names the link's row; the worker makes the link (as `deliver` does).
    let jobs = w
        .engine
        .jobs(&w.tenant, prorata_store::JobKind::Email)
        .await
        .expect("jobs");
    let payload = &jobs.last().expect("an invitation e-mail").0.payload;
    assert_eq!(payload["template"], "invitation");
    let token_id = payload["data"]["token_id"]
        .as_i64()
        .expect("the link's row");
    let token = w
        .engine
        .token_for(w.tenant.id, token_id)
        .await
        .expect("token");
    assert!(
        !payload.to_string().contains(&token),
        "the job does not hold the link"
    );
    let mut c = Client::new(&w.router, &w.tenant.slug);
    let form = c.get(&format!("password/{token}")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text().contains("Ivy Invited"));
    let short = c
        .post(
            &format!("password/{token}"),
            &[("password", "short"), ("confirm", "short")],
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    let set = c
        .post(
            &format!("password/{token}"),
            &[
                ("password", "a long enough password"),
                ("confirm", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.text());
    assert_eq!(c.get("company").await.status, StatusCode::OK, "signed in");
    let again = c.get(&format!("password/{token}")).await;
    assert_eq!(again.status, StatusCode::GONE, "a link works once");
    let forged = format!("{token_id}-0123456789abcdef0123456789abcdef");
    assert_eq!(
        c.get(&format!("password/{forged}")).await.status,
        StatusCode::GONE
    );
    let mut fresh = Client::new(&w.router, &w.tenant.slug);
    let r = fresh
        .sign_in("invited@lumen.example", "a long enough password")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

async fn a_portal_session_link_signs_in_once(url: &str) {
    let w = world(url).await;
    let owner = w.engine.account_users(&w.tenant, w.a).await.expect("users")[0].clone();
    let mut api = Client::new(&w.router, &w.tenant.slug);
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/portal-sessions")
        .header(header::AUTHORIZATION, format!("Bearer {}", w.api_key))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::HOST, "billing.acme.example")
        .body(Body::from(
            serde_json::json!({"user_id": owner.id, "return_url": "https://app.acme.example/settings"})
                .to_string(),
        ))
        .expect("request");
    let r = api.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let link = body["url"].as_str().expect("url");
    let path = link
        .strip_prefix("http://billing.acme.example")
        .expect("absolute URL");
    let mut c = Client::new(&w.router, &w.tenant.slug);
    let enter = c.get(path).await;
    assert_eq!(enter.status, StatusCode::SEE_OTHER);
    let company = c.get("company").await;
    assert_eq!(company.status, StatusCode::OK);
    assert!(
        company.text().contains("https://app.acme.example/settings"),
        "a way back"
    );
    let mut second = Client::new(&w.router, &w.tenant.slug);
    assert_eq!(
        second.get(path).await.status,
        StatusCode::GONE,
        "refused the second time"
    );
}

async fn a_late_downgrade_is_refused_with_the_deadline_and_an_early_one_becomes_a_request(
    url: &str,
) {
    let w = world(url).await;
    let mut owner = client_for(&w, Who::Owner).await;
    // 6 July 2024, first day: the renewal is 6 July 2025, deadline 6 June 2025.
    let preview = owner
        .post(
            "plan/preview",
            &[("kind", "quantity"), ("product", "user"), ("quantity", "6")],
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    assert!(
        preview.text().contains("6 juin 2025"),
        "the deadline, in French"
    );
    let sent = owner
        .post(
            "plan/submit",
            &[("kind", "quantity"), ("product", "user"), ("quantity", "6")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK);
    let requests = w
        .engine
        .change_requests(&w.tenant, None, Some(w.a))
        .await
        .expect("requests");
    assert_eq!(requests.len(), 1, "recorded for the account manager");
    assert_eq!(
        requests[0].status,
        prorata_store::ChangeRequestStatus::Pending
    );
    // Past the deadline: 10 June 2025.
    w.engine
        .advance_clock(&w.tenant, d(2025, 6, 10), &mut |_, _| {})
        .await
        .expect("clock");
    let late = owner
        .post(
            "plan/preview",
            &[("kind", "quantity"), ("product", "user"), ("quantity", "5")],
        )
        .await;
    assert_eq!(late.status, StatusCode::UNPROCESSABLE_ENTITY);
    let text = late.text();
    assert!(
        text.contains("6 juin 2025") && text.contains("6 juillet 2025"),
        "{text}"
    );
    assert!(text.contains("13.1.b"), "the clause is cited");
    let late_submit = owner
        .post(
            "plan/submit",
            &[("kind", "quantity"), ("product", "user"), ("quantity", "5")],
        )
        .await;
    assert_eq!(late_submit.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        w.engine
            .change_requests(&w.tenant, None, Some(w.a))
            .await
            .expect("requests")
            .len(),
        1,
        "nothing recorded after the deadline"
    );
}

async fn an_upgrade_is_previewed_then_billed_prorated(url: &str) {
    let w = world(url).await;
    w.engine
        .advance_clock(&w.tenant, d(2024, 7, 10), &mut |_, _| {})
        .await
        .expect("clock");
    let mut owner = client_for(&w, Who::Owner).await;
    let preview = owner
        .post(
            "plan/preview",
            &[
                ("kind", "quantity"),
                ("product", "user"),
                ("quantity", "14"),
            ],
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK);
    // 4 more users from 10 July to 5 August: 27 of 31 days.
    assert!(preview.text().contains("27/31"), "the fraction is shown");
    let before = w
        .engine
        .account_documents(&w.tenant, w.a, None)
        .await
        .expect("docs")
        .len();
    let done = owner
        .post(
            "plan/submit",
            &[
                ("kind", "quantity"),
                ("product", "user"),
                ("quantity", "14"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK);
    let docs = w
        .engine
        .account_documents(&w.tenant, w.a, None)
        .await
        .expect("docs");
    assert_eq!(docs.len(), before + 1, "one prorated invoice");
    let invoice = &docs.last().expect("the invoice").document;
    // 4 × 30.00 × 27/31 = 104.516… → 104.52 net.
    assert_eq!(invoice.net_total.minor(), 10452);
    assert!(done.text().contains(&invoice.number));
}

async fn the_owner_edits_only_address_postcode_and_city_after_the_trial(url: &str) {
    let w = world(url).await;
    let mut owner = client_for(&w, Who::Owner).await;
    let page = owner.get("billing").await.text();
    assert!(
        page.contains("id=\"city\" name=\"city\""),
        "the city is editable"
    );
    assert!(
        !page.contains("name=\"country\""),
        "the country is read-only"
    );
    assert!(page.contains("id=\"country\" value=\"FR\" readonly"));
    let r = owner.post("billing/address", &[("country", "BE")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        w.engine.account(&w.tenant, w.a).await.expect("A").country,
        "FR"
    );
    let r = owner
        .post(
            "billing/address",
            &[
                ("line1", "3 rue de la Paix"),
                ("postcode", "75003"),
                ("city", "Paris 3e"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let a = w.engine.account(&w.tenant, w.a).await.expect("A");
    assert_eq!(
        (a.address.postcode.as_str(), a.address.city.as_str()),
        ("75003", "Paris 3e")
    );
}

/// Issue 17: the VAT rules' refusals show on the field, in the viewer's language — the owner's
/// address emptied under a VAT number, the billing team's number with a wrong key.
async fn a_vat_refusal_shows_on_the_field_in_the_viewers_language(url: &str) {
    let w = world(url).await;
    for (who, account, said) in [
        (Who::Owner, w.a, "Obligatoire avec un numéro de TVA"),
        (Who::OtherAccount, w.b, "Required with a VAT number"),
    ] {
        let mut c = client_for(&w, who).await;
        let r = c.post("billing/address", &[("city", "")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{who:?}");
        assert!(r.text().contains(said), "{who:?}: {}", r.text());
        let a = w.engine.account(&w.tenant, account).await.expect("account");
        assert_eq!(a.address.city, "Paris", "{who:?}: nothing changed");
    }
    for (desk, said) in [
        (Desk::BillingTeam, "ne passe pas le contrôle de sa clé"),
        (Desk::TenantAdmin, "does not pass its check"),
    ] {
        let mut c = desk_client(&w, desk).await;
        let r = c
            .post(
                &format!("staff/accounts/{}/tax", w.a),
                &[
                    ("country", "FR"),
                    ("state", ""),
                    ("vat_number", "FR41303265045"),
                ],
            )
            .await;
        let page = r.text();
        assert!(page.contains(said), "{desk:?}: {page}");
        assert!(
            page.contains("FR41303265045"),
            "{desk:?}: the number is quoted"
        );
    }
    let a = w.engine.account(&w.tenant, w.a).await.expect("A");
    assert_eq!(a.vat_number.as_deref(), Some("FR40303265045"));
}

async fn the_billing_tab_shows_prepaid_credit_only_when_there_is_some(url: &str) {
    let w = world(url).await;
    let mut owner = client_for(&w, Who::Owner).await;
    let page = owner.get("billing").await.text();
    assert!(!page.contains("id=\"prepaid\""), "no wallet, no line");
    w.engine
        .top_up(
            &w.tenant,
            w.a,
            12_345,
            prorata_core::wallet::TopUp::Granted,
            "gesture",
        )
        .await
        .expect("topped up");
    let page = owner.get("billing").await.text();
    // The account speaks French: 12 345 cents is "123,45 €" (a no-break space before the sign).
    assert!(
        page.contains("<strong id=\"prepaid\">123,45\u{a0}€</strong>"),
        "{page}"
    );
}

async fn names_render_as_text_and_only_real_pictures_become_logos(url: &str) {
    let w = world(url).await;
    let mut owner = client_for(&w, Who::Owner).await;
    let r = owner
        .post(
            "company",
            &[("name", "<script>alert(1)</script> SAS"), ("website", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = owner.get("company").await.text();
    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62; SAS")
            || page.contains("&lt;script&gt;")
    );
    // A "PNG" that is an HTML page.
    let boundary = "XBOUNDARYX";
    let csrf = owner.csrf.clone();
    let multipart = |name: &str, content: &[u8]| {
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"{name}\"\r\n\
                 Content-Type: image/png\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        body
    };
    let upload = |body: Vec<u8>, cookies: String| {
        Request::builder()
            .method(Method::POST)
            .uri(format!("/portal/{}/company/logo", w.tenant.slug))
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .header(header::COOKIE, cookies)
            .body(Body::from(body))
            .expect("request")
    };
    let cookies = owner
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let fake = owner
        .send(upload(
            multipart("logo.png", b"<html><script>alert(1)</script></html>"),
            cookies.clone(),
        ))
        .await;
    assert_eq!(fake.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(w.engine.logo(&w.tenant, w.a).await.expect("logo").is_none());
    // A real PNG (1×1) is accepted and served back re-encoded, as image/png, never sniffed.
    let png: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0,
        0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0d, 0x49, 0x44,
        0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0, 0x05, 0, 0x01, 0xff, 0x89,
        0x99, 0x3d, 0x1d, 0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    let real = owner.send(upload(multipart("me.png", png), cookies)).await;
    assert_eq!(real.status, StatusCode::SEE_OTHER, "{}", real.text());
    let logo = owner.get("company/logo").await;
    assert_eq!(logo.status, StatusCode::OK);
    assert_eq!(logo.headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(logo.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(logo.body.starts_with(b"\x89PNG"));
}

async fn no_password_session_or_link_is_stored_in_clear(url: &str) {
    if !url.starts_with("sqlite://") {
        return; // Read back from the file: the SQLite run covers the store's columns.
    }
    let w = world(url).await;
    let mut c = client_for(&w, Who::Owner).await;
    let session = c.session().expect("session");
    let token = w
        .engine
        .create_portal_session(
            &w.tenant,
            w.engine.account_users(&w.tenant, w.a).await.expect("users")[0].id,
            None,
        )
        .await
        .expect("link");
    c.get("company").await;
    w.engine.store.close().await;
    let path = url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default();
    let mut bytes = std::fs::read(path).unwrap_or_default();
    bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
    let haystack = String::from_utf8_lossy(&bytes);
    assert!(!haystack.is_empty());
    for secret in [
        PASSWORD,
        session.as_str(),
        token.as_str(),
        token.split('-').nth(1).unwrap_or("x"),
    ] {
        assert!(
            !haystack.contains(secret),
            "{secret:?} is in the database file"
        );
    }
    assert!(
        haystack.contains("$argon2id$"),
        "passwords are Argon2id hashes"
    );
}

async fn pages_speak_the_users_language_and_accept_language(url: &str) {
    let w = world(url).await;
    let mut en = Client::new(&w.router, &w.tenant.slug);
    let req = Request::builder()
        .uri(format!("/portal/{}/sign-in", w.tenant.slug))
        .header(header::ACCEPT_LANGUAGE, "fr-FR,fr;q=0.9,en;q=0.5")
        .body(Body::empty())
        .expect("request");
    let fr = en.send(req).await.text();
    assert!(fr.contains("lang=\"fr\"") && fr.contains("Connexion"));
    let english = en.get("sign-in").await.text();
    assert!(english.contains("lang=\"en\"") && english.contains("Sign in"));
    // The agent of A chose English, the owner French.
    let mut agent = client_for(&w, Who::Agent).await;
    assert!(agent.get("plan").await.text().contains("Active (A)"));
    let mut owner = client_for(&w, Who::Owner).await;
    assert!(owner.get("plan").await.text().contains("Actives (A)"));
}

/// The first bytes of a PNG and of a PDF: what the files are told by.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR capture";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj\n%%EOF\n";

async fn a_ticket_with_a_bad_file_or_field_is_refused_whole_saying_why(url: &str) {
    let w = world(url).await;
    let mut owner = client_for(&w, Who::Owner).await;
    let b_invoice = w
        .engine
        .account_documents(&w.tenant, w.b, None)
        .await
        .expect("B's documents")[0]
        .id
        .to_string();
    let elf: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0";
    let mut huge = PDF.to_vec();
    huge.resize(20 * 1024 * 1024, b'0');
    let six: Vec<(&str, &[u8])> = (0..6).map(|_| ("capture.png", PNG)).collect();
    let good: [(&str, &str); 3] = [
        ("reason", "billing"),
        ("subject", "Paiement en double"),
        ("body", "Nous avons payé deux fois la facture de juillet."),
    ];
    let with = |field: &'static str, value: &'static str| -> Vec<(&'static str, &'static str)> {
        good.iter()
            .map(|(k, v)| if *k == field { (*k, value) } else { (*k, *v) })
            .collect()
    };
    // Account A's owner is French: the page says what is wrong in French, naming the file.
    /// What is sent (a case's name, its fields and files) and what the page must say.
    type Case<'a> = (
        &'a str,
        Vec<(&'a str, &'a str)>,
        Vec<(&'a str, &'a [u8])>,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "an executable renamed .png",
            good.to_vec(),
            vec![("capture.png", PNG), ("virus.png", elf)],
            "Le fichier virus.png n",
        ),
        (
            "a 20 MB file",
            good.to_vec(),
            vec![("gros.pdf", &huge)],
            "Le fichier gros.pdf dépasse 10 Mo.",
        ),
        (
            "a sixth file",
            good.to_vec(),
            six,
            "Joignez au plus 5 fichiers",
        ),
        (
            "an empty subject",
            with("subject", "   "),
            vec![("capture.png", PNG)],
            "Indiquez un objet.",
        ),
        (
            "no contact reason",
            with("reason", "nope"),
            vec![],
            "Choisissez un motif de contact.",
        ),
        (
            "another account's invoice",
            good.iter()
                .copied()
                .chain([("document", b_invoice.as_str())])
                .collect(),
            vec![("capture.png", PNG)],
            "vos propres factures",
        ),
    ];
    for (case, fields, files, says) in cases {
        let r = owner.post_multipart("support/new", &fields, &files).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{case}");
        assert!(r.text().contains(says), "{case}: {}", r.text());
        // What was typed is kept for the next try.
        if case != "an empty subject" {
            assert!(r.text().contains("Paiement en double"), "{case}");
        }
    }
    let filter = prorata_store::QueueFilter {
        account_id: Some(w.a),
        ..Default::default()
    };
    let stored = w
        .engine
        .tickets(&w.tenant, &filter, 0, 50)
        .await
        .expect("tickets");
    assert!(
        stored.items.is_empty(),
        "nothing of a refused ticket is kept"
    );
    // The same ticket with good files is filed, and its files come back as they were sent.
    let r = owner
        .post_multipart(
            "support/new",
            &good,
            &[("capture écran.png", PNG), ("virement.pdf", PDF)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let at = r.location().expect("to the ticket").to_string();
    assert!(at.contains("done=ticket_filed"), "{at}");
    let page = owner.get(&at).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("capture écran.png"));
    let view = &w
        .engine
        .tickets(&w.tenant, &filter, 0, 50)
        .await
        .expect("tickets")
        .items[0];
    let thread = w
        .engine
        .ticket(&w.tenant, view.id, false)
        .await
        .expect("ticket");
    assert_eq!(thread.files.len(), 2);
    for (f, sent) in thread.files.iter().zip([PNG, PDF]) {
        let r = owner
            .get(&format!("support/{}/files/{}", view.id, f.id))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, sent);
        assert_eq!(r.headers[header::CONTENT_TYPE], f.media_type.as_str());
        assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(r.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .is_ok_and(|d| d.starts_with("attachment")));
    }
}

async fn the_ask_the_billing_team_links_open_the_form_filled_in(url: &str) {
    let w = world(url).await;
    let mut owner = client_for(&w, Who::Owner).await;
    let billing = owner.get("billing").await.text();
    assert!(billing.contains("support/new?about=tax_details"));
    assert!(billing.contains("support/new?about=payment_details"));
    let form = owner.get("support/new?about=tax_details").await;
    assert_eq!(form.status, StatusCode::OK);
    let html = form.text();
    assert!(
        html.contains("value=\"tax_details\" checked"),
        "the reason is chosen"
    );
    // The current values are written in, for the billing team to compare.
    assert!(html.contains("FR40303265045"), "{html}");
    assert!(html.contains("- Pays : FR"));
    // Each reason says who answers it: subscription matters are the account manager's.
    assert!(html.contains("votre gestionnaire de compte vous répondra"));
}

/// Who asks, in the back office's matrix: the portal's people, and each staff role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Desk {
    SignedOut,
    Owner,
    Admin,
    Agent,
    OtherAccount,
    /// The owner of the other tenant's account, with their own cookie.
    OtherTenant,
    BillingTeam,
    AccountManager,
    TenantAdmin,
}

async fn desk_client(w: &World, who: Desk) -> Client {
    let as_portal = |w| match who {
        Desk::SignedOut => Some(Who::SignedOut),
        Desk::Owner => Some(Who::Owner),
        Desk::Admin => Some(Who::Admin),
        Desk::Agent => Some(Who::Agent),
        Desk::OtherAccount => Some(Who::OtherAccount),
        Desk::OtherTenant => Some(Who::OtherTenant),
        Desk::BillingTeam => Some(Who::Staff),
        _ => {
            let _: &World = w;
            None
        }
    };
    if let Some(p) = as_portal(w) {
        return client_for(w, p).await;
    }
    let mut c = Client::new(&w.router, &w.tenant.slug);
    let email = if who == Desk::AccountManager {
        MANAGER
    } else {
        TENANT_ADMIN
    };
    c.sign_in_staff(email).await;
    c
}

async fn the_back_office_matrix_has_no_leak(url: &str) {
    use prorata_engine::tickets::{Actor, TicketInput, Upload};
    let w = world(url).await;
    let tickets = file_tickets(&w).await;
    // A ticket of the other tenant: no staff member here reaches it.
    let theirs = w
        .engine
        .file_ticket(
            &w.other_tenant,
            Actor::API,
            &TicketInput {
                account_id: w.c,
                reason: "billing".into(),
                subject: "Ailleurs".into(),
                body: "Chez l'autre éditeur.".into(),
                document_id: None,
                files: vec![Upload {
                    name: "x.pdf".into(),
                    bytes: b"%PDF-1.4".to_vec(),
                }],
            },
        )
        .await
        .expect("the other tenant's ticket");
    let routes: Vec<(&str, String)> = vec![
        ("queue", "staff".into()),
        ("queue_all", "staff?queue=all&status=all".into()),
        ("ticket", format!("staff/tickets/{}", tickets.owner)),
        (
            "ticket_file",
            format!(
                "staff/tickets/{}/files/{}",
                tickets.owner, tickets.owner_file
            ),
        ),
        (
            "file_elsewhere",
            format!(
                "staff/tickets/{}/files/{}",
                tickets.admin, tickets.owner_file
            ),
        ),
        ("search", "staff/accounts?q=lumen".into()),
        ("account", format!("staff/accounts/{}", w.a)),
        (
            "account_pdf",
            format!("staff/accounts/{}/documents/{}.pdf", w.a, w.a_invoice),
        ),
        (
            "pdf_of_another_account",
            format!("staff/accounts/{}/documents/{}.pdf", w.b, w.a_invoice),
        ),
        (
            "other_tenant_ticket",
            format!("staff/tickets/{}", theirs.ticket.id),
        ),
        (
            "other_tenant_file",
            format!(
                "staff/tickets/{}/files/{}",
                theirs.ticket.id, theirs.files[0].id
            ),
        ),
        ("other_tenant_account", format!("staff/accounts/{}", w.c)),
    ];
    let expected = |route: &str, who: Desk| -> u16 {
        use Desk::*;
        match who {
            SignedOut | OtherTenant => 303,
            Owner | Admin | Agent | OtherAccount => 403,
            BillingTeam | AccountManager | TenantAdmin => match route {
                "file_elsewhere" | "pdf_of_another_account" => 404,
                r if r.starts_with("other_tenant") => 404,
                _ => 200,
            },
        }
    };
    let mut wrong = Vec::new();
    for who in [
        Desk::SignedOut,
        Desk::Owner,
        Desk::Admin,
        Desk::Agent,
        Desk::OtherAccount,
        Desk::OtherTenant,
        Desk::BillingTeam,
        Desk::AccountManager,
        Desk::TenantAdmin,
    ] {
        let mut c = desk_client(&w, who).await;
        for (name, path) in &routes {
            let r = c.get(path).await;
            let want = expected(name, who);
            if r.status.as_u16() != want {
                wrong.push(format!(
                    "{who:?} GET {path}: {} (expected {want})",
                    r.status
                ));
            }
            if r.text().contains("Ailleurs") {
                wrong.push(format!(
                    "{who:?} GET {path} shows the other tenant's ticket"
                ));
            }
        }
        // Writes: an answer and an internal note, a status, an assignment (staff), the tax
        // details (billing team and tenant admins only).
        let staff = matches!(
            who,
            Desk::BillingTeam | Desk::AccountManager | Desk::TenantAdmin
        );
        let ok = |r: &Reply| {
            r.status == StatusCode::SEE_OTHER
                && !r.location().is_some_and(|l| l.ends_with("/sign-in"))
        };
        let r = c
            .post_multipart(
                &format!("staff/tickets/{}/reply", tickets.owner),
                &[("body", "Bien reçu."), ("internal", "on")],
                &[],
            )
            .await;
        if ok(&r) != staff {
            wrong.push(format!("{who:?} notes: {}", r.status));
        }
        let r = c
            .post(
                &format!("staff/tickets/{}/assignment", tickets.owner),
                &[("queue", "billing_team"), ("assignee", "")],
            )
            .await;
        if ok(&r) != staff {
            wrong.push(format!("{who:?} assigns: {}", r.status));
        }
        let r = c
            .post(
                &format!("staff/tickets/{}/status", theirs.ticket.id),
                &[("status", "solved")],
            )
            .await;
        if ok(&r) {
            wrong.push(format!("{who:?} solved the other tenant's ticket"));
        }
        let r = c
            .post(
                &format!("staff/accounts/{}/tax", w.a),
                &[
                    ("country", "FR"),
                    ("state", ""),
                    ("vat_number", "FR40303265045"),
                ],
            )
            .await;
        let may_tax = matches!(who, Desk::BillingTeam | Desk::TenantAdmin);
        if ok(&r) != may_tax {
            wrong.push(format!("{who:?} changes the tax details: {}", r.status));
        }
        let r = c
            .post(
                &format!("staff/accounts/{}/tax", w.c),
                &[("country", "DE"), ("state", ""), ("vat_number", "")],
            )
            .await;
        if ok(&r) {
            wrong.push(format!("{who:?} changed the other tenant's account"));
        }
        // Every other form of the back office, by the role that owns it. Empty or wrong
        // values are fine here: what is checked is whether the policy let the form through
        // (anything but 403, or a redirect to sign in).
        let through = |r: &Reply| {
            r.status != StatusCode::FORBIDDEN
                && !r
                    .location()
                    .is_some_and(|l| l.ends_with("/sign-in") || l.ends_with("/staff/second-factor"))
        };
        use Desk::*;
        let account = format!("staff/accounts/{}", w.a);
        let ticket = format!("staff/tickets/{}", tickets.owner);
        for (path, roles) in [
            (format!("{account}/send"), &[BillingTeam, TenantAdmin][..]),
            (
                format!("{account}/contacts"),
                &[BillingTeam, TenantAdmin][..],
            ),
            (format!("{account}/refund"), &[BillingTeam][..]),
            (format!("{account}/manager"), &[TenantAdmin][..]),
            (format!("{ticket}/transfer"), &[BillingTeam][..]),
            (
                format!("{ticket}/apply"),
                &[AccountManager, TenantAdmin][..],
            ),
            (
                format!("{ticket}/decline"),
                &[AccountManager, TenantAdmin][..],
            ),
            ("staff/settings/staff".to_string(), &[TenantAdmin][..]),
            ("staff/settings/reasons".to_string(), &[TenantAdmin][..]),
            ("staff/settings/terms".to_string(), &[TenantAdmin][..]),
            (
                "staff/settings/staff/0/disable".to_string(),
                &[TenantAdmin][..],
            ),
            (
                "staff/settings/staff/0/reset-second-factor".to_string(),
                &[TenantAdmin][..],
            ),
        ] {
            let r = c.post(&path, &[]).await;
            if through(&r) != roles.contains(&who) {
                wrong.push(format!("{who:?} POST {path}: {}", r.status));
            }
        }
        let r = c.get("staff/settings").await;
        let want = match who {
            SignedOut | OtherTenant => 303,
            TenantAdmin => 200,
            _ => 403,
        };
        if r.status.as_u16() != want {
            wrong.push(format!(
                "{who:?} GET staff/settings: {} (expected {want})",
                r.status
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "unexpected answers:\n{}",
        wrong.join("\n")
    );
    // Three staff roles each added one internal note; the customer never sees them.
    let all = w
        .engine
        .ticket(&w.tenant, tickets.owner, true)
        .await
        .expect("ticket");
    let shown = w
        .engine
        .ticket(&w.tenant, tickets.owner, false)
        .await
        .expect("ticket");
    assert_eq!(all.messages.len(), 4);
    assert_eq!(shown.messages.len(), 1);
    let c = w.engine.account(&w.other_tenant, w.c).await.expect("C");
    assert_eq!(c.country, "FR", "the other tenant's account is untouched");
    assert_eq!(
        w.engine
            .ticket(&w.other_tenant, theirs.ticket.id, true)
            .await
            .expect("theirs")
            .ticket
            .status,
        prorata_core::tickets::Status::New
    );
}

async fn staff_sign_in_takes_a_second_factor_once_per_code(url: &str) {
    let w = world(url).await;
    let mut c = Client::new(&w.router, &w.tenant.slug);
    let r = c.sign_in(STAFF, PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().is_some_and(|l| l.ends_with("/staff")));
    let waiting = c.session().expect("a session");
    // The password alone reaches nothing of the back office.
    for path in [
        "staff",
        "staff/accounts",
        &format!("staff/accounts/{}", w.a),
    ] {
        let r = c.get(path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        assert!(r
            .location()
            .is_some_and(|l| l.ends_with("/staff/second-factor")));
    }
    // Enrolment: the key is shown; a wrong code is refused, the right one accepted.
    let page = c.get("staff/second-factor").await.text();
    let key = between(&page, "id=\"totp-key\">", "</code>").expect("the key");
    assert!(page.contains("otpauth://totp/"), "a link for the app");
    let r = c.post("staff/second-factor", &[("code", "000000")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let code = current_code(&key);
    let r = c.post("staff/second-factor", &[("code", &code)]).await;
    assert_eq!(r.status, StatusCode::OK);
    let mut codes = recovery_codes(&r.text());
    assert_eq!(codes.len(), 10);
    let verified = c.session().expect("a session");
    assert_ne!(verified, waiting, "a new session id once verified");
    assert_eq!(c.get("staff").await.status, StatusCode::OK);
    // The waiting session is gone.
    let mut old = c.clone();
    old.cookies
        .insert(prorata_web::SESSION_COOKIE.into(), waiting.clone());
    assert_eq!(old.get("staff").await.status, StatusCode::SEE_OTHER);
    // The secret is stored sealed: neither the key nor the secret's bytes are in the row.
    let store = prorata_store::Store::connect(url).await.expect("store");
    let mut tx = store.begin().await.expect("tx");
    let staff = tx
        .user_by_email(w.tenant.id, STAFF)
        .await
        .expect("user")
        .expect("staff");
    let row = tx
        .totp(w.tenant.id, staff.id)
        .await
        .expect("row")
        .expect("totp");
    tx.rollback().await.expect("rollback");
    let sealed = row.sealed.expect("sealed");
    let secret = prorata_engine::second_factor::base32_decode(&key).expect("key");
    assert!(!sealed.contains(&key.replace(' ', "")));
    assert!(!sealed.contains(&prorata_engine::hex(&secret)));
    // Next sign-in: the code already used is refused (replayed); a recovery code works once.
    c.post("sign-out", &[]).await;
    c.sign_in(STAFF, PASSWORD).await;
    let page = c.get("staff/second-factor").await.text();
    assert!(!page.contains("totp-key"), "the key is never shown again");
    let r = c.post("staff/second-factor", &[("code", &code)]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a code is taken once");
    let spare = codes.pop().expect("a recovery code");
    let r = c.post("staff/second-factor", &[("code", &spare)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    c.post("sign-out", &[]).await;
    c.sign_in(STAFF, PASSWORD).await;
    let r = c.post("staff/second-factor", &[("code", &spare)]).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "a recovery code is used once"
    );
    // Five wrong codes: the sixth try is throttled, right or not.
    for _ in 0..4 {
        let r = c.post("staff/second-factor", &[("code", "123456")]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let another = codes.pop().expect("a recovery code");
    let r = c.post("staff/second-factor", &[("code", &another)]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // A customer's session has no second step to give.
    let mut owner = client_for(&w, Who::Owner).await;
    let r = owner
        .post("staff/second-factor", &[("code", "123456")])
        .await;
    assert!(r.location().is_some_and(|l| l.ends_with("/sign-in")));
    assert_eq!(
        owner.get("company").await.status,
        StatusCode::OK,
        "still signed in"
    );
}

async fn the_billing_team_sends_again_changes_recipients_with_consent_and_refunds(url: &str) {
    let w = world(url).await;
    let mut staff = Client::new(&w.router, &w.tenant.slug);
    staff.sign_in_staff(STAFF).await;
    let emails = |w: &World| {
        let engine = w.engine.clone();
        let tenant = w.tenant.clone();
        async move {
            engine
                .jobs(&tenant, prorata_store::JobKind::Email)
                .await
                .expect("jobs")
                .len()
        }
    };
    let account = format!("staff/accounts/{}", w.a);
    // One document again, then July's invoices; a month without invoices says so.
    let before = emails(&w).await;
    let r = staff
        .post(
            &format!("{account}/send"),
            &[("document", &w.a_invoice.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let r = staff
        .post(&format!("{account}/send"), &[("month", "2024-07")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(emails(&w).await, before + 2);
    // The account page lists them among the e-mails sent, newest first, with the ledger.
    let overview = w
        .engine
        .account_overview(&w.tenant, w.a)
        .await
        .expect("overview");
    assert!(overview.emails.len() >= 2);
    assert!(overview.emails[..2].iter().all(|m| m.template == "invoice"
        && m.what.as_deref() == Some(w.a_invoice_number.as_str())
        && m.to == ["billing@example.com"]));
    assert!(overview.emails.windows(2).all(|p| p[0].id > p[1].id));
    assert!(overview
        .ledger
        .iter()
        .any(|e| e.reference.contains(&w.a_invoice_number)));
    let page = staff.get(&account).await.text();
    assert!(page.contains("id=\"emails\"") && page.contains("id=\"ledger\""));
    let r = staff
        .post(&format!("{account}/send"), &[("month", "2023-01")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("01/2023"), "{}", r.text());
    // Another account's document is not found from this account.
    let b_doc = w
        .engine
        .account_documents(&w.tenant, w.b, None)
        .await
        .expect("docs")[0]
        .id;
    let r = staff
        .post(
            &format!("{account}/send"),
            &[("document", &b_doc.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A recipient is added only with the owner's consent written down.
    let r = staff
        .post(
            &format!("{account}/contacts"),
            &[
                ("email", "cfo@lumen.example"),
                ("change", "add"),
                ("consent", " "),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = staff
        .post(
            &format!("{account}/contacts"),
            &[
                ("email", "cfo@lumen.example"),
                ("change", "add"),
                ("consent", "owner's e-mail of 12 July, ticket #4"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let a = w.engine.account(&w.tenant, w.a).await.expect("A");
    assert!(a
        .billing_contacts
        .contains(&"cfo@lumen.example".to_string()));
    let trail = w
        .engine
        .audit_trail(&w.tenant, w.a, 0, 50)
        .await
        .expect("audit")
        .items;
    let consent = trail
        .iter()
        .find(|e| e.action == "account.updated")
        .expect("the change, audited");
    assert!(consent
        .after
        .as_ref()
        .is_some_and(|a| a.to_string().contains("ticket #4")));
    assert!(trail.iter().any(|e| e.action == "documents.sent_again"));
    // A transfer received, then 40.00 of it refunded.
    let payment = w
        .engine
        .record_transfer(&w.tenant, w.a, 10_000, "VIR LUMEN 0712")
        .await
        .expect("transfer");
    let r = staff
        .post(
            &format!("{account}/refund"),
            &[("payment", &payment.id.to_string()), ("amount", "40.00")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let refunded = w.engine.payments(&w.tenant, w.a).await.expect("payments");
    assert_eq!(refunded[0].refunded.minor(), 4000);
    // More than is left is refused, saying what is left.
    let r = staff
        .post(
            &format!("{account}/refund"),
            &[("payment", &payment.id.to_string()), ("amount", "70.00")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The account manager may do none of it.
    let mut manager = Client::new(&w.router, &w.tenant.slug);
    manager.sign_in_staff(MANAGER).await;
    for (path, fields) in [
        ("send", vec![("month", "2024-07")]),
        (
            "contacts",
            vec![
                ("email", "x@lumen.example"),
                ("change", "add"),
                ("consent", "yes"),
            ],
        ),
        ("refund", vec![("payment", "1"), ("amount", "1.00")]),
    ] {
        let r = manager.post(&format!("{account}/{path}"), &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    // Nothing in the back office changes or deletes the audit trail: there is no such route.
    let entries = trail.len();
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let req = Request::builder()
            .method(method.clone())
            .uri(format!("/portal/{}/{account}/audit", w.tenant.slug))
            .header(header::HOST, "portal.test")
            .header(
                header::COOKIE,
                format!("prorata_session={}", staff.session().unwrap_or_default()),
            )
            .body(Body::empty())
            .expect("request");
        let r = staff.send(req).await;
        assert!(
            matches!(r.status.as_u16(), 404 | 405),
            "{method} audit: {}",
            r.status
        );
    }
    let after = w
        .engine
        .audit_trail(&w.tenant, w.a, 0, 50)
        .await
        .expect("audit")
        .items;
    // The refund added one entry (the 70.00 one was refused): nothing else moved.
    assert_eq!(after.len(), entries + 1);
    assert!(after[1..]
        .iter()
        .zip(&trail)
        .all(|(x, y)| x.id == y.id && x.after == y.after));
}

async fn a_tenant_admin_sets_reasons_terms_staff_and_managers(url: &str) {
    let w = world(url).await;
    let mut admin = Client::new(&w.router, &w.tenant.slug);
    admin.sign_in_staff(TENANT_ADMIN).await;
    let page = admin.get("staff/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    // The three default reasons, and a fourth added: refunds, to the billing team.
    let mut fields: Vec<(String, String)> = Vec::new();
    for r in &w.tenant.settings.tickets.reasons {
        for (k, v) in [
            ("code", r.code.clone()),
            ("label_en", r.label.en.clone()),
            ("label_fr", r.label.fr.clone()),
            (
                "route",
                match r.route {
                    prorata_core::tickets::Route::BillingTeam => "billing_team".into(),
                    prorata_core::tickets::Route::AccountManager => "account_manager".into(),
                },
            ),
            ("handled_en", r.handled_by.en.clone()),
            ("handled_fr", r.handled_by.fr.clone()),
        ] {
            fields.push((k.into(), v));
        }
    }
    for (k, v) in [
        ("code", "refund"),
        ("label_en", "A refund"),
        ("label_fr", "Un remboursement"),
        ("route", "billing_team"),
        ("handled_en", "The billing team refunds."),
        ("handled_fr", "L'équipe facturation rembourse."),
        ("reopen_days", "10"),
    ] {
        fields.push((k.into(), v.into()));
    }
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = admin.post("staff/settings/reasons", &refs).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let mut owner = client_for(&w, Who::Owner).await;
    assert!(owner
        .get("support/new")
        .await
        .text()
        .contains("Un remboursement"));
    // A reason without labels is refused naming the problem; nothing changes.
    let r = admin
        .post(
            "staff/settings/reasons",
            &[
                ("code", "x"),
                ("route", "billing_team"),
                ("reopen_days", "7"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(owner
        .get("support/new")
        .await
        .text()
        .contains("Un remboursement"));
    // The terms' wording, in both languages.
    let r = admin
        .post(
            "staff/settings/terms",
            &[
                ("notice_en", "General terms, section 9"),
                ("notice_fr", "Conditions générales, article 9"),
                ("cancel_en", "Too expensive\nOther"),
                ("cancel_fr", "Trop cher"),
            ],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "one reason short in French"
    );
    let r = admin
        .post(
            "staff/settings/terms",
            &[
                ("notice_en", "General terms, section 9"),
                ("notice_fr", "Conditions générales, article 9"),
                ("cancel_en", "Too expensive\nOther"),
                ("cancel_fr", "Trop cher\nAutre"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let tenant = w.engine.tenant(w.tenant.id).await.expect("tenant");
    assert_eq!(tenant.settings.terms.cancellation_reasons.len(), 2);
    assert_eq!(tenant.settings.tickets.reopen_days, 10);
    // A staff member invited; A given its account manager.
    let r = admin
        .post(
            "staff/settings/staff",
            &[
                ("name", "Nina Billing"),
                ("email", "nina@vendor.example"),
                ("role", "billing_team"),
                ("language", "fr"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let r = admin
        .post(
            "staff/settings/staff",
            &[("name", "X"), ("email", "x@x.example"), ("role", "owner")],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no customer role from here"
    );
    let staff = w.engine.staff_users(&w.tenant).await.expect("staff");
    assert!(staff.iter().any(|u| u.email == "nina@vendor.example"));
    let manager = staff
        .iter()
        .find(|u| u.email == MANAGER)
        .expect("manager")
        .id;
    let r = admin
        .post(
            &format!("staff/accounts/{}/manager", w.a),
            &[("manager", &manager.to_string())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let billing = staff.iter().find(|u| u.email == STAFF).expect("billing").id;
    let r = admin
        .post(
            &format!("staff/accounts/{}/manager", w.a),
            &[("manager", &billing.to_string())],
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "only an account manager"
    );
    // The billing team reaches none of it.
    let mut team = Client::new(&w.router, &w.tenant.slug);
    team.sign_in_staff(STAFF).await;
    assert_eq!(
        team.get("staff/settings").await.status,
        StatusCode::FORBIDDEN
    );
    for path in [
        "staff/settings/reasons",
        "staff/settings/terms",
        "staff/settings/staff",
    ] {
        assert_eq!(
            team.post(path, &[]).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let me = staff
        .iter()
        .find(|u| u.email == TENANT_ADMIN)
        .expect("admin")
        .id;
    let r = team
        .post(
            &format!("staff/settings/staff/{me}/reset-second-factor"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A lost phone: the billing team member's second factor is reset; they are signed out
    // and enrol a new app at their next sign-in.
    let r = admin
        .post(
            &format!("staff/settings/staff/{billing}/reset-second-factor"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(team.get("staff").await.status, StatusCode::SEE_OTHER);
    let mut again = Client::new(&w.router, &w.tenant.slug);
    again.sign_in(STAFF, PASSWORD).await;
    assert!(again
        .get("staff/second-factor")
        .await
        .text()
        .contains("totp-key"));
    // The account manager leaves: disabled, no sign-in any more. Not oneself, though.
    let r = admin
        .post(&format!("staff/settings/staff/{manager}/disable"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = Client::new(&w.router, &w.tenant.slug)
        .sign_in(MANAGER, PASSWORD)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = admin
        .post(&format!("staff/settings/staff/{me}/disable"), &[])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let disabled: Vec<String> = w
        .engine
        .staff_users(&w.tenant)
        .await
        .expect("staff")
        .into_iter()
        .filter(|u| u.status == prorata_core::access::UserStatus::Disabled)
        .map(|u| u.email)
        .collect();
    assert_eq!(disabled, [MANAGER]);
}

async fn an_infected_file_is_refused_in_the_portal_saying_so_and_nothing_is_stored(url: &str) {
    use prorata_testkit::clamd::{Clamd, EICAR};
    let w = world(url).await;
    let mut clamd = Clamd::start();
    let engine = w
        .engine
        .clone()
        .with_scanner(prorata_engine::scan::Scanner::new(&clamd.address()));
    let router = prorata_server::app(prorata_server::AppState::new(engine));
    let mut owner = Client::new(&router, &w.tenant.slug);
    owner.sign_in(OWNER_A, PASSWORD).await;
    let fields = [
        ("reason", "billing"),
        ("subject", "Preuve de virement"),
        ("body", "Ci-joint."),
    ];
    // The EICAR test file, named as a PDF that starts like one: the scanner finds it.
    let mut infected = b"%PDF-1.4\n".to_vec();
    infected.extend_from_slice(EICAR);
    let r = owner
        .post_multipart(
            "support/new",
            &fields,
            &[("preuve.pdf", EICAR), ("ok.pdf", b"%PDF-1.4")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let r = owner
        .post_multipart("support/new", &fields, &[("preuve.pdf", &infected)])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text().contains("Le fichier preuve.pdf contient un virus"),
        "{}",
        r.text()
    );
    let filter = prorata_store::QueueFilter {
        account_id: Some(w.a),
        ..Default::default()
    };
    assert!(w
        .engine
        .tickets(&w.tenant, &filter, 0, 10)
        .await
        .expect("tickets")
        .items
        .is_empty());
    // A clean file goes through; with the scanner stopped, nothing is accepted unscanned.
    let r = owner
        .post_multipart(
            "support/new",
            &fields,
            &[("preuve.pdf", b"%PDF-1.4\n%%EOF")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    clamd.stop();
    let r = owner
        .post_multipart(
            "support/new",
            &fields,
            &[("preuve.pdf", b"%PDF-1.4\n%%EOF")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        r.text().contains("Rien n&#39;a été enregistré")
            || r.text().contains("Rien n'a été enregistré")
    );
    assert_eq!(
        w.engine
            .tickets(&w.tenant, &filter, 0, 10)
            .await
            .expect("tickets")
            .items
            .len(),
        1
    );
}

on_both_stores!(
    an_infected_file_is_refused_in_the_portal_saying_so_and_nothing_is_stored,
    a_tenant_admin_sets_reasons_terms_staff_and_managers,
    the_billing_team_sends_again_changes_recipients_with_consent_and_refunds,
    staff_sign_in_takes_a_second_factor_once_per_code,
    the_back_office_matrix_has_no_leak,
    a_ticket_with_a_bad_file_or_field_is_refused_whole_saying_why,
    the_ask_the_billing_team_links_open_the_form_filled_in,
    the_authorisation_matrix_has_no_leak,
    forms_without_the_right_token_or_from_another_site_are_refused,
    the_sixth_wrong_password_is_throttled_and_unknown_emails_look_the_same,
    a_new_session_id_at_each_sign_in_and_sign_out_ends_it,
    cookies_and_headers_are_set_by_the_book,
    an_invitation_sets_a_password_once,
    a_portal_session_link_signs_in_once,
    a_late_downgrade_is_refused_with_the_deadline_and_an_early_one_becomes_a_request,
    an_upgrade_is_previewed_then_billed_prorated,
    the_owner_edits_only_address_postcode_and_city_after_the_trial,
    a_vat_refusal_shows_on_the_field_in_the_viewers_language,
    the_billing_tab_shows_prepaid_credit_only_when_there_is_some,
    names_render_as_text_and_only_real_pictures_become_logos,
    no_password_session_or_link_is_stored_in_clear,
    pages_speak_the_users_language_and_accept_language,
    invitation_and_reset_e_mails_carry_links_that_work_once,
    an_expired_link_is_refused,
    owners_and_admins_manage_users_and_only_the_owner_hands_over,
    the_worker_clears_what_sign_in_leaves_behind,
);

async fn the_worker_clears_what_sign_in_leaves_behind(url: &str) {
    let w = world(url).await;
    let user = w.engine.account_users(&w.tenant, w.a).await.expect("users")[0].clone();
    let now = prorata_engine::people::unix_now();
    let day = 24 * 3600;
    let mut tx = w.engine.store.begin().await.expect("tx");
    // An idle session, an expired one, and one in use; an old link and a fresh one; an old
    // failure and a recent one.
    tx.insert_session(w.tenant.id, user.id, "idle", now - day, now + day)
        .await
        .expect("s");
    tx.insert_session(w.tenant.id, user.id, "expired", now - 2 * day, now - day)
        .await
        .expect("s");
    tx.insert_session(w.tenant.id, user.id, "live", now, now + day)
        .await
        .expect("s");
    let old = tx
        .insert_token(
            w.tenant.id,
            user.id,
            prorata_store::TokenPurpose::PasswordReset,
            "n1",
            None,
            now - 3 * day,
            now - 2 * day,
        )
        .await
        .expect("t");
    let fresh = tx
        .insert_token(
            w.tenant.id,
            user.id,
            prorata_store::TokenPurpose::PasswordReset,
            "n2",
            None,
            now,
            now + 3600,
        )
        .await
        .expect("t");
    tx.record_sign_in_failure(w.tenant.id, "email:x@example.com", now - day)
        .await
        .expect("f");
    tx.record_sign_in_failure(w.tenant.id, "email:x@example.com", now)
        .await
        .expect("f");
    tx.commit().await.expect("commit");
    prorata_server::worker::run_once(&w.engine)
        .await
        .expect("worker pass");
    let mut tx = w.engine.store.begin().await.expect("tx");
    assert!(tx
        .session(w.tenant.id, "idle")
        .await
        .expect("read")
        .is_none());
    assert!(tx
        .session(w.tenant.id, "expired")
        .await
        .expect("read")
        .is_none());
    assert!(tx
        .session(w.tenant.id, "live")
        .await
        .expect("read")
        .is_some());
    assert!(tx.token(w.tenant.id, old).await.expect("read").is_none());
    assert!(tx.token(w.tenant.id, fresh).await.expect("read").is_some());
    assert_eq!(
        tx.count_sign_in_failures(w.tenant.id, "email:x@example.com", 0)
            .await
            .expect("count"),
        1,
        "only the recent failure stays"
    );
}

/// The e-mails in a folder, as text.
fn mails(dir: &std::path::Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The portal link in an e-mail (quoted-printable lines joined).
fn link_in(mail: &str) -> Option<String> {
    let joined = mail.replace("=\r\n", "").replace("=\n", "");
    let at = joined.find("http://portal.test/portal/")?;
    Some(
        joined[at..]
            .split(|c: char| c.is_whitespace())
            .next()?
            .trim_start_matches("http://portal.test")
            .to_string(),
    )
}

async fn invitation_and_reset_e_mails_carry_links_that_work_once(url: &str) {
    let w = world(url).await;
    let dir = std::env::temp_dir().join(format!(
        "prorata-mail-{}-{}",
        std::process::id(),
        w.tenant.id
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mailer =
        prorata_server::mail::Mailer::folder(dir.clone(), "Billing <billing@acme.example>")
            .expect("mailer")
            .with_links("http://portal.test/");
    // The owner invites an agent from the Users tab.
    let mut owner = Client::new(&w.router, &w.tenant.slug);
    owner.sign_in(OWNER_A, PASSWORD).await;
    let r = owner
        .post(
            "users",
            &[
                ("email", "zoe@lumen.example"),
                ("name", "Zoé Agent"),
                ("role", "agent"),
                ("language", "fr"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let sent = prorata_server::worker::deliver_emails(&w.engine, &mailer)
        .await
        .expect("delivery");
    assert!(sent >= 1);
    let invitation = mails(&dir)
        .into_iter()
        .find(|m| m.contains("zoe@lumen.example"))
        .expect("the invitation e-mail");
    assert!(
        invitation.contains("Content-Language: fr"),
        "in the invitee's language"
    );
    let link = link_in(&invitation).expect("a link");
    let mut zoe = Client::new(&w.router, &w.tenant.slug);
    assert_eq!(zoe.get(&link).await.status, StatusCode::OK);
    let pw = "zoé a un long mot de passe";
    let token_path = format!("password/{}", link.rsplit('/').next().unwrap_or(""));
    let r = zoe
        .post(&token_path, &[("password", pw), ("confirm", pw)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(zoe.get(&link).await.status, StatusCode::GONE, "used once");
    // A forgotten password: the same answer for a stranger, a link for the user.
    let mut someone = Client::new(&w.router, &w.tenant.slug);
    let known = someone
        .post("reset", &[("email", "zoe@lumen.example")])
        .await;
    let unknown = someone
        .post("reset", &[("email", "nobody@lumen.example")])
        .await;
    assert_eq!(known.status, unknown.status);
    prorata_server::worker::deliver_emails(&w.engine, &mailer)
        .await
        .expect("delivery");
    assert!(
        mails(&dir)
            .iter()
            .all(|m| !m.contains("nobody@lumen.example")),
        "no e-mail to a stranger"
    );
    let reset = mails(&dir)
        .into_iter()
        .filter(|m| m.contains("zoe@lumen.example"))
        .find(|m| link_in(m).is_some_and(|l| l != link))
        .expect("the reset e-mail");
    let reset_link = link_in(&reset).expect("a link");
    // Zoé is signed in elsewhere; resetting her password ends that session.
    assert_eq!(zoe.get("company").await.status, StatusCode::OK);
    let mut reset_client = Client::new(&w.router, &w.tenant.slug);
    reset_client.get(&reset_link).await;
    let reset_path = format!("password/{}", reset_link.rsplit('/').next().unwrap_or(""));
    let new_pw = "un tout nouveau mot de passe";
    let r = reset_client
        .post(&reset_path, &[("password", new_pw), ("confirm", new_pw)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        zoe.get("company").await.status,
        StatusCode::SEE_OTHER,
        "other sessions ended"
    );
    let mut again = Client::new(&w.router, &w.tenant.slug);
    assert_eq!(
        again.sign_in("zoe@lumen.example", pw).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        again.sign_in("zoe@lumen.example", new_pw).await.status,
        StatusCode::SEE_OTHER
    );
    let _ = std::fs::remove_dir_all(&dir);
}

async fn an_expired_link_is_refused(url: &str) {
    let w = world(url).await;
    let user = w.engine.account_users(&w.tenant, w.a).await.expect("users")[0].clone();
    let now = prorata_engine::people::unix_now();
    let mut tx = w.engine.store.begin().await.expect("tx");
    let id = tx
        .insert_token(
            w.tenant.id,
            user.id,
            prorata_store::TokenPurpose::PasswordReset,
            "0123abcd",
            None,
            now - 7200,
            now - 3600,
        )
        .await
        .expect("token");
    tx.commit().await.expect("commit");
    let token = w.engine.token_for(w.tenant.id, id).await.expect("link");
    let mut c = Client::new(&w.router, &w.tenant.slug);
    assert_eq!(
        c.get(&format!("password/{token}")).await.status,
        StatusCode::GONE
    );
    let r = c
        .post(
            &format!("password/{token}"),
            &[
                ("password", "a long enough password"),
                ("confirm", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(
        Client::new(&w.router, &w.tenant.slug)
            .sign_in(OWNER_A, PASSWORD)
            .await
            .status,
        StatusCode::SEE_OTHER,
        "the password did not change"
    );
}

async fn owners_and_admins_manage_users_and_only_the_owner_hands_over(url: &str) {
    let w = world(url).await;
    let users = w.engine.account_users(&w.tenant, w.a).await.expect("users");
    let id_of = |email: &str| users.iter().find(|u| u.email == email).expect("user").id;
    let (owner_id, admin_id, agent_id) = (id_of(OWNER_A), id_of(ADMIN_A), id_of(AGENT_A));
    let mut admin = client_for(&w, Who::Admin).await;
    // An admin may not remove the owner, nor hand the account over.
    let r = admin.post(&format!("users/{owner_id}/remove"), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = admin.post(&format!("users/{agent_id}/owner"), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Another account's user is not found from here.
    let b_owner = w.engine.account_users(&w.tenant, w.b).await.expect("users")[0].id;
    let r = admin.post(&format!("users/{b_owner}/remove"), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The admin removes the agent: disabled, signed out at once.
    let mut agent = client_for(&w, Who::Agent).await;
    let r = admin.post(&format!("users/{agent_id}/remove"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        agent.get("company").await.status,
        StatusCode::SEE_OTHER,
        "the agent is out"
    );
    assert_eq!(
        Client::new(&w.router, &w.tenant.slug)
            .sign_in(AGENT_A, PASSWORD)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // The owner makes the admin owner and becomes an admin.
    let mut owner = client_for(&w, Who::Owner).await;
    let r = owner.post(&format!("users/{admin_id}/owner"), &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let after = w.engine.account_users(&w.tenant, w.a).await.expect("users");
    let role_of = |id: i64| after.iter().find(|u| u.id == id).expect("user").role;
    assert_eq!(role_of(admin_id), Role::Owner);
    assert_eq!(role_of(owner_id), Role::Admin);
    // The former owner no longer sees the Billing tab; the new one does.
    assert_eq!(owner.get("billing").await.status, StatusCode::FORBIDDEN);
    assert_eq!(admin.get("billing").await.status, StatusCode::OK);
}
