//! Percentage charges (issue "Billing models", item 5; Lago's percentage model): a percent of a
//! volume counted in minor units, a fixed fee per transaction, a number of transactions free of
//! that fee and an amount free of the percent. Usage is kept as daily totals (volume and
//! transaction count per day), so a period is rated on its totals, once, exactly;
//! per-transaction minimums and maximums, which need each transaction's amount, are refused.
//!
//! Amounts from Lago cite its public specs or documentation beside each amount, with the
//! arithmetic; the other cases are Prorata's own worked examples, and say so.

use prorata_core::catalog::{Catalog, Lang};
use prorata_core::charge::{ChargeModel, Scale};
use prorata_core::document::{Document, Line, LineKey};
use prorata_core::scenario::{self, Outcome, Scenario};
use prorata_core::Currency;

mod common;
use common::*;

/// A catalog billing `price` (a charge model's TOML table) for card payments in EUR and USD,
/// and a plan without fees.
fn catalog_text(price: &str) -> String {
    format!(
        r#"name = "payments"
currencies = ["EUR", "USD"]
[products.platform]
kind = "addon"
name = {{ en = "Platform", fr = "Plateforme" }}
[metrics.card_payments]
name = {{ en = "Card payments", fr = "Paiements par carte" }}
unit = "minor_units"
price.EUR = {price}
price.USD = {price}
[plans.merchant]
name = {{ en = "Merchant", fr = "Commerçant" }}
rank = 1
frequencies = ["monthly"]
[plans.merchant.items.platform]
"#
    )
}

fn catalog(price: &str) -> Catalog {
    Catalog::from_toml(&catalog_text(price)).unwrap_or_else(|e| panic!("catalog: {e}"))
}

fn model(cat: &Catalog) -> &ChargeModel {
    cat.metrics
        .get("card_payments")
        .and_then(|m| m.price.get(&Currency::EUR))
        .unwrap_or_else(|| panic!("no card_payments model"))
}

/// Rates `volume` minor units in `transactions` under the catalog's model: (amount in minor
/// units, explanation).
fn rate(cat: &Catalog, volume: i64, transactions: i64, currency: Currency) -> (i64, String) {
    let r = model(cat)
        .rate_usage(volume, transactions, Scale::UNIT, currency, Lang::En)
        .unwrap_or_else(|e| panic!("rates: {e}"));
    (r.amount.minor(), r.explanation)
}

/// A merchant subscription from 1 March 2024 with `actions`, played to `until`.
fn play(cat: &Catalog, until: &str, actions: &str) -> (Scenario, Outcome) {
    let text = format!(
        r#"catalog = "inline"
until = "{until}"
[account]
name = "Maison Berthier SARL"
country = "US"
language = "en"
[subscription]
plan = "merchant"
frequency = "monthly"
currency = "EUR"
start = "2024-03-01"
trial_days = 0
quantities = {{ platform = 1 }}
{actions}"#
    );
    let s = Scenario::from_toml(&text).unwrap_or_else(|e| panic!("scenario: {e}"));
    let o = scenario::run(&s, cat).unwrap_or_else(|e| panic!("runs: {e}"));
    (s, o)
}

fn usage_line(d: &Document) -> &Line {
    d.lines
        .iter()
        .find(|l| matches!(&l.key, LineKey::Usage { metric, .. } if metric == "card_payments"))
        .unwrap_or_else(|| panic!("{} has no card payments line", d.number))
}

/// What billing again on `day` would issue, given the documents issued by then and the usage
/// the scenario's actions recorded by then (with their transaction counts).
fn rerun(s: &Scenario, o: &Outcome, cat: &Catalog, day: &str) -> usize {
    o.reconcile_again(cat, &s.settings, day.parse().expect("a date"))
        .expect("reconciles")
        .len()
}

// ------------------------------------------------------------------ amounts from Lago

#[test]
fn a_percent_of_the_volume_plus_a_fee_per_transaction() {
    // Lago, spec/services/charges/charge_models/percentage_service_spec.rb, "when free units
    // are not set": rate 1.3, fixed_amount 2.0, 4 events summing 800 → "800 * (1.3 / 100)"
    // + "4 * 2.0" = 10.40 + 8.00 = 18.40. The volume here is 800.00 EUR = 80,000 cents.
    let cat = catalog(r#"{ model = "percentage", percent = "1.3", fixed_fee = "2.00" }"#);
    assert_eq!(
        rate(&cat, 80_000, 4, Currency::EUR),
        (1840, "800.00 × 1.3 % [10.40] + 4 × 2.00 [8.00]".to_string())
    );
}

#[test]
fn a_rate_of_zero_leaves_the_fee_per_transaction() {
    // Lago, same spec, "when rate is 0": fixed_amount 2.0 on 4 events → "(4 - 0) * 2.0" = 8.00.
    let cat = catalog(r#"{ model = "percentage", percent = "0", fixed_fee = "2.00" }"#);
    assert_eq!(rate(&cat, 80_000, 4, Currency::EUR).0, 800);
}

#[test]
fn no_volume_bills_nothing_not_even_the_fee() {
    // Lago, same spec, "when aggregation value is 0" → "returns 0", with 4 events and a fixed
    // amount of 2.0 (its fixed fee is charged only on a volume: `return 0 if units.zero?`).
    let cat = catalog(
        r#"{ model = "percentage", percent = "1.3", fixed_fee = "2.00", free_transactions = 3, free_amount = "250.00" }"#,
    );
    assert_eq!(rate(&cat, 0, 4, Currency::EUR).0, 0);
}

#[test]
fn a_plain_percent_of_a_dollar_volume() {
    // Lago, https://getlago.com/docs/v2/guide/rate-cards/pricing-models/percentage, "Example":
    // 1,000 USD of transactions in a month at 2 % → "The calculated fee is 20 USD".
    let cat = catalog(r#"{ model = "percentage", percent = "2" }"#);
    assert_eq!(
        rate(&cat, 100_000, 12, Currency::USD),
        (2000, "1000.00 × 2 %".to_string())
    );
}

#[test]
fn the_two_free_allowances_are_independent_unlike_lagos_whichever_comes_first() {
    // Lago, https://getlago.com/docs/guide/plans/charges/charge-models/percentage: 1.2 %, 0.10
    // a transaction, "the first 3 events or $500 are free"; transactions of 200, 100, 100 and
    // 50: Lago charges the 4th "$0.10 x 1 event + 1.2% of $50 = $0.70", the free amount
    // ending with the free events. That coupling needs each transaction's amount and order,
    // which daily totals do not keep. Prorata applies each allowance as that page defines it
    // ("number of events that are not subject to the fixed fee"; "amount that is not subject
    // to the charge rate"), so (Prorata's own arithmetic): 450.00 is within the 500.00 free
    // of the percent, and 1 of the 4 transactions pays the fee: 0.00 + 1 × 0.10 = 0.10.
    let cat = catalog(
        r#"{ model = "percentage", percent = "1.2", fixed_fee = "0.10", free_transactions = 3, free_amount = "500.00" }"#,
    );
    assert_eq!(
        rate(&cat, 45_000, 4, Currency::USD),
        (
            10,
            "(450.00 − 500.00 free) × 1.2 % [0.00] + (4 − 3 free) × 0.10 [0.10]".to_string()
        )
    );
}

// ------------------------------------------------------------------ Prorata's worked examples

const BRIEF_MODEL: &str =
    r#"{ model = "percentage", percent = "1.5", fixed_fee = "0.20", free_transactions = 5 }"#;

const MARCH: &str = r#"
[[actions]]
on = "2024-03-05"
usage = { metric = "card_payments", quantity = 500000, events = 20 }
[[actions]]
on = "2024-03-18"
usage = { metric = "card_payments", quantity = 400000, events = 15 }
[[actions]]
on = "2024-03-29"
usage = { metric = "card_payments", quantity = 300000, events = 10 }
"#;

#[test]
fn a_months_transactions_are_billed_on_its_invoice_with_the_derivation() {
    // Prorata's own worked example: 45 transactions, 12,000.00 in March, from daily totals of
    // 5,000.00 (20), 4,000.00 (15) and 3,000.00 (10): 1.5 % × 12,000.00 = 180.00, plus 0.20 ×
    // (45 − 5 free) = 8.00: 188.00 on 1 April.
    let cat = catalog(BRIEF_MODEL);
    let (s, o) = play(&cat, "2024-04-01", MARCH);
    assert_eq!(
        summary(&o),
        vec![("INV-000001".into(), "2024-04-01".into(), 18800)]
    );
    let l = usage_line(doc(&o, "INV-000001"));
    assert_eq!(l.events, Some(45));
    assert_eq!(l.quantity, 1_200_000);
    assert_eq!(
        l.explanation,
        "45 transactions, 12000.00 × 1.5 % [180.00] + (45 − 5 free) × 0.20 [8.00] = 188.00 EUR"
    );
    assert_eq!(
        (l.service.start.to_string(), l.service.end.to_string()),
        ("2024-03-01".into(), "2024-03-31".into())
    );
    assert_eq!(rerun(&s, &o, &cat, "2024-04-01"), 0);
}

#[test]
fn a_free_amount_is_taken_off_the_volume_before_the_percent() {
    // Prorata's own worked example: the same month with the first 2,000.00 free of the
    // percent: (12,000.00 − 2,000.00) × 1.5 % = 150.00, + 40 × 0.20 = 8.00: 158.00.
    let cat = catalog(
        r#"{ model = "percentage", percent = "1.5", fixed_fee = "0.20", free_transactions = 5, free_amount = "2000.00" }"#,
    );
    let (_, o) = play(&cat, "2024-04-01", MARCH);
    assert_eq!(
        usage_line(doc(&o, "INV-000001")).explanation,
        "45 transactions, (12000.00 − 2000.00 free) × 1.5 % [150.00] + (45 − 5 free) × 0.20 [8.00] = 158.00 EUR"
    );
    assert_eq!(doc(&o, "INV-000001").net_total.minor(), 15800);
}

#[test]
fn late_transactions_re_rate_the_period_on_its_whole_usage() {
    // Prorata's own worked example: 5 more transactions of 1,000.00 in all, made on 30 March
    // and learnt on 10 April. The period is rated again on all of it — 13,000.00 and 50
    // transactions: 195.00 + (50 − 5) × 0.20 = 9.00 → 204.00 — and the difference with the
    // 188.00 billed is a late line: 16.00. The free transactions are not counted twice.
    let cat = catalog(BRIEF_MODEL);
    let late = format!(
        r#"{MARCH}
[[actions]]
on = "2024-04-10"
usage = {{ metric = "card_payments", quantity = 100000, events = 5, date = "2024-03-30" }}
"#
    );
    let (s, o) = play(&cat, "2024-04-10", &late);
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-04-01".into(), 18800),
            ("INV-000002".into(), "2024-04-10".into(), 1600),
        ]
    );
    let l = usage_line(doc(&o, "INV-000002"));
    assert!(l.late);
    assert_eq!(l.events, Some(5));
    assert_eq!(
        l.explanation,
        "period now: 50 transactions, 13000.00 × 1.5 % [195.00] + (50 − 5 free) × 0.20 [9.00] = 204.00 EUR − 188.00 EUR already billed = 16.00 EUR"
    );
    assert_eq!(rerun(&s, &o, &cat, "2024-04-10"), 0);
}

#[test]
fn the_period_is_rounded_once_on_its_exact_sum() {
    // Prorata's own worked example: 0.5 % of 1.01 = 0.00505 and one transaction at 0.005:
    // 0.01005 in all → 0.01. Rounding each part first would give 0.01 + 0.01 = 0.02.
    let cat = catalog(r#"{ model = "percentage", percent = "0.5", fixed_fee = "0.005" }"#);
    assert_eq!(
        rate(&cat, 101, 1, Currency::EUR),
        (1, "1.01 × 0.5 % [0.00505] + 1 × 0.005 [0.005]".to_string())
    );
}

// ------------------------------------------------------------------ what the catalog refuses

fn catalog_error(price: &str) -> String {
    Catalog::from_toml(&catalog_text(price))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn per_transaction_minimums_and_maximums_are_refused_with_the_reason() {
    for field in ["per_transaction_min_amount", "per_transaction_max_amount"] {
        let e = catalog_error(&format!(
            r#"{{ model = "percentage", percent = "1.5", {field} = "0.50" }}"#
        ));
        assert!(
            e.contains(field) && e.contains("daily totals"),
            "{field}: {e}"
        );
    }
}

#[test]
fn bad_terms_are_refused_naming_the_field() {
    let e = catalog_error(r#"{ model = "percentage", percent = "1.5", free_transactions = -1 }"#);
    assert!(
        e.contains("metrics.card_payments.price.EUR: free_transactions cannot be negative"),
        "{e}"
    );
    let e = catalog_error(r#"{ model = "percentage", percent = "1.5", fixed_fee = "-0.20" }"#);
    assert!(e.contains("fixed_fee cannot be negative"), "{e}");
    let e = catalog_error(r#"{ model = "percentage", percent = "1.5", free_amount = "-1" }"#);
    assert!(e.contains("free_amount cannot be negative"), "{e}");
    // The percentage model's terms belong to it alone.
    let e = catalog_error(r#"{ model = "per_unit", unit_price = "0.10", fixed_fee = "0.20" }"#);
    assert!(e.contains("fixed_fee does not apply to this model"), "{e}");
    // A float is refused, as every amount in a file.
    let e = catalog_error(r#"{ model = "percentage", percent = "1.5", fixed_fee = 0.2 }"#);
    assert!(!e.is_empty(), "a float fixed_fee must be refused");
}

#[test]
fn the_terms_survive_a_round_trip_through_json() {
    // Catalogs travel as JSON through the API: every term must come back as it was.
    let cat = catalog(
        r#"{ model = "percentage", percent = "1.5", fixed_fee = "0.20", free_transactions = 5, free_amount = "2000.00" }"#,
    );
    let json = serde_json::to_string(model(&cat)).unwrap_or_default();
    let back: Option<ChargeModel> = serde_json::from_str(&json).ok();
    assert_eq!(back.as_ref(), Some(model(&cat)), "{json}");
}

// ------------------------------------------------------------------ the shipped example

#[test]
fn the_shipped_example_plays_as_its_comments_say() {
    let cat = Catalog::from_toml(include_str!(
        "../../../examples/catalogs/percentage-charge.toml"
    ))
    .unwrap_or_else(|e| panic!("example catalog: {e}"));
    let s = Scenario::from_toml(include_str!("../../../examples/percentage-charge.toml"))
        .unwrap_or_else(|e| panic!("example: {e}"));
    let o = scenario::run(&s, &cat).unwrap_or_else(|e| panic!("runs: {e}"));
    assert_eq!(
        summary(&o),
        vec![
            // The platform fee, 25.00 a month in advance.
            ("INV-000001".into(), "2024-03-01".into(), 2500),
            // April's fee + March's payments: (12,000.00 − 2,000.00) × 1.5 % = 150.00 + (45 −
            // 5) × 0.20 = 8.00 → 158.00.
            ("INV-000002".into(), "2024-04-01".into(), 2500 + 15800),
            // 30 March's payments, learnt on 10 April: 11,000.00 × 1.5 % = 165.00 + 45 × 0.20
            // = 9.00 → 174.00 − 158.00 = 16.00.
            ("INV-000003".into(), "2024-04-10".into(), 1600),
        ]
    );
    assert_eq!(rerun(&s, &o, &cat, "2024-04-10"), 0);
}
