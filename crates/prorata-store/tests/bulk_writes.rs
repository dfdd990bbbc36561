//! The billing run's bulk writes on both stores (issue #18): documents, their render queue,
//! ledger entries and outbox rows of more rows than one multi-row statement holds on SQLite
//! (PostgreSQL sends each table's rows as one `UNNEST` of arrays) all arrive, column by column,
//! in the tenant that wrote them and no other.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use prorata_core::account::{Account, Address};
use prorata_core::document::{Document, DocumentKind};
use prorata_core::reconcile::Settings;
use prorata_core::timeline::Subscription;
use prorata_core::{Currency, Frequency, Lang, Money};
use prorata_store::{
    InvoiceRange, LedgerKind, NewDocument, NewLedgerEntry, NewOutbox, Store, TenantMode, Tx,
};
use prorata_testkit::both_stores;

/// More than one SQLite statement's worth of rows (1,000 a statement) and not a multiple of it.
const N: usize = 2_345;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, d).expect("a date")
}

fn account() -> Account {
    Account {
        name: "Lumen".into(),
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
    }
}

fn subscription() -> Subscription {
    Subscription {
        plan: "essentials".into(),
        frequency: Frequency::Monthly,
        currency: Currency::EUR,
        start: day(1),
        trial_days: 0,
        term_months: 12,
        notice_days: 30,
        quantities: BTreeMap::from([("user".into(), 5)]),
        events: vec![],
        alignment: Default::default(),
        billing_day: None,
        trial_waives: Default::default(),
    }
}

/// The `i`-th document: every seventh a credit note (negative, with a due day that must not
/// be stored), the others invoices due on the 31st.
fn document(i: usize) -> Document {
    let credit = i % 7 == 3;
    let minor = i64::try_from(i).expect("small") * 100 + 1;
    let total = Money::from_minor(if credit { -minor } else { minor }, Currency::EUR);
    Document {
        kind: if credit {
            DocumentKind::CreditNote
        } else {
            DocumentKind::Invoice
        },
        number: format!("X-{i:05}"),
        issued_on: day(1 + u32::try_from(i % 28).expect("small")),
        currency: Currency::EUR,
        lines: vec![],
        net_total: total,
        taxes: vec![],
        total,
        previous_balance: None,
        prepaid_credit: None,
        balance_after: total,
        corrects: vec![],
        buyer: None,
        payment: None,
        seller: None,
        due_on: Some(day(31)),
    }
}

async fn tenant(tx: &mut Tx, name: &str) -> (i64, i64, i64) {
    let tenant = tx
        .create_tenant(name, TenantMode::Live, None, &Settings::default())
        .await
        .expect("tenant");
    let account = tx
        .insert_account(tenant, &account())
        .await
        .expect("account");
    let catalog = tx
        .insert_catalog(tenant, include_str!("../../../catalog/default.toml"))
        .await
        .expect("catalog")
        .id;
    let sub = tx
        .insert_subscription(tenant, account, catalog, &subscription(), Some(day(1)))
        .await
        .expect("subscription");
    (tenant, account, sub)
}

async fn every_row_of_a_bulk_write_arrives(url: &str) {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let mut tx = store.begin().await.expect("begin");
    let (t, account, sub) = tenant(&mut tx, "writer").await;
    let (other, _, _) = tenant(&mut tx, "bystander").await;
    let docs: Vec<NewDocument> = (0..N)
        .map(|i| NewDocument {
            account_id: account,
            subscription_id: sub,
            document: document(i),
        })
        .collect();
    let ledger: Vec<NewLedgerEntry> = docs
        .iter()
        .map(|d| NewLedgerEntry {
            account_id: account,
            entry_date: d.document.issued_on,
            kind: LedgerKind::of_document(d.document.kind),
            amount: d.document.total,
            reference: d.document.number.clone(),
        })
        .collect();
    let outbox: Vec<NewOutbox> = docs
        .iter()
        .map(|d| NewOutbox {
            topic: "invoice.finalized".into(),
            payload: serde_json::json!({ "number": d.document.number }),
        })
        .collect();
    tx.insert_documents(t, &docs).await.expect("documents");
    tx.insert_ledger(t, &ledger).await.expect("ledger");
    tx.insert_outbox(t, &outbox).await.expect("outbox");
    // Nothing to write is no statement at all (an empty VALUES list or array is no error).
    tx.insert_documents(t, &[]).await.expect("no documents");
    tx.insert_ledger(t, &[]).await.expect("no entries");
    tx.insert_outbox(t, &[]).await.expect("no outbox rows");
    tx.commit().await.expect("commit");

    let mut tx = store.begin().await.expect("begin");
    // Every document, in order, with its body, and each queued once for its files.
    let queued = tx
        .pending_renders(t, 0, i64::try_from(N).expect("small") + 10)
        .await
        .expect("renders");
    assert_eq!(queued.len(), N);
    for (i, row) in queued.iter().enumerate() {
        assert_eq!(row.document, document(i), "document {i}");
        assert_eq!((row.account_id, row.subscription_id), (account, sub));
    }
    assert!(queued.windows(2).all(|w| w[0].id < w[1].id));
    // The columns beside the body: an invoice's due day, and its total.
    let heads = tx
        .invoice_heads(t, InvoiceRange::default(), 0, 10_000)
        .await
        .expect("heads");
    let invoices: Vec<usize> = (0..N).filter(|i| i % 7 != 3).collect();
    assert_eq!(heads.len(), invoices.len());
    for (head, i) in heads.iter().zip(&invoices) {
        assert_eq!(head.total, document(*i).total.minor());
        assert_eq!(head.due_on, Some(day(31)));
    }
    let by_kind = tx.count_documents(t).await.expect("counts");
    let credit_notes = N - invoices.len();
    assert_eq!(
        by_kind.get(&("credit_note".to_string(), "EUR".to_string())),
        Some(&(
            i64::try_from(credit_notes).expect("small"),
            (0..N)
                .filter(|i| i % 7 == 3)
                .map(|i| document(i).total.minor())
                .sum()
        ))
    );
    // The ledger adds up to the documents' totals, and every entry is on page.
    let balance: i64 = (0..N).map(|i| document(i).total.minor()).sum();
    let balances = tx.balances(t, &[account]).await.expect("balances");
    assert_eq!(balances.get(&account), Some(&balance));
    let page = tx
        .ledger(t, account, 0, i64::try_from(N).expect("small") + 10)
        .await
        .expect("ledger");
    assert_eq!(page.items.len(), N);
    assert!(page
        .items
        .iter()
        .zip(0..N)
        .all(|(e, i)| e.reference == document(i).number && e.entry_date == document(i).issued_on));
    assert_eq!(
        tx.outbox_count(t).await.expect("outbox"),
        i64::try_from(N).expect("small")
    );
    // The other tenant got nothing.
    assert!(tx
        .pending_renders(other, 0, 10)
        .await
        .expect("renders")
        .is_empty());
    assert!(tx.count_documents(other).await.expect("counts").is_empty());
    assert_eq!(tx.outbox_count(other).await.expect("outbox"), 0);
}

both_stores!(bulk_writes, every_row_of_a_bulk_write_arrives);
