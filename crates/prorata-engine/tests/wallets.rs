//! Prepaid credit through the engine (issue #15, item 10): a top-up is drawn down by the
//! invoices issued after it — at a subscription's creation, by the billing run and in a change
//! preview — each draw written on the invoice, in the wallet's entries and in the ledger, in
//! the same transaction as the invoice.
//!
//! Amounts are minor units (cents), their arithmetic beside them.

use prorata_core::change::Request;
use prorata_core::document::DocumentKind;
use prorata_core::wallet::TopUp;
use prorata_engine::EngineError;
use prorata_store::{LedgerKind, WalletKind};

#[macro_use]
mod common;

use common::*;

on_both_stores!(
    invoices_draw_the_wallet_down_as_they_are_issued,
    a_top_up_is_checked_and_kept_to_its_tenant
);

async fn invoices_draw_the_wallet_down_as_they_are_issued(url: &str) {
    let engine = open(url).await;
    let (tenant, catalog) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    let account = engine
        .create_account(&tenant, &french_account("Lumen Conseil SAS"))
        .await
        .expect("account created");
    let wallet = engine
        .top_up(&tenant, account, 50_000, TopUp::Paid, "order 2024-117")
        .await
        .expect("topped up");
    assert_eq!((wallet.balance, wallet.currency.as_str()), (50_000, "EUR"));

    // 10 users × 30.00 = 300.00 + 20 % VAT = 360.00, paid whole by the wallet: 140.00 left.
    let (sub, docs) = engine
        .create_subscription(&tenant, account, catalog.id, &essentials(d(2024, 6, 6), 10))
        .await
        .expect("subscription created");
    assert_eq!(docs[0].total.minor(), 36_000);
    assert_eq!(docs[0].prepaid_credit.map(|m| m.minor()), Some(36_000));
    assert_eq!(docs[0].balance_after.minor(), 0);
    assert_eq!(engine.balance(&tenant, account).await.unwrap(), 0);
    assert_eq!(
        engine.wallet(&tenant, account).await.unwrap().balance,
        14_000
    );

    // A preview shows the draw the change's invoice would make, and takes nothing: 10 → 12
    // users on 6 June, 2 × 30.00 = 60.00 + 12.00 VAT = 72.00, all of it from the 140.00.
    let (_, preview) = engine
        .preview_change_documents(
            &tenant,
            sub,
            &Request::SetQuantity {
                product: "user".into(),
                quantity: 12,
            },
            None,
        )
        .await
        .expect("previewed");
    assert_eq!(preview[0].total.minor(), 7_200);
    assert_eq!(preview[0].prepaid_credit.map(|m| m.minor()), Some(7_200));
    assert_eq!(
        engine.wallet(&tenant, account).await.unwrap().balance,
        14_000
    );

    // The billing run of 6 July: 360.00, 140.00 from the wallet, 220.00 due.
    let (tenant, summary) = engine
        .advance_clock(&tenant, d(2024, 7, 6), &mut |_, _| {})
        .await
        .expect("clock advanced");
    assert_eq!(summary.invoices, 1);
    let mut tx = engine.store.begin().await.expect("begin");
    let invoices = tx
        .list_documents(tenant.id, Some(DocumentKind::Invoice), None, 0, 10)
        .await
        .expect("invoices")
        .items;
    drop(tx);
    let invoice = &invoices.last().expect("the July invoice").document;
    assert_eq!(invoice.number, "INV-000002");
    assert_eq!(invoice.prepaid_credit.map(|m| m.minor()), Some(14_000));
    assert_eq!(invoice.balance_after.minor(), 22_000);
    assert_eq!(engine.balance(&tenant, account).await.unwrap(), 22_000);
    assert_eq!(engine.wallet(&tenant, account).await.unwrap().balance, 0);

    // The wallet's story, and the ledger's: each draw under its invoice's number.
    let entries = engine
        .wallet_entries(&tenant, account, 0, 10)
        .await
        .expect("wallet entries")
        .items;
    let story: Vec<(WalletKind, i64, &str)> = entries
        .iter()
        .map(|e| (e.kind, e.amount.minor(), e.reference.as_str()))
        .collect();
    assert_eq!(
        story,
        [
            (WalletKind::Paid, 50_000, "order 2024-117"),
            (WalletKind::Applied, -36_000, "INV-000001"),
            (WalletKind::Applied, -14_000, "INV-000002"),
        ]
    );
    let ledger = engine
        .ledger(&tenant, account, 0, 10)
        .await
        .expect("ledger")
        .items;
    let drawn: Vec<(i64, &str)> = ledger
        .iter()
        .filter(|e| e.kind == LedgerKind::PrepaidCredit)
        .map(|e| (e.amount.minor(), e.reference.as_str()))
        .collect();
    assert_eq!(drawn, [(-36_000, "INV-000001"), (-14_000, "INV-000002")]);

    // Billing again on the same day issues and draws nothing.
    let (tenant, summary) = engine
        .advance_clock(&tenant, d(2024, 7, 6), &mut |_, _| {})
        .await
        .expect("clock advanced");
    assert_eq!(summary.invoices, 0);
    let entries = engine
        .wallet_entries(&tenant, account, 0, 10)
        .await
        .unwrap();
    assert_eq!(entries.items.len(), 3);
}

async fn a_top_up_is_checked_and_kept_to_its_tenant(url: &str) {
    let engine = open(url).await;
    let (tenant, _) = tenant_with_catalog(&engine, d(2024, 6, 6)).await;
    let account = engine
        .create_account(&tenant, &french_account("Lumen Conseil SAS"))
        .await
        .expect("account created");
    let field = |r: Result<prorata_engine::Wallet, EngineError>| match r {
        Err(EngineError::Invalid { field, .. }) => field,
        other => panic!("expected a refusal naming a field, got {other:?}"),
    };
    for amount in [0, -100] {
        let r = engine
            .top_up(&tenant, account, amount, TopUp::Granted, "gesture")
            .await;
        assert_eq!(field(r), "amount");
    }
    for reference in ["", "   ", "card 4242 4242 4242 4242"] {
        let r = engine
            .top_up(&tenant, account, 1_000, TopUp::Granted, reference)
            .await;
        assert_eq!(field(r), "reference");
    }
    // Another tenant's account is no account at all.
    let other = sandbox(&engine, "Other", d(2024, 6, 6)).await;
    for r in [
        engine
            .top_up(&other, account, 1_000, TopUp::Granted, "gesture")
            .await,
        engine.wallet(&other, account).await,
    ] {
        assert!(matches!(r, Err(EngineError::NotFound("account"))), "{r:?}");
    }
    assert!(matches!(
        engine.wallet_entries(&other, account, 0, 10).await,
        Err(EngineError::NotFound("account"))
    ));
    assert_eq!(engine.wallet(&tenant, account).await.unwrap().balance, 0);
}
