//! Prepaid credit (issue "Billing models", item 10; Lago's wallets): top-ups that invoices draw
//! down as they are issued, VAT included, kept apart from the account's balance. Each test
//! plays a scenario and asserts the invoices' prepaid credit, amount due and the wallet left,
//! with the source of each expected amount beside it.
//!
//! Kill Bill and Stripe have no wallet: Kill Bill's account credit (`CBA`) and Stripe's
//! customer balance are the account's balance here, which a negative invoice or an overpayment
//! already feeds (tests/netting.rs).

use prorata_core::catalog::Catalog;
use prorata_core::document::Document;
use prorata_core::money::{Currency, Money};
use prorata_core::scenario::{self, Entry, Outcome, Scenario};
use prorata_core::wallet::TopUp;

/// A flat monthly fee billed in advance: 1.00 (Lago's invoice of 100 cents) and 12.50 (15.00
/// with French VAT, Lago's invoice of 1500 cents).
const CASES: &str = r#"
name = "Wallet cases"
currencies = ["EUR"]

[products.platform]
kind = "addon"
name = { en = "Platform fee", fr = "Abonnement plateforme" }

[plans.one]
name = { en = "One", fr = "Un" }
rank = 1
frequencies = ["monthly"]
[plans.one.items.platform]
unit_price.monthly = { EUR = "1.00" }

[plans.fifteen]
name = { en = "Fifteen", fr = "Quinze" }
rank = 2
frequencies = ["monthly"]
[plans.fifteen.items.platform]
unit_price.monthly = { EUR = "12.50" }
"#;

/// Plays `actions` on a subscription to `plan` from 1 March 2026 until `until`, for a buyer
/// in `country` (FR: 20 % VAT; US: out of scope, so an invoice's total is its net).
fn play(plan: &str, country: &str, until: &str, actions: &str) -> Outcome {
    let text = format!(
        r#"catalog = "x.toml"
until = "{until}"
[account]
name = "Lumen Conseil SAS"
country = "{country}"
language = "en"

[subscription]
plan = "{plan}"
frequency = "monthly"
currency = "EUR"
start = "2026-03-01"
trial_days = 0
term_months = 0
notice_days = 0
quantities = {{ platform = 1 }}
{actions}"#
    );
    let catalog = Catalog::from_toml(CASES).expect("the cases' catalog");
    let s = Scenario::from_toml(&text).expect("scenario parses");
    scenario::run(&s, &catalog).expect("scenario runs")
}

fn eur(text: &str) -> Money {
    Money::parse(text, Currency::EUR).expect("an amount")
}

fn invoices(o: &Outcome) -> Vec<&Document> {
    o.documents().collect()
}

/// `(total, prepaid credit taken, amount due after)` of each document, in major units.
fn figures(o: &Outcome) -> Vec<(String, String, String)> {
    invoices(o)
        .iter()
        .map(|d| {
            (
                d.total.amount_text(),
                d.prepaid_credit
                    .map_or_else(|| "-".to_string(), |p| p.amount_text()),
                d.balance_after.amount_text(),
            )
        })
        .collect()
}

fn row(total: &str, prepaid: &str, due: &str) -> (String, String, String) {
    (total.into(), prepaid.into(), due.into())
}

#[test]
fn a_wallet_pays_whole_invoices_until_it_runs_out() {
    // Lago, spec/services/credits/applied_prepaid_credit_service_spec.rb, "calculates prepaid
    // credit": a wallet of 1000 cents and an invoice of 100 → 100 applied, 900 left. Played on:
    // ten monthly invoices of 1.00 use the 10.00 up, the eleventh is due in full.
    let o = play(
        "one",
        "US",
        "2027-01-15",
        r#"
[[actions]]
on = "2026-03-01"
top_up = { amount = "10.00" }
"#,
    );
    let f = figures(&o);
    assert_eq!(f.len(), 11, "March 2026 to January 2027");
    assert_eq!(f[0], row("1.00", "1.00", "0.00"));
    // After the first invoice: 10.00 − 1.00 = 9.00 left (Lago: balance_cents 900).
    let after_first = o
        .entries
        .iter()
        .find_map(|e| match e {
            Entry::TopUp { wallet_after, .. } => Some(*wallet_after),
            _ => None,
        })
        .expect("the top-up")
        .checked_sub(
            o.documents()
                .next()
                .and_then(|d| d.prepaid_credit)
                .expect("taken"),
        )
        .expect("no overflow");
    assert_eq!(after_first, eur("9.00"));
    for (i, invoice) in f.iter().enumerate().take(10) {
        assert_eq!(*invoice, row("1.00", "1.00", "0.00"), "invoice {}", i + 1);
    }
    assert_eq!(f[10], row("1.00", "-", "1.00"), "the wallet is empty");
    assert_eq!(o.wallet, eur("0.00"));
}

#[test]
fn a_wallet_smaller_than_the_invoice_pays_what_it_holds_after_vat() {
    // Lago, same spec, "when wallet credits are less than invoice amount": an invoice of 1500
    // cents and a wallet of 1000 → 1000 applied, the wallet at 0. Here the invoice is 12.50 net
    // + 20 % VAT 2.50 = 15.00: prepaid credit is a means of payment, taken after VAT (Lago's
    // prepaid_credit_amount_cents comes off total_amount_cents), so 15.00 − 10.00 = 5.00 due.
    let o = play(
        "fifteen",
        "FR",
        "2026-03-01",
        r#"
[[actions]]
on = "2026-03-01"
top_up = { amount = "10.00", kind = "granted" }
"#,
    );
    let d = invoices(&o)[0];
    assert_eq!(d.net_total, eur("12.50"));
    assert_eq!(
        d.taxes[0].tax,
        eur("2.50"),
        "the VAT is the invoice's whole VAT"
    );
    assert_eq!(figures(&o), [row("15.00", "10.00", "5.00")]);
    assert_eq!(o.wallet, eur("0.00"));
    assert!(o.entries.iter().any(|e| matches!(
        e,
        Entry::TopUp { kind: TopUp::Granted, wallet_after, .. } if *wallet_after == eur("10.00")
    )));
}

#[test]
fn a_credit_on_the_balance_is_used_before_the_wallet_and_an_unpaid_invoice_is_not_paid_from_it() {
    // 15.00 a month. March: 20.00 paid ahead (a 5.00 credit after March's invoice). April:
    // 15.00 − 5.00 = 10.00 owed, 10.00 taken from the 12.00 wallet. May: 2.00 left to take,
    // 13.00 due. June: nothing paid in May, so 13.00 is owed before June's 15.00; the wallet is
    // empty and June's invoice is due whole: 28.00.
    let o = play(
        "fifteen",
        "FR",
        "2026-06-01",
        r#"
[[actions]]
on = "2026-03-02"
payment = "20.00"

[[actions]]
on = "2026-03-15"
top_up = { amount = "12.00" }
"#,
    );
    assert_eq!(
        figures(&o),
        [
            row("15.00", "-", "15.00"),
            row("15.00", "10.00", "0.00"),
            row("15.00", "2.00", "13.00"),
            row("15.00", "-", "28.00"),
        ]
    );
    // The wallet never pays the 13.00 left unpaid: with 50.00 topped up in May, June's invoice
    // takes its own 15.00 and the 13.00 stays owed (Lago applies a wallet to new invoices).
    let o = play(
        "fifteen",
        "FR",
        "2026-06-01",
        r#"
[[actions]]
on = "2026-05-15"
top_up = { amount = "50.00" }
"#,
    );
    let f = figures(&o);
    assert_eq!(
        f[3],
        row("15.00", "15.00", "45.00"),
        "45.00 of March to May stays owed"
    );
    assert_eq!(o.wallet, eur("35.00"));
}

#[test]
fn a_credit_note_takes_nothing_from_the_wallet() {
    // 15.00 paid by the wallet in March; ended back to the start on 10 March: the credit
    // note gives back 15.00 as a credit on the balance, and the wallet keeps its 5.00.
    let o = play(
        "fifteen",
        "FR",
        "2026-03-31",
        r#"
[[actions]]
on = "2026-03-01"
top_up = { amount = "20.00" }

[[actions]]
on = "2026-03-10"
request = { type = "cancel_immediately" }
effective = "2026-03-01"
"#,
    );
    let docs = invoices(&o);
    let note = docs
        .iter()
        .find(|d| d.kind == prorata_core::document::DocumentKind::CreditNote)
        .unwrap_or_else(|| panic!("a credit note: {:#?}", o.entries));
    assert_eq!(note.prepaid_credit, None);
    assert_eq!(note.total, eur("-15.00"));
    assert_eq!(o.wallet, eur("5.00"));
    assert_eq!(o.balance, eur("-15.00"), "the credit stays on the balance");
}

#[test]
fn a_top_up_must_be_a_positive_amount() {
    let catalog = Catalog::from_toml(CASES).expect("the cases' catalog");
    for amount in ["0.00", "-5.00", "abc"] {
        let text = format!(
            r#"catalog = "x.toml"
until = "2026-04-01"
[account]
name = "Lumen Conseil SAS"
country = "FR"
[subscription]
plan = "one"
frequency = "monthly"
currency = "EUR"
start = "2026-03-01"
term_months = 0
notice_days = 0
quantities = {{ platform = 1 }}
[[actions]]
on = "2026-03-01"
top_up = {{ amount = "{amount}" }}
"#
        );
        let s = Scenario::from_toml(&text).expect("scenario parses");
        let err = scenario::run(&s, &catalog).expect_err(amount);
        assert!(
            err.to_string().starts_with("actions[0].top_up.amount"),
            "{amount}: {err}"
        );
    }
}

#[test]
fn the_shipped_example_draws_the_wallet_down_as_its_comments_say() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let text = std::fs::read_to_string(dir.join("prepaid-credit.toml")).expect("the example");
    let s = Scenario::from_toml(&text).expect("scenario parses");
    let catalog = std::fs::read_to_string(dir.join(&s.catalog)).expect("its catalog");
    let catalog = Catalog::from_toml(&catalog).expect("catalog parses");
    let o = scenario::run(&s, &catalog).expect("scenario runs");
    assert_eq!(
        figures(&o),
        [
            row("360.00", "360.00", "0.00"),
            row("360.00", "140.00", "220.00"),
            row("360.00", "50.00", "310.00"),
        ]
    );
    assert_eq!(o.wallet, eur("0.00"));
}
