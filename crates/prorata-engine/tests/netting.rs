//! Netting through the engine (issue #15, item 8): under `credit_policy = "same_invoice"` a
//! downgrade's credit is an invoice with a negative total, issued at once, asking for no
//! payment, its credit kept on the account's balance for the next invoices.
//!
//! Amounts are minor units (cents), their arithmetic beside them.

use prorata_core::change::Request;
use prorata_core::document::DocumentKind;
use prorata_core::reconcile::{CreditPolicy, Settings};
use prorata_store::TenantMode;

#[macro_use]
mod common;

use common::*;

on_both_stores!(
    the_seeds_downgrade_under_same_invoice_is_a_negative_invoice_that_asks_for_no_payment
);

async fn the_seeds_downgrade_under_same_invoice_is_a_negative_invoice_that_asks_for_no_payment(
    url: &str,
) {
    let engine = open(url).await;
    let settings = Settings {
        credit_policy: CreditPolicy::SameInvoice,
        ..Settings::default()
    };
    let tenant = engine
        .create_tenant(
            "Acme (netting)",
            TenantMode::Sandbox,
            Some(d(2024, 6, 6)),
            &settings,
        )
        .await
        .expect("tenant created");
    let catalog = engine
        .import_catalog(&tenant, DEFAULT_CATALOG)
        .await
        .expect("catalog imported");
    let account = engine
        .create_account(&tenant, &french_account("Lumen Conseil SAS"))
        .await
        .expect("account created");
    // 10 users × 30.00 = 300.00 net + 20 % VAT = 360.00, on 6 June and on 6 July.
    let (sub, docs) = engine
        .create_subscription(&tenant, account, catalog.id, &essentials(d(2024, 6, 6), 10))
        .await
        .expect("subscription created");
    assert_eq!(docs[0].total.minor(), 36000);
    let (tenant, _) = engine
        .advance_clock(&tenant, d(2024, 7, 10), &mut |_, _| {})
        .await
        .expect("clock advanced");

    // The seed's downgrade 10 → 6 on 10 July: 4 × 30.00 × 27/31 = 104.516… → −104.52, VAT
    // 20 % × −104.52 = −20.904 → −20.90, total −125.42: an invoice, not a credit note.
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
    assert_eq!(outcome.documents.len(), 1, "{:#?}", outcome.documents);
    let inv = &outcome.documents[0];
    assert_eq!(inv.kind, DocumentKind::Invoice);
    assert_eq!(inv.number, "INV-000003");
    assert_eq!(inv.net_total.minor(), -10452);
    assert_eq!(inv.total.minor(), -12542);
    assert_eq!(inv.corrects, ["INV-000002"]);
    // Nothing to pay: no payment details, no due date.
    assert_eq!(inv.payment, None);
    assert_eq!(inv.due_on, None);
    // Owed before: 360.00 + 360.00 = 720.00; after: 720.00 − 125.42 = 594.58.
    assert_eq!(inv.previous_balance.map(|m| m.minor()), Some(72000));
    assert_eq!(inv.balance_after.minor(), 59458);
    assert_eq!(engine.balance(&tenant, account).await.unwrap(), 59458);

    // 6 August: 6 × 30.00 = 180.00 + 36.00 VAT = 216.00, after the 594.58 owed: 810.58.
    let (_, summary) = engine
        .advance_clock(&tenant, d(2024, 8, 6), &mut |_, _| {})
        .await
        .expect("clock advanced");
    assert_eq!((summary.invoices, summary.credit_notes), (1, 0));
    assert_eq!(engine.balance(&tenant, account).await.unwrap(), 81058);
}
