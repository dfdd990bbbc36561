//! Overdue is overdue, whatever the payment method (prorata_core::overdue): an account paying
//! by transfer is reminded after its invoice's due date, then dunned on the tenant's
//! schedule; one that pays in time hears nothing. Played with the sandbox clock, on both
//! stores.

use chrono::{Days, NaiveDate};
use prorata_core::dunning::Status;
use prorata_core::payment::{BankDetails, CollectionSettings};
use prorata_engine::Engine;
use prorata_engine::NewPaymentMethod;
use prorata_store::{Job, JobKind, Tenant};
use serde_json::json;

#[macro_use]
mod common;

use common::*;

on_both_stores!(a_transfer_payer_unpaid_at_the_due_date_is_reminded_then_suspended_on_the_schedule);

/// The reminder e-mails queued for `account`.
async fn reminders(engine: &Engine, tenant: &Tenant, account: i64) -> Vec<Job> {
    engine
        .jobs(tenant, JobKind::Email)
        .await
        .expect("jobs")
        .into_iter()
        .map(|(job, _)| job)
        .filter(|j| j.account_id == Some(account) && j.payload["template"] == "reminder")
        .collect()
}

async fn advance(engine: &Engine, tenant: &Tenant, to: NaiveDate) -> Tenant {
    engine
        .advance_clock(tenant, to, &mut |_, _| {})
        .await
        .expect("clock advanced")
        .0
}

async fn a_transfer_payer_unpaid_at_the_due_date_is_reminded_then_suspended_on_the_schedule(
    url: &str,
) {
    let engine = open(url).await;
    // Invoices payable within 14 days.
    let mut terms = prorata_core::reconcile::Settings::default();
    terms.seller.payment_terms_days = 14;
    let tenant = engine
        .create_tenant(
            "Acme telephony (sandbox)",
            prorata_store::TenantMode::Sandbox,
            Some(d(2024, 6, 6)),
            &terms,
        )
        .await
        .expect("tenant created");
    let catalog = engine
        .import_catalog(&tenant, DEFAULT_CATALOG)
        .await
        .expect("the default catalog imports");
    // Seed 004, suspending at +21 rather than waiting for the cancellation at +29.
    let mut settings = CollectionSettings {
        bank_details: Some(BankDetails {
            holder: "Acme Telephony SAS".into(),
            iban: "FR7630006000011234567890189".into(),
            bic: "AGRIFRPP".into(),
        }),
        ..CollectionSettings::default()
    };
    assert_eq!(settings.reminder_days, [1, 7, 14], "the defaults");
    settings.dunning.steps[3].status = Some(Status::Suspended);
    engine
        .set_collection_settings(&tenant, &settings)
        .await
        .expect("settings saved");
    let tenant = engine
        .store
        .begin()
        .await
        .expect("tx")
        .tenant(tenant.id)
        .await
        .expect("tenant")
        .expect("tenant exists");

    let late = engine
        .create_account(&tenant, &french_account("Lente SARL"))
        .await
        .expect("account");
    let prompt = engine
        .create_account(&tenant, &french_account("Rapide SAS"))
        .await
        .expect("account");
    let mut first = Vec::new();
    for account in [late, prompt] {
        engine
            .add_payment_method(&tenant, account, &NewPaymentMethod::BankTransfer)
            .await
            .expect("transfer");
        let (_, docs) = engine
            .create_subscription(&tenant, account, catalog.id, &essentials(d(2024, 6, 6), 10))
            .await
            .expect("subscription");
        first.push(docs[0].clone());
    }
    let due = first[0].due_on.expect("an invoice has a due date");
    assert_eq!(due, d(2024, 6, 20));
    let day = |n: u64| due.checked_add_days(Days::new(n)).expect("a date");

    // The prompt payer pays its invoice before the due date; the late one does not.
    let tenant = advance(&engine, &tenant, d(2024, 6, 10)).await;
    engine
        .record_transfer(&tenant, prompt, first[1].total.minor(), "VIR RAPIDE 0001")
        .await
        .expect("transfer recorded");

    // On the due date the invoice is not yet overdue.
    let tenant = advance(&engine, &tenant, due).await;
    assert!(reminders(&engine, &tenant, late).await.is_empty());

    // The day after, the late payer is reminded and past due, from the due date.
    let tenant = advance(&engine, &tenant, day(1)).await;
    let sent = reminders(&engine, &tenant, late).await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let data = &sent[0].payload["data"];
    assert_eq!(data["invoices"], json!([first[0].number]));
    assert_eq!(data["amount"], json!(first[0].total.minor()));
    assert_eq!(data["due_on"], json!(due));
    assert_eq!(data["bank_details"]["iban"], "FR7630006000011234567890189");
    assert_eq!(sent[0].payload["lang"], "fr");
    assert_eq!(sent[0].payload["to"], json!(["billing@example.com"]));
    let standing = engine.standing(&tenant, late).await.expect("standing");
    assert_eq!(standing.standing.status, Status::PastDue);
    assert_eq!(standing.standing.since, Some(due));
    assert_eq!(standing.next_step_on, Some(day(2)));
    // Nothing to charge: the schedule's retries queue no charge for a transfer payer.
    let charges = engine.jobs(&tenant, JobKind::Charge).await.expect("jobs");
    assert!(charges.is_empty(), "{charges:#?}");

    // Running the day again sends nothing twice.
    let again = engine.collect(&tenant, day(1)).await.expect("collected");
    assert_eq!(again.dunning_steps, 0);
    assert_eq!(reminders(&engine, &tenant, late).await.len(), 1);

    // The second reminder a week after the due date, the third a week later.
    let tenant = advance(&engine, &tenant, day(7)).await;
    assert_eq!(reminders(&engine, &tenant, late).await.len(), 2);
    let tenant = advance(&engine, &tenant, day(20)).await;
    assert_eq!(reminders(&engine, &tenant, late).await.len(), 3);
    let standing = engine.standing(&tenant, late).await.expect("standing");
    assert_eq!(standing.standing.status, Status::PastDue);

    // Suspended on the schedule's day, counted from the due date.
    let tenant = advance(&engine, &tenant, day(21)).await;
    let standing = engine.standing(&tenant, late).await.expect("standing");
    assert_eq!(standing.standing.status, Status::Suspended);
    assert_eq!(standing.standing.suspended_on, Some(day(21)));
    assert_eq!(reminders(&engine, &tenant, late).await.len(), 3);
    let again = engine.collect(&tenant, day(21)).await.expect("collected");
    assert_eq!(again.dunning_steps, 0, "the suspension is taken once");

    // The prompt payer was never reminded nor dunned (its next invoice is not yet due).
    assert!(reminders(&engine, &tenant, prompt).await.is_empty());
    let standing = engine.standing(&tenant, prompt).await.expect("standing");
    assert_eq!(standing.standing.status, Status::Active);

    // Paying the balance by transfer reactivates the late payer, as for a card.
    let owed = engine
        .standing(&tenant, late)
        .await
        .expect("standing")
        .balance;
    engine
        .record_transfer(&tenant, late, owed, "VIR LENTE 0001")
        .await
        .expect("transfer recorded");
    let standing = engine.standing(&tenant, late).await.expect("standing");
    assert_eq!(standing.standing.status, Status::Active);
}
