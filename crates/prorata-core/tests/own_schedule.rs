//! Items on a schedule of their own (issue "Billing models", item 7): an item of a plan with a
//! `frequency` of its own is billed on periods of that frequency, anchored like the
//! subscription's, at its price for that frequency, and ends with the subscription.

use prorata_core::catalog::Catalog;
use prorata_core::document::DocumentKind;
use prorata_core::scenario::{self, Outcome, Scenario};

const CATALOG: &str = include_str!("../../../examples/catalogs/mixed-intervals.toml");
const EXAMPLE: &str = include_str!("../../../examples/addon-own-schedule.toml");

fn play(text: &str) -> Outcome {
    let catalog = Catalog::from_toml(CATALOG).expect("catalog");
    let s = Scenario::from_toml(text).expect("scenario parses");
    scenario::run(&s, &catalog).expect("scenario runs")
}

/// `(kind, issued on, net total in minor units)` of every document.
fn summary(o: &Outcome) -> Vec<(DocumentKind, String, i64)> {
    o.documents()
        .map(|d| (d.kind, d.issued_on.to_string(), d.net_total.minor()))
        .collect()
}

/// Stripe's mixed interval subscriptions (https://docs.stripe.com/billing/subscriptions/
/// mixed-interval): "a 100 USD per quarter and a 15 USD per month subscription starting on
/// January 1 2024" bills both items on its first invoice (15.00 + 100.00 = 115.00), renews
/// the monthly price alone on February 1 and March 1 (15.00), and both on April 1 (115.00).
/// The example adds the yearly archive on 1 March: 120.00 × 306/366 = 100.327… → 100.33 on
/// top of March's 15.00 (Prorata's own worked example), and a cancellation effective 1 July
/// credits the archive's unused days, 120.00 × 184/366 = 60.327… → 60.33, and bills no
/// quarter from that day.
#[test]
fn a_quarterly_fee_and_a_yearly_add_on_follow_their_own_periods_and_end_with_the_plan() {
    let o = play(EXAMPLE);
    assert_eq!(
        summary(&o),
        vec![
            (DocumentKind::Invoice, "2024-01-01".into(), 11500),
            (DocumentKind::Invoice, "2024-02-01".into(), 1500),
            (DocumentKind::Invoice, "2024-03-01".into(), 1500 + 10033),
            (DocumentKind::Invoice, "2024-04-01".into(), 11500),
            (DocumentKind::Invoice, "2024-05-01".into(), 1500),
            (DocumentKind::Invoice, "2024-06-01".into(), 1500),
            (DocumentKind::CreditNote, "2024-06-20".into(), -6033),
        ]
    );
    let archive = o
        .documents()
        .flat_map(|d| &d.lines)
        .find(|l| l.amount.minor() == 10033)
        .expect("the archive's line");
    assert_eq!(
        archive.explanation,
        "1 × 120.00 USD × 306/366 (84%) = 100.33 USD"
    );
    // The archive's key is its own year, 1 Jan – 31 Dec 2024, not the plan's month.
    assert_eq!(
        (
            archive.service.start.to_string(),
            archive.service.end.to_string()
        ),
        ("2024-03-01".into(), "2024-12-31".into())
    );
}

/// The quarter follows the subscription's anchor: sold on 15 February, support renews on
/// 15 May and 15 August while the platform renews every 15th.
#[test]
fn an_items_own_periods_start_on_the_subscriptions_anchor() {
    let o = play(
        r#"
catalog = "catalogs/mixed-intervals.toml"
until = "2024-08-20"

[account]
name = "Hardy Kitchens Inc."
country = "US"

[subscription]
plan = "flex"
frequency = "monthly"
currency = "USD"
start = "2024-02-15"
trial_days = 0
quantities = {}
"#,
    );
    let with_support: Vec<String> = o
        .documents()
        .filter(|d| d.net_total.minor() == 11500)
        .map(|d| d.issued_on.to_string())
        .collect();
    assert_eq!(with_support, ["2024-02-15", "2024-05-15", "2024-08-15"]);
    assert_eq!(o.documents().count(), 7, "an invoice every 15th");
}

/// An item's own frequency must start its periods on invoice days (monthly or longer, on a
/// plan not sold weekly), and its prices are asked for that frequency only.
#[test]
fn a_catalog_states_an_items_own_frequency_and_prices_it_for_that_frequency() {
    let weekly = CATALOG.replace(
        "included_price.quarterly = { USD = \"100.00\" }\nfrequency = \"quarterly\"",
        "included_price.weekly = { USD = \"10.00\" }\nfrequency = \"weekly\"",
    );
    let err = Catalog::from_toml(&weekly).expect_err("weekly refused");
    assert!(
        err.to_string()
            .contains("plans.flex.items.support.frequency"),
        "{err}"
    );
    let unpriced = CATALOG.replace("included_price.quarterly", "included_price.monthly");
    let err = Catalog::from_toml(&unpriced).expect_err("no quarterly price");
    assert!(
        err.to_string()
            .contains("no quarterly price (the item is billed quarterly)"),
        "{err}"
    );
}
