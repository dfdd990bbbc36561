//! The billing run's bulk writes on both stores (issue #18): documents, their render queue,
//! ledger entries and outbox rows of more rows than one multi-row statement holds on SQLite
//! (PostgreSQL sends each table's rows as one `UNNEST` of arrays) all arrive, column by column,
//! in the tenant that wrote them and no other; and the running balance each entry moves stays
//! the sum of the account's entries.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use prorata_core::account::{Account, Address};
use prorata_core::document::{Document, DocumentKind};
use prorata_core::reconcile::Settings;
use prorata_core::timeline::Subscription;
use prorata_core::{Currency, Frequency, Lang, Money};
use prorata_store::{
    InvoiceRange, LedgerKind, NewDocument, NewLedgerEntry, NewOutbox, NewWalletEntry, Store,
    TenantMode, Tx, WalletKind,
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

/// Ledger entries of `accounts`: entry `i` goes to `accounts[i % len]`, owes `amount(i)`.
fn entries(accounts: &[i64], n: usize, amount: impl Fn(usize) -> i64) -> Vec<NewLedgerEntry> {
    (0..n)
        .map(|i| NewLedgerEntry {
            account_id: accounts[i % accounts.len()],
            entry_date: day(1),
            kind: if amount(i) < 0 {
                LedgerKind::Payment
            } else {
                LedgerKind::Invoice
            },
            amount: Money::from_minor(amount(i), Currency::EUR),
            reference: format!("E-{i}"),
        })
        .collect()
}

/// The sum of an account's ledger entries, read entry by entry.
async fn sum_of_entries(tx: &mut Tx, tenant: i64, account: i64) -> i64 {
    let page = tx
        .ledger(tenant, account, 0, 100_000)
        .await
        .expect("ledger");
    page.items.iter().map(|e| e.amount.minor()).sum()
}

/// Balances are kept, not summed (issue #18): the database adds each entry written to its
/// account's running balance, in the same statement. They must equal the sum of the entries however the
/// entries came (several to one account in one statement, more accounts than one statement
/// holds, several transactions), move back with a rolled-back transaction, and stay apart
/// per book and per tenant. An account whose entries cancel out has a balance of zero; one
/// without entries has none.
async fn running_balances_are_the_sums_of_their_entries(url: &str) {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let mut tx = store.begin().await.expect("begin");
    let (t, first, _) = tenant(&mut tx, "writer").await;
    let (other, stranger, _) = tenant(&mut tx, "bystander").await;
    let mut accounts = vec![first];
    let more = tx
        .insert_accounts(t, &vec![account(); 1_199])
        .await
        .expect("accounts");
    accounts.extend(more);
    let untouched = tx.insert_account(t, &account()).await.expect("account");
    // Three entries to each account in one write, some negative (payments).
    let owed = |i: usize| i64::try_from(i % 97).expect("small") * 100 - 1_500;
    tx.insert_ledger(t, &entries(&accounts, 3 * accounts.len(), owed))
        .await
        .expect("ledger");
    tx.insert_ledger(other, &entries(&[stranger], 4, |_| 7_00))
        .await
        .expect("ledger");
    tx.commit().await.expect("commit");

    // A second transaction adds to the same balances; a third is rolled back.
    let mut tx = store.begin().await.expect("begin");
    tx.insert_ledger(
        t,
        &entries(&accounts[..10], 10, |i| {
            1 + i64::try_from(i).expect("small")
        }),
    )
    .await
    .expect("ledger");
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    tx.insert_ledger(t, &entries(&accounts, accounts.len(), |_| 1_000_000))
        .await
        .expect("ledger");
    tx.rollback().await.expect("rollback");

    // Entries that cancel out, and a wallet beside the ledger.
    let mut tx = store.begin().await.expect("begin");
    let zero = accounts[1_000];
    let back = -sum_of_entries(&mut tx, t, zero).await;
    tx.insert_ledger(t, &entries(&[zero], 1, |_| back))
        .await
        .expect("ledger");
    let wallet = |account_id, kind, minor| NewWalletEntry {
        account_id,
        entry_date: day(2),
        kind,
        amount: Money::from_minor(minor, Currency::EUR),
        reference: "W".into(),
    };
    tx.insert_wallet_entries(
        t,
        &[
            wallet(first, WalletKind::Paid, 50_00),
            wallet(first, WalletKind::Applied, -12_34),
            wallet(first, WalletKind::Granted, 5_00),
        ],
    )
    .await
    .expect("wallet");
    tx.commit().await.expect("commit");

    let mut tx = store.begin().await.expect("begin");
    let mut asked = accounts.clone();
    asked.push(untouched);
    asked.push(stranger);
    let balances = tx.balances(t, &asked).await.expect("balances");
    assert_eq!(
        balances.len(),
        accounts.len(),
        "one balance per account with entries"
    );
    for &a in &accounts {
        assert_eq!(
            balances.get(&a),
            Some(&sum_of_entries(&mut tx, t, a).await),
            "account {a}"
        );
    }
    assert_eq!(balances.get(&zero), Some(&0));
    assert_eq!(balances.get(&untouched), None);
    assert_eq!(balances.get(&stranger), None, "another tenant's account");
    assert_eq!(
        tx.balances(other, &[stranger])
            .await
            .expect("balances")
            .get(&stranger),
        Some(&28_00)
    );
    let wallets = tx.wallet_balances(t, &asked).await.expect("wallets");
    assert_eq!(wallets, BTreeMap::from([(first, 42_66)]));
    tx.commit().await.expect("commit");
    store.close().await;

    // Nothing can move an entry behind its balance's back: the database refuses to change or
    // remove one, whoever asks (a correction is a new entry).
    for sql in [
        "UPDATE ledger_entries SET amount = amount + 1",
        "DELETE FROM ledger_entries",
        "UPDATE wallet_entries SET amount = 0",
        "DELETE FROM wallet_entries",
    ] {
        let refused = if url.starts_with("sqlite:") {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(url)
                .await
                .expect("connect");
            sqlx::query(sql).execute(&mut c).await.map(|_| ())
        } else {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(url)
                .await
                .expect("connect");
            sqlx::query(sql).execute(&mut c).await.map(|_| ())
        };
        let error = refused.expect_err(sql).to_string();
        assert!(error.contains("immutable"), "{sql}: {error}");
    }
}

both_stores!(
    running_balances,
    running_balances_are_the_sums_of_their_entries
);
