//! Trials (issue "Billing models", item 3): a trial that waives only the recurring fee while
//! usage is still billed (Lago's `trial_period`, Kill Bill's trial phase with usage), beside
//! the trial that waives everything (seed 003), and what a plan change during the trial does to
//! it (`trial_on_plan_change`: `keep`, `new_plan`, `restart`).
//!
//! Amounts from Lago cite its public test suite (getlago/lago-api) beside each amount, with
//! the arithmetic. Lago bills on calendar periods by default; its cases are taken where the
//! subscription starts on the first day of a month or on a Monday, where a calendar period and
//! an anniversary period are the same days. The other cases are Prorata's own worked examples,
//! written from the rule and said so.

use chrono::NaiveDate;
use prorata_core::catalog::Catalog;
use prorata_core::document::{Document, Line, LineKey, Section};
use prorata_core::reconcile::Settings;
use prorata_core::scenario::{self, Outcome, Scenario};

mod common;
use common::*;

/// One product (the plan's fee), one usage metric at 10.00 EUR a unit (Lago's standard charge
/// of `amount: '10'` in `spec/scenarios/subscriptions/free_trial_billing_spec.rb`), and the
/// plans given.
fn catalog(plans: &str) -> Catalog {
    let text = format!(
        r#"name = "trials"
currencies = ["EUR"]
[products.platform]
kind = "addon"
name = {{ en = "Platform", fr = "Plateforme" }}
[metrics.api_calls]
name = {{ en = "API calls", fr = "Appels d'API" }}
unit = "unit"
price.EUR = {{ model = "per_unit", unit_price = "10.00" }}
{plans}"#
    );
    Catalog::from_toml(&text).unwrap_or_else(|e| panic!("catalog: {e}"))
}

/// A plan whose only item is its fee, `price` per period at each of `frequencies`.
fn plan(code: &str, rank: u32, trial_days: u32, waives: &str, price: &str, timing: &str) -> String {
    format!(
        r#"
[plans.{code}]
name = {{ en = "{code}", fr = "{code}" }}
rank = {rank}
trial_days = {trial_days}
trial_waives = "{waives}"
frequencies = ["monthly", "weekly"]
[plans.{code}.items.platform]
minimum = 1
maximum = 1
timing = "{timing}"
unit_price.monthly = {{ EUR = "{price}" }}
unit_price.weekly = {{ EUR = "{price}" }}
"#
    )
}

/// A subscription to `plan` from `start`, billed `frequency`, with `settings` and `actions`.
fn scenario(plan: &str, frequency: &str, start: &str, until: &str, rest: &str) -> Scenario {
    let text = format!(
        r#"catalog = "inline"
until = "{until}"
[account]
name = "Trial Co"
country = "US"
[subscription]
plan = "{plan}"
frequency = "{frequency}"
currency = "EUR"
start = "{start}"
term_months = 0
quantities = {{ platform = 1 }}
{rest}"#
    );
    Scenario::from_toml(&text).unwrap_or_else(|e| panic!("scenario: {e}"))
}

fn play(cat: &Catalog, s: &Scenario) -> Outcome {
    let o = scenario::run(s, cat).unwrap_or_else(|e| panic!("scenario runs: {e}"));
    // Billing is reconciliation: on every day a document was issued, running again issues
    // nothing more.
    for d in o.documents() {
        assert_eq!(rerun(&o, cat, &s.settings, d.issued_on), 0, "rerun {d:?}");
    }
    o
}

fn line<'a>(d: &'a Document, product_or_metric: &str) -> &'a Line {
    d.lines
        .iter()
        .find(|l| match &l.key {
            LineKey::Recurring(k) => k.product == product_or_metric,
            LineKey::Usage { metric, .. } => metric == product_or_metric,
            LineKey::Discount { .. } | LineKey::Commitment { .. } => false,
        })
        .unwrap_or_else(|| panic!("{} has no {product_or_metric} line", d.number))
}

fn days(l: &Line) -> (String, String) {
    (l.service.start.to_string(), l.service.end.to_string())
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap_or_else(|_| panic!("date {text}"))
}

/// What a second run of billing on `day` would issue, given what was issued by then.
fn rerun(o: &Outcome, cat: &Catalog, settings: &Settings, day: NaiveDate) -> usize {
    o.reconcile_again(cat, settings, day)
        .expect("reconciles")
        .len()
}

// ------------------------------------------------------------------ fee-only trials (Lago)

#[test]
fn a_fee_only_trial_prorates_the_first_fee_billed_in_arrears_from_the_trials_end() {
    // Lago, spec/services/fees/subscription_service_spec.rb, "when invoice is on a full
    // period" › "when plan has a trial period" › "when trial end in period": a plan of 1.00
    // EUR a month paid in arrears, started 1 March 2022, trial of 3 days → fee of 90 cents.
    let cat = catalog(&plan("basic", 1, 3, "fee", "1.00", "arrears"));
    let o = play(
        &cat,
        &scenario("basic", "monthly", "2022-03-01", "2022-04-01", ""),
    );
    // 1–3 March are the trial; 4–31 March = 28 of 31 days: 1 × 1.00 × 28/31 = 0.903… → 0.90,
    // billed the day after the period, 1 April (Lago: amount_cents 90).
    assert_eq!(
        summary(&o),
        vec![("INV-000001".into(), "2022-04-01".into(), 90)]
    );
    let l = line(doc(&o, "INV-000001"), "platform");
    assert_eq!(days(l), ("2022-03-04".into(), "2022-03-31".into()));
    assert_eq!(l.explanation, "1 × 1.00 EUR × 28/31 (90%) = 0.90 EUR");
}

#[test]
fn a_fee_paid_in_advance_is_invoiced_the_day_the_trial_ends_then_every_period() {
    // Lago, spec/services/fees/subscription_service_spec.rb, "when subscription has never been
    // billed" › "when plan is monthly" › "when subscription start is on the 1st of the month"
    // › "when plan is pay in advance" › "when trial end in period": 1.00 EUR a month paid in
    // advance from 1 January 2022, trial of 3 days → 90 cents. When: Lago's
    // spec/scenarios/subscriptions/free_trial_billing_spec.rb, "with free trial" — "bills the
    // customer at the end of the free trial" (no invoice before, one when the trial ends).
    let cat = catalog(&plan("basic", 1, 3, "fee", "1.00", "advance"));
    let o = play(
        &cat,
        &scenario("basic", "monthly", "2022-01-01", "2022-02-01", ""),
    );
    assert_eq!(
        summary(&o),
        vec![
            // 4–31 January = 28 of 31 days: 1.00 × 28/31 = 0.903… → 0.90 (Lago: 90).
            ("INV-000001".into(), "2022-01-04".into(), 90),
            // Then the whole of February, on its first day, as without a trial: 1.00.
            ("INV-000002".into(), "2022-02-01".into(), 100),
        ]
    );
    let l = line(doc(&o, "INV-000001"), "platform");
    assert_eq!(l.section, Section::Prorata);
    assert_eq!(days(l), ("2022-01-04".into(), "2022-01-31".into()));
}

#[test]
fn a_trial_longer_than_the_period_bills_no_fee_for_it() {
    // Lago, same spec file and context as above, "when trial end after period": a 45-day trial
    // from 1 January 2022 → a January fee of 0 (Prorata issues no line at all for it).
    let cat = catalog(&plan("basic", 1, 45, "fee", "1.00", "advance"));
    let o = play(
        &cat,
        &scenario("basic", "monthly", "2022-01-01", "2022-03-01", ""),
    );
    // Prorata's own worked example for what follows, by the same rule: the trial ends on
    // 15 February (1 January + 45 days); 15–28 February = 14 of 28 days: 1.00 × 14/28 = 0.50,
    // invoiced that day; March whole on 1 March.
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2022-02-15".into(), 50),
            ("INV-000002".into(), "2022-03-01".into(), 100),
        ]
    );
}

#[test]
fn a_weekly_fee_is_prorated_over_the_seven_days_of_its_week() {
    // Lago, spec/services/fees/subscription_service_spec.rb, "when plan is weekly" › "when
    // subscription start is on Monday" (20 June 2022) › "when plan is pay in advance": trial of
    // 3 days → 57 cents ("100 - ((100/7)*3)"); trial of 10 days → 0 for that week.
    let cat = catalog(&plan("basic", 1, 3, "fee", "1.00", "advance"));
    let o = play(
        &cat,
        &scenario("basic", "weekly", "2022-06-20", "2022-06-27", ""),
    );
    // 23–26 June = 4 of 7 days: 1.00 × 4/7 = 0.571… → 0.57 (Lago: 57); then 27 June, whole.
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2022-06-23".into(), 57),
            ("INV-000002".into(), "2022-06-27".into(), 100),
        ]
    );
    let cat = catalog(&plan("basic", 1, 10, "fee", "1.00", "advance"));
    let o = play(
        &cat,
        &scenario("basic", "weekly", "2022-06-20", "2022-07-03", ""),
    );
    // Nothing for 20–26 June (Lago: 0). Prorata's own continuation: the trial ends on 30 June;
    // 30 June – 3 July = 4 of 7 days of the week of 27 June: 1.00 × 4/7 = 0.57.
    assert_eq!(
        summary(&o),
        vec![("INV-000001".into(), "2022-06-30".into(), 57)]
    );
}

#[test]
fn usage_during_a_fee_only_trial_is_billed_with_its_period() {
    // Lago, spec/scenarios/subscriptions/free_trial_billing_spec.rb, "with free trial >
    // billing period": a plan of 50,000.00 EUR a month paid in advance, a 45-day trial, one
    // event at 10.00 on 10 March billed on 1 April (charge fee of 1000 cents) before any fee,
    // and the fee billed when the trial ends, prorated. Lago's subscription starts on 5 March
    // and bills calendar months; this is Prorata's own worked example of the same rule from
    // 1 March 2024, where the anniversary periods are the calendar months.
    let cat = catalog(&plan("premium", 1, 45, "fee", "50000.00", "advance"));
    let o = play(
        &cat,
        &scenario(
            "premium",
            "monthly",
            "2024-03-01",
            "2024-05-01",
            r#"
[[actions]]
on = "2024-03-10"
usage = { metric = "api_calls", quantity = 1 }
"#,
        ),
    );
    assert_eq!(
        summary(&o),
        vec![
            // The trial's usage, with its period (1–31 March): 1 × 10.00 = 10.00 (Lago: 1000).
            ("INV-000001".into(), "2024-04-01".into(), 1000),
            // The trial ends on 15 April (1 March + 45 days): 15–30 April = 16 of 30 days:
            // 50,000.00 × 16/30 = 26,666.666… → 26,666.67.
            ("INV-000002".into(), "2024-04-15".into(), 2_666_667),
            // May, whole: 50,000.00.
            ("INV-000003".into(), "2024-05-01".into(), 5_000_000),
        ]
    );
    let usage = line(doc(&o, "INV-000001"), "api_calls");
    assert_eq!(days(usage), ("2024-03-01".into(), "2024-03-31".into()));
    assert_eq!(usage.explanation, "1 × 10.00 = 10.00 EUR");
}

#[test]
fn a_trial_that_waives_everything_bills_no_usage_and_starts_the_periods_when_it_ends() {
    // Seed 003's trial, unchanged (Prorata's own example): the same plan and usage as above,
    // with `trial_waives = "everything"`: the 10 March event is not billed, and the periods
    // are anchored on the first paid day, 15 April: 50,000.00 whole on 15 April.
    let cat = catalog(&plan("premium", 1, 45, "everything", "50000.00", "advance"));
    let o = play(
        &cat,
        &scenario(
            "premium",
            "monthly",
            "2024-03-01",
            "2024-05-20",
            r#"
[[actions]]
on = "2024-03-10"
usage = { metric = "api_calls", quantity = 1 }
"#,
        ),
    );
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-04-15".into(), 5_000_000),
            ("INV-000002".into(), "2024-05-15".into(), 5_000_000),
        ]
    );
}

// ------------------------------------------------------------------ plan changes in the trial

/// Starter (31.00 a month, 10-day trial) to Scale (62.00 a month, 13-day trial) on 8 March
/// 2024, during the trial, with the tenant's `policy`; fee-only trials.
fn upgrade_during_the_trial(policy: &str, waives: &str) -> Outcome {
    let cat = catalog(&format!(
        "{}{}",
        plan("starter", 1, 10, waives, "31.00", "advance"),
        plan("scale", 2, 13, waives, "62.00", "advance")
    ));
    let s = scenario(
        "starter",
        "monthly",
        "2024-03-01",
        "2024-04-01",
        &format!(
            r#"
[settings]
trial_on_plan_change = "{policy}"
[[actions]]
on = "2024-03-08"
request = {{ type = "change_plan", plan = "scale" }}
"#
        ),
    );
    play(&cat, &s)
}

#[test]
fn a_plan_change_during_the_trial_keeps_the_trial_sold_by_default() {
    // Prorata's own worked example (today's rule, `keep`): the trial still ends on 11 March
    // (1 March + 10 days); Scale from then: 11–31 March = 21 of 31 days: 62.00 × 21/31 = 42.00.
    let o = upgrade_during_the_trial("keep", "fee");
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-03-11".into(), 4200),
            ("INV-000002".into(), "2024-04-01".into(), 6200),
        ]
    );
    assert_eq!(
        line(doc(&o, "INV-000001"), "platform").explanation,
        "1 × 62.00 EUR × 21/31 (68%) = 42.00 EUR"
    );
}

#[test]
fn new_plan_gives_the_new_plans_trial_counted_from_the_original_start() {
    // Lago's rule: spec/scenarios/subscriptions/free_trial_billing_spec.rb, "with a plan
    // upgrade during the trial": the upgraded plan's 13-day trial ends "using plan.started_at
    // + upgrade_plan.trial_period days", and its fee is prorated from then ("(31 - 4 - 13) /
    // 31 * 10000000" on 18 March, its subscription starting 5 March, calendar months). Here,
    // Prorata's own worked example from 1 March: the trial ends on 14 March (1 March + 13
    // days); 14–31 March = 18 of 31 days: 62.00 × 18/31 = 36.00, invoiced on 14 March.
    let o = upgrade_during_the_trial("new_plan", "fee");
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-03-14".into(), 3600),
            ("INV-000002".into(), "2024-04-01".into(), 6200),
        ]
    );
    assert_eq!(
        o.subscription.first_paid_day(date("2024-04-01")),
        date("2024-03-14")
    );
}

#[test]
fn restart_starts_the_new_plans_trial_on_the_change_day() {
    // Prorata's own worked example (Kill Bill's CHANGE_OF_PLAN alignment: the new plan's phases,
    // its trial first, start on the change): the trial ends on 21 March (8 March + 13 days);
    // 21–31 March = 11 of 31 days: 62.00 × 11/31 = 22.00.
    let o = upgrade_during_the_trial("restart", "fee");
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-03-21".into(), 2200),
            ("INV-000002".into(), "2024-04-01".into(), 6200),
        ]
    );
}

#[test]
fn a_plan_change_after_the_trial_starts_no_new_one() {
    // Prorata's own worked example: with `restart`, an upgrade on 20 March, after the trial
    // (ended 11 March), is an ordinary prorated upgrade: Starter billed 11–31 March on 11
    // March (31.00 × 21/31 = 21.00), credited 20–31 March (31.00 × 12/31 = 12.00) and Scale
    // invoiced for them (62.00 × 12/31 = 24.00).
    let cat = catalog(&format!(
        "{}{}",
        plan("starter", 1, 10, "fee", "31.00", "advance"),
        plan("scale", 2, 13, "fee", "62.00", "advance")
    ));
    let s = scenario(
        "starter",
        "monthly",
        "2024-03-01",
        "2024-03-31",
        r#"
[settings]
trial_on_plan_change = "restart"
[[actions]]
on = "2024-03-20"
request = { type = "change_plan", plan = "scale" }
"#,
    );
    let o = play(&cat, &s);
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-03-11".into(), 2100),
            ("INV-000002".into(), "2024-03-20".into(), 2400),
            ("CN-000001".into(), "2024-03-20".into(), -1200),
        ]
    );
    assert_eq!(
        o.subscription.first_paid_day(date("2024-03-31")),
        date("2024-03-11")
    );
}

#[test]
fn under_a_trial_that_waives_everything_the_moved_trial_moves_the_periods() {
    // Prorata's own worked example: the same upgrade with `trial_waives = "everything"`.
    // `restart`: the trial ends on 21 March and the periods are anchored on it: 62.00 whole on
    // 21 March. `new_plan`: 1 March + 13 days = 14 March. `keep`: 11 March.
    for (policy, first) in [
        ("restart", "2024-03-21"),
        ("new_plan", "2024-03-14"),
        ("keep", "2024-03-11"),
    ] {
        let o = upgrade_during_the_trial(policy, "everything");
        assert_eq!(
            summary(&o),
            vec![("INV-000001".into(), first.into(), 6200)],
            "{policy}"
        );
    }
}

#[test]
fn a_new_plans_trial_already_over_ends_the_trial_on_the_change_day() {
    // Prorata's own worked example: `new_plan` to a plan whose trial (3 days from 1 March) is
    // already over on 8 March ends the trial that day, not before it: Scale from 8 March,
    // 8–31 March = 24 of 31 days: 62.00 × 24/31 = 48.00.
    let cat = catalog(&format!(
        "{}{}",
        plan("starter", 1, 10, "fee", "31.00", "advance"),
        plan("scale", 2, 3, "fee", "62.00", "advance")
    ));
    let s = scenario(
        "starter",
        "monthly",
        "2024-03-01",
        "2024-03-31",
        r#"
[settings]
trial_on_plan_change = "new_plan"
[[actions]]
on = "2024-03-08"
request = { type = "change_plan", plan = "scale" }
"#,
    );
    let o = play(&cat, &s);
    assert_eq!(
        summary(&o),
        vec![("INV-000001".into(), "2024-03-08".into(), 4800)]
    );
}

#[test]
fn an_unknown_trial_setting_is_refused_naming_it() {
    let bad = catalog_error(&plan("basic", 1, 3, "fees", "1.00", "advance"));
    assert!(bad.contains("fees") && bad.contains("everything"), "{bad}");
    let text = r#"catalog = "inline"
until = "2024-04-01"
[settings]
trial_on_plan_change = "reset"
[account]
name = "Trial Co"
country = "US"
[subscription]
plan = "basic"
frequency = "monthly"
currency = "EUR"
start = "2024-03-01"
quantities = { platform = 1 }
"#;
    let err = Scenario::from_toml(text).err().map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("reset") && e.contains("new_plan")),
        "{err:?}"
    );
}

fn catalog_error(plans: &str) -> String {
    let text = format!(
        r#"name = "trials"
currencies = ["EUR"]
[products.platform]
kind = "addon"
name = {{ en = "Platform", fr = "Plateforme" }}
{plans}"#
    );
    Catalog::from_toml(&text)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

// ------------------------------------------------------------------ the shipped example

#[test]
fn the_shipped_example_plays_as_its_comments_say() {
    let text = include_str!("../../../examples/fee-only-trial.toml");
    let cat = Catalog::from_toml(include_str!(
        "../../../examples/catalogs/fee-only-trial.toml"
    ))
    .unwrap_or_else(|e| panic!("example catalog: {e}"));
    let s = Scenario::from_toml(text).unwrap_or_else(|e| panic!("example: {e}"));
    let o = play(&cat, &s);
    assert_eq!(
        summary(&o),
        vec![
            // The trial ends on 11 March (1 March + 10 days): Scale (the plan changed to on
            // 5 March, keeping the trial sold) for 11–31 March = 21 of 31 days:
            // 62.00 × 21/31 = 42.00.
            ("INV-000001".into(), "2024-03-11".into(), 4200),
            // 1 April: Scale whole, 62.00, and March's 1,250 API calls (400 of them during
            // the trial): 1,250 × 0.0100 = 12.50.
            ("INV-000002".into(), "2024-04-01".into(), 6200 + 1250),
        ]
    );
}
