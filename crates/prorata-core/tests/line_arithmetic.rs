//! Every line's amount is its printed arithmetic (issue "Billing models", item 9): a line is
//! `quantity × unit price × fraction`, rounded once, half-up, and a credit is priced on its own
//! days, not as the whole period minus the part used. The property test over every convention
//! is `properties::every_line_is_its_printed_arithmetic`; these are the worked cases.

use prorata_core::catalog::Catalog;
use prorata_core::document::{DocumentKind, LineKey};
use prorata_core::scenario::{self, Outcome, Scenario};

const KILLBILL_CATALOG: &str = include_str!("../../../examples/catalogs/killbill.toml");
const DEFAULT_CATALOG: &str = include_str!("../../../catalog/default.toml");

fn play(catalog: &str, text: &str) -> Outcome {
    let catalog = Catalog::from_toml(catalog).expect("catalog");
    let s = Scenario::from_toml(text).expect("scenario parses");
    scenario::run(&s, &catalog).expect("scenario runs")
}

/// `(kind, issued on, amount in minor units, explanation)` of every line.
fn lines(o: &Outcome) -> Vec<(DocumentKind, String, i64, String)> {
    o.documents()
        .flat_map(|d| {
            d.lines.iter().map(move |l| {
                (
                    d.kind,
                    d.issued_on.to_string(),
                    l.amount.minor(),
                    l.explanation.clone(),
                )
            })
        })
        .collect()
}

/// Kill Bill credits the unused days of a period on their own: in killbill/killbill,
/// `beatrix/.../integration/overdue/TestBillingAlignment.java`
/// (`testTransitionAccountBAToSubscriptionBA`), Shotgun at 249.95 a month, changed on 4 May
/// with 21 of the 30 days of the period paid to 25 May left, repairs them with a REPAIR_ADJ of
/// −174.97: 249.95 × 21/30 = 249.95 × 0.700000000 = 174.965 → 174.97. The shipped example plays
/// the same 21 days of 30 as a cancellation on 19 June of a period from 10 June. Before issue
/// #15 the engine credited the whole period minus the used part rounded, 249.95 − 74.99 =
/// 174.96, one cent off the arithmetic it printed.
#[test]
fn a_cancellation_credit_is_rounded_on_its_own_days_as_kill_bill_does() {
    let o = play(
        KILLBILL_CATALOG,
        include_str!("../../../examples/line-arithmetic.toml"),
    );
    assert_eq!(
        lines(&o),
        vec![
            (
                DocumentKind::Invoice,
                "2016-06-10".into(),
                24995,
                "1 × 249.95 USD = 249.95 USD".into()
            ),
            (
                DocumentKind::CreditNote,
                "2016-06-19".into(),
                -17497,
                "1 × 249.95 USD × 21/30 (0.700000000) (70%) = 174.97 USD".into()
            ),
        ]
    );
}

/// Seed 001's downgrade, 10 → 6 users on 10 July for the period 6 Jul – 5 Aug 2024: the credit
/// line says what it reduces beside the difference, `10 → 6: 4 × 30.00 EUR × 27/31`, and names
/// the invoice it corrects.
#[test]
fn a_reduction_credit_shows_the_quantities_before_and_after() {
    let o = play(
        DEFAULT_CATALOG,
        include_str!("../../../examples/seed-credit-note.toml"),
    );
    let credit = o
        .documents()
        .find(|d| d.kind == DocumentKind::CreditNote)
        .expect("a credit note");
    let line = credit
        .lines
        .iter()
        .find(|l| matches!(&l.key, LineKey::Recurring(k) if k.product == "user"))
        .expect("a user line");
    assert_eq!(line.quantity, -4);
    assert_eq!(line.amount.minor(), -10452);
    assert!(
        line.explanation
            .starts_with("10 → 6 : 4 × 30.00 EUR × 27/31 (87%) = 104.52 EUR"),
        "{}",
        line.explanation
    );
    assert_eq!(line.corrects.len(), 1, "{:?}", line.corrects);
}

/// Under `seconds` (Stripe), a line prints durations a person reads, not 2,289,600 of
/// 2,678,400: 4 users removed at noon on 10 July, 26 days 12 hours of the 31 days left.
#[test]
fn a_seconds_fraction_prints_as_days_and_hours() {
    let o = play(
        DEFAULT_CATALOG,
        r#"
catalog = "default.toml"
until = "2024-07-11"
settings = { day_count = "seconds" }

[account]
name = "Lumen Conseil SAS"
country = "FR"
language = "fr"

[subscription]
plan = "essentials"
frequency = "monthly"
currency = "EUR"
start = "2024-07-06"
trial_days = 0
quantities = { user = 10 }

[[actions]]
on = "2024-07-10"
request = { type = "set_quantity", product = "user", quantity = 6 }
effective = "2024-07-10T12:00:00"
"#,
    );
    let credit = o
        .documents()
        .find(|d| d.kind == DocumentKind::CreditNote)
        .expect("a credit note");
    // 4 × 30.00 × 2,289,600/2,678,400 = 102.580… → 102.58.
    assert_eq!(
        credit.lines[0].explanation,
        "10 → 6 : 4 × 30.00 EUR × 26 j 12 h / 31 j (85%) = 102.58 EUR"
    );
}
