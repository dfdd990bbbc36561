//! Billing-frequency changes (issue "Billing models", item 2; seed 000): monthly ↔ quarterly ↔
//! annual on the same plan, at once, at the end of the period or of the term, with the new
//! periods keeping the old anchor or restarting on the change's day or month. Each test plays
//! a scenario through the clock and asserts the documents, the arithmetic beside each amount.

use chrono::NaiveDate;
use prorata_core::catalog::Catalog;
use prorata_core::change::{self, AnchorPolicy, FrequencyTiming, Refusal, Request};
use prorata_core::document::{Document, DocumentKind, Line, LineKey, Section};
use prorata_core::reconcile::{self, Settings};
use prorata_core::scenario::{self, Entry, Outcome, Scenario};
use prorata_core::Frequency;

const DEFAULT_CATALOG: &str = include_str!("../../../catalog/default.toml");

fn catalog() -> Catalog {
    Catalog::from_toml(DEFAULT_CATALOG).expect("default catalog")
}

/// The default catalog and a plan sold monthly, quarterly and annually.
fn catalog_with_quarterly() -> Catalog {
    let q = r#"
[plans.flex]
name = { en = "Flex", fr = "Flex" }
rank = 1
frequencies = ["monthly", "quarterly", "annual"]
[plans.flex.items.user]
unit_price.monthly = { EUR = "30.00", USD = "30.00", GBP = "25.00" }
unit_price.quarterly = { EUR = "90.00", USD = "90.00", GBP = "75.00" }
unit_price.annual = { EUR = "300.00", USD = "300.00", GBP = "250.00" }
"#;
    Catalog::from_toml(&format!("{DEFAULT_CATALOG}\n{q}")).expect("catalog")
}

fn play_with(cat: &Catalog, body: &str) -> Outcome {
    let text = format!("catalog = \"default.toml\"\n{body}");
    let s = Scenario::from_toml(&text).expect("scenario parses");
    scenario::run(&s, cat).expect("scenario runs")
}

fn play(body: &str) -> Outcome {
    play_with(&catalog(), body)
}

/// An Essentials subscription of `users` users in France, from `start`, billed `frequency`.
fn essentials(frequency: &str, start: &str, until: &str, users: i64, rest: &str) -> String {
    format!(
        r#"until = "{until}"
[account]
name = "Lumen Conseil SAS"
country = "FR"
vat_number = "FR40303265045"
language = "en"

[subscription]
plan = "essentials"
frequency = "{frequency}"
currency = "EUR"
start = "{start}"
trial_days = 0
quantities = {{ user = {users} }}
{rest}"#
    )
}

fn user_line(d: &Document) -> &Line {
    d.lines
        .iter()
        .find(|l| matches!(&l.key, LineKey::Recurring(k) if k.product == "user"))
        .unwrap_or_else(|| panic!("{} has no user line", d.number))
}

fn days(l: &Line) -> (String, String) {
    (l.service.start.to_string(), l.service.end.to_string())
}

fn refusals(o: &Outcome) -> Vec<Refusal> {
    o.entries
        .iter()
        .filter_map(|e| match e {
            Entry::Refused { refusal, .. } => Some(refusal.clone()),
            _ => None,
        })
        .collect()
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

/// Reconciles the outcome again on `day` against what it had issued by then: what a second
/// run of that day's billing would issue.
fn rerun(o: &Outcome, cat: &Catalog, settings: &Settings, day: &str) -> usize {
    o.reconcile_again(cat, settings, date(day))
        .expect("reconciles")
        .len()
}

#[test]
fn monthly_to_annual_at_the_end_of_the_period_is_one_annual_invoice_and_no_credit() {
    let o = play(&essentials(
        "monthly",
        "2024-06-06",
        "2024-12-31",
        12,
        r#"
[[actions]]
on = "2024-07-10"
request = { type = "change_frequency", frequency = "annual", when = "end_of_period" }
"#,
    ));
    // 12 × 30.00 = 360.00 on 6 June and 6 July; from 6 August 12 × 300.00 = 3,600.00 for the
    // year 6 Aug 2024 – 5 Aug 2025 (the tenant's default anchor: the change's day).
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-06-06".into(), 36000),
            ("INV-000002".into(), "2024-07-06".into(), 36000),
            ("INV-000003".into(), "2024-08-06".into(), 360000),
        ]
    );
    let l = user_line(doc(&o, "INV-000003"));
    assert_eq!(l.section, Section::Recurring);
    assert_eq!(days(l), ("2024-08-06".into(), "2025-08-05".into()));
    assert_eq!(l.explanation, "12 × 300.00 EUR = 3600.00 EUR");
    assert!(matches!(
        o.entries
            .iter()
            .find(|e| matches!(e, Entry::Accepted { .. })),
        Some(Entry::Accepted {
            direction: change::Direction::Upgrade,
            ..
        })
    ));
    // The term restarted with the annual period: the next renewal is 6 August 2025.
    assert_eq!(
        o.subscription.next_renewal_after(date("2024-08-06")),
        Some(date("2025-08-06"))
    );
}

#[test]
fn monthly_to_annual_at_renewal_bills_one_annual_invoice_on_the_renewal_day() {
    let o = play(&essentials(
        "monthly",
        "2024-06-06",
        "2025-07-31",
        12,
        r#"
[[actions]]
on = "2025-03-01"
request = { type = "change_frequency", frequency = "annual", when = "end_of_term", anchor = "keep" }
"#,
    ));
    let s = summary(&o);
    // Twelve monthly invoices (June 2024 – May 2025), then the year ahead on 6 June 2025.
    assert_eq!(s.len(), 13);
    assert!(s[..12].iter().all(|(_, _, net)| *net == 36000));
    assert_eq!(s[12], ("INV-000013".into(), "2025-06-06".into(), 360000));
    assert!(o.documents().all(|d| d.kind == DocumentKind::Invoice));
    let l = user_line(doc(&o, "INV-000013"));
    assert_eq!(days(l), ("2025-06-06".into(), "2026-06-05".into()));
}

#[test]
fn monthly_to_annual_at_once_credits_the_unused_days_and_bills_the_new_year() {
    let o = play(&essentials(
        "monthly",
        "2024-06-06",
        "2024-09-30",
        12,
        r#"
[[actions]]
on = "2024-07-20"
request = { type = "change_frequency", frequency = "annual", when = "at_once", anchor = "change_date" }
"#,
    ));
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-06-06".into(), 36000),
            ("INV-000002".into(), "2024-07-06".into(), 36000),
            // 12 × 300.00: the year 20 Jul 2024 – 19 Jul 2025.
            ("INV-000003".into(), "2024-07-20".into(), 360000),
            // 12 × 30.00 × 17/31 = 197.419… -> 197.42: 20 Jul..=5 Aug of 6 Jul..=5 Aug.
            ("CN-000001".into(), "2024-07-20".into(), -19742),
        ]
    );
    let annual = user_line(doc(&o, "INV-000003"));
    assert_eq!(days(annual), ("2024-07-20".into(), "2025-07-19".into()));
    assert_eq!(annual.explanation, "12 × 300.00 EUR = 3600.00 EUR");
    let cn = doc(&o, "CN-000001");
    assert_eq!(cn.corrects, vec!["INV-000002".to_string()]);
    let credit = user_line(cn);
    assert_eq!(credit.quantity, -12);
    assert_eq!(days(credit), ("2024-07-20".into(), "2024-08-05".into()));
    let p = credit.proration.expect("prorated");
    assert_eq!((p.num, p.den, p.percent()), (17, 31, 55));
    assert_eq!(
        credit.explanation,
        "12 × 30.00 EUR × 17/31 (55%) = 197.42 EUR"
    );
    // Nothing more in August or September: usage invoice days (20th) with nothing to bill.
    assert_eq!(rerun(&o, &catalog(), &Settings::default(), "2024-09-30"), 0);
}

#[test]
fn the_anchor_policy_decides_where_the_new_annual_periods_fall() {
    let at_once = |anchor: &str| {
        play(&essentials(
            "monthly",
            "2024-06-06",
            "2025-06-30",
            12,
            &format!(
                r#"
[[actions]]
on = "2024-07-20"
request = {{ type = "change_frequency", frequency = "annual", when = "at_once", anchor = "{anchor}" }}
"#
            ),
        ))
    };

    // The first of the change month: the year 1 Jul 2024 – 30 Jun 2025 (365 days), billed
    // from 20 July: 12 × 300.00 × 346/365 = 3,412.60.
    let month = at_once("change_month");
    let l = user_line(doc(&month, "INV-000003"));
    assert_eq!(days(l), ("2024-07-20".into(), "2025-06-30".into()));
    assert_eq!(l.section, Section::Prorata);
    assert_eq!(l.amount.minor(), 341260);
    assert_eq!(
        l.explanation,
        "12 × 300.00 EUR × 346/365 (95%) = 3412.60 EUR"
    );

    // The old anchor kept: the year 6 Jun 2024 – 5 Jun 2025, billed from 20 July
    // (12 × 300.00 × 321/365 = 3,166.03), then the whole next year on 6 June 2025, the
    // contract's unchanged renewal.
    let keep = at_once("keep");
    let l = user_line(doc(&keep, "INV-000003"));
    assert_eq!(days(l), ("2024-07-20".into(), "2025-06-05".into()));
    assert_eq!(l.amount.minor(), 316603);
    let s = summary(&keep);
    assert_eq!(
        s.last(),
        Some(&("INV-000004".into(), "2025-06-06".into(), 360000))
    );
    assert_eq!(
        keep.subscription.next_renewal_after(date("2024-07-20")),
        Some(date("2025-06-06"))
    );

    // Both credit the same unused monthly days: 197.42.
    for o in [&month, &keep] {
        assert_eq!(doc(o, "CN-000001").net_total.minor(), -19742);
    }
}

#[test]
fn the_tenants_policy_applies_unless_the_request_says_otherwise() {
    let o = play(&essentials(
        "monthly",
        "2024-06-06",
        "2024-08-31",
        12,
        r#"
[settings.frequency_changes]
when = "at_once"
anchor = "change_month"

[[actions]]
on = "2024-07-20"
request = { type = "change_frequency", frequency = "annual" }
"#,
    ));
    // As `at_once` + `change_month` above.
    assert_eq!(user_line(doc(&o, "INV-000003")).amount.minor(), 341260);
}

#[test]
fn annual_to_monthly_at_the_end_of_the_term_bills_monthly_from_the_renewal() {
    let o = play(&essentials(
        "annual",
        "2024-01-06",
        "2025-02-28",
        10,
        r#"
# Deadline for the 6 January 2025 renewal: 7 December 2024.
[[actions]]
on = "2024-11-01"
request = { type = "change_frequency", frequency = "monthly", when = "end_of_term" }
"#,
    ));
    // 10 × 300.00 for 2024, then 10 × 30.00 each month from the renewal: no credit.
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-01-06".into(), 300000),
            ("INV-000002".into(), "2025-01-06".into(), 30000),
            ("INV-000003".into(), "2025-02-06".into(), 30000),
        ]
    );
    assert!(matches!(
        o.entries
            .iter()
            .find(|e| matches!(e, Entry::Accepted { .. })),
        Some(Entry::Accepted {
            direction: change::Direction::Downgrade,
            ..
        })
    ));
    let l = user_line(doc(&o, "INV-000002"));
    assert_eq!(days(l), ("2025-01-06".into(), "2025-02-05".into()));
}

#[test]
fn annual_to_monthly_inside_the_notice_period_is_refused_and_the_year_renews() {
    let o = play(&essentials(
        "annual",
        "2024-01-06",
        "2025-01-31",
        10,
        r#"
[[actions]]
on = "2024-12-20"
request = { type = "change_frequency", frequency = "monthly", when = "end_of_term" }
"#,
    ));
    assert_eq!(
        refusals(&o),
        vec![Refusal::NoticePeriodMissed {
            notice_days: 30,
            renewal: date("2025-01-06"),
            deadline: date("2024-12-07"),
            next_deadline: date("2025-12-07"),
        }]
    );
    // The contract renews on its terms: another year, 10 × 300.00.
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-01-06".into(), 300000),
            ("INV-000002".into(), "2025-01-06".into(), 300000),
        ]
    );
}

#[test]
fn annual_to_monthly_at_once_on_time_credits_the_rest_of_the_year() {
    let o = play(&essentials(
        "annual",
        "2024-01-06",
        "2024-04-30",
        10,
        r#"
[[actions]]
on = "2024-03-10"
request = { type = "change_frequency", frequency = "monthly", when = "at_once", anchor = "change_date" }
"#,
    ));
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-01-06".into(), 300000),
            // 10 × 30.00: 10 Mar – 9 Apr.
            ("INV-000002".into(), "2024-03-10".into(), 30000),
            // 10 × 300.00 × 302/366 = 2,475.409… -> 2,475.41: 10 Mar 2024..=5 Jan 2025 of a
            // leap year.
            ("CN-000001".into(), "2024-03-10".into(), -247541),
            ("INV-000003".into(), "2024-04-10".into(), 30000),
        ]
    );
    let credit = user_line(doc(&o, "CN-000001"));
    assert_eq!(days(credit), ("2024-03-10".into(), "2025-01-05".into()));
    assert_eq!(
        credit.explanation,
        "10 × 300.00 EUR × 302/366 (83%) = 2475.41 EUR"
    );
}

#[test]
fn monthly_to_quarterly_keeping_the_anchor_bills_a_stub_to_the_quarters_end() {
    let cat = catalog_with_quarterly();
    let o = play_with(
        &cat,
        r#"until = "2024-05-15"
[account]
name = "P"
country = "US"
[subscription]
plan = "flex"
frequency = "monthly"
currency = "USD"
start = "2024-01-31"
trial_days = 0
quantities = { user = 2 }

[[actions]]
on = "2024-03-05"
request = { type = "change_frequency", frequency = "quarterly", when = "end_of_period", anchor = "keep" }
"#,
    );
    // Monthly on 31 Jan and 29 Feb (2 × 30.00); from 31 March the quarter anchored on
    // 31 January (31 Jan – 29 Apr, 90 days) is billed for its last 30 days:
    // 2 × 90.00 × 30/90 = 60.00; then the whole quarter from 30 April: 180.00.
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-01-31".into(), 6000),
            ("INV-000002".into(), "2024-02-29".into(), 6000),
            ("INV-000003".into(), "2024-03-31".into(), 6000),
            ("INV-000004".into(), "2024-04-30".into(), 18000),
        ]
    );
    let stub = user_line(doc(&o, "INV-000003"));
    assert_eq!(days(stub), ("2024-03-31".into(), "2024-04-29".into()));
    assert_eq!(stub.explanation, "2 × 90.00 USD × 30/90 (33%) = 60.00 USD");
}

#[test]
fn a_frequency_the_plan_is_not_sold_at_is_refused_and_an_unknown_one_does_not_parse() {
    let o = play(&essentials(
        "monthly",
        "2024-06-06",
        "2024-07-31",
        5,
        r#"
[[actions]]
on = "2024-06-10"
request = { type = "change_frequency", frequency = "quarterly" }

[[actions]]
on = "2024-06-10"
request = { type = "change_frequency", frequency = "monthly" }
"#,
    ));
    assert_eq!(
        refusals(&o),
        vec![
            Refusal::FrequencyNotOffered {
                plan: "essentials".into(),
                frequency: "quarterly".into(),
            },
            Refusal::NoChange {
                what: "already billed monthly on 2024-07-06".into(),
            },
        ]
    );
    assert_eq!(
        refusals(&o)[0].to_string(),
        "the essentials plan is not sold quarterly"
    );
    let text = format!(
        "catalog = \"default.toml\"\n{}",
        essentials(
            "monthly",
            "2024-06-06",
            "2024-07-31",
            5,
            r#"
[[actions]]
on = "2024-06-10"
request = { type = "change_frequency", frequency = "fortnightly" }
"#,
        )
    );
    let err = Scenario::from_toml(&text).expect_err("an unknown frequency");
    assert!(err.to_string().contains("fortnightly"), "{err}");
}

#[test]
fn re_running_the_billing_after_a_frequency_change_issues_nothing() {
    let cat = catalog();
    for (when, anchor) in [
        ("at_once", "change_date"),
        ("at_once", "change_month"),
        ("at_once", "keep"),
        ("end_of_period", "keep"),
        ("end_of_term", "change_date"),
    ] {
        let o = play(&essentials(
            "monthly",
            "2024-06-06",
            "2025-08-31",
            12,
            &format!(
                r#"
[[actions]]
on = "2024-07-20"
request = {{ type = "change_frequency", frequency = "annual", when = "{when}", anchor = "{anchor}" }}
"#
            ),
        ));
        for day in [
            "2024-07-20",
            "2024-08-06",
            "2025-01-01",
            "2025-06-06",
            "2025-08-31",
        ] {
            assert_eq!(
                rerun(&o, &cat, &Settings::default(), day),
                0,
                "{when} {anchor} on {day}"
            );
        }
    }
}

#[test]
fn a_back_dated_change_recorded_after_the_next_invoice_repairs_itself() {
    // The account manager records on 10 August a move to annual agreed for 20 July; the
    // 6 August monthly invoice was issued meanwhile.
    let o = play(&essentials(
        "monthly",
        "2024-06-06",
        "2024-08-31",
        12,
        r#"
[[actions]]
on = "2024-08-10"
effective = "2024-07-20"
request = { type = "change_frequency", frequency = "annual", when = "at_once", anchor = "change_date" }
"#,
    ));
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-06-06".into(), 36000),
            ("INV-000002".into(), "2024-07-06".into(), 36000),
            ("INV-000003".into(), "2024-08-06".into(), 36000),
            // The year from 20 July: 3,600.00.
            ("INV-000004".into(), "2024-08-10".into(), 360000),
            // 17/31 of July's period (197.42) and all of August's (360.00).
            ("CN-000001".into(), "2024-08-10".into(), -19742 - 36000),
        ]
    );
    let cn = doc(&o, "CN-000001");
    assert_eq!(
        cn.corrects,
        vec!["INV-000002".to_string(), "INV-000003".to_string()]
    );
    assert_eq!(rerun(&o, &catalog(), &Settings::default(), "2024-08-31"), 0);
}

#[test]
fn during_the_trial_the_new_frequency_starts_on_the_first_paid_day() {
    let sub = prorata_core::Subscription {
        plan: "essentials".into(),
        frequency: Frequency::Monthly,
        currency: prorata_core::Currency::EUR,
        start: date("2024-06-01"),
        trial_days: 7,
        term_months: 12,
        notice_days: 30,
        quantities: [("user".to_string(), 3)].into_iter().collect(),
        events: Vec::new(),
        alignment: Default::default(),
        billing_day: None,
        trial_waives: Default::default(),
    };
    let request = Request::ChangeFrequency {
        frequency: Frequency::Annual,
        when: Some(FrequencyTiming::EndOfTerm),
        anchor: Some(AnchorPolicy::ChangeMonth),
    };
    let accepted =
        change::decide(&sub, &catalog(), &request, date("2024-06-03"), None).expect("accepted");
    assert_eq!(accepted.event.effective.date(), date("2024-06-08"));
    assert_eq!(
        accepted.event.change,
        prorata_core::timeline::Change::Frequency {
            frequency: Frequency::Annual,
            anchor: date("2024-06-08"),
        }
    );
}

#[test]
fn the_shipped_example_plays_as_its_comments_say() {
    let text = include_str!("../../../examples/frequency-change.toml");
    let s = Scenario::from_toml(text).expect("the example parses");
    let cat = catalog();
    let o = scenario::run(&s, &cat).expect("the example runs");
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-06-06".into(), 36000),
            ("INV-000002".into(), "2024-07-06".into(), 36000),
            // 12 × 300.00 = 3,600.00 for the year + 400 min × 0.0150 = 6.00 for 6–19 July.
            ("INV-000003".into(), "2024-07-20".into(), 360000 + 600),
            // 12 × 30.00 × 17/31 = 197.42.
            ("CN-000001".into(), "2024-07-20".into(), -19742),
            // 200 min × 0.0150 = 3.00 for 20 Jul – 19 Aug.
            ("INV-000004".into(), "2024-08-20".into(), 300),
            // Monthly again from the renewal: 12 × 30.00.
            ("INV-000005".into(), "2025-07-20".into(), 36000),
        ]
    );
    let lines: Vec<(String, String)> = o
        .documents()
        .flat_map(|d| &d.lines)
        .map(|l| (l.service.to_string(), l.explanation.clone()))
        .collect();
    for expected in [
        ("2024-07-20 – 2025-07-19", "12 × 300.00 EUR = 3600.00 EUR"),
        ("2024-07-06 – 2024-07-19", "400 min × 0.0150 = 6.00 EUR"),
        (
            "2024-07-20 – 2024-08-05",
            "12 × 30.00 EUR × 17/31 (55%) = 197.42 EUR",
        ),
        ("2025-07-20 – 2025-08-19", "12 × 30.00 EUR = 360.00 EUR"),
    ] {
        assert!(
            lines.contains(&(expected.0.to_string(), expected.1.to_string())),
            "{expected:?} in {lines:#?}"
        );
    }
    assert!(refusals(&o).is_empty());
    assert_eq!(rerun(&o, &cat, &s.settings, "2025-07-20"), 0);
}

// ------------------------------------------------------------------ properties

use proptest::prelude::*;

mod common;
use common::*;

/// A frequency change (or, for variety, a change of users) on a day of 2024–2025, maybe
/// recorded up to 40 days after it takes effect.
fn action() -> impl Strategy<Value = String> {
    let frequency = prop::sample::select(vec!["monthly", "quarterly", "annual"]);
    let when = prop::sample::select(vec!["at_once", "end_of_period", "end_of_term"]);
    let anchor = prop::sample::select(vec!["keep", "change_date", "change_month"]);
    let request = prop_oneof![
        3 => (frequency, when, anchor).prop_map(|(f, w, a)| format!(
            r#"{{ type = "change_frequency", frequency = "{f}", when = "{w}", anchor = "{a}" }}"#
        )),
        1 => (1_i64..20).prop_map(|q| format!(
            r#"{{ type = "set_quantity", product = "user", quantity = {q} }}"#
        )),
    ];
    (0_u64..700, 0_u64..40, request).prop_map(|(day, late, request)| {
        let start = date("2024-01-31");
        let effective = start + chrono::Days::new(day);
        let on = effective + chrono::Days::new(late);
        format!("[[actions]]\non = \"{on}\"\neffective = \"{effective}\"\nrequest = {request}\n")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the frequency changes (at once, at the end of the period or of the term, any
    /// anchor, back-dated or not): every day up to the end is billed for exactly the users held
    /// that day, no charge is credited beyond what was billed, and billing again issues nothing.
    #[test]
    fn every_day_is_billed_once_at_the_frequency_in_force(
        sold in prop::sample::select(vec!["monthly", "quarterly", "annual"]),
        settings in prop::sample::select(vec![
            "",
            "proration_billing = \"next_invoice\"",
            "credit_policy = \"account_credit\"",
            "day_count = \"actual-days\"",
            "day_count = \"thirty-day-months\"",
        ]),
        users in 1_i64..20,
        actions in prop::collection::vec(action(), 0..5),
    ) {
        let cat = catalog_with_quarterly();
        let body = format!(
            r#"until = "2026-03-31"
[settings]
{settings}
[account]
name = "P"
country = "FR"
vat_number = "FR40303265045"
[subscription]
plan = "flex"
frequency = "{sold}"
currency = "EUR"
start = "2024-01-31"
trial_days = 0
quantities = {{ user = {users} }}
{}"#,
            actions.concat()
        );
        let o = play_with(&cat, &body);
        let tenant = Scenario::from_toml(&format!("catalog = \"x\"\n{body}"))
            .expect("parses")
            .settings;
        // Changes waiting for the next invoice, and credits waiting for it, may still be
        // pending at the end: the day-by-day count holds once everything is billed.
        let settled = tenant.proration_billing == reconcile::ProrationBilling::Immediate
            && tenant.credit_policy == reconcile::CreditPolicy::CreditNote;
        let until = date("2026-03-31");
        let issued: Vec<&Document> = o.documents().collect();
        let mut day = date("2024-01-31");
        while settled && day <= until {
            let at = day.and_hms_opt(0, 0, 0).expect("midnight");
            let billed: i64 = issued
                .iter()
                .flat_map(|d| &d.lines)
                .filter(|l| matches!(&l.key, LineKey::Recurring(_)))
                .filter(|l| l.from <= at && at < l.to)
                .map(|l| l.quantity)
                .sum();
            let held = o.subscription.state_at(at, until).quantity("user");
            prop_assert_eq!(billed, held, "{}", day);
            day = day.succ_opt().expect("next day");
        }
        let mut per_key: std::collections::BTreeMap<String, i64> = Default::default();
        for l in issued.iter().flat_map(|d| &d.lines) {
            *per_key.entry(format!("{:?}", l.key)).or_default() += l.amount.minor();
        }
        prop_assert!(per_key.values().all(|v| *v >= 0), "{:?}", per_key);
        for d in &issued {
            let day = d.issued_on.to_string();
            prop_assert_eq!(rerun(&o, &cat, &tenant, &day), 0, "{}", day);
        }
    }
}
