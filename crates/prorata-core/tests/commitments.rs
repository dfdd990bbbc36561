//! Non-prorated charges and minimum commitments (issue "Billing models", item 6). Each test
//! plays a scenario through the clock and asserts the documents, with the source of each
//! expected amount and its arithmetic beside it; every scenario is billed again on each day a
//! document was issued, which must issue nothing.
//!
//! Sources: Lago's minimum commitment specs (getlago/lago-api,
//! `spec/services/commitments/minimum/calculate_true_up_fee_service_spec.rb` and
//! `spec/services/commitments/calculate_prorated_coefficient_service_spec.rb`, with the fee
//! factory `spec/factories/fees.rb`, `amount_cents { 200 }`). The non-prorated cases are
//! Prorata's own worked examples of its rule (docs/billing-rules.md, "Non-prorated charges"):
//! Stripe's `proration_behavior = none` bills a mid-period change nothing at all
//! (https://docs.stripe.com/billing/subscriptions/prorations), which is not this rule, and
//! Kill Bill has no per-item switch.

use chrono::NaiveDate;
use proptest::prelude::*;
use prorata_core::catalog::Catalog;
use prorata_core::document::{Document, DocumentKind, Line, LineKey, Section};
use prorata_core::reconcile::CreditPolicy;
use prorata_core::scenario::{self, Outcome, Scenario};

/// A fee-only plan billed whole (`platform`), a per-seat price billed whole (`seat`) and a
/// prorated per-user price beside them (`user`); a plan shaped like Lago's spec (a 2.00
/// subscription fee in arrears, usage at 1.00 a unit, a 100.00 monthly minimum); and a plan
/// with both (`mixed`, the property tests').
const CASES: &str = r#"
name = "Commitment cases"
currencies = ["EUR"]

[products.platform]
kind = "addon"
name = { en = "Platform fee", fr = "Abonnement plateforme" }

[products.seat]
kind = "team"
name = { en = "Support seats", fr = "Postes support" }

[products.user]
kind = "user"
name = { en = "Users", fr = "Utilisateurs" }

[metrics.units]
name = { en = "Units", fr = "Unités" }
unit = "unit"
price.EUR = { model = "per_unit", unit_price = "1.00" }

[plans.whole]
name = { en = "Whole", fr = "Entier" }
rank = 1
frequencies = ["monthly"]
[plans.whole.items.platform]
prorated = false
unit_price.monthly = { EUR = "50.00" }
[plans.whole.items.seat]
prorated = false
unit_price.monthly = { EUR = "10.00" }
[plans.whole.items.user]
unit_price.monthly = { EUR = "30.00" }

[plans.bigger]
name = { en = "Bigger", fr = "Plus grand" }
rank = 2
frequencies = ["monthly"]
[plans.bigger.items.platform]
prorated = false
unit_price.monthly = { EUR = "80.00" }
[plans.bigger.items.seat]
prorated = false
unit_price.monthly = { EUR = "10.00" }
[plans.bigger.items.user]
unit_price.monthly = { EUR = "30.00" }

[plans.mixed]
name = { en = "Mixed", fr = "Mixte" }
rank = 3
frequencies = ["monthly", "annual"]
minimum_commitment = { monthly = { EUR = "100.00" }, annual = { EUR = "1000.00" } }
[plans.mixed.items.platform]
prorated = false
unit_price.monthly = { EUR = "20.00" }
unit_price.annual = { EUR = "200.00" }
[plans.mixed.items.user]
unit_price.monthly = { EUR = "30.00" }
unit_price.annual = { EUR = "300.00" }

[plans.lago]
name = { en = "Committed", fr = "Engagé" }
rank = 1
frequencies = ["monthly"]
minimum_commitment.monthly = { EUR = "100.00" }
[plans.lago.items.platform]
timing = "arrears"
unit_price.monthly = { EUR = "2.00" }
"#;

fn cases() -> Catalog {
    Catalog::from_toml(CASES).unwrap_or_else(|e| panic!("the cases' catalog: {e}"))
}

/// Plays a subscription to `plan` billed monthly in EUR from `start` (France, VAT 20 %,
/// no trial, term or notice), with `rest` (settings or actions) appended.
fn play(plan: &str, start: &str, until: &str, quantities: &str, rest: &str) -> (Scenario, Outcome) {
    let text = format!(
        r#"catalog = "inline"
until = "{until}"
{rest}"#
    );
    let (settings, actions) = match text.find("[[actions]]") {
        Some(i) => (text[..i].to_string(), text[i..].to_string()),
        None => (text, String::new()),
    };
    let text = format!(
        r#"{settings}
[account]
name = "Lumen Conseil SAS"
country = "FR"
vat_number = "FR40303265045"
language = "en"

[subscription]
plan = "{plan}"
frequency = "monthly"
currency = "EUR"
start = "{start}"
trial_days = 0
term_months = 0
notice_days = 0
quantities = {quantities}

{actions}"#
    );
    let cat = cases();
    let s = Scenario::from_toml(&text).unwrap_or_else(|e| panic!("scenario: {e}"));
    let o = scenario::run(&s, &cat).unwrap_or_else(|e| panic!("runs: {e}"));
    for d in o.documents() {
        assert_eq!(
            rerun(&s, &o, &cat, d.issued_on),
            0,
            "re-run on {}",
            d.issued_on
        );
    }
    (s, o)
}

/// What billing again on `day` would issue, given what was issued and recorded by then.
fn rerun(s: &Scenario, o: &Outcome, cat: &Catalog, day: NaiveDate) -> usize {
    o.reconcile_again(cat, &s.settings, day)
        .unwrap_or_else(|e| panic!("reconciles: {e}"))
        .len()
}

/// `(kind, issued on, net total in minor units)` of every document (cents: 10000 is 100.00).
fn summary(o: &Outcome) -> Vec<(DocumentKind, String, i64)> {
    o.documents()
        .map(|d| (d.kind, d.issued_on.to_string(), d.net_total.minor()))
        .collect()
}

/// `(product, amount in minor units, explanation)` of a document's recurring lines.
fn recurring(d: &Document) -> Vec<(String, i64, String)> {
    d.lines
        .iter()
        .filter_map(|l| match &l.key {
            LineKey::Recurring(k) => {
                Some((k.product.clone(), l.amount.minor(), l.explanation.clone()))
            }
            _ => None,
        })
        .collect()
}

fn nth(o: &Outcome, i: usize) -> &Document {
    o.documents()
        .nth(i)
        .unwrap_or_else(|| panic!("no document #{i}"))
}

fn true_up(d: &Document) -> &Line {
    d.lines
        .iter()
        .find(|l| matches!(l.key, LineKey::Commitment { .. }))
        .unwrap_or_else(|| panic!("{} has no true-up line", d.number))
}

fn true_ups(o: &Outcome) -> Vec<(String, i64)> {
    o.documents()
        .flat_map(|d| {
            d.lines
                .iter()
                .filter(|l| matches!(l.key, LineKey::Commitment { .. }))
                .map(|l| (d.issued_on.to_string(), l.amount.minor()))
        })
        .collect()
}

fn usage(on: &str, quantity: i64, date: &str) -> String {
    format!(
        "[[actions]]\non = \"{on}\"\nusage = {{ metric = \"units\", quantity = {quantity}, date = \"{date}\" }}\n"
    )
}

fn request(on: &str, request: &str, effective: Option<&str>) -> String {
    let effective = effective.map_or(String::new(), |e| format!("effective = \"{e}\"\n"));
    format!("[[actions]]\non = \"{on}\"\nrequest = {request}\n{effective}")
}

const WHOLE_QUANTITIES: &str = "{ platform = 1, seat = 2, user = 1 }";

// ------------------------------------------------------------ non-prorated charges

#[test]
fn a_seat_added_mid_period_is_billed_whole_beside_a_prorated_user() {
    let rest = [
        request(
            "2024-03-16",
            r#"{ type = "set_quantity", product = "seat", quantity = 3 }"#,
            None,
        ),
        request(
            "2024-03-16",
            r#"{ type = "set_quantity", product = "user", quantity = 2 }"#,
            None,
        ),
    ]
    .concat();
    let (_, o) = play("whole", "2024-03-01", "2024-04-01", WHOLE_QUANTITIES, &rest);
    assert_eq!(
        summary(&o),
        vec![
            // Prorata's own worked example: 50.00 + 2 × 10.00 + 1 × 30.00 = 100.00.
            (DocumentKind::Invoice, "2024-03-01".into(), 10000),
            // 1 seat × 10.00 whole (no fraction) + 1 user × 30.00 × 16/31 = 15.48: 25.48.
            (DocumentKind::Invoice, "2024-03-16".into(), 2548),
            // 50.00 + 3 × 10.00 + 2 × 30.00 = 140.00.
            (DocumentKind::Invoice, "2024-04-01".into(), 14000),
        ]
    );
    let mid = recurring(nth(&o, 1));
    assert!(
        mid.contains(&("seat".into(), 1000, "1 × 10.00 EUR = 10.00 EUR".into())),
        "{mid:?}"
    );
    assert!(
        mid.iter()
            .any(|(p, a, e)| p == "user" && *a == 1548 && e.contains("16/31")),
        "{mid:?}"
    );
    // The whole seat is in the recurring section, as a whole period is.
    let seat = nth(&o, 1)
        .lines
        .iter()
        .find(|l| matches!(&l.key, LineKey::Recurring(k) if k.product == "seat"));
    assert_eq!(
        seat.map(|l| (l.section, l.proration)),
        Some((Section::Recurring, None))
    );
}

#[test]
fn a_seat_removed_mid_period_credits_nothing_and_the_next_period_bills_fewer() {
    let rest = request(
        "2024-03-16",
        r#"{ type = "set_quantity", product = "seat", quantity = 1 }"#,
        None,
    );
    let (_, o) = play("whole", "2024-03-01", "2024-04-01", WHOLE_QUANTITIES, &rest);
    assert_eq!(
        summary(&o),
        vec![
            (DocumentKind::Invoice, "2024-03-01".into(), 10000),
            // No credit note on 16 March: the most seats held in March stays 2.
            // April: 50.00 + 1 × 10.00 + 1 × 30.00 = 90.00.
            (DocumentKind::Invoice, "2024-04-01".into(), 9000),
        ]
    );
}

#[test]
fn a_cancellation_mid_period_credits_only_the_prorated_item() {
    let rest = request("2024-03-16", r#"{ type = "cancel_immediately" }"#, None);
    let (_, o) = play("whole", "2024-03-01", "2024-04-01", WHOLE_QUANTITIES, &rest);
    assert_eq!(
        summary(&o),
        vec![
            (DocumentKind::Invoice, "2024-03-01".into(), 10000),
            // Only the user's unused 16 days: 1 × 30.00 × 16/31 = 15.48; the fee and the
            // seats, billed whole, are kept.
            (DocumentKind::CreditNote, "2024-03-16".into(), -1548),
        ]
    );
    let credited: Vec<String> = recurring(nth(&o, 1)).into_iter().map(|r| r.0).collect();
    assert_eq!(credited, vec!["user".to_string()]);
}

#[test]
fn a_cancellation_back_dated_to_the_periods_start_credits_the_whole_items() {
    let rest = request(
        "2024-03-10",
        r#"{ type = "cancel_immediately" }"#,
        Some("2024-03-01"),
    );
    let (_, o) = play("whole", "2024-03-01", "2024-04-01", WHOLE_QUANTITIES, &rest);
    assert_eq!(
        summary(&o),
        vec![
            (DocumentKind::Invoice, "2024-03-01".into(), 10000),
            // Nothing held in March any more: the whole 50.00 + 20.00 + 30.00 is taken back.
            (DocumentKind::CreditNote, "2024-03-10".into(), -10000),
        ]
    );
    let mut credited = recurring(nth(&o, 1));
    credited.sort();
    assert_eq!(
        credited
            .iter()
            .map(|r| (r.0.as_str(), r.1))
            .collect::<Vec<_>>(),
        vec![("platform", -5000), ("seat", -2000), ("user", -3000)]
    );
}

#[test]
fn a_plan_change_mid_period_bills_the_new_fee_whole_and_keeps_the_old_one() {
    let rest = request(
        "2024-03-16",
        r#"{ type = "change_plan", plan = "bigger" }"#,
        None,
    );
    let (_, o) = play("whole", "2024-03-01", "2024-04-01", WHOLE_QUANTITIES, &rest);
    // The old plan's fee and seats are not credited (billed whole); the new plan's fee and
    // seats are billed whole: 80.00 + 2 × 10.00 = 100.00; the prorated user moves plans:
    // −30.00 × 16/31 = −15.48 on the old, +15.48 on the new.
    let change: Vec<(DocumentKind, i64)> = o
        .documents()
        .filter(|d| d.issued_on.to_string() == "2024-03-16")
        .map(|d| (d.kind, d.net_total.minor()))
        .collect();
    assert_eq!(
        change,
        vec![
            (DocumentKind::Invoice, 11548),
            (DocumentKind::CreditNote, -1548)
        ]
    );
}

// ------------------------------------------------------------- minimum commitments

#[test]
fn the_period_short_of_its_minimum_is_trued_up_the_day_after() {
    // Lago, calculate_true_up_fee_service_spec.rb, "when plan has monthly interval" (February
    // 2024, billed on 1 March), "when fees total amount is smaller than the commitment amount":
    // commitment 10_000 cents, a subscription fee of 200 (the fee factory's amount_cents) and a
    // charge fee of 300 → the true-up of "an in-advance charge for the next period" case,
    // 10_000 − 200 − 300 = 9_500: 100.00 − 2.00 − 3.00 = 95.00.
    let rest = usage("2024-02-20", 3, "2024-02-20");
    let (_, o) = play(
        "lago",
        "2024-02-01",
        "2024-03-01",
        "{ platform = 1 }",
        &rest,
    );
    assert_eq!(
        summary(&o),
        vec![(DocumentKind::Invoice, "2024-03-01".into(), 10000)]
    );
    let line = true_up(nth(&o, 0));
    assert_eq!(line.amount.minor(), 9500);
    assert_eq!(line.section, Section::Commitment);
    assert_eq!(
        line.explanation,
        "minimum 100.00 EUR − charges 5.00 EUR = 95.00 EUR"
    );
}

#[test]
fn late_usage_that_lifts_the_charges_takes_the_true_up_back_by_the_difference() {
    let rest = [
        usage("2024-02-20", 3, "2024-02-20"),
        // Learnt on 10 March: 5 more units of February.
        usage("2024-03-10", 5, "2024-02-25"),
    ]
    .concat();
    let (_, o) = play(
        "lago",
        "2024-02-01",
        "2024-03-10",
        "{ platform = 1 }",
        &rest,
    );
    // Lago's same spec, "with an in-advance charge for current period": 500 more of the
    // period's charges → 10_000 − 200 − 300 − 500 = 9_000: the true-up is now 90.00, 5.00
    // less than the 95.00 billed, taken back beside the late 5.00 of usage.
    assert_eq!(
        true_ups(&o),
        vec![("2024-03-01".into(), 9500), ("2024-03-10".into(), -500)]
    );
    let credit = o
        .documents()
        .find(|d| d.kind == DocumentKind::CreditNote)
        .map(true_up)
        .map(|l| l.explanation.clone());
    assert_eq!(
        credit.as_deref(),
        Some("minimum 100.00 EUR − charges 10.00 EUR = 90.00 EUR; 90.00 EUR − 95.00 EUR already billed = -5.00 EUR")
    );
}

#[test]
fn charges_above_the_minimum_owe_no_true_up_and_take_back_one_billed() {
    let rest = [
        usage("2024-02-20", 3, "2024-02-20"),
        usage("2024-03-10", 150, "2024-02-25"),
    ]
    .concat();
    let (_, o) = play(
        "lago",
        "2024-02-01",
        "2024-03-10",
        "{ platform = 1 }",
        &rest,
    );
    // Lago's "when fees total amount is greater or equal than the commitment amount": 0.
    // Here 2.00 + 3.00 + 150.00 = 155.00 ≥ 100.00 once the late usage is known: the 95.00
    // true-up is taken back whole.
    assert_eq!(
        true_ups(&o),
        vec![("2024-03-01".into(), 9500), ("2024-03-10".into(), -9500)]
    );
}

#[test]
fn a_partial_first_period_prorates_the_minimum_as_lago_does() {
    // Lago, calculate_prorated_coefficient_service_spec.rb, "with partial period": a January
    // 2024 period from 15 January → coefficient 0.5483870967741935 = 17/31. Calendar billing
    // from 15 January: minimum 100.00 × 17/31 = 54.84 (54.8387…); the fee in arrears
    // 2.00 × 17/31 = 1.10 (1.0967…); no usage: true-up 54.84 − 1.10 = 53.74.
    let (_, o) = play(
        "lago",
        "2024-01-15",
        "2024-02-01",
        "{ platform = 1 }",
        "[settings]\nbilling_alignment = \"calendar\"\n",
    );
    assert_eq!(
        summary(&o),
        vec![(DocumentKind::Invoice, "2024-02-01".into(), 5484)]
    );
    let line = true_up(nth(&o, 0));
    assert_eq!(line.amount.minor(), 5374);
    assert!(
        line.explanation.starts_with("minimum 100.00 EUR × 17/31")
            && line
                .explanation
                .contains("= 54.84 EUR − charges 1.10 EUR = 53.74 EUR"),
        "{}",
        line.explanation
    );
}

#[test]
fn a_cancellation_trues_up_its_paid_part_on_the_day_it_ends() {
    // Prorata's own worked example of Lago's rule (a terminated subscription's minimum is
    // prorated to the days it ran, calculate_prorated_coefficient_service_spec.rb "when
    // subscription is terminated"): ended on 15 February 2024 after 14 of 29 days.
    // Minimum 100.00 × 14/29 = 48.28 (48.275…); the fee 2.00 × 14/29 = 0.97 (0.9655…);
    // true-up 48.28 − 0.97 = 47.31, billed on 15 February.
    let rest = request("2024-02-15", r#"{ type = "cancel_immediately" }"#, None);
    let (_, o) = play(
        "lago",
        "2024-02-01",
        "2024-03-01",
        "{ platform = 1 }",
        &rest,
    );
    assert_eq!(
        summary(&o),
        vec![(DocumentKind::Invoice, "2024-02-15".into(), 4828)]
    );
    assert_eq!(true_up(nth(&o, 0)).amount.minor(), 4731);
}

#[test]
fn a_minimum_missing_or_negative_is_refused_naming_the_field() {
    let err = |from: &str, to: &str| {
        Catalog::from_toml(&CASES.replace(from, to))
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let lago = "minimum_commitment.monthly = { EUR = \"100.00\" }";
    let annual_only = err(lago, "minimum_commitment.annual = { EUR = \"100.00\" }");
    assert!(
        annual_only.as_ref().is_err_and(|e| e
            .contains("plans.lago.minimum_commitment: no monthly minimum")
            && e.contains("plans.lago.minimum_commitment.annual: the plan is not sold annual")),
        "{annual_only:?}"
    );
    let negative = err(lago, "minimum_commitment.monthly = { EUR = \"-1.00\" }");
    assert!(
        negative.as_ref().is_err_and(|e| e
            .contains("plans.lago.minimum_commitment.monthly.EUR: a minimum cannot be negative")),
        "{negative:?}"
    );
    let no_eur = err(lago, "minimum_commitment.monthly = { USD = \"100.00\" }");
    assert!(
        no_eur
            .as_ref()
            .is_err_and(|e| e.contains("plans.lago.minimum_commitment.monthly: no minimum in EUR")),
        "{no_eur:?}"
    );
}

#[test]
fn a_volume_priced_item_cannot_be_billed_whole() {
    let text = CASES.replace(
        "[plans.whole.items.seat]\nprorated = false\nunit_price.monthly = { EUR = \"10.00\" }",
        "[plans.whole.items.seat]\nprorated = false\nmodel = \"volume\"\n\
         tiers = [{ up_to = 5, unit_price = { monthly = { EUR = \"10.00\" } } }, \
         { unit_price = { monthly = { EUR = \"8.00\" } } }]",
    );
    assert_ne!(text, CASES);
    let err = Catalog::from_toml(&text)
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert!(
        err.as_ref()
            .is_err_and(|e| e.contains("plans.whole.items.seat.prorated: a volume-priced item")),
        "{err:?}"
    );
}

// ------------------------------------------------------------------ the shipped examples

/// `(kind, issued on, net total in cents)` of a shipped example's documents.
fn shipped(example: &str, catalog: &str) -> Vec<(DocumentKind, String, i64)> {
    let cat = Catalog::from_toml(catalog).unwrap_or_else(|e| panic!("catalog: {e}"));
    let s = Scenario::from_toml(example).unwrap_or_else(|e| panic!("scenario: {e}"));
    let o = scenario::run(&s, &cat).unwrap_or_else(|e| panic!("runs: {e}"));
    for d in o.documents() {
        assert_eq!(
            rerun(&s, &o, &cat, d.issued_on),
            0,
            "re-run on {}",
            d.issued_on
        );
    }
    summary(&o)
}

#[test]
fn the_non_prorated_example_plays_as_its_comments_say() {
    let got = shipped(
        include_str!("../../../examples/non-prorated-fee.toml"),
        include_str!("../../../examples/catalogs/non-prorated-fee.toml"),
    );
    assert_eq!(
        got,
        vec![
            // 50.00 + 2 × 10.00 + 2 × 30.00 = 130.00.
            (DocumentKind::Invoice, "2024-03-01".into(), 13000),
            // 1 seat × 10.00 whole + 1 user × 30.00 × 16/31 = 15.48: 25.48.
            (DocumentKind::Invoice, "2024-03-16".into(), 2548),
            // Nothing on 20 March. April: 50.00 + 2 × 10.00 + 3 × 30.00 = 160.00.
            (DocumentKind::Invoice, "2024-04-01".into(), 16000),
            // 3 users × 30.00 × 21/30 = 63.00, the fee and seats kept.
            (DocumentKind::CreditNote, "2024-04-10".into(), -6300),
        ]
    );
}

#[test]
fn the_minimum_commitment_example_plays_as_its_comments_say() {
    let got = shipped(
        include_str!("../../../examples/minimum-commitment.toml"),
        include_str!("../../../examples/catalogs/minimum-commitment.toml"),
    );
    assert_eq!(
        got,
        vec![
            // 20.00 × 17/31 = 10.97 (10.967…).
            (DocumentKind::Invoice, "2024-01-15".into(), 1097),
            // 20.00 + 15.00 + (54.84 − 25.97 = 28.87) = 63.87.
            (DocumentKind::Invoice, "2024-02-01".into(), 6387),
            // 20.00 + 40.00 + (100.00 − 60.00 = 40.00) = 100.00.
            (DocumentKind::Invoice, "2024-03-01".into(), 10000),
            // Late usage 30.00; the true-up 100.00 − 90.00 = 10.00 − 40.00 billed = −30.00.
            (DocumentKind::Invoice, "2024-03-05".into(), 3000),
            (DocumentKind::CreditNote, "2024-03-05".into(), -3000),
        ]
    );
}

// ------------------------------------------------------------------ properties

/// A random scenario over the cases' plans: every day-count convention, both proration
/// billings, every credit policy, both alignments; monthly or annual; seats and users
/// changed, usage recorded (some of it late), plan changes and cancellations (some
/// back-dated), over 150 days.
fn random_scenario() -> impl Strategy<Value = String> {
    let settings = (
        prop::sample::select(vec![
            "inclusive-days",
            "actual-days",
            "thirty-day-months",
            "seconds",
        ]),
        prop::sample::select(vec!["immediate", "next_invoice"]),
        prop::sample::select(vec!["credit_note", "account_credit", "same_invoice"]),
        prop::sample::select(vec!["anniversary", "calendar"]),
    );
    let action = (0_u64..150, 0_u8..6, 0_i64..6, 0_u64..40);
    (
        settings,
        prop::sample::select(vec!["whole", "mixed", "lago"]),
        any::<bool>(),
        0_u64..60,
        prop::collection::vec(action, 0..8),
    )
        .prop_map(|((dc, billing, credit, align), plan, annual, offset, actions)| {
            let start = NaiveDate::from_ymd_opt(2024, 1, 1)
                .and_then(|d| d.checked_add_days(chrono::Days::new(offset)))
                .unwrap_or(NaiveDate::MIN);
            let day = |n: u64| start.checked_add_days(chrono::Days::new(n)).unwrap_or(start);
            let frequency = if annual && plan == "mixed" { "annual" } else { "monthly" };
            let mut acts: Vec<(u64, String)> = Vec::new();
            for (on, kind, q, back) in actions {
                let d = day(on);
                let text = match kind {
                    0 if plan != "lago" => format!(
                        "request = {{ type = \"set_quantity\", product = \"user\", quantity = {} }}",
                        q.max(1)
                    ),
                    1 if plan == "whole" => format!(
                        "request = {{ type = \"set_quantity\", product = \"seat\", quantity = {q} }}"
                    ),
                    2 if plan == "whole" => {
                        "request = { type = \"change_plan\", plan = \"bigger\" }".to_string()
                    }
                    3 => format!(
                        "request = {{ type = \"cancel_immediately\" }}\neffective = \"{}\"",
                        d.checked_sub_days(chrono::Days::new(back % 20)).unwrap_or(d).max(start)
                    ),
                    _ => format!(
                        "usage = {{ metric = \"units\", quantity = {}, date = \"{}\" }}",
                        q * 7,
                        d.checked_sub_days(chrono::Days::new(back)).unwrap_or(d).max(start)
                    ),
                };
                acts.push((on, format!("[[actions]]\non = \"{d}\"\n{text}\n")));
            }
            acts.sort_by_key(|a| a.0);
            let quantities = match plan {
                "whole" => "{ platform = 1, seat = 2, user = 1 }",
                "mixed" => "{ platform = 1, user = 2 }",
                _ => "{ platform = 1 }",
            };
            format!(
                r#"catalog = "inline"
until = "{until}"
[settings]
day_count = "{dc}"
proration_billing = "{billing}"
credit_policy = "{credit}"
billing_alignment = "{align}"
[account]
name = "Random SAS"
country = "FR"
language = "en"
[subscription]
plan = "{plan}"
frequency = "{frequency}"
currency = "EUR"
start = "{start}"
trial_days = 0
term_months = 0
notice_days = 0
quantities = {quantities}
{actions}"#,
                until = day(150),
                actions = acts.into_iter().map(|a| a.1).collect::<String>(),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(96),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Re-running issues nothing; a non-prorated item's lines always cover its whole period
    /// (no fraction); a period's true-up never nets below zero and, once its credits are
    /// issued, never lifts its charges above the minimum (exactly to it for a whole period
    /// that fell short).
    #[test]
    fn whole_items_and_true_ups_reconcile(text in random_scenario()) {
        let cat = cases();
        let s = Scenario::from_toml(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let o = scenario::run(&s, &cat).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        for d in o.documents() {
            prop_assert_eq!(rerun(&s, &o, &cat, d.issued_on), 0, "re-run on {}\n{}", d.issued_on, text);
        }
        let lines: Vec<&Line> = o.documents().flat_map(|d| &d.lines).collect();
        let mut true_up: std::collections::BTreeMap<prorata_core::calendar::Period, (i64, bool)> =
            Default::default();
        for l in &lines {
            match &l.key {
                LineKey::Recurring(k) if k.product != "user" && k.plan != "lago" => {
                    prop_assert!(
                        l.proration.is_none()
                            && l.from.date() == k.period.start
                            && l.to.date() == k.period.next_start(),
                        "a whole item's line is a fraction: {} {}..{} ({})\n{}",
                        l.explanation, l.from, l.to, k.period, text
                    );
                }
                LineKey::Commitment { period } => {
                    let e = true_up.entry(*period).or_insert((0, true));
                    e.0 += l.amount.minor();
                    // The latest line says whether the period is whole.
                    e.1 = l.proration.is_none();
                }
                _ => {}
            }
        }
        for (period, (net, whole)) in true_up {
            prop_assert!(net >= 0, "true-up of {} nets {}\n{}", period, net, text);
            // Credits wait for the next invoice day under the account-credit policy, which may
            // fall after the scenario's end: the issued charges may still include them.
            let settled = s.settings.credit_policy != CreditPolicy::AccountCredit;
            if net > 0 && settled {
                let charges: i64 = lines
                    .iter()
                    .filter(|l| match &l.key {
                        LineKey::Recurring(k) => k.period == period,
                        LineKey::Usage { period: p, .. } => period.contains(p.start),
                        LineKey::Discount { period: p, .. } => *p == period,
                        LineKey::Commitment { .. } => false,
                    })
                    .map(|l| l.amount.minor())
                    .sum();
                let minimum = if period.next_start() > period.start + chrono::Days::new(40) { 100_000 } else { 10_000 };
                prop_assert!(charges + net <= minimum, "{} + {} > {}\n{}", charges, net, minimum, text);
                if whole {
                    prop_assert_eq!(charges + net, minimum, "{}\n{}", period, text);
                }
            }
        }
    }
}
