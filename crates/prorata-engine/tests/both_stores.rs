//! The engine's use cases against both stores.
//!
//! Every test body below is an `async fn(url)` written once; [`on_both_stores!`] generates two
//! `#[tokio::test]` wrappers for each, `sqlite::<name>` (a throwaway SQLite file from
//! `prorata_testkit::sqlite_url`) and `postgres::<name>` (a fresh database from
//! `prorata_testkit::fresh_database`, on `DATABASE_URL` or a throwaway cluster; never skipped).
//! Each opens the store with `Store::connect` + `migrate` and drives `Engine::new(store)`.
//!
//! Dates and amounts are written with their arithmetic beside them. Amounts are minor units
//! (cents): 30000 is 300.00 EUR.

use std::collections::{BTreeMap, BTreeSet};

use prorata_core::account::Account;
use prorata_core::change::{Direction, Refusal, Request};
use prorata_core::document::{Document, DocumentKind};
use prorata_core::reconcile::Settings;
use prorata_core::timeline::{start_of, Subscription};
use prorata_core::{Currency, Frequency};
use prorata_engine::{Engine, EngineError};
use prorata_store::{DocumentRow, IdempotentResponse, Settlement, StoreError, Tenant, TenantMode};

#[macro_use]
mod common;

use common::*;

// ------------------------------------------------------------------------------ harness

on_both_stores!(
    the_seed_downgrade_from_10_to_6_users_on_10_july_issues_cn_000001_of_minus_104_52_net_and_leaves_594_58_owed,
    running_billing_again_at_the_same_date_issues_nothing_and_document_numbers_have_no_gap,
    a_downgrade_inside_the_notice_period_is_refused_with_its_deadline_and_nothing_is_written,
    a_second_tenant_cannot_read_the_first_tenants_account_subscription_or_documents,
    a_second_tenant_cannot_sell_a_subscription_on_the_first_tenants_catalog_version,
    an_idempotent_response_is_saved_and_read_back_and_a_second_save_of_the_same_key_fails,
    a_second_catalog_version_with_a_higher_user_price_does_not_change_what_a_version_1_subscription_renews_at,
    a_billing_run_over_5000_subscriptions_issues_inv_000001_to_inv_005000_once_each_with_3_lines,
    a_subscription_locked_by_another_transaction_is_waited_for_not_skipped,
);

/// Every document of `tenant` (of one kind, or all), in issue order, read page by page.
async fn documents(engine: &Engine, tenant: i64, kind: Option<DocumentKind>) -> Vec<DocumentRow> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let mut tx = engine.store.begin().await.expect("begin");
        let page = tx
            .list_documents(tenant, kind, None, after, 500)
            .await
            .expect("list documents");
        out.extend(page.items);
        match page.next {
            Some(next) => after = next,
            None => return out,
        }
    }
}

fn numbers(rows: &[DocumentRow]) -> Vec<String> {
    rows.iter().map(|r| r.document.number.clone()).collect()
}

/// `INV-000001` … `INV-00000n`.
fn expected_numbers(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}-{i:06}")).collect()
}

async fn ledger_count(engine: &Engine, tenant: &Tenant, account: i64) -> usize {
    engine
        .ledger(tenant, account, 0, 1000)
        .await
        .expect("ledger")
        .items
        .len()
}

async fn outbox_count(engine: &Engine, tenant: i64) -> i64 {
    let mut tx = engine.store.begin().await.expect("begin");
    tx.outbox_count(tenant).await.expect("outbox count")
}

fn user_line_amounts(doc: &Document) -> Vec<i64> {
    doc.lines
        .iter()
        .filter(|l| matches!(&l.key, prorata_core::document::LineKey::Recurring(k) if k.product == "user"))
        .map(|l| l.amount.minor())
        .collect()
}

// ------------------------------------------------------------------------------ 1

/// The seed's worked example, through the database: 10 Essentials users at 30.00 EUR from
/// 6 June 2024, reduced to 6 on 10 July 2024.
async fn the_seed_downgrade_from_10_to_6_users_on_10_july_issues_cn_000001_of_minus_104_52_net_and_leaves_594_58_owed(
    url: &str,
) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    let account = engine
        .create_account(&tenant, &french_account("Lumen Conseil SAS"))
        .await
        .expect("account created");

    // Created on the clock's day, 2024-06-06: the first period 6 Jun – 5 Jul is billed at once.
    let (sub, docs) = engine
        .create_subscription(&tenant, account, catalog.id, &essentials(d(2024, 6, 6), 10))
        .await
        .expect("subscription created");
    assert_eq!(docs.len(), 1, "one invoice on creation: {docs:#?}");
    let inv1 = &docs[0];
    assert_eq!(inv1.kind, DocumentKind::Invoice);
    assert_eq!(inv1.number, "INV-000001");
    assert_eq!(inv1.issued_on, d(2024, 6, 6));
    // 10 users × 30.00 = 300.00 net; the included number costs nothing.
    assert_eq!(user_line_amounts(inv1), vec![30000]);
    assert_eq!(inv1.net_total.minor(), 30000);
    // 20 % VAT on 300.00 = 60.00; 300.00 + 60.00 = 360.00.
    assert_eq!(inv1.taxes.len(), 1, "{:?}", inv1.taxes);
    assert_eq!(inv1.taxes[0].base.minor(), 30000);
    assert_eq!(inv1.taxes[0].tax.minor(), 6000);
    assert_eq!(inv1.total.minor(), 36000);
    assert_eq!(inv1.previous_balance.map(|m| m.minor()), Some(0));
    assert_eq!(inv1.balance_after.minor(), 36000);

    // 2024-06-06 + 1 month = 2024-07-06: the second period 6 Jul – 5 Aug is invoiced.
    let (tenant, summary) = engine
        .advance_clock(&tenant, d(2024, 7, 6), &mut |_, _| {})
        .await
        .expect("clock advanced");
    assert_eq!(tenant.clock, Some(d(2024, 7, 6)));
    assert_eq!((summary.invoices, summary.credit_notes), (1, 0));
    assert_eq!(summary.invoiced.get("EUR"), Some(&36000));
    let invoices = documents(&engine, tenant.id, Some(DocumentKind::Invoice)).await;
    assert_eq!(numbers(&invoices), ["INV-000001", "INV-000002"]);
    let inv2 = &invoices[1].document;
    assert_eq!(inv2.issued_on, d(2024, 7, 6));
    assert_eq!(inv2.total.minor(), 36000);
    // The previous balance is the unpaid first invoice: 360.00; after: 360.00 + 360.00 = 720.00.
    assert_eq!(inv2.previous_balance.map(|m| m.minor()), Some(36000));
    assert_eq!(inv2.balance_after.minor(), 72000);

    // Nothing falls due between 7 and 10 July.
    let (tenant, summary) = engine
        .advance_clock(&tenant, d(2024, 7, 10), &mut |_, _| {})
        .await
        .expect("clock advanced");
    assert_eq!((summary.invoices, summary.credit_notes), (0, 0));

    // 10 → 6 users on 2024-07-10, long before the notice deadline 2025-05-07 (renewal
    // 2025-06-06 − 30 days).
    let outcome = engine
        .request_change(
            &tenant,
            sub,
            &Request::SetQuantity {
                product: "user".into(),
                quantity: 6,
            },
            None,
        )
        .await
        .expect("the downgrade is accepted");
    assert_eq!(outcome.direction, Direction::Downgrade);
    assert_eq!(outcome.effective, start_of(d(2024, 7, 10)));
    assert_eq!(outcome.documents.len(), 1, "{:#?}", outcome.documents);
    let cn = &outcome.documents[0];
    assert_eq!(cn.kind, DocumentKind::CreditNote);
    assert_eq!(cn.number, "CN-000001");
    assert_eq!(cn.issued_on, d(2024, 7, 10));
    assert_eq!(cn.lines.len(), 1, "{:#?}", cn.lines);
    let line = &cn.lines[0];
    // 10 Jul ..= 5 Aug = 27 of the period's 31 days: 4 × 30.00 × 27/31 = 104.516… → −104.52.
    assert_eq!(line.quantity, -4);
    assert_eq!(line.amount.minor(), -10452);
    let fraction = line.proration.expect("a prorated line");
    assert_eq!((fraction.num, fraction.den), (27, 31));
    assert_eq!(line.corrects, ["INV-000002"]);
    assert_eq!(cn.corrects, ["INV-000002"]);
    assert_eq!(cn.net_total.minor(), -10452);
    // VAT: 20 % × −104.52 = −20.904 → −20.90; total −104.52 − 20.90 = −125.42.
    assert_eq!(cn.total.minor(), -12542);

    // What the store holds is exactly what was returned (the JSON body round-trips).
    let stored = documents(&engine, tenant.id, None).await;
    assert_eq!(numbers(&stored), ["INV-000001", "INV-000002", "CN-000001"]);
    assert_eq!(&stored[0].document, inv1);
    assert_eq!(&stored[2].document, cn);
    assert!(stored
        .iter()
        .all(|r| r.subscription_id == sub && r.account_id == account));

    // Balance: 360.00 + 360.00 − 125.42 = 594.58.
    assert_eq!(engine.balance(&tenant, account).await.unwrap(), 59458);
    let ledger = engine.ledger(&tenant, account, 0, 100).await.unwrap().items;
    let entries: Vec<(String, i64)> = ledger
        .iter()
        .map(|e| (e.reference.clone(), e.amount.minor()))
        .collect();
    assert_eq!(
        entries,
        [
            ("INV-000001".to_string(), 36000),
            ("INV-000002".to_string(), 36000),
            ("CN-000001".to_string(), -12542),
        ]
    );
    assert_eq!(outbox_count(&engine, tenant.id).await, 3);

    // The timeline kept the change, and the next due day is the next period: 2024-08-06.
    let row = engine.subscription(&tenant, sub).await.unwrap();
    assert_eq!(row.subscription.events.len(), 1);
    assert_eq!(row.next_due, Some(d(2024, 8, 6)));
}

// ------------------------------------------------------------------------------ 2

/// Three subscriptions billed through three months with a downgrade in between; billing is
/// then re-run at the same date, both plainly and after forcing every subscription due again
/// (as if the run had never moved their next due day), which makes reconciliation run against
/// what is stored.
async fn running_billing_again_at_the_same_date_issues_nothing_and_document_numbers_have_no_gap(
    url: &str,
) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    let mut subs = Vec::new();
    for (i, users) in [10, 5, 8].into_iter().enumerate() {
        let account = engine
            .create_account(&tenant, &french_account(&format!("Customer {i}")))
            .await
            .unwrap();
        let (sub, _) = engine
            .create_subscription(
                &tenant,
                account,
                catalog.id,
                &essentials(d(2024, 6, 6), users),
            )
            .await
            .unwrap();
        subs.push(sub);
    }
    // 3 invoices on 2024-06-06.
    let (tenant, _) = engine
        .advance_clock(&tenant, d(2024, 7, 10), &mut |_, _| {})
        .await
        .unwrap();
    // +3 on 2024-07-06. Then 10 → 6 users and 8 → 4 users on 2024-07-10: 2 credit notes.
    for (sub, users) in [(subs[0], 6), (subs[2], 4)] {
        let outcome = engine
            .request_change(
                &tenant,
                sub,
                &Request::SetQuantity {
                    product: "user".into(),
                    quantity: users,
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(outcome.documents.len(), 1);
    }
    // +3 on 2024-08-06 and +3 on 2024-09-06: 12 invoices in all (4 months × 3).
    let (tenant, summary) = engine
        .advance_clock(&tenant, d(2024, 9, 6), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!((summary.invoices, summary.credit_notes), (6, 0));
    let before = documents(&engine, tenant.id, None).await;
    assert_eq!(before.len(), 14);

    // The same date again: nothing is due any more, nothing is issued.
    let again = engine
        .run_billing(&tenant, d(2024, 9, 6), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        (again.subscriptions, again.invoices, again.credit_notes),
        (0, 0, 0)
    );

    // Force all three due again on 2024-06-06, without their horizons: the run claims them and
    // reconciles each against all its stored documents, which already cover everything up to
    // 2024-09-06.
    {
        let mut tx = engine.store.begin().await.unwrap();
        let back: Vec<Settlement<'_>> = subs
            .iter()
            .map(|s| Settlement {
                subscription_id: *s,
                next_due: Some(d(2024, 6, 6)),
                horizon: None,
            })
            .collect();
        tx.settle(tenant.id, &back).await.unwrap();
        tx.commit().await.unwrap();
    }
    let replay = engine
        .run_billing(&tenant, d(2024, 9, 6), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(replay.subscriptions, 3, "all three were claimed again");
    assert_eq!((replay.invoices, replay.credit_notes), (0, 0));
    for sub in &subs {
        // The replay moved each next due day forward again: 2024-09-06 + 1 month.
        let row = engine.subscription(&tenant, *sub).await.unwrap();
        assert_eq!(row.next_due, Some(d(2024, 10, 6)));
    }
    let after = documents(&engine, tenant.id, None).await;
    assert_eq!(after, before, "the re-runs wrote no document");

    // Numbers per series: consecutive from 1, no gap, no duplicate.
    let invoices = documents(&engine, tenant.id, Some(DocumentKind::Invoice)).await;
    assert_eq!(numbers(&invoices), expected_numbers("INV", 12));
    let credit_notes = documents(&engine, tenant.id, Some(DocumentKind::CreditNote)).await;
    assert_eq!(numbers(&credit_notes), expected_numbers("CN", 2));
    assert_eq!(outbox_count(&engine, tenant.id).await, 14);

    // The next month bills once, continuing the series: INV-000013 … INV-000015.
    let (tenant, summary) = engine
        .advance_clock(&tenant, d(2024, 10, 6), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(summary.invoices, 3);
    let invoices = documents(&engine, tenant.id, Some(DocumentKind::Invoice)).await;
    assert_eq!(numbers(&invoices), expected_numbers("INV", 15));
}

// ------------------------------------------------------------------------------ 3

/// A contract sold on 2024-06-06 for 12 months renews on 2025-06-06; with 30 days' notice the
/// last day to reduce it is 2025-06-06 − 30 days = 2025-05-07. On 2025-05-08 a downgrade is
/// refused, and nothing of it is written.
async fn a_downgrade_inside_the_notice_period_is_refused_with_its_deadline_and_nothing_is_written(
    url: &str,
) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    let account = engine
        .create_account(&tenant, &french_account("Harbour Lights Ltd"))
        .await
        .unwrap();
    let (sub, _) = engine
        .create_subscription(&tenant, account, catalog.id, &essentials(d(2024, 6, 6), 10))
        .await
        .unwrap();
    // Monthly invoices on the 6th from June 2024 to May 2025: 12.
    let (tenant, _) = engine
        .advance_clock(&tenant, d(2025, 5, 8), &mut |_, _| {})
        .await
        .unwrap();
    let docs_before = documents(&engine, tenant.id, None).await;
    assert_eq!(numbers(&docs_before), expected_numbers("INV", 12));
    let row_before = engine.subscription(&tenant, sub).await.unwrap();
    let balance_before = engine.balance(&tenant, account).await.unwrap();
    // 12 × 360.00 = 4,320.00.
    assert_eq!(balance_before, 432000);
    let outbox_before = outbox_count(&engine, tenant.id).await;

    let request = Request::SetQuantity {
        product: "user".into(),
        quantity: 6,
    };
    let refused = engine
        .request_change(&tenant, sub, &request, None)
        .await
        .expect_err("a downgrade on 2025-05-08 is past the 2025-05-07 deadline");
    match &refused {
        EngineError::Refused(Refusal::NoticePeriodMissed {
            notice_days,
            renewal,
            deadline,
            next_deadline,
        }) => {
            assert_eq!(*notice_days, 30);
            assert_eq!(*renewal, d(2025, 6, 6));
            assert_eq!(*deadline, d(2025, 5, 7));
            // The following renewal is 2026-06-06; − 30 days = 2026-05-07.
            assert_eq!(*next_deadline, d(2026, 5, 7));
        }
        other => panic!("expected a NoticePeriodMissed refusal, got {other:?}"),
    }
    let message = refused.to_string();
    assert!(message.contains("by 2025-05-07"), "{message}");
    assert!(
        message.contains("renews on its terms on 2025-06-06"),
        "{message}"
    );

    // The same refusal through the preview.
    assert!(matches!(
        engine.preview_change(&tenant, sub, &request, None).await,
        Err(EngineError::Refused(Refusal::NoticePeriodMissed { .. }))
    ));

    // Nothing was written: no document, the same timeline and next due day, the same ledger
    // and outbox.
    assert_eq!(documents(&engine, tenant.id, None).await, docs_before);
    let row_after = engine.subscription(&tenant, sub).await.unwrap();
    assert_eq!(row_after, row_before);
    assert!(row_after.subscription.events.is_empty());
    assert_eq!(
        engine.balance(&tenant, account).await.unwrap(),
        balance_before
    );
    assert_eq!(ledger_count(&engine, &tenant, account).await, 12);
    assert_eq!(outbox_count(&engine, tenant.id).await, outbox_before);

    // The contract renews on its terms: 2025-06-06 bills 10 users again, 300.00 net.
    let (tenant, summary) = engine
        .advance_clock(&tenant, d(2025, 6, 6), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(summary.invoices, 1);
    let invoices = documents(&engine, tenant.id, Some(DocumentKind::Invoice)).await;
    assert_eq!(numbers(&invoices), expected_numbers("INV", 13));
    assert_eq!(user_line_amounts(&invoices[12].document), vec![30000]);
}

// ------------------------------------------------------------------------------ 4

/// Tenant 1 has an account, a subscription and documents; tenant 2, using tenant 1's ids,
/// finds none of them.
async fn a_second_tenant_cannot_read_the_first_tenants_account_subscription_or_documents(
    url: &str,
) {
    let engine = open(url).await;
    let (first, catalog) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    let account = engine
        .create_account(&first, &french_account("Atelier Vauban SAS"))
        .await
        .unwrap();
    let (sub, docs) = engine
        .create_subscription(&first, account, catalog.id, &essentials(d(2024, 6, 6), 10))
        .await
        .unwrap();
    assert_eq!(docs.len(), 1);
    let first_docs = documents(&engine, first.id, None).await;
    let doc_id = first_docs[0].id;

    let second = sandbox(&engine, "Other vendor (sandbox)", d(2024, 6, 6)).await;
    assert_ne!(second.id, first.id);

    let not_found = |r: Result<_, EngineError>, what: &str| match r {
        Err(EngineError::NotFound(_)) => {}
        Err(other) => panic!("{what}: expected NotFound, got {other:?}"),
        Ok(_) => panic!("{what}: tenant 2 read tenant 1's data"),
    };
    not_found(
        engine.account(&second, account).await.map(|_| ()),
        "account",
    );
    not_found(
        engine.subscription(&second, sub).await.map(|_| ()),
        "subscription",
    );
    not_found(
        engine.balance(&second, account).await.map(|_| ()),
        "balance",
    );
    not_found(
        engine.ledger(&second, account, 0, 10).await.map(|_| ()),
        "ledger",
    );
    not_found(
        engine.preview(&second, sub, None).await.map(|_| ()),
        "preview",
    );
    // Nor can it change tenant 1's subscription, or sell one on tenant 1's account.
    not_found(
        engine
            .request_change(
                &second,
                sub,
                &Request::SetQuantity {
                    product: "user".into(),
                    quantity: 12,
                },
                None,
            )
            .await
            .map(|_| ()),
        "request_change",
    );
    let own_catalog = engine
        .import_catalog(&second, DEFAULT_CATALOG)
        .await
        .unwrap();
    not_found(
        engine
            .create_subscription(
                &second,
                account,
                own_catalog.id,
                &essentials(d(2024, 6, 6), 10),
            )
            .await
            .map(|_| ()),
        "create_subscription on tenant 1's account",
    );

    // Lists and direct reads by id are empty for tenant 2.
    assert!(documents(&engine, second.id, None).await.is_empty());
    assert!(engine
        .list_accounts(&second, 0, 100)
        .await
        .unwrap()
        .items
        .is_empty());
    {
        let mut tx = engine.store.begin().await.unwrap();
        assert!(tx.document(second.id, doc_id).await.unwrap().is_none());
        assert!(tx.account(second.id, account).await.unwrap().is_none());
        assert!(tx
            .subscription(second.id, sub, false)
            .await
            .unwrap()
            .is_none());
        assert!(tx.catalog(second.id, catalog.id).await.unwrap().is_none());
        assert!(tx.count_documents(second.id).await.unwrap().is_empty());
        assert_eq!(tx.outbox_count(second.id).await.unwrap(), 0);
        assert!(tx.balances(second.id, &[account]).await.unwrap().is_empty());
    }
    // Tenant 2's billing run bills nothing of tenant 1's.
    let run = engine
        .run_billing(&second, d(2024, 7, 6), &mut |_| {})
        .await
        .unwrap();
    assert_eq!((run.subscriptions, run.invoices), (0, 0));

    // And tenant 1 still sees its own, untouched.
    assert_eq!(
        engine.account(&first, account).await.unwrap().name,
        "Atelier Vauban SAS"
    );
    assert_eq!(documents(&engine, first.id, None).await, first_docs);
    assert!(engine
        .subscription(&first, sub)
        .await
        .unwrap()
        .subscription
        .events
        .is_empty());
}

/// Tenant 1 sells on its catalog version (the engine caches it by id); tenant 2, with an
/// account of its own, asks for a subscription on that version id. It must not find it,
/// whether or not the engine has the version cached.
async fn a_second_tenant_cannot_sell_a_subscription_on_the_first_tenants_catalog_version(
    url: &str,
) {
    let engine = open(url).await;
    let (first, catalog) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    let account = engine
        .create_account(&first, &french_account("Delta Logistique SAS"))
        .await
        .unwrap();
    engine
        .create_subscription(&first, account, catalog.id, &essentials(d(2024, 6, 6), 10))
        .await
        .unwrap();

    let second = sandbox(&engine, "Other vendor (sandbox)", d(2024, 6, 6)).await;
    let own_account = engine
        .create_account(&second, &french_account("Eikenhout Advies BV"))
        .await
        .unwrap();
    // Tenant 2 has imported no catalog at all.
    assert!(engine.catalogs(&second).await.unwrap().is_empty());

    // An engine that has not read the version yet (a restarted process) reads it from the
    // store, scoped by tenant, and does not find it.
    let fresh = Engine::new(engine.store.clone());
    assert!(matches!(
        fresh
            .create_subscription(
                &second,
                own_account,
                catalog.id,
                &essentials(d(2024, 6, 6), 10)
            )
            .await,
        Err(EngineError::NotFound("catalog version"))
    ));

    // The engine that sold tenant 1's subscription has the version cached.
    let result = engine
        .create_subscription(
            &second,
            own_account,
            catalog.id,
            &essentials(d(2024, 6, 6), 10),
        )
        .await;
    match result {
        Err(EngineError::NotFound(what)) => assert_eq!(what, "catalog version"),
        Err(other) => panic!("expected NotFound(\"catalog version\"), got {other:?}"),
        Ok((sub, docs)) => panic!(
            "tenant 2 sold subscription {sub} on tenant 1's catalog version {} and issued {:?}",
            catalog.id,
            docs.iter().map(|d| &d.number).collect::<Vec<_>>()
        ),
    }
    assert!(documents(&engine, second.id, None).await.is_empty());
}

// ------------------------------------------------------------------------------ 5

async fn an_idempotent_response_is_saved_and_read_back_and_a_second_save_of_the_same_key_fails(
    url: &str,
) {
    let engine = open(url).await;
    let tenant = sandbox(&engine, "Keys (sandbox)", d(2024, 6, 6)).await;
    let other = sandbox(&engine, "Other (sandbox)", d(2024, 6, 6)).await;
    let first = IdempotentResponse {
        request_hash: "3f2a…sha256 of the first POST".into(),
        status: 201,
        body: r#"{"id":1,"number":"INV-000001"}"#.into(),
    };

    {
        let mut tx = engine.store.begin().await.unwrap();
        assert_eq!(
            tx.idempotent_response(tenant.id, "key-1").await.unwrap(),
            None
        );
        tx.save_idempotent_response(tenant.id, "key-1", &first)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    {
        let mut tx = engine.store.begin().await.unwrap();
        assert_eq!(
            tx.idempotent_response(tenant.id, "key-1").await.unwrap(),
            Some(first.clone())
        );
        // Keys are per tenant: the other tenant has no such key.
        assert_eq!(
            tx.idempotent_response(other.id, "key-1").await.unwrap(),
            None
        );
    }

    // A second save of the same key, in a transaction that also wrote something else, fails
    // on the key; the transaction is rolled back, so its other write goes too. (Rolled back
    // explicitly: a dropped SQLite transaction releases its write lock only when its
    // connection's worker gets round to it, and the next transaction here reads then writes —
    // an upgrade SQLite refuses at once, without waiting, while another connection holds the
    // lock. Under a loaded machine that made this test fail now and then.)
    let second = IdempotentResponse {
        request_hash: "a concurrent twin".into(),
        status: 200,
        body: "{}".into(),
    };
    {
        let mut tx = engine.store.begin().await.unwrap();
        tx.insert_account(tenant.id, &french_account("Written by the twin"))
            .await
            .unwrap();
        let err = tx
            .save_idempotent_response(tenant.id, "key-1", &second)
            .await
            .expect_err("the key is already taken");
        match &err {
            StoreError::Database(db) => {
                let unique = db
                    .as_database_error()
                    .is_some_and(|e| e.is_unique_violation());
                assert!(unique, "expected a unique violation, got {db:?}");
            }
            other => panic!("expected a database error, got {other:?}"),
        }
        tx.rollback().await.unwrap();
    }
    {
        let mut tx = engine.store.begin().await.unwrap();
        assert_eq!(
            tx.idempotent_response(tenant.id, "key-1").await.unwrap(),
            Some(first.clone()),
            "the first response is kept"
        );
        assert!(tx
            .list_accounts(tenant.id, 0, 10)
            .await
            .unwrap()
            .items
            .is_empty());
        // The same key under another tenant is a different key.
        tx.save_idempotent_response(other.id, "key-1", &second)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let mut tx = engine.store.begin().await.unwrap();
    assert_eq!(
        tx.idempotent_response(other.id, "key-1").await.unwrap(),
        Some(second)
    );
    assert_eq!(
        tx.idempotent_response(tenant.id, "key-1").await.unwrap(),
        Some(first)
    );
}

// ------------------------------------------------------------------------------ 6

/// Version 2 of the catalog raises Essentials users from 30.00 to 35.00 a month. The
/// subscription sold on version 1 renews at 10 × 30.00 = 300.00; one sold on version 2 pays
/// 10 × 35.00 = 350.00.
async fn a_second_catalog_version_with_a_higher_user_price_does_not_change_what_a_version_1_subscription_renews_at(
    url: &str,
) {
    let engine = open(url).await;
    let (tenant, v1) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    let old = engine
        .create_account(&tenant, &french_account("Fjord Analytics AS"))
        .await
        .unwrap();
    let (old_sub, docs) = engine
        .create_subscription(&tenant, old, v1.id, &essentials(d(2024, 6, 6), 10))
        .await
        .unwrap();
    assert_eq!(docs[0].net_total.minor(), 30000);

    let price_line = r#"unit_price.monthly = { EUR = "30.00", USD = "30.00", GBP = "25.00" }"#;
    assert_eq!(DEFAULT_CATALOG.matches(price_line).count(), 1);
    let dearer = DEFAULT_CATALOG.replace(
        price_line,
        r#"unit_price.monthly = { EUR = "35.00", USD = "35.00", GBP = "29.00" }"#,
    );
    let v2 = engine.import_catalog(&tenant, &dearer).await.unwrap();
    assert_eq!(v2.version, 2);
    assert_ne!(v2.id, v1.id);
    let versions: Vec<i64> = engine
        .catalogs(&tenant)
        .await
        .unwrap()
        .iter()
        .map(|c| c.version)
        .collect();
    assert_eq!(versions, [1, 2]);

    let new = engine
        .create_account(&tenant, &french_account("Garnet Health SAS"))
        .await
        .unwrap();
    let (new_sub, docs) = engine
        .create_subscription(&tenant, new, v2.id, &essentials(d(2024, 6, 6), 10))
        .await
        .unwrap();
    // 10 × 35.00 = 350.00 on version 2.
    assert_eq!(user_line_amounts(&docs[0]), vec![35000]);

    // 2024-07-06: both renew.
    let (tenant, summary) = engine
        .advance_clock(&tenant, d(2024, 7, 6), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(summary.invoices, 2);
    let renewals: BTreeMap<i64, Document> = documents(&engine, tenant.id, None)
        .await
        .into_iter()
        .filter(|r| r.document.issued_on == d(2024, 7, 6))
        .map(|r| (r.subscription_id, r.document))
        .collect();
    // Version 1: 10 × 30.00 = 300.00 net, 360.00 with VAT.
    assert_eq!(user_line_amounts(&renewals[&old_sub]), vec![30000]);
    assert_eq!(renewals[&old_sub].total.minor(), 36000);
    // Version 2: 10 × 35.00 = 350.00 net, 350.00 × 1.2 = 420.00 with VAT.
    assert_eq!(user_line_amounts(&renewals[&new_sub]), vec![35000]);
    assert_eq!(renewals[&new_sub].total.minor(), 42000);
    assert_eq!(
        engine
            .subscription(&tenant, old_sub)
            .await
            .unwrap()
            .catalog_version_id,
        v1.id
    );
}

// ------------------------------------------------------------------------------ 7

const BULK: usize = 5000;

/// 5,000 accounts and Professional monthly subscriptions inserted in bulk, as `prorata bench
/// billing-run` does, all due on 2025-01-06.
async fn a_billing_run_over_5000_subscriptions_issues_inv_000001_to_inv_005000_once_each_with_3_lines(
    url: &str,
) {
    let engine = open(url).await;
    let as_of = d(2025, 1, 6);
    let tenant = engine
        .create_tenant("bulk", TenantMode::Live, None, &Settings::default())
        .await
        .unwrap();
    let catalog = engine
        .import_catalog(&tenant, DEFAULT_CATALOG)
        .await
        .unwrap();
    let sub = Subscription {
        plan: "professional".into(),
        frequency: Frequency::Monthly,
        currency: Currency::EUR,
        start: as_of,
        trial_days: 0,
        term_months: 12,
        notice_days: 30,
        quantities: BTreeMap::from([
            ("user".to_string(), 5),
            ("number".to_string(), 3),
            ("analytics_plus".to_string(), 1),
        ]),
        events: Vec::new(),
        alignment: Default::default(),
        billing_day: None,
        trial_waives: Default::default(),
    };
    let accounts: Vec<Account> = (0..BULK)
        .map(|i| french_account(&format!("Bulk customer {i}")))
        .collect();
    let sub_ids: BTreeSet<i64> = {
        let mut tx = engine.store.begin().await.unwrap();
        let ids = tx.insert_accounts(tenant.id, &accounts).await.unwrap();
        assert_eq!(ids.len(), BULK);
        let rows: Vec<_> = ids
            .iter()
            .map(|id| (*id, catalog.id, sub.clone(), Some(as_of)))
            .collect();
        tx.insert_subscriptions(tenant.id, &rows).await.unwrap();
        tx.commit().await.unwrap();
        // Every subscription is due on 2025-01-06; read their ids without keeping the claim.
        let mut tx = engine.store.begin().await.unwrap();
        let due = tx
            .claim_due(tenant.id, as_of, None, 2 * BULK as i64, false)
            .await
            .unwrap();
        due.iter().map(|s| s.row.id).collect()
    };
    assert_eq!(sub_ids.len(), BULK);

    let started = std::time::Instant::now();
    let mut progress = Vec::new();
    let summary = engine
        .run_billing(&tenant, as_of, &mut |n| progress.push(n))
        .await
        .unwrap();
    eprintln!(
        "{}: billing run over {BULK} subscriptions in {:.2} s",
        engine.store.backend(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(summary.subscriptions, BULK as u64);
    assert_eq!((summary.invoices, summary.credit_notes), (BULK as u64, 0));
    // Chunks of 2,000: 2,000, 4,000, 5,000.
    assert_eq!(progress, [2000, 4000, 5000]);
    // Each: 5 × 50.00 + (3 − 2 included) × 6.00 + 150.00 = 406.00 net;
    // × 1.2 = 487.20 with VAT; × 5,000 = 2,436,000.00.
    assert_eq!(summary.invoiced.get("EUR"), Some(&(48720 * BULK as i64)));

    let invoices = documents(&engine, tenant.id, Some(DocumentKind::Invoice)).await;
    assert_eq!(invoices.len(), BULK);
    assert_eq!(numbers(&invoices), expected_numbers("INV", BULK));
    let distinct: BTreeSet<&str> = invoices
        .iter()
        .map(|r| r.document.number.as_str())
        .collect();
    assert_eq!(distinct.len(), BULK, "no duplicate number");
    let billed: BTreeSet<i64> = invoices.iter().map(|r| r.subscription_id).collect();
    assert_eq!(billed, sub_ids, "each subscription has exactly one invoice");
    for r in &invoices {
        let doc = &r.document;
        assert_eq!(doc.lines.len(), 3, "{}: {:#?}", doc.number, doc.lines);
        let amounts: Vec<i64> = doc.lines.iter().map(|l| l.amount.minor()).collect();
        // Users 5 × 50.00, 1 extra number × 6.00, Analytics+ 150.00.
        assert_eq!(amounts, [25000, 600, 15000], "{}", doc.number);
        assert_eq!(doc.net_total.minor(), 40600);
        assert_eq!(doc.total.minor(), 48720);
        assert_eq!(doc.issued_on, as_of);
    }
    assert_eq!(outbox_count(&engine, tenant.id).await, BULK as i64);

    let second = engine
        .run_billing(&tenant, as_of, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(
        (second.subscriptions, second.invoices, second.credit_notes),
        (0, 0, 0)
    );
    assert_eq!(
        documents(&engine, tenant.id, None).await.len(),
        BULK,
        "the second run issued nothing"
    );
}

/// Regression: the billing run once claimed rows with `SKIP LOCKED`, so a row still locked by a
/// transaction that had not finished (or whose rollback was still queued) was silently left
/// unbilled. The writer now waits for the lock.
async fn a_subscription_locked_by_another_transaction_is_waited_for_not_skipped(url: &str) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    let account = engine
        .create_account(&tenant, &french_account("Locked SAS"))
        .await
        .unwrap();
    let (id, docs) = engine
        .create_subscription(&tenant, account, catalog.id, &essentials(d(2024, 6, 6), 3))
        .await
        .unwrap();
    assert_eq!(docs.len(), 1, "June is billed at creation");
    // Another transaction holds the subscription's row (on PostgreSQL a real row lock).
    let mut holder = engine.store.begin().await.unwrap();
    assert!(holder
        .subscription(tenant.id, id, true)
        .await
        .unwrap()
        .is_some());
    let run = {
        let engine = engine.clone();
        let tenant = tenant.clone();
        tokio::spawn(async move {
            engine
                .run_billing(&tenant, d(2024, 7, 6), &mut |_| {})
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    holder.rollback().await.unwrap();
    let summary = run.await.unwrap().unwrap();
    // July: 3 × 30.00 = 90.00, billed once the lock is released.
    assert_eq!((summary.subscriptions, summary.invoices), (1, 1));
    let july = documents(&engine, tenant.id, Some(DocumentKind::Invoice)).await;
    assert_eq!(
        july.last().map(|r| r.document.net_total.minor()),
        Some(9000)
    );
}
