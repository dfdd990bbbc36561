//! Tickets, their messages and files, account managers and the audit trail, on both stores:
//! each test body runs once on a throwaway SQLite file and once on a fresh PostgreSQL
//! database.

use chrono::NaiveDate;
use prorata_core::access::{Role, UserStatus};
use prorata_core::account::{Account, Address};
use prorata_core::reconcile::Settings;
use prorata_core::tickets::{Author, Queue, Status};
use prorata_core::{Currency, Lang};
use prorata_store::{
    LoadedTicket, NewAudit, NewTicket, NewTicketFile, NewUser, QueueFilter, Store, StoreError,
    TenantMode, Tx,
};
use serde_json::json;

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (url, _dir) = prorata_testkit::sqlite_url();
                    super::$name(&url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let url = prorata_testkit::fresh_database().await;
                    super::$name(&url).await;
                }
            )*
        }
    };
}

on_both_stores!(
    tickets_belong_to_their_tenant_and_list_oldest_first,
    internal_notes_and_files_stay_with_their_ticket,
    the_audit_trail_reads_newest_first,
    a_bulk_load_keeps_order_state_and_first_messages,
);

async fn store(url: &str) -> Store {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// A tenant and one account of it.
async fn tenant_and_account(tx: &mut Tx, name: &str) -> (i64, i64) {
    let tenant = tx
        .create_tenant(
            name,
            TenantMode::Sandbox,
            NaiveDate::from_ymd_opt(2025, 7, 1),
            &Settings::default(),
        )
        .await
        .expect("tenant");
    let account = tx
        .insert_account(
            tenant,
            &Account {
                name: name.into(),
                website: String::new(),
                address: Address::default(),
                country: "FR".into(),
                vat_number: None,
                currency: Currency::EUR,
                language: Lang::Fr,
                time_zone: "Europe/Paris".into(),
                billing_contacts: vec![],
                siren: None,
                siret: None,
                delivery_address: None,
            },
        )
        .await
        .expect("account");
    (tenant, account)
}

fn ticket(account_id: i64, queue: Queue, subject: &str) -> NewTicket<'_> {
    NewTicket {
        account_id,
        requester_id: None,
        reason: "billing",
        queue,
        assignee_id: None,
        subject,
        document_id: None,
        change_request_id: None,
    }
}

async fn tickets_belong_to_their_tenant_and_list_oldest_first(url: &str) {
    let store = store(url).await;
    let mut tx = store.begin().await.expect("tx");
    let (t1, a1) = tenant_and_account(&mut tx, "One").await;
    let (t2, a2) = tenant_and_account(&mut tx, "Two").await;
    let manager = tx
        .insert_user(
            t1,
            &NewUser {
                account_id: None,
                role: Role::AccountManager,
                email: "am@one.example",
                name: "Anne",
                language: Lang::Fr,
                status: UserStatus::Active,
                password_hash: None,
            },
        )
        .await
        .expect("manager");
    assert!(tx
        .set_account_manager(t1, a1, Some(manager))
        .await
        .expect("set"));
    assert!(!tx
        .set_account_manager(t1, a2, Some(manager))
        .await
        .expect("set"));
    assert_eq!(
        tx.account_manager(t1, a1).await.expect("read"),
        Some(manager)
    );
    assert_eq!(tx.account_manager(t2, a2).await.expect("read"), None);

    // Another tenant's account takes no ticket.
    match tx
        .insert_ticket(
            t1,
            &ticket(a2, Queue::BillingTeam, "x"),
            None,
            Author::Customer,
            "x",
        )
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{other:?}"),
    }
    let mut ids = Vec::new();
    for (i, queue) in [
        Queue::BillingTeam,
        Queue::AccountManagement,
        Queue::BillingTeam,
    ]
    .into_iter()
    .enumerate()
    {
        let (id, _) = tx
            .insert_ticket(
                t1,
                &NewTicket {
                    assignee_id: (queue == Queue::AccountManagement).then_some(manager),
                    ..ticket(a1, queue, &format!("Ticket {i}"))
                },
                None,
                Author::Customer,
                "Bonjour",
            )
            .await
            .expect("ticket");
        ids.push(id);
    }
    let billing = QueueFilter {
        queue: Some(Queue::BillingTeam),
        ..QueueFilter::default()
    };
    let listed: Vec<i64> = tx
        .tickets(t1, &billing, 0, 10)
        .await
        .expect("queue")
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        listed,
        vec![ids[0], ids[2]],
        "oldest first, this queue only"
    );
    let after_first = tx.tickets(t1, &billing, ids[0], 10).await.expect("queue");
    assert_eq!(after_first.len(), 1);
    let mine = QueueFilter {
        assignee_id: Some(manager),
        ..QueueFilter::default()
    };
    let mine = tx.tickets(t1, &mine, 0, 10).await.expect("mine");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].queue, Queue::AccountManagement);
    assert!(tx
        .tickets(t2, &billing, 0, 10)
        .await
        .expect("other")
        .is_empty());
    assert!(tx.ticket(t2, ids[0]).await.expect("read").is_none());

    // Status and marks are kept as the engine sets them.
    let mut t = tx.ticket(t1, ids[0]).await.expect("read").expect("ticket");
    assert_eq!(t.status, Status::New);
    t.status = Status::Solved;
    t.solved_on = NaiveDate::from_ymd_opt(2025, 7, 3);
    t.first_response_at = Some("2025-07-02T10:00:00Z".into());
    tx.update_ticket(t1, &t).await.expect("update");
    let back = tx.ticket(t1, ids[0]).await.expect("read").expect("ticket");
    assert_eq!(
        (
            back.status,
            back.solved_on,
            back.first_response_at.as_deref()
        ),
        (
            Status::Solved,
            NaiveDate::from_ymd_opt(2025, 7, 3),
            Some("2025-07-02T10:00:00Z")
        )
    );
    let open = QueueFilter {
        statuses: vec![Status::New, Status::Open],
        ..billing
    };
    assert_eq!(tx.tickets(t1, &open, 0, 10).await.expect("open").len(), 1);
    tx.commit().await.expect("commit");
}

async fn internal_notes_and_files_stay_with_their_ticket(url: &str) {
    let store = store(url).await;
    let mut tx = store.begin().await.expect("tx");
    let (t1, a1) = tenant_and_account(&mut tx, "One").await;
    let (t2, _) = tenant_and_account(&mut tx, "Two").await;
    let (first, message) = tx
        .insert_ticket(
            t1,
            &ticket(a1, Queue::BillingTeam, "Paiement"),
            None,
            Author::Customer,
            "Voici la preuve",
        )
        .await
        .expect("ticket");
    let (second, _) = tx
        .insert_ticket(
            t1,
            &ticket(a1, Queue::BillingTeam, "Autre"),
            None,
            Author::Customer,
            "Autre chose",
        )
        .await
        .expect("ticket");
    tx.insert_ticket_message(t1, first, None, Author::Staff, true, "note interne")
        .await
        .expect("note");
    tx.insert_ticket_message(t1, first, None, Author::Staff, false, "Merci")
        .await
        .expect("reply");
    assert!(tx
        .insert_ticket_message(t2, first, None, Author::Staff, false, "x")
        .await
        .is_err());
    let seen = tx.ticket_messages(t1, first, false).await.expect("thread");
    assert_eq!(
        seen.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        vec!["Voici la preuve", "Merci"],
        "the customer's view has no internal note"
    );
    let all = tx.ticket_messages(t1, first, true).await.expect("thread");
    assert_eq!(all.len(), 3);
    assert!(all[1].internal && all[1].author == Author::Staff);

    let png = b"\x89PNG\r\n\x1a\nrest";
    let file = tx
        .insert_ticket_file(
            t1,
            first,
            message,
            &NewTicketFile {
                name: "preuve.png",
                media_type: "image/png",
                sha256: "abc",
                body: png,
            },
        )
        .await
        .expect("file");
    // A message of another ticket does not take the file.
    assert!(tx
        .insert_ticket_file(
            t1,
            second,
            message,
            &NewTicketFile {
                name: "x.png",
                media_type: "image/png",
                sha256: "abc",
                body: png,
            },
        )
        .await
        .is_err());
    let listed = tx.ticket_files(t1, first).await.expect("files");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].size, png.len() as i64);
    let (meta, body) = tx
        .ticket_file(t1, first, file)
        .await
        .expect("read")
        .expect("the file");
    assert_eq!(
        (meta.name.as_str(), body.as_slice()),
        ("preuve.png", &png[..])
    );
    assert!(tx
        .ticket_file(t1, second, file)
        .await
        .expect("read")
        .is_none());
    assert!(tx
        .ticket_file(t2, first, file)
        .await
        .expect("read")
        .is_none());
    tx.commit().await.expect("commit");
}

async fn the_audit_trail_reads_newest_first(url: &str) {
    let store = store(url).await;
    let mut tx = store.begin().await.expect("tx");
    let (t1, a1) = tenant_and_account(&mut tx, "One").await;
    let (t2, a2) = tenant_and_account(&mut tx, "Two").await;
    for (i, action) in ["account.tax_details", "ticket.created", "payment.recorded"]
        .into_iter()
        .enumerate()
    {
        tx.insert_audit(
            t1,
            &NewAudit {
                account_id: Some(a1),
                actor_id: None,
                actor: "billing_team",
                address: Some("192.0.2.1"),
                action,
                subject: Some(format!("account:{a1}")),
                before: Some(json!({"vat_number": i})),
                after: Some(json!({"vat_number": i + 1})),
            },
        )
        .await
        .expect("audit");
    }
    tx.insert_audit(
        t2,
        &NewAudit {
            account_id: Some(a2),
            actor_id: None,
            actor: "api",
            address: None,
            action: "ticket.created",
            subject: None,
            before: None,
            after: None,
        },
    )
    .await
    .expect("audit");
    let lines = tx.audit_of_account(t1, a1, 0, 10).await.expect("read");
    assert_eq!(
        lines.iter().map(|l| l.action.as_str()).collect::<Vec<_>>(),
        vec!["payment.recorded", "ticket.created", "account.tax_details"]
    );
    assert_eq!(lines[2].before, Some(json!({"vat_number": 0})));
    assert_eq!(lines[2].address.as_deref(), Some("192.0.2.1"));
    let older = tx
        .audit_of_account(t1, a1, lines[0].id, 10)
        .await
        .expect("read");
    assert_eq!(older.len(), 2);
    assert!(tx
        .audit_of_account(t1, a2, 0, 10)
        .await
        .expect("read")
        .is_empty());
    tx.commit().await.expect("commit");
}

/// Issue #14's benchmark loads its queue in bulk: each ticket keeps its status, times and
/// assignee, gets its own first message, and an account of another tenant fails the load.
async fn a_bulk_load_keeps_order_state_and_first_messages(url: &str) {
    let store = store(url).await;
    let mut tx = store.begin().await.expect("tx");
    let (t1, a1) = tenant_and_account(&mut tx, "One").await;
    let (_, a2) = tenant_and_account(&mut tx, "Two").await;
    let bodies: Vec<String> = (0..2500).map(|i| format!("message {i}")).collect();
    let rows: Vec<LoadedTicket<'_>> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let closed = i % 2 == 0;
            LoadedTicket {
                ticket: ticket(a1, Queue::BillingTeam, "bulk"),
                status: if closed { Status::Closed } else { Status::Open },
                created_at: format!("2024-01-01T00:00:{:02}.000Z", i % 60),
                first_response_at: (!closed).then(|| "2024-01-02T00:00:00.000Z".to_string()),
                solved_on: closed.then(|| NaiveDate::from_ymd_opt(2024, 1, 3).expect("date")),
                solved_at: closed.then(|| "2024-01-03T00:00:00.000Z".to_string()),
                body,
            }
        })
        .collect();
    // Three statements of a thousand rows and one of five hundred.
    let ids = tx.load_tickets(t1, &rows).await.expect("load");
    assert_eq!(ids.len(), 2500);
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids in the order given"
    );
    for (i, id) in [(0, ids[0]), (1001, ids[1001]), (2499, ids[2499])] {
        let row = tx.ticket(t1, id).await.expect("read").expect("the ticket");
        let closed = i % 2 == 0;
        assert_eq!(
            row.status,
            if closed { Status::Closed } else { Status::Open }
        );
        assert_eq!(row.solved_on.is_some(), closed);
        assert_eq!(row.first_response_at.is_some(), !closed);
        let messages = tx.ticket_messages(t1, id, true).await.expect("messages");
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].body, format!("message {i}"));
        assert_eq!(
            messages[0].author,
            Author::Staff,
            "no requester: the API filed it"
        );
    }
    let closed = QueueFilter {
        statuses: vec![Status::Closed],
        ..QueueFilter::default()
    };
    let page = tx.tickets(t1, &closed, 0, 2000).await.expect("queue");
    assert_eq!(page.len(), 1250);

    // Another tenant's account: refused, nothing of this load written.
    let bad = [LoadedTicket {
        ticket: ticket(a2, Queue::BillingTeam, "not mine"),
        ..rows[1].clone()
    }];
    assert!(matches!(
        tx.load_tickets(t1, &bad).await,
        Err(StoreError::Conflict(_))
    ));
    let all = tx
        .tickets(t1, &QueueFilter::default(), 0, 5000)
        .await
        .expect("all");
    assert_eq!(all.len(), 2500);
    tx.commit().await.expect("commit");
}
