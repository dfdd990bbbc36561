//! Change requests as the account manager's work (issue #14, item 2; seeds 000 and 001), on
//! SQLite and PostgreSQL: a downgrade asked in time in the portal files a ticket in the
//! account manager's queue (never the billing team's) whose first message is the preview;
//! applying or declining answers and solves it and e-mails the customer; a request past its
//! notice deadline is applied only by a tenant admin giving a reason; billing-frequency
//! changes go through the engine under the tenant's policy, with the arithmetic beside each
//! amount.

#[macro_use]
mod common;

use common::*;
use prorata_core::access::Role;
use prorata_core::change::{
    AnchorPolicy, Direction, FrequencyChangePolicy, FrequencyTiming, Refusal, Request,
};
use prorata_core::document::{Document, Line, LineKey};
use prorata_core::reconcile::Settings;
use prorata_core::tickets::{Author, Queue, Status};
use prorata_core::Frequency;
use prorata_engine::tickets::Actor;
use prorata_engine::{Engine, EngineError, Submitted};
use prorata_store::{ChangeRequestStatus, JobKind, NewTicket, QueueFilter, Tenant};

on_both_stores!(
    a_downgrade_in_time_files_a_ticket_for_the_account_manager_with_the_preview_and_applying_it_credits_solves_and_e_mails,
    declining_posts_the_message_solves_the_ticket_and_leaves_the_subscription_as_it_is,
    a_request_past_its_deadline_is_applied_only_by_a_tenant_admin_giving_a_reason,
    monthly_to_annual_at_the_period_end_bills_the_year_and_back_to_monthly_is_a_change_request,
    monthly_to_annual_at_once_under_the_tenants_policy_credits_17_31_and_bills_the_new_year,
);

struct World {
    engine: Engine,
    tenant: Tenant,
    account: i64,
    sub: i64,
    owner: i64,
    manager: i64,
    admin: i64,
}

/// Lumen (French), an Essentials subscription of `users` users from 6 June 2024 (monthly,
/// 12-month term, 30 days' notice: renewal 6 June 2025, deadline 7 May 2025), its owner,
/// an account manager assigned to it, a billing-team member and a tenant admin.
async fn world(url: &str, settings: &Settings, users: i64) -> World {
    let engine = open(url).await;
    let tenant = engine
        .create_tenant(
            "Vendor",
            prorata_store::TenantMode::Sandbox,
            Some(d(2024, 6, 6)),
            settings,
        )
        .await
        .expect("tenant");
    let catalog = engine
        .import_catalog(&tenant, DEFAULT_CATALOG)
        .await
        .expect("catalog");
    let account = engine
        .create_account(&tenant, &french_account("Lumen Conseil SAS"))
        .await
        .expect("account");
    let (sub, _) = engine
        .create_subscription(
            &tenant,
            account,
            catalog.id,
            &essentials(d(2024, 6, 6), users),
        )
        .await
        .expect("subscription");
    let owner = user(
        &engine,
        &tenant,
        Some(account),
        Role::Owner,
        "owner@lumen.example",
    )
    .await;
    let manager = user(
        &engine,
        &tenant,
        None,
        Role::AccountManager,
        "am@vendor.example",
    )
    .await;
    user(
        &engine,
        &tenant,
        None,
        Role::BillingTeam,
        "bt@vendor.example",
    )
    .await;
    let admin = user(
        &engine,
        &tenant,
        None,
        Role::TenantAdmin,
        "admin@vendor.example",
    )
    .await;
    engine
        .set_account_manager(&tenant, Actor::API, account, Some(manager))
        .await
        .expect("manager");
    World {
        engine,
        tenant,
        account,
        sub,
        owner,
        manager,
        admin,
    }
}

fn staff(id: i64, role: Role) -> Actor<'static> {
    Actor {
        user_id: Some(id),
        role: Some(role),
        address: Some("203.0.113.9"),
    }
}

async fn advance(w: &mut World, to: chrono::NaiveDate) {
    let (tenant, _) = w
        .engine
        .advance_clock(&w.tenant, to, &mut |_, _| {})
        .await
        .expect("clock advanced");
    w.tenant = tenant;
}

fn users(n: i64) -> Request {
    Request::SetQuantity {
        product: "user".into(),
        quantity: n,
    }
}

async fn submit(
    w: &World,
    request: &Request,
    reason: Option<&str>,
) -> Result<Submitted, EngineError> {
    w.engine
        .submit_account_change(&w.tenant, w.account, Some(w.owner), request, reason)
        .await
}

/// The e-mails queued about tickets: (recipient, kind, message).
async fn ticket_mails(w: &World) -> Vec<(String, String, String)> {
    w.engine
        .jobs(&w.tenant, JobKind::Email)
        .await
        .expect("jobs")
        .into_iter()
        .map(|(job, _)| job.payload)
        .filter(|p| p["template"] == "ticket")
        .map(|p| {
            let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            (
                s(&p["to"][0]),
                s(&p["data"]["kind"]),
                s(&p["data"]["message"]),
            )
        })
        .collect()
}

async fn change_request(w: &World, id: i64) -> prorata_store::ChangeRequestRow {
    w.engine
        .change_requests(&w.tenant, None, Some(w.account))
        .await
        .expect("requests")
        .into_iter()
        .find(|c| c.id == id)
        .expect("the request")
}

/// Every document of the tenant, in issue order.
async fn documents(w: &World) -> Vec<Document> {
    let mut tx = w.engine.store.begin().await.expect("begin");
    let page = tx
        .list_documents(w.tenant.id, None, None, 0, 500)
        .await
        .expect("list documents");
    page.items.into_iter().map(|r| r.document).collect()
}

fn user_line(d: &Document) -> &Line {
    d.lines
        .iter()
        .find(|l| matches!(&l.key, LineKey::Recurring(k) if k.product == "user"))
        .unwrap_or_else(|| panic!("{} has no user line: {d:#?}", d.number))
}

fn contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part:?} is missing from:\n{text}");
    }
}

async fn a_downgrade_in_time_files_a_ticket_for_the_account_manager_with_the_preview_and_applying_it_credits_solves_and_e_mails(
    url: &str,
) {
    let mut w = world(url, &Settings::default(), 10).await;
    advance(&mut w, d(2024, 7, 10)).await;
    let Submitted::Requested {
        id,
        deadline,
        ticket_id,
    } = submit(&w, &users(6), None).await.expect("submitted")
    else {
        panic!("a downgrade is a request");
    };
    // Renewal 6 June 2025 − 30 days.
    assert_eq!(deadline, Some(d(2025, 5, 7)));

    let view = w
        .engine
        .ticket(&w.tenant, ticket_id, true)
        .await
        .expect("ticket");
    let t = &view.ticket;
    assert_eq!(t.queue, Queue::AccountManagement);
    assert_eq!(t.assignee_id, Some(w.manager));
    assert_eq!(t.reason, "subscription");
    assert_eq!(t.change_request_id, Some(id));
    assert_eq!(t.requester_id, Some(w.owner));
    assert_eq!(t.status, Status::New);
    assert_eq!(
        t.subject,
        "Demande de modification : Licence utilisateur : 10 → 6"
    );
    let billing_team = w
        .engine
        .tickets(
            &w.tenant,
            &QueueFilter {
                queue: Some(Queue::BillingTeam),
                ..QueueFilter::default()
            },
            0,
            50,
        )
        .await
        .expect("queue");
    assert!(billing_team.items.is_empty(), "never the billing team's");

    // The preview, in the account's language (French): 10 Jul ..= 5 Aug is 27 of the
    // period's 31 days, 4 × 30.00 × 27/31 = 104.516… → 104.52 credited.
    let first = &view.messages[0];
    assert_eq!(
        (first.author, first.author_id),
        (Author::Customer, Some(w.owner))
    );
    contains_all(
        &first.body,
        &[
            "Ce qui change : Licence utilisateur : 10 → 6",
            "Date d'effet : 10 juillet 2024",
            "Date limite de préavis : 7 mai 2025 (renouvellement le 6 juin 2025)",
            "Documents qu'elle produira si elle est appliquée le 10 juillet 2024 :",
            "- Avoir : −104,52\u{a0}€ HT",
            "(10 juillet 2024 – 5 août 2024) : −104,52\u{a0}€ = 10 → 6 : 4 × 30,00\u{a0}€ × 27/31 (87%) = 104,52\u{a0}€",
        ],
    );
    assert_eq!(
        ticket_mails(&w).await,
        vec![("am@vendor.example".into(), "new".into(), first.body.clone())]
    );
    // Nothing is billed until the account manager applies it.
    assert!(w
        .engine
        .subscription(&w.tenant, w.sub)
        .await
        .unwrap()
        .subscription
        .events
        .is_empty());

    let manager = staff(w.manager, Role::AccountManager);
    let outcome = w
        .engine
        .apply_change_request(&w.tenant, manager, id, None)
        .await
        .expect("applied");
    assert_eq!(outcome.direction, Direction::Downgrade);
    let numbers: Vec<(&str, i64, i64)> = outcome
        .documents
        .iter()
        .map(|d| (d.number.as_str(), d.net_total.minor(), d.total.minor()))
        .collect();
    // −104.52 net; 20 % VAT −20.90; −125.42.
    assert_eq!(numbers, vec![("CN-000001", -10452, -12542)]);

    let view = w
        .engine
        .ticket(&w.tenant, ticket_id, true)
        .await
        .expect("ticket");
    assert_eq!(view.ticket.status, Status::Solved);
    assert_eq!(view.ticket.solved_on, Some(d(2024, 7, 10)));
    let reply = view.messages.last().expect("a reply");
    assert_eq!(
        (reply.author, reply.author_id),
        (Author::Staff, Some(w.manager))
    );
    contains_all(
        &reply.body,
        &[
            "Votre modification a été appliquée.",
            "- Avoir CN-000001 : 104,52\u{a0}€ HT, 125,42\u{a0}€ TTC",
        ],
    );
    assert_eq!(
        ticket_mails(&w).await.last(),
        Some(&(
            "owner@lumen.example".into(),
            "staff_reply".into(),
            reply.body.clone()
        ))
    );
    assert_eq!(
        change_request(&w, id).await.status,
        ChangeRequestStatus::Applied
    );

    let trail = w
        .engine
        .audit_trail(&w.tenant, w.account, 0, 50)
        .await
        .expect("trail");
    let applied = trail
        .items
        .iter()
        .find(|a| a.action == "change_request.applied")
        .expect("the decision is in the trail");
    assert_eq!(
        (
            applied.actor.as_str(),
            applied.actor_id,
            applied.address.as_deref()
        ),
        ("account_manager", Some(w.manager), Some("203.0.113.9"))
    );
    let before = applied.before.as_ref().expect("before");
    let after = applied.after.as_ref().expect("after");
    assert_eq!(before["quantities"]["user"], 10);
    assert_eq!(after["quantities"]["user"], 6);
    assert_eq!(after["documents"][0]["number"], "CN-000001");
    assert!(trail
        .items
        .iter()
        .any(|a| a.action == "change_request.submitted"
            && a.actor == "owner"
            && a.after
                .as_ref()
                .is_some_and(|v| v["ticket_id"] == ticket_id)));

    // Decided once.
    assert!(matches!(
        w.engine
            .apply_change_request(&w.tenant, manager, id, None)
            .await,
        Err(EngineError::Conflict(_))
    ));
}

async fn declining_posts_the_message_solves_the_ticket_and_leaves_the_subscription_as_it_is(
    url: &str,
) {
    let mut w = world(url, &Settings::default(), 10).await;
    advance(&mut w, d(2024, 7, 10)).await;
    let Submitted::Requested { id, ticket_id, .. } =
        submit(&w, &Request::Cancel, Some("Trop cher"))
            .await
            .expect("submitted")
    else {
        panic!("a cancellation is a request");
    };
    let view = w
        .engine
        .ticket(&w.tenant, ticket_id, true)
        .await
        .expect("ticket");
    contains_all(
        &view.messages[0].body,
        &[
            "Résiliation demandée dans le portail client.",
            "Ce qui change : Résiliation au renouvellement",
            // A cancellation takes effect at the renewal.
            "Date d'effet : 6 juin 2025",
            "Motif : Trop cher",
            "aucun pour l'instant",
        ],
    );

    let message = "Appelons-nous avant le 7 mai : une remise est possible.";
    w.engine
        .refuse_change_request(
            &w.tenant,
            staff(w.manager, Role::AccountManager),
            id,
            Some(message),
        )
        .await
        .expect("declined");
    let view = w
        .engine
        .ticket(&w.tenant, ticket_id, true)
        .await
        .expect("ticket");
    assert_eq!(view.ticket.status, Status::Solved);
    let reply = view.messages.last().expect("reply");
    assert_eq!(reply.author, Author::Staff);
    contains_all(
        &reply.body,
        &["Votre demande de modification a été refusée", message],
    );
    assert_eq!(
        ticket_mails(&w).await.last(),
        Some(&(
            "owner@lumen.example".into(),
            "staff_reply".into(),
            reply.body.clone()
        ))
    );
    let cr = change_request(&w, id).await;
    assert_eq!(
        (cr.status, cr.note.as_deref()),
        (ChangeRequestStatus::Refused, Some(message))
    );
    assert!(w
        .engine
        .subscription(&w.tenant, w.sub)
        .await
        .unwrap()
        .subscription
        .events
        .is_empty());
    let trail = w
        .engine
        .audit_trail(&w.tenant, w.account, 0, 50)
        .await
        .expect("trail");
    assert!(trail
        .items
        .iter()
        .any(|a| a.action == "change_request.refused"
            && a.actor == "account_manager"
            && a.after.as_ref().is_some_and(|v| v["message"] == message)));
    assert!(matches!(
        w.engine
            .refuse_change_request(&w.tenant, Actor::API, id, None)
            .await,
        Err(EngineError::Conflict(_))
    ));
}

async fn a_request_past_its_deadline_is_applied_only_by_a_tenant_admin_giving_a_reason(url: &str) {
    let mut w = world(url, &Settings::default(), 10).await;
    advance(&mut w, d(2025, 5, 20)).await;
    // The portal refuses it: the deadline for the 6 June 2025 renewal was 7 May.
    assert!(matches!(
        submit(&w, &users(6), None).await,
        Err(EngineError::Refused(Refusal::NoticePeriodMissed { deadline, .. })) if deadline == d(2025, 5, 7)
    ));
    // One recorded late all the same (taken by telephone on 20 May, say), with its ticket.
    let (id, ticket_id) = {
        let mut tx = w.engine.store.begin().await.expect("tx");
        let id = tx
            .insert_change_request(
                w.tenant.id,
                w.account,
                w.sub,
                Some(w.owner),
                &serde_json::to_value(users(6)).unwrap(),
                None,
                d(2025, 5, 20),
            )
            .await
            .expect("request");
        let (ticket, _) = tx
            .insert_ticket(
                w.tenant.id,
                &NewTicket {
                    account_id: w.account,
                    requester_id: Some(w.owner),
                    reason: "subscription",
                    queue: Queue::AccountManagement,
                    assignee_id: Some(w.manager),
                    subject: "Passer à 6 utilisateurs",
                    document_id: None,
                    change_request_id: Some(id),
                },
                Some(w.owner),
                Author::Customer,
                "Nous passons à 6 utilisateurs.",
            )
            .await
            .expect("ticket");
        tx.commit().await.expect("commit");
        (id, ticket)
    };
    let documents_before = w.engine.subscription(&w.tenant, w.sub).await.unwrap();
    let reason = "Geste commercial accordé par la direction";

    // The account manager may not override the notice rule, even with a reason.
    let refused = w
        .engine
        .apply_change_request(
            &w.tenant,
            staff(w.manager, Role::AccountManager),
            id,
            Some(reason),
        )
        .await;
    assert!(
        matches!(&refused, Err(EngineError::Forbidden(m)) if m.contains("2025-05-07") && m.contains("tenant admin")),
        "{refused:?}"
    );
    // Nor the API.
    assert!(matches!(
        w.engine
            .apply_change_request(&w.tenant, Actor::API, id, Some(reason))
            .await,
        Err(EngineError::Forbidden(_))
    ));
    // A tenant admin must say why.
    let admin = staff(w.admin, Role::TenantAdmin);
    for missing in [None, Some("   ")] {
        assert!(matches!(
            w.engine.apply_change_request(&w.tenant, admin, id, missing).await,
            Err(EngineError::Invalid { ref field, ref problem })
                if field == "override_reason" && problem.contains("2025-05-07")
        ));
    }
    // Nothing was written by the refusals.
    assert_eq!(
        change_request(&w, id).await.status,
        ChangeRequestStatus::Pending
    );
    assert_eq!(
        w.engine
            .subscription(&w.tenant, w.sub)
            .await
            .unwrap()
            .subscription,
        documents_before.subscription
    );

    let outcome = w
        .engine
        .apply_change_request(&w.tenant, admin, id, Some(reason))
        .await
        .expect("overridden");
    // 20 May ..= 5 June is 17 of the period's 31 days: 4 × 30.00 × 17/31 = 65.806… → 65.81.
    assert_eq!(outcome.documents.len(), 1, "{:#?}", outcome.documents);
    let cn = &outcome.documents[0];
    assert_eq!(cn.net_total.minor(), -6581);
    assert_eq!(
        user_line(cn).explanation,
        "10 → 6 : 4 × 30.00 EUR × 17/31 (55%) = 65.81 EUR"
    );
    let cr = change_request(&w, id).await;
    assert_eq!(
        (cr.status, cr.note.as_deref()),
        (ChangeRequestStatus::Applied, Some(reason))
    );
    let trail = w
        .engine
        .audit_trail(&w.tenant, w.account, 0, 50)
        .await
        .expect("trail");
    let applied = trail
        .items
        .iter()
        .find(|a| a.action == "change_request.applied")
        .expect("in the trail");
    assert_eq!(applied.actor, "tenant_admin");
    assert_eq!(
        applied.after.as_ref().map(|a| a["override_reason"].clone()),
        Some(serde_json::json!(reason))
    );
    let view = w
        .engine
        .ticket(&w.tenant, ticket_id, true)
        .await
        .expect("ticket");
    assert_eq!(view.ticket.status, Status::Solved);
    contains_all(
        &view.messages.last().expect("reply").body,
        &[
            "Appliquée après la date limite de préavis, à titre exceptionnel : Geste commercial accordé par la direction",
            "CN-",
        ],
    );
}

async fn monthly_to_annual_at_the_period_end_bills_the_year_and_back_to_monthly_is_a_change_request(
    url: &str,
) {
    // The default policy: at the end of the period, the new periods starting that day.
    let mut w = world(url, &Settings::default(), 12).await;
    advance(&mut w, d(2024, 7, 10)).await;
    let annual = Request::ChangeFrequency {
        frequency: Frequency::Annual,
        when: None,
        anchor: None,
    };
    // A longer period is an upgrade: applied at once, nothing to bill before 6 August.
    let Submitted::Applied(outcome) = submit(&w, &annual, None).await.expect("submitted") else {
        panic!("an upgrade is applied");
    };
    assert_eq!(outcome.direction, Direction::Upgrade);
    assert!(outcome.documents.is_empty(), "{:#?}", outcome.documents);

    advance(&mut w, d(2024, 8, 6)).await;
    let docs = documents(&w).await;
    let last = docs.last().expect("the annual invoice");
    // 12 × 300.00 = 3,600.00 for the year 6 Aug 2024 – 5 Aug 2025.
    assert_eq!(
        (last.number.as_str(), last.issued_on),
        ("INV-000003", d(2024, 8, 6))
    );
    let l = user_line(last);
    assert_eq!(l.amount.minor(), 360000);
    assert_eq!(
        (l.service.start, l.service.end),
        (d(2024, 8, 6), d(2025, 8, 5))
    );
    assert_eq!(l.explanation, "12 × 300.00 EUR = 3600.00 EUR");
    assert_eq!(docs.len(), 3, "no credit: {docs:#?}");

    // Back to monthly is a downgrade: a change request for the account manager.
    let monthly = Request::ChangeFrequency {
        frequency: Frequency::Monthly,
        when: None,
        anchor: None,
    };
    let Submitted::Requested {
        deadline,
        ticket_id,
        ..
    } = submit(&w, &monthly, None).await.expect("submitted")
    else {
        panic!("a shorter period is a request");
    };
    // The term restarted with the year: renewal 6 August 2025 − 30 days.
    assert_eq!(deadline, Some(d(2025, 7, 7)));
    let view = w
        .engine
        .ticket(&w.tenant, ticket_id, true)
        .await
        .expect("ticket");
    assert_eq!(
        view.ticket.subject,
        "Demande de modification : Fréquence de facturation : annuelle → mensuelle"
    );
    assert_eq!(view.ticket.assignee_id, Some(w.manager));
}

async fn monthly_to_annual_at_once_under_the_tenants_policy_credits_17_31_and_bills_the_new_year(
    url: &str,
) {
    let settings = Settings {
        frequency_changes: FrequencyChangePolicy {
            when: FrequencyTiming::AtOnce,
            anchor: AnchorPolicy::ChangeDate,
        },
        ..Settings::default()
    };
    let mut w = world(url, &settings, 12).await;
    advance(&mut w, d(2024, 7, 20)).await;
    // The request says neither when nor where: the tenant's policy decides.
    let outcome = w
        .engine
        .request_change(
            &w.tenant,
            w.sub,
            &Request::ChangeFrequency {
                frequency: Frequency::Annual,
                when: None,
                anchor: None,
            },
            None,
        )
        .await
        .expect("accepted");
    assert_eq!(outcome.direction, Direction::Upgrade);
    let summary: Vec<(&str, i64)> = outcome
        .documents
        .iter()
        .map(|d| (d.number.as_str(), d.net_total.minor()))
        .collect();
    assert_eq!(summary, vec![("INV-000003", 360000), ("CN-000001", -19742)]);
    // 12 × 300.00: the year 20 Jul 2024 – 19 Jul 2025.
    let year = user_line(&outcome.documents[0]);
    assert_eq!(
        (year.service.start, year.service.end),
        (d(2024, 7, 20), d(2025, 7, 19))
    );
    assert_eq!(year.explanation, "12 × 300.00 EUR = 3600.00 EUR");
    // 12 × 30.00 × 17/31 = 197.419… → 197.42: 20 Jul ..= 5 Aug of 6 Jul ..= 5 Aug.
    let credit = user_line(&outcome.documents[1]);
    assert_eq!(
        (credit.service.start, credit.service.end),
        (d(2024, 7, 20), d(2024, 8, 5))
    );
    assert_eq!(
        credit.explanation,
        "12 × 30.00 EUR × 17/31 (55%) = 197.42 EUR"
    );
    assert_eq!(
        outcome.documents[1].corrects,
        vec!["INV-000002".to_string()]
    );
}
