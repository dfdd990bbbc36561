//! Seat tiers (issue "Billing models", item 4): charge models on subscribed quantities —
//! graduated and volume tiers, a flat fee per tier, and packages of N seats
//! ([`prorata_core::seat_tiers`]).
//!
//! The peers' amounts are cited beside each one with the arithmetic. Lago's and Kill Bill's
//! cases come from their *usage* charge-model tests (Lago prices tiers the same way on usage
//! and on fixed charges; Kill Bill has tiers on usage only): the tier arithmetic is the same,
//! here applied to the seats held for a whole monthly period, so each period's invoice equals
//! the peer's amount for that quantity. Stripe's cases are its per-quantity tiers. The
//! prorated cases (a quantity changed inside a period) are Prorata's own worked examples,
//! written from the rule and said so.

use prorata_core::catalog::{Catalog, Lang};
use prorata_core::document::{Document, DocumentKind, PriceTier};
use prorata_core::reconcile::{self, Context};
use prorata_core::scenario::{self, Entry, Outcome, Scenario};
use prorata_core::tax::Buyer;

mod common;
use common::*;

/// A catalog in `currency` with one product, `user`, priced on plan `team` by `item` (the
/// plan item's TOML body).
fn catalog(currency: &str, item: &str) -> Catalog {
    let text = format!(
        r#"name = "seat tiers"
currencies = ["{currency}"]
[products.user]
kind = "user"
name = {{ en = "Users", fr = "Utilisateurs" }}
[plans.team]
name = {{ en = "Team", fr = "Équipe" }}
rank = 1
frequencies = ["monthly"]
[plans.team.items.user]
{item}
"#
    );
    Catalog::from_toml(&text).unwrap_or_else(|e| panic!("catalog: {e}"))
}

/// The catalog's problems, one a line.
fn problems(item: &str) -> String {
    let text = format!(
        r#"name = "bad"
currencies = ["EUR"]
[products.user]
kind = "user"
name = {{ en = "Users", fr = "Utilisateurs" }}
[plans.team]
name = {{ en = "Team", fr = "Équipe" }}
rank = 1
frequencies = ["monthly"]
[plans.team.items.user]
{item}
"#
    );
    Catalog::from_toml(&text)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

/// A monthly subscription to `team` holding `users` from `start`, in `currency`, with the
/// quantity changes `(day, users)` recorded and effective on their day.
fn play(
    cat: &Catalog,
    currency: &str,
    start: &str,
    until: &str,
    users: i64,
    changes: &[(&str, i64)],
) -> Outcome {
    let mut text = format!(
        r#"catalog = "inline"
until = "{until}"
[account]
name = "Seats Co"
country = "US"
[subscription]
plan = "team"
frequency = "monthly"
currency = "{currency}"
start = "{start}"
trial_days = 0
term_months = 12
quantities = {{ user = {users} }}
"#
    );
    for (on, q) in changes {
        text.push_str(&format!(
            "[[actions]]\non = \"{on}\"\nrequest = {{ type = \"set_quantity\", product = \"user\", quantity = {q} }}\n"
        ));
    }
    let s = Scenario::from_toml(&text).unwrap_or_else(|e| panic!("scenario: {e}"));
    let o = scenario::run(&s, cat).unwrap_or_else(|e| panic!("scenario runs: {e}"));
    for e in &o.entries {
        if let Entry::Refused { on, reason, .. } = e {
            panic!("the change of {on} is refused: {reason}");
        }
    }
    // Billing is reconciliation: on every day a document was issued, running again issues
    // nothing more.
    for d in o.documents() {
        let buyer = Buyer {
            country: "US".into(),
            vat_number: None,
            address_complete: false,
        };
        let ctx = Context {
            catalog: cat,
            settings: &s.settings,
            buyer: &buyer,
            lang: Lang::En,
        };
        let issued: Vec<Document> = o
            .documents()
            .filter(|x| x.issued_on <= d.issued_on)
            .cloned()
            .collect();
        let again = reconcile::reconcile(&ctx, &o.subscription, &[], &issued, d.issued_on)
            .unwrap_or_else(|e| panic!("reconciles: {e}"));
        assert!(
            again.is_empty(),
            "re-running on {} issues {again:?}",
            d.issued_on
        );
    }
    o
}

/// Each line of a document: its description, explanation and amount in minor units.
fn lines(o: &Outcome, number: &str) -> Vec<(String, String, i64)> {
    let d = o
        .documents()
        .find(|d| d.number == number)
        .unwrap_or_else(|| panic!("no document {number}"));
    d.lines
        .iter()
        .map(|l| {
            (
                l.description.clone(),
                l.explanation.clone(),
                l.amount.minor(),
            )
        })
        .collect()
}

fn inv(n: u32, day: &str, minor: i64) -> (String, String, i64) {
    (format!("INV-{n:06}"), day.to_string(), minor)
}

fn line(description: &str, explanation: &str, minor: i64) -> (String, String, i64) {
    (description.into(), explanation.into(), minor)
}

// ------------------------------------------------------------------------------ graduated

/// Lago, spec/services/charges/charge_models/graduated_service_spec.rb: tiers 0–10 at
/// per_unit_amount_cents 10 with flat_amount_cents 2, then 11+ at 5 cents with a flat 3 cents.
const LAGO_GRADUATED: &str = r#"model = "graduated"
tiers = [
  { up_to = 10, unit_price.monthly = { EUR = "0.10" }, flat_fee.monthly = { EUR = "0.02" } },
  { unit_price.monthly = { EUR = "0.05" }, flat_fee.monthly = { EUR = "0.03" } },
]"#;

#[test]
fn graduated_seats_with_a_flat_fee_per_tier_bill_lagos_amounts() {
    let cat = catalog("EUR", LAGO_GRADUATED);
    // One quantity per month, each changed on the first day of a period.
    let o = play(
        &cat,
        "EUR",
        "2024-01-01",
        "2024-05-01",
        1,
        &[
            ("2024-02-01", 10),
            ("2024-03-01", 11),
            ("2024-04-01", 12),
            ("2024-05-01", 0),
        ],
    );
    assert_eq!(
        summary(&o),
        vec![
            // Lago "applies a unit amount for 1 and the flat rate for 1": 1 × 0.10 + 0.02
            // = 0.12 (amount_cents 12).
            inv(1, "2024-01-01", 12),
            // Lago "applies all unit amount for top bound": 10 × 0.10 + 0.02 = 1.02 (102).
            inv(2, "2024-02-01", 102),
            // Lago "applies next range flat amount for the next step": 1.02 + 1 × 0.05 + 0.03
            // = 1.10 (110).
            inv(3, "2024-03-01", 110),
            // Lago "applies next unit amount for more unit in next step": 1.02 + 2 × 0.05
            // + 0.03 = 1.15 (115).
            inv(4, "2024-04-01", 115),
            // Lago "does not apply the flat amount for 0": 0 users in May bill nothing, so
            // no May invoice.
        ]
    );
    assert_eq!(
        lines(&o, "INV-000004"),
        vec![
            line("Users – Team (1–10)", "10 × 0.10 EUR = 1.00 EUR", 100),
            line("Users – Team (11+)", "2 × 0.05 EUR = 0.10 EUR", 10),
            line(
                "Users – Team (1–10, flat fee)",
                "1 × 0.02 EUR = 0.02 EUR",
                2
            ),
            line("Users – Team (11+, flat fee)", "1 × 0.03 EUR = 0.03 EUR", 3),
        ]
    );
}

/// Kill Bill's tiers of blocks of one unit, each tier's `max` counted in blocks:
/// TestContiguousIntervalConsumableInArrear.testComputeBilledUsageSizeOneWith_ALL_TIERS and
/// ..._TOP_TIER: tier 1 holds 10 units at 1.5, tier 2 100 units at 1.0, tier 3 1000 at 0.5,
/// i.e. cumulative bounds 10, 110 and 1110 (the last bound taken as open here).
fn killbill(model: &str) -> String {
    format!(
        r#"model = "{model}"
tiers = [
  {{ up_to = 10, unit_price.monthly = {{ USD = "1.5" }} }},
  {{ up_to = 110, unit_price.monthly = {{ USD = "1.0" }} }},
  {{ unit_price.monthly = {{ USD = "0.5" }} }},
]"#
    )
}

#[test]
fn kill_bills_all_tiers_and_top_tier_policies_are_graduated_and_volume() {
    // ALL_TIERS, 111 units: "111 = 10 (tier1) + 100 (tier2) + 1 (tier3) => 10 * 1.5 + 100 * 1
    // + 1 * 0.5 = 115.5".
    let cat = catalog("USD", &killbill("graduated"));
    let o = play(&cat, "USD", "2014-03-20", "2014-03-20", 111, &[]);
    assert_eq!(summary(&o), vec![inv(1, "2014-03-20", 11550)]);
    assert_eq!(
        lines(&o, "INV-000001")
            .iter()
            .map(|l| l.2)
            .collect::<Vec<_>>(),
        // Kill Bill: amounts 15.0, 100.0 and 0.5, one per tier.
        vec![1500, 10000, 50]
    );
    // TOP_TIER, 111 units: "111 = 111 * 0.5" = 55.5.
    let cat = catalog("USD", &killbill("volume"));
    let o = play(&cat, "USD", "2014-03-20", "2014-03-20", 111, &[]);
    assert_eq!(summary(&o), vec![inv(1, "2014-03-20", 5550)]);
}

#[test]
fn a_graduated_change_inside_a_period_prorates_the_units_of_each_tier() {
    // Prorata's own worked example: 1–5 users at 30.00, 6–20 at 25.00 plus a flat 50.00 for
    // reaching the second tier, 21+ at 20.00 EUR a month; 5 users from 1 January 2025, 8 from
    // 15 January, 4 from 20 January (inclusive days).
    let cat = catalog(
        "EUR",
        r#"model = "graduated"
tiers = [
  { up_to = 5, unit_price.monthly = { EUR = "30.00" } },
  { up_to = 20, unit_price.monthly = { EUR = "25.00" }, flat_fee.monthly = { EUR = "50.00" } },
  { unit_price.monthly = { EUR = "20.00" } },
]"#,
    );
    let o = play(
        &cat,
        "EUR",
        "2025-01-01",
        "2025-02-01",
        5,
        &[("2025-01-15", 8), ("2025-01-20", 4)],
    );
    assert_eq!(
        summary(&o),
        vec![
            inv(1, "2025-01-01", 15000), // 5 × 30.00 = 150.00
            inv(2, "2025-01-15", 6855),  // 41.13 + 27.42 (lines below)
            ("CN-000001".into(), "2025-01-20".into(), -5999),
            inv(3, "2025-02-01", 12000), // 4 × 30.00 = 120.00
        ]
    );
    // 15–31 January is 17 of 31 days: the 3 users of tier 2 and its flat fee, prorated.
    assert_eq!(
        lines(&o, "INV-000002"),
        vec![
            // 3 × 25.00 × 17/31 = 41.129… → 41.13
            line(
                "Users – Team (6–20)",
                "3 × 25.00 EUR × 17/31 (55%) = 41.13 EUR",
                4113
            ),
            // 50.00 × 17/31 = 27.419… → 27.42
            line(
                "Users – Team (6–20, flat fee)",
                "1 × 50.00 EUR × 17/31 (55%) = 27.42 EUR",
                2742
            ),
        ]
    );
    // 20–31 January is 12 of 31 days: 8 → 4 leaves tier 2 (its 3 users and its flat fee) and
    // one user of tier 1, each taken back from the line that billed it.
    let cn = o
        .documents()
        .find(|d| d.kind == DocumentKind::CreditNote)
        .expect("a credit note");
    let credits: Vec<(String, i64)> = cn
        .lines
        .iter()
        .map(|l| (l.explanation.clone(), l.amount.minor()))
        .collect();
    assert_eq!(
        credits,
        vec![
            // 1 × 30.00 × 12/31 = 11.612… → 11.61
            (
                "8 → 4: 1 × 30.00 EUR × 12/31 (39%) = 11.61 EUR".into(),
                -1161
            ),
            // 3 × 25.00 × 12/31 = 29.032… → 29.03
            (
                "8 → 4: 3 × 25.00 EUR × 12/31 (39%) = 29.03 EUR".into(),
                -2903
            ),
            // 50.00 × 12/31 = 19.354… → 19.35
            (
                "8 → 4: 1 × 50.00 EUR × 12/31 (39%) = 19.35 EUR".into(),
                -1935
            ),
        ]
    );
    assert_eq!(cn.corrects, vec!["INV-000001", "INV-000002"]);
}

// --------------------------------------------------------------------------------- volume

/// Stripe, docs.stripe.com/subscriptions/pricing-models/tiered-pricing (Typographic): 1–5
/// fonts at 7 USD, 6–10 at 6.5 USD, 11+ at 6 USD.
fn stripe(model: &str) -> String {
    format!(
        r#"model = "{model}"
tiers = [
  {{ up_to = 5, unit_price.monthly = {{ USD = "7" }} }},
  {{ up_to = 10, unit_price.monthly = {{ USD = "6.5" }} }},
  {{ unit_price.monthly = {{ USD = "6" }} }},
]"#
    )
}

#[test]
fn volume_seats_bill_every_unit_at_the_tier_reached_as_stripe_does() {
    let cat = catalog("USD", &stripe("volume"));
    let o = play(
        &cat,
        "USD",
        "2024-11-01",
        "2025-02-01",
        5,
        &[("2024-12-01", 6), ("2025-01-01", 20), ("2025-02-01", 25)],
    );
    assert_eq!(
        summary(&o),
        vec![
            // Stripe: "a customer with 5 fonts is charged 35 USD (5 × 7 USD) in November".
            inv(1, "2024-11-01", 3500),
            // Stripe: "If they use 6 fonts in December … Typographic charges 39 USD
            // (6 × 6.5 USD)".
            inv(2, "2024-12-01", 3900),
            // Stripe's table: 20 at 6 USD = 120 USD; 25 at 6 USD = 150 USD.
            inv(3, "2025-01-01", 12000),
            inv(4, "2025-02-01", 15000),
        ]
    );
    assert_eq!(
        lines(&o, "INV-000002"),
        vec![line(
            "Users – Team (6–10, every unit at this tier)",
            "6 × 6.5 USD = 39.00 USD",
            3900
        )]
    );
}

#[test]
fn crossing_a_volume_bound_inside_a_period_credits_the_old_price_and_bills_the_new() {
    // Prorata's own worked example on Stripe's tiers: 5 fonts from 1 November 2024, 6 from
    // 16 November; 16–30 November is 15 of 30 days.
    let cat = catalog("USD", &stripe("volume"));
    let o = play(
        &cat,
        "USD",
        "2024-11-01",
        "2024-11-16",
        5,
        &[("2024-11-16", 6)],
    );
    assert_eq!(
        summary(&o),
        vec![
            inv(1, "2024-11-01", 3500),                       // 5 × 7 = 35.00
            inv(2, "2024-11-16", 1950),                       // 6 × 6.5 × 15/30 = 19.50
            ("CN-000001".into(), "2024-11-16".into(), -1750), // 5 × 7 × 15/30 = 17.50
        ]
    );
    assert_eq!(
        lines(&o, "CN-000001"),
        vec![line(
            "Users – Team (1–5, every unit at this tier)",
            "5 × 7 USD × 15/30 (50%) = 17.50 USD",
            -1750
        )]
    );
}

/// Lago, spec/services/charges/charge_models/volume_service_spec.rb: 0–100 at 2 with a flat
/// 10, 101–200 at 1 with no flat amount, 201+ at 0.5 with a flat 50.
const LAGO_VOLUME: &str = r#"model = "volume"
tiers = [
  { up_to = 100, unit_price.monthly = { EUR = "2" }, flat_fee.monthly = { EUR = "10" } },
  { up_to = 200, unit_price.monthly = { EUR = "1" } },
  { unit_price.monthly = { EUR = "0.5" }, flat_fee.monthly = { EUR = "50" } },
]"#;

#[test]
fn volume_seats_with_a_flat_fee_for_the_tier_reached_bill_lagos_amounts() {
    let cat = catalog("EUR", LAGO_VOLUME);
    let o = play(
        &cat,
        "EUR",
        "2024-01-01",
        "2024-06-01",
        1,
        &[
            ("2024-02-01", 100),
            ("2024-03-01", 101),
            ("2024-04-01", 200),
            ("2024-05-01", 300),
            ("2024-06-01", 0),
        ],
    );
    assert_eq!(
        summary(&o),
        vec![
            // Lago "when aggregation is 1": 1 × 2 + 10 = 12.
            inv(1, "2024-01-01", 1200),
            // "the limit of the first range", 100: 100 × 2 + 10 = 210.
            inv(2, "2024-02-01", 21000),
            // "the lower limit of the second range", 101: 101 × 1 = 101.
            inv(3, "2024-03-01", 10100),
            // "the uper limit of the second range", 200: 200 × 1 = 200.
            inv(4, "2024-04-01", 20000),
            // 300 (the last range): 300 × 0.5 + 50 = 200.
            inv(5, "2024-05-01", 20000),
            // "when aggregation is 0 … does not apply the flat amount": nothing in June.
        ]
    );
}

// -------------------------------------------------------------------------------- package

#[test]
fn packages_of_seats_are_rounded_up_after_the_free_units_as_lago_does() {
    // Lago, spec/services/charges/charge_models/package_service_spec.rb: amount_cents 100 per
    // package_size 10; "applies the package size to the value": 121 → ⌈121/10⌉ = 13 × 1.00
    // = 13.00 (1300).
    let cat = catalog(
        "EUR",
        "model = \"package\"\npackage_size = 10\nunit_price.monthly = { EUR = \"1.00\" }",
    );
    let o = play(&cat, "EUR", "2024-01-01", "2024-01-01", 121, &[]);
    assert_eq!(summary(&o), vec![inv(1, "2024-01-01", 1300)]);
    assert_eq!(
        lines(&o, "INV-000001"),
        vec![line(
            "Users – Team (packages of 10)",
            "13 × 1.00 EUR = 13.00 EUR",
            1300
        )]
    );
    // "with free_units" 10: "substracts the free units from the value": ⌈(121 − 10)/10⌉ = 12
    // × 1.00 = 12.00 (1200). Free units are the item's `included` units without a price.
    let cat = catalog(
        "EUR",
        "model = \"package\"\npackage_size = 10\nincluded = 10\nunit_price.monthly = { EUR = \"1.00\" }",
    );
    let o = play(&cat, "EUR", "2024-01-01", "2024-01-01", 121, &[]);
    assert_eq!(summary(&o), vec![inv(1, "2024-01-01", 1200)]);
}

#[test]
fn a_package_is_billed_when_it_is_started_and_not_again_inside_it() {
    // Prorata's own worked example: packages of 5 users at 40.00 EUR a month, 12 users from
    // 1 March 2024 (⌈12/5⌉ = 3 packages = 120.00); 14 users from 11 March still fit in 3
    // packages (nothing billed); 16 from 21 March start a fourth: 1 × 40.00 × 11/31 (21–31
    // March) = 14.193… → 14.19.
    let cat = catalog(
        "EUR",
        "model = \"package\"\npackage_size = 5\nunit_price.monthly = { EUR = \"40.00\" }",
    );
    let o = play(
        &cat,
        "EUR",
        "2024-03-01",
        "2024-03-21",
        12,
        &[("2024-03-11", 14), ("2024-03-21", 16)],
    );
    assert_eq!(
        summary(&o),
        vec![inv(1, "2024-03-01", 12000), inv(2, "2024-03-21", 1419)]
    );
    assert_eq!(
        lines(&o, "INV-000002"),
        vec![line(
            "Users – Team (packages of 5)",
            "1 × 40.00 EUR × 11/31 (35%) = 14.19 EUR",
            1419
        )]
    );
}

// ----------------------------------------------------------------------- keys and checks

#[test]
fn tier_keys_are_stored_and_read_back_and_old_keys_still_read() -> Result<(), serde_json::Error> {
    assert_eq!(serde_json::to_string(&PriceTier::Tier(2))?, r#"{"tier":2}"#);
    assert_eq!(serde_json::to_string(&PriceTier::Flat(1))?, r#"{"flat":1}"#);
    assert_eq!(serde_json::to_string(&PriceTier::Package)?, r#""package""#);
    for t in [
        PriceTier::Included,
        PriceTier::Extra,
        PriceTier::Tier(3),
        PriceTier::Flat(3),
        PriceTier::Package,
    ] {
        assert_eq!(
            serde_json::from_str::<PriceTier>(&serde_json::to_string(&t)?)?,
            t
        );
    }
    assert_eq!(
        serde_json::from_str::<PriceTier>(r#""extra""#)?,
        PriceTier::Extra
    );
    Ok(())
}

#[test]
fn a_bad_seat_model_is_refused_naming_the_field() {
    let e = problems("model = \"graduated\"\nunit_price.monthly = { EUR = \"1\" }");
    assert!(
        e.contains("plans.team.items.user.unit_price: tiers price every unit"),
        "{e}"
    );
    assert!(
        e.contains("plans.team.items.user.tiers: list at least one tier"),
        "{e}"
    );
    let e = problems(
        r#"model = "volume"
tiers = [
  { up_to = 10, unit_price.monthly = { EUR = "2" } },
  { up_to = 5, unit_price.monthly = { EUR = "-1" } },
  { unit_price.monthly = { USD = "1" } },
]"#,
    );
    assert!(
        e.contains(
            "plans.team.items.user.tiers[1].up_to: 5 must be above the previous tier's bound 10"
        ),
        "{e}"
    );
    assert!(
        e.contains(
            "plans.team.items.user.tiers[1].unit_price.monthly.EUR: a price cannot be negative"
        ),
        "{e}"
    );
    assert!(
        e.contains("plans.team.items.user.tiers[2].unit_price.monthly: no price in EUR"),
        "{e}"
    );
    let e = problems("model = \"graduated\"\ntiers = [{ unit_price.monthly = { EUR = \"1\" } }, { unit_price.monthly = { EUR = \"1\" } }]");
    assert!(
        e.contains("plans.team.items.user.tiers[0].up_to: only the last tier may be open"),
        "{e}"
    );
    let e = problems("model = \"package\"\nunit_price.monthly = { EUR = \"1\" }");
    assert!(
        e.contains("plans.team.items.user.package_size: model = \"package\" needs"),
        "{e}"
    );
    let e = problems("package_size = 5\nunit_price.monthly = { EUR = \"1\" }");
    assert!(
        e.contains(
            "plans.team.items.user.package_size: package_size applies to model = \"package\" only"
        ),
        "{e}"
    );
    let e = problems("model = \"tiered\"");
    assert!(e.contains("tiered"), "{e}");
}

#[test]
fn the_seat_tiers_example_issues_what_its_comment_says() {
    let cat = Catalog::from_toml(include_str!("../../../examples/catalogs/seat-tiers.toml"))
        .unwrap_or_else(|e| panic!("catalog: {e}"));
    let s = Scenario::from_toml(include_str!("../../../examples/seat-tiers.toml"))
        .unwrap_or_else(|e| panic!("scenario: {e}"));
    let o = scenario::run(&s, &cat).unwrap_or_else(|e| panic!("runs: {e}"));
    assert_eq!(
        summary(&o),
        vec![
            // 5 × 30.00 + ⌈7/5⌉ = 2 packages × 10.00 = 170.00
            inv(1, "2025-01-01", 17000),
            // 3 × 25.00 × 17/31 = 41.13 + 50.00 × 17/31 = 27.42
            inv(2, "2025-01-15", 6855),
            // 11.61 + 29.03 + 19.35 (12/31 of 30.00, 3 × 25.00 and 50.00)
            ("CN-000001".into(), "2025-01-20".into(), -5999),
            // 4 × 30.00 + 2 × 10.00
            inv(3, "2025-02-01", 14000),
        ]
    );
    assert_eq!(
        lines(&o, "INV-000001")[1],
        line(
            "Numbers – Team (packages of 5)",
            "2 × 10.00 EUR = 20.00 EUR",
            2000
        )
    );
}

#[test]
fn the_licence_table_shows_the_tiered_total_and_the_price_of_the_tier_in_force() {
    use prorata_core::calendar::Frequency;
    use prorata_core::money::Currency;
    let cat = Catalog::from_toml(include_str!("../../../examples/catalogs/seat-tiers.toml"))
        .unwrap_or_else(|e| panic!("catalog: {e}"));
    let q = std::collections::BTreeMap::from([("user".to_string(), 8), ("number".to_string(), 7)]);
    let t = prorata_core::licences::licence_table(
        &cat,
        "team",
        Frequency::Monthly,
        Currency::EUR,
        &q,
        Lang::En,
    )
    .unwrap_or_else(|e| panic!("table: {e}"));
    let row = |p: &str| {
        t.rows
            .iter()
            .chain(&t.addons)
            .find(|r| r.product == p)
            .unwrap_or_else(|| panic!("no {p} row"))
    };
    // 8 users: 5 × 30.00 + 3 × 25.00 + the 6–20 tier's 50.00 = 275.00 a month, what a whole
    // period bills (the example's February at 8 users); the tier in force is 6–20 at 25.00.
    let users = row("user");
    assert_eq!(
        (
            users.extras,
            users.extras_cost.minor(),
            users.extra_unit_price.map(|p| p.to_string())
        ),
        (8, 27500, Some("25.00".into()))
    );
    // 7 numbers: ⌈7/5⌉ = 2 packages × 10.00 = 20.00, shown at the package's price.
    let numbers = row("number");
    assert_eq!(
        (
            numbers.total.minor(),
            numbers.extra_unit_price.map(|p| p.to_string())
        ),
        (2000, Some("10.00".into()))
    );
    assert_eq!(t.total.minor(), 29500);
}
