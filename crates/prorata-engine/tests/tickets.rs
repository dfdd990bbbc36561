//! Billing support tickets through the engine, on SQLite and PostgreSQL: routing by contact
//! reason (subscription matters to the account's manager, never the billing team), bad input
//! refused with nothing stored, the thread's statuses and internal notes, and the audit trail.

#[macro_use]
mod common;

use chrono::Days;
use common::*;
use prorata_core::access::Role;
use prorata_core::tickets::{Queue, Status};
use prorata_engine::tickets::{Actor, TicketInput, Upload};
use prorata_engine::{Engine, EngineError};
use prorata_store::{JobKind, QueueFilter, Tenant};

on_both_stores!(
    tickets_are_routed_by_their_reason,
    bad_input_is_refused_and_nothing_is_stored,
    the_thread_moves_the_status_and_internal_notes_stay_inside,
    the_purge_keeps_tickets_and_the_trail_without_what_is_personal,
    each_side_hears_of_the_other_by_e_mail,
    a_tenant_sets_its_own_reasons_and_their_routing,
);

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n";

struct World {
    engine: Engine,
    tenant: Tenant,
    account: i64,
    other_account: i64,
    manager: i64,
    billing: i64,
    owner: i64,
}

async fn world(url: &str) -> World {
    let engine = open(url).await;
    let tenant = sandbox(&engine, "Vendor", d(2025, 7, 1)).await;
    let account = engine
        .create_account(&tenant, &french_account("Lumen"))
        .await
        .expect("account");
    let other_account = engine
        .create_account(&tenant, &french_account("Autre"))
        .await
        .expect("account");
    let manager = user(
        &engine,
        &tenant,
        None,
        Role::AccountManager,
        "am@vendor.example",
    )
    .await;
    let billing = user(
        &engine,
        &tenant,
        None,
        Role::BillingTeam,
        "bt@vendor.example",
    )
    .await;
    let owner = user(
        &engine,
        &tenant,
        Some(account),
        Role::Owner,
        "owner@lumen.example",
    )
    .await;
    World {
        engine,
        tenant,
        account,
        other_account,
        manager,
        billing,
        owner,
    }
}

fn as_owner(w: &World) -> Actor<'static> {
    Actor {
        user_id: Some(w.owner),
        role: Some(Role::Owner),
        address: Some("198.51.100.7"),
    }
}

fn as_staff(id: i64, role: Role) -> Actor<'static> {
    Actor {
        user_id: Some(id),
        role: Some(role),
        address: Some("203.0.113.9"),
    }
}

fn input(w: &World, reason: &str, files: Vec<Upload>) -> TicketInput {
    TicketInput {
        account_id: w.account,
        reason: reason.into(),
        subject: "Facture de juillet".into(),
        body: "Voici la preuve de virement.".into(),
        document_id: None,
        files,
    }
}

fn upload(name: &str, bytes: &[u8]) -> Upload {
    Upload {
        name: name.into(),
        bytes: bytes.to_vec(),
    }
}

async fn tickets_are_routed_by_their_reason(url: &str) {
    let w = world(url).await;
    let billing = w
        .engine
        .file_ticket(
            &w.tenant,
            as_owner(&w),
            &input(
                &w,
                "billing",
                vec![upload("preuve.png", PNG), upload("facture.pdf", PDF)],
            ),
        )
        .await
        .expect("filed");
    assert_eq!(billing.ticket.queue, Queue::BillingTeam);
    assert_eq!(billing.ticket.assignee_id, None);
    assert_eq!(billing.ticket.status, Status::New);
    assert_eq!(
        billing
            .files
            .iter()
            .map(|f| (f.name.as_str(), f.media_type.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("preuve.png", "image/png"),
            ("facture.pdf", "application/pdf")
        ]
    );
    // Without an account manager, subscription matters wait in account management's queue.
    let unassigned = w
        .engine
        .file_ticket(&w.tenant, as_owner(&w), &input(&w, "subscription", vec![]))
        .await
        .expect("filed");
    assert_eq!(
        (unassigned.ticket.queue, unassigned.ticket.assignee_id),
        (Queue::AccountManagement, None)
    );
    w.engine
        .set_account_manager(
            &w.tenant,
            as_staff(w.manager, Role::TenantAdmin),
            w.account,
            Some(w.manager),
        )
        .await
        .expect("manager set");
    let managed = w
        .engine
        .file_ticket(&w.tenant, as_owner(&w), &input(&w, "subscription", vec![]))
        .await
        .expect("filed");
    assert_eq!(
        (managed.ticket.queue, managed.ticket.assignee_id),
        (Queue::AccountManagement, Some(w.manager))
    );
    // The billing team's queue never holds a subscription matter.
    let queue = w
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
    assert_eq!(
        queue.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![billing.ticket.id]
    );
    let mine = w
        .engine
        .tickets(
            &w.tenant,
            &QueueFilter {
                assignee_id: Some(w.manager),
                ..QueueFilter::default()
            },
            0,
            50,
        )
        .await
        .expect("mine");
    assert_eq!(
        mine.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![managed.ticket.id]
    );
    // Only an account manager manages accounts; only staff take tickets.
    assert!(matches!(
        w.engine
            .set_account_manager(&w.tenant, Actor::API, w.account, Some(w.billing))
            .await,
        Err(EngineError::Invalid { ref field, .. }) if field == "manager_id"
    ));
    assert!(matches!(
        w.engine
            .assign_ticket(&w.tenant, Actor::API, billing.ticket.id, Queue::BillingTeam, Some(w.owner))
            .await,
        Err(EngineError::Invalid { ref field, .. }) if field == "assignee_id"
    ));
    let assigned = w
        .engine
        .assign_ticket(
            &w.tenant,
            Actor::API,
            billing.ticket.id,
            Queue::BillingTeam,
            Some(w.billing),
        )
        .await
        .expect("assigned");
    assert_eq!(assigned.assignee_id, Some(w.billing));
}

async fn bad_input_is_refused_and_nothing_is_stored(url: &str) {
    let w = world(url).await;
    let refused = |r: Result<_, EngineError>| match r {
        Err(EngineError::Invalid { field, .. }) => field,
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("accepted"),
    };
    let file = |i: TicketInput| {
        let (engine, tenant, actor) = (w.engine.clone(), w.tenant.clone(), as_owner(&w));
        async move { engine.file_ticket(&tenant, actor, &i).await }
    };
    assert_eq!(refused(file(input(&w, "nope", vec![])).await), "reason");
    let mut empty = input(&w, "billing", vec![]);
    empty.subject = "   ".into();
    assert_eq!(refused(file(empty).await), "subject");
    let mut silent = input(&w, "billing", vec![]);
    silent.body = "\n".into();
    assert_eq!(refused(file(silent).await), "body");
    // An executable named .png is told from its content.
    let elf = upload("photo.png", b"\x7fELF\x02\x01\x01\0\0\0");
    assert_eq!(
        refused(file(input(&w, "billing", vec![upload("a.png", PNG), elf])).await),
        "files[1]"
    );
    let huge = upload(
        "big.pdf",
        &[b"%PDF-".as_slice(), &vec![b' '; 10 * 1024 * 1024]].concat(),
    );
    assert_eq!(
        refused(file(input(&w, "billing", vec![huge])).await),
        "files[0]"
    );
    let six = (0..6).map(|i| upload(&format!("{i}.png"), PNG)).collect();
    assert_eq!(refused(file(input(&w, "billing", six)).await), "files");
    // Another account's document is not this ticket's to quote.
    let catalog = w
        .engine
        .import_catalog(&w.tenant, DEFAULT_CATALOG)
        .await
        .expect("catalog")
        .id;
    w.engine
        .create_subscription(
            &w.tenant,
            w.other_account,
            catalog,
            &essentials(d(2025, 7, 1), 3),
        )
        .await
        .expect("subscription");
    let docs = w
        .engine
        .account_documents(&w.tenant, w.other_account, None)
        .await
        .expect("documents");
    let mut quoting = input(&w, "billing", vec![]);
    quoting.document_id = docs.first().map(|doc| doc.id);
    assert!(quoting.document_id.is_some());
    assert_eq!(refused(file(quoting).await), "document_id");
    let mut missing = input(&w, "billing", vec![]);
    missing.account_id = 999_999;
    assert!(matches!(
        file(missing).await,
        Err(EngineError::NotFound("account"))
    ));
    let all = w
        .engine
        .tickets(&w.tenant, &QueueFilter::default(), 0, 50)
        .await
        .expect("list");
    assert!(all.items.is_empty(), "nothing stored: {:?}", all.items);
    let trail = w
        .engine
        .audit_trail(&w.tenant, w.account, 0, 50)
        .await
        .expect("trail");
    assert!(trail.items.is_empty());
}

async fn the_thread_moves_the_status_and_internal_notes_stay_inside(url: &str) {
    let w = world(url).await;
    let filed = w
        .engine
        .file_ticket(&w.tenant, as_owner(&w), &input(&w, "billing", vec![]))
        .await
        .expect("filed");
    let id = filed.ticket.id;
    let staff = as_staff(w.billing, Role::BillingTeam);
    // An internal note with a file: the customer sees neither.
    let noted = w
        .engine
        .reply_to_ticket(
            &w.tenant,
            staff,
            id,
            "Virement reçu ?",
            true,
            &[upload("releve.pdf", PDF)],
        )
        .await
        .expect("note");
    assert_eq!(noted.ticket.status, Status::New);
    assert!(noted.ticket.first_response_at.is_none());
    let note_file = noted.files[0].id;
    let seen = w.engine.ticket(&w.tenant, id, false).await.expect("view");
    assert_eq!(seen.messages.len(), 1);
    assert!(seen.files.is_empty());
    assert!(matches!(
        w.engine.ticket_file(&w.tenant, id, note_file, false).await,
        Err(EngineError::NotFound(_))
    ));
    assert!(w
        .engine
        .ticket_file(&w.tenant, id, note_file, true)
        .await
        .is_ok());
    // The staff's answer waits for the customer and is the first response.
    let answered = w
        .engine
        .reply_to_ticket(&w.tenant, staff, id, "Reçu, merci.", false, &[])
        .await
        .expect("reply");
    assert_eq!(answered.ticket.status, Status::PendingCustomer);
    assert!(answered.ticket.first_response_at.is_some());
    let back = w
        .engine
        .reply_to_ticket(&w.tenant, as_owner(&w), id, "Parfait.", false, &[])
        .await
        .expect("customer");
    assert_eq!(back.ticket.status, Status::Open);
    let solved = w
        .engine
        .set_ticket_status(&w.tenant, staff, id, Status::Solved)
        .await
        .expect("solved");
    assert_eq!(solved.solved_on, Some(d(2025, 7, 1)));
    // Within the tenant's window (7 days) a reply reopens it; later it is refused.
    let later = |days: u64| Tenant {
        clock: d(2025, 7, 1).checked_add_days(Days::new(days)),
        ..w.tenant.clone()
    };
    let reopened = w
        .engine
        .reply_to_ticket(
            &later(7),
            as_owner(&w),
            id,
            "Encore une question",
            false,
            &[],
        )
        .await
        .expect("reopened");
    assert_eq!(reopened.ticket.status, Status::Open);
    w.engine
        .set_ticket_status(&w.tenant, staff, id, Status::Solved)
        .await
        .expect("solved again");
    assert!(matches!(
        w.engine
            .reply_to_ticket(&later(8), as_owner(&w), id, "Et maintenant ?", false, &[])
            .await,
        Err(EngineError::Conflict(_))
    ));
    w.engine
        .set_ticket_status(&w.tenant, staff, id, Status::Closed)
        .await
        .expect("closed");
    assert!(w
        .engine
        .set_ticket_status(&w.tenant, staff, id, Status::Open)
        .await
        .is_err());
    // Every action is in the trail, newest first, with who and from where.
    let trail = w
        .engine
        .audit_trail(&w.tenant, w.account, 0, 50)
        .await
        .expect("trail");
    let actions: Vec<(&str, &str)> = trail
        .items
        .iter()
        .map(|a| (a.action.as_str(), a.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("ticket.status", "billing_team"),
            ("ticket.status", "billing_team"),
            ("ticket.replied", "owner"),
            ("ticket.status", "billing_team"),
            ("ticket.replied", "owner"),
            ("ticket.replied", "billing_team"),
            ("ticket.noted", "billing_team"),
            ("ticket.created", "owner"),
        ]
    );
    assert_eq!(trail.items[7].address.as_deref(), Some("198.51.100.7"));
    assert_eq!(
        trail.items[0].before,
        Some(serde_json::json!({"status": "solved"}))
    );
}

async fn the_purge_keeps_tickets_and_the_trail_without_what_is_personal(url: &str) {
    let w = world(url).await;
    let filed = w
        .engine
        .file_ticket(
            &w.tenant,
            as_owner(&w),
            &input(&w, "billing", vec![upload("preuve.png", PNG)]),
        )
        .await
        .expect("filed");
    let id = filed.ticket.id;
    let file = filed.files[0].id;
    let mut tx = w.engine.store.begin().await.expect("tx");
    let account = tx
        .account(w.tenant.id, w.account)
        .await
        .expect("read")
        .expect("account");
    let purged = prorata_core::account::Account {
        name: "(purged)".into(),
        billing_contacts: vec![],
        ..account
    };
    tx.purge_account(w.tenant.id, w.account, &purged)
        .await
        .expect("purge");
    tx.commit().await.expect("commit");
    let view = w.engine.ticket(&w.tenant, id, true).await.expect("kept");
    assert_eq!(view.ticket.subject, "(purged)");
    assert_eq!(view.ticket.requester_id, None, "its person is gone");
    assert_eq!(view.ticket.reason, "billing");
    assert!(view.messages.iter().all(|m| m.body == "(purged)"));
    assert!(view.files.is_empty());
    assert!(w
        .engine
        .ticket_file(&w.tenant, id, file, true)
        .await
        .is_err());
    let trail = w
        .engine
        .audit_trail(&w.tenant, w.account, 0, 10)
        .await
        .expect("trail");
    assert_eq!(trail.items.len(), 1, "the trail is kept");
    let line = &trail.items[0];
    assert_eq!(
        (line.action.as_str(), line.actor.as_str()),
        ("ticket.created", "owner")
    );
    assert_eq!(
        (&line.address, &line.before, &line.after),
        (&None, &None, &None)
    );
    assert_eq!(line.actor_id, None);
}

/// The e-mails queued for the mail worker: (recipient, kind, message).
async fn ticket_mails(w: &World) -> Vec<(String, String, String)> {
    w.engine
        .jobs(&w.tenant, JobKind::Email)
        .await
        .expect("jobs")
        .into_iter()
        .map(|(job, _)| job.payload)
        .filter(|p| p["template"] == "ticket")
        .map(|p| {
            (
                p["to"][0].as_str().unwrap_or_default().to_string(),
                p["data"]["kind"].as_str().unwrap_or_default().to_string(),
                p["data"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

async fn each_side_hears_of_the_other_by_e_mail(url: &str) {
    let w = world(url).await;
    w.engine
        .set_account_manager(&w.tenant, Actor::API, w.account, Some(w.manager))
        .await
        .expect("manager");
    let filed = w
        .engine
        .file_ticket(&w.tenant, as_owner(&w), &input(&w, "subscription", vec![]))
        .await
        .expect("filed");
    let id = filed.ticket.id;
    let manager = as_staff(w.manager, Role::AccountManager);
    w.engine
        .reply_to_ticket(&w.tenant, manager, id, "Note pour moi", true, &[])
        .await
        .expect("note");
    w.engine
        .reply_to_ticket(
            &w.tenant,
            manager,
            id,
            "C'est possible au renouvellement.",
            false,
            &[],
        )
        .await
        .expect("reply");
    w.engine
        .reply_to_ticket(&w.tenant, as_owner(&w), id, "Merci !", false, &[])
        .await
        .expect("reply");
    assert_eq!(
        ticket_mails(&w).await,
        vec![
            (
                "am@vendor.example".to_string(),
                "new".to_string(),
                "Voici la preuve de virement.".to_string()
            ),
            (
                "owner@lumen.example".to_string(),
                "staff_reply".to_string(),
                "C'est possible au renouvellement.".to_string()
            ),
            (
                "am@vendor.example".to_string(),
                "customer_reply".to_string(),
                "Merci !".to_string()
            ),
        ],
        "the internal note reaches nobody"
    );
}

async fn a_tenant_sets_its_own_reasons_and_their_routing(url: &str) {
    use prorata_core::tickets::{ContactReason, Route, TicketRules};
    let w = world(url).await;
    let admin = as_staff(w.manager, Role::TenantAdmin);
    let mut rules = TicketRules::default();
    rules.reasons.push(ContactReason {
        code: "Refunds!".into(),
        ..rules.reasons[0].clone()
    });
    assert!(matches!(
        w.engine.set_ticket_rules(&w.tenant, admin, &rules).await,
        Err(EngineError::Invalid { ref field, .. }) if field == "reasons[3].code"
    ));
    rules.reasons[3].code = "billing".into();
    assert!(matches!(
        w.engine.set_ticket_rules(&w.tenant, admin, &rules).await,
        Err(EngineError::Invalid { ref field, .. }) if field == "reasons[3].code"
    ));
    // Refunds go to account management in this tenant.
    rules.reasons[3].code = "refunds".into();
    rules.reasons[3].route = Route::AccountManager;
    w.engine
        .set_ticket_rules(&w.tenant, admin, &rules)
        .await
        .expect("saved");
    let tenant = w.engine.tenant(w.tenant.id).await.expect("read");
    assert_eq!(tenant.settings.tickets, rules);
    let filed = w
        .engine
        .file_ticket(&tenant, as_owner(&w), &input(&w, "refunds", vec![]))
        .await
        .expect("filed");
    assert_eq!(filed.ticket.queue, Queue::AccountManagement);
}
