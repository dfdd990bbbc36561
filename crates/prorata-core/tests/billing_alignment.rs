//! Billing alignment (issue #15 "Billing models", item 1): periods on calendar months,
//! quarters and years (a tenant's `billing_alignment = "calendar"`, Lago's `billing_time`),
//! or on a billing day of the month (a subscription's `billing_day`, Kill Bill's bill-cycle
//! day, Stripe's `billing_cycle_anchor`), the first paid day's period billed as a prorated
//! stub. Each test plays a scenario through the clock and asserts the documents; the source
//! of every expected amount and its arithmetic stand beside it.

use chrono::NaiveDate;
use prorata_core::alignment::BillingAlignment;
use prorata_core::catalog::Catalog;
use prorata_core::change::Refusal;
use prorata_core::document::{Document, Line, LineKey, Section};
use prorata_core::reconcile::Settings;
use prorata_core::scenario::{self, Entry, Outcome, Scenario, ScenarioError};

mod common;
use common::*;

/// A plan of one product at a flat monthly price (Kill Bill's "Shotgun" at 249.95 USD; Lago's
/// plans at 35.00 and 10.00), sold monthly, quarterly and annually, and a usage metric at 1.00
/// per event (Lago's standard charge of `amount: "1"`).
const CATALOG: &str = r#"
name = "Alignment"
currencies = ["EUR", "USD"]

[products.seat]
kind = "user"
name = { en = "Seat", fr = "Siège" }

[metrics.event]
name = { en = "Events", fr = "Événements" }
price.EUR = { model = "per_unit", unit_price = "1.00" }
price.USD = { model = "per_unit", unit_price = "1.00" }

[plans.shotgun]
name = { en = "Shotgun", fr = "Shotgun" }
rank = 1
frequencies = ["monthly"]
[plans.shotgun.items.seat]
unit_price.monthly = { USD = "249.95", EUR = "249.95" }

[plans.lago35]
name = { en = "Lago 35", fr = "Lago 35" }
rank = 1
frequencies = ["monthly"]
[plans.lago35.items.seat]
unit_price.monthly = { EUR = "35.00", USD = "35.00" }

[plans.lago10]
name = { en = "Lago 10", fr = "Lago 10" }
rank = 1
frequencies = ["monthly"]
[plans.lago10.items.seat]
unit_price.monthly = { EUR = "10.00", USD = "10.00" }

[plans.flex]
name = { en = "Flex", fr = "Flex" }
rank = 1
frequencies = ["monthly", "quarterly", "annual"]
[plans.flex.items.seat]
unit_price.monthly = { EUR = "30.00", USD = "30.00" }
unit_price.quarterly = { EUR = "90.00", USD = "90.00" }
unit_price.annual = { EUR = "300.00", USD = "300.00" }
"#;

fn catalog() -> Catalog {
    Catalog::from_toml(CATALOG).expect("catalog")
}

fn parse(body: &str) -> Scenario {
    Scenario::from_toml(&format!("catalog = \"alignment.toml\"\n{body}")).expect("parses")
}

fn play(body: &str) -> Outcome {
    scenario::run(&parse(body), &catalog()).expect("scenario runs")
}

/// A subscription of `plan` (one seat) for a French consumer (no VAT number: 20 % VAT).
fn sub(settings: &str, plan: &str, freq: &str, start: &str, until: &str, rest: &str) -> String {
    format!(
        r#"until = "{until}"
{settings}
[account]
name = "Ada Lovelace"
country = "FR"
language = "en"

[subscription]
plan = "{plan}"
frequency = "{freq}"
currency = "EUR"
start = "{start}"
quantities = {{ seat = 1 }}
{rest}"#
    )
}

fn seat_line(d: &Document) -> &Line {
    d.lines
        .iter()
        .find(|l| matches!(&l.key, LineKey::Recurring(k) if k.product == "seat"))
        .unwrap_or_else(|| panic!("{} has no seat line", d.number))
}

/// The days a line covers and the natural period it is measured against.
fn days(l: &Line) -> (String, String, String) {
    let LineKey::Recurring(k) = &l.key else {
        panic!("not a recurring line")
    };
    (
        l.service.start.to_string(),
        l.service.end.to_string(),
        k.period.to_string(),
    )
}

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

/// Reconciles the finished scenario once more on its last day, with everything issued: what a
/// second run would issue (nothing, if billing is idempotent).
fn rerun(s: &Scenario, o: &Outcome) -> usize {
    o.reconcile_again(&catalog(), &s.settings, s.until)
        .expect("reconciles")
        .len()
}

// ------------------------------------------------------------------ Kill Bill: bill-cycle day

/// Kill Bill, `beatrix/src/test/java/org/killbill/billing/beatrix/integration/
/// TestWithAccountBCDUpdate.java`, `setupScenario()`: the "Shotgun" monthly plan (249.95 USD,
/// 30-day trial) created on 17 April 2016, the account's bill-cycle day set to the 20th during
/// the trial. When the trial ends on 17 May, Kill Bill invoices the *leading pro-ration to the
/// new BCD*, 17 May → 20 May: 25.00; then 249.95 on 20 May (20 May → 20 Jun) and on 20 June.
/// In Prorata the billing day is the subscription's, set when it is sold.
#[test]
fn kill_bill_bill_cycle_day_20_after_a_trial_ending_on_the_17th_bills_a_three_day_stub() {
    let body = r#"until = "2016-07-19"
[settings]
day_count = "actual-days"

[account]
name = "Shotgun Inc."
country = "US"
language = "en"

[subscription]
plan = "shotgun"
frequency = "monthly"
currency = "USD"
start = "2016-04-17"
trial_days = 30
billing_day = 20
quantities = { seat = 1 }
"#;
    let s = parse(body);
    let o = scenario::run(&s, &catalog()).expect("runs");
    assert_eq!(
        summary(&o),
        vec![
            // TestWithAccountBCDUpdate: RECURRING 2016-05-17..2016-05-20, 25 — the period
            // containing 17 May is 20 Apr – 19 May (30 days); 17–19 May is 3 of them:
            // 249.95 × 3/30 = 249.95 × 0.100000000 = 24.995 → 25.00 (half-up).
            ("INV-000001".into(), "2016-05-17".into(), 2500),
            // RECURRING 2016-05-20..2016-06-20, 249.95: the first full period.
            ("INV-000002".into(), "2016-05-20".into(), 24995),
            // RECURRING 2016-06-20..2016-07-20, 249.95.
            ("INV-000003".into(), "2016-06-20".into(), 24995),
        ]
    );
    let stub = seat_line(doc(&o, "INV-000001"));
    assert_eq!(stub.section, Section::Prorata);
    assert_eq!(
        days(stub),
        (
            "2016-05-17".into(),
            "2016-05-19".into(),
            "2016-04-20 – 2016-05-19".into()
        )
    );
    assert!(
        stub.explanation.starts_with("1 × 249.95 USD × 3/30"),
        "{}",
        stub.explanation
    );
    assert_eq!(seat_line(doc(&o, "INV-000002")).section, Section::Recurring);
    assert_eq!(rerun(&s, &o), 0);
}

/// The issue's case, Prorata's own worked example (the rule of the 31st is Stripe's, from
/// https://stripe.com/docs/subscriptions/billing-cycle: "a billing cycle anchor date of
/// January 31 bills the last day of the month closest to the anchor date, so February 28 (or
/// February 29 in a leap year), then March 31, April 30, and so on"): a trial ending on
/// 2 August 2024 and a billing day of 31. The period containing 2 August runs 31 Jul – 30 Aug
/// (31 days); 2–30 August is 29 of them. Periods then start on 31 Aug, 30 Sep, 31 Oct.
#[test]
fn a_trial_ending_on_the_2nd_billed_on_the_31st_prorates_the_leading_period_and_clamps() {
    let body = sub(
        "",
        "flex",
        "monthly",
        "2024-07-19",
        "2024-11-15",
        "trial_days = 14\nbilling_day = 31\nterm_months = 12\n",
    );
    let s = parse(&body);
    let o = scenario::run(&s, &catalog()).expect("runs");
    assert_eq!(
        summary(&o),
        vec![
            // 1 × 30.00 × 29/31 = 28.0645… → 28.06
            ("INV-000001".into(), "2024-08-02".into(), 2806),
            // 31 Aug – 29 Sep: 30.00
            ("INV-000002".into(), "2024-08-31".into(), 3000),
            // 30 Sep – 30 Oct (September has no 31st): 30.00
            ("INV-000003".into(), "2024-09-30".into(), 3000),
            // 31 Oct – 29 Nov: 30.00
            ("INV-000004".into(), "2024-10-31".into(), 3000),
        ]
    );
    let stub = seat_line(doc(&o, "INV-000001"));
    assert_eq!(stub.explanation, "1 × 30.00 EUR × 29/31 (94%) = 28.06 EUR");
    assert_eq!(
        days(stub),
        (
            "2024-08-02".into(),
            "2024-08-30".into(),
            "2024-07-31 – 2024-08-30".into()
        )
    );
    assert_eq!(
        days(seat_line(doc(&o, "INV-000003"))),
        (
            "2024-09-30".into(),
            "2024-10-30".into(),
            "2024-09-30 – 2024-10-30".into()
        )
    );
    // The stub lengthens the first term: it runs from the first full period, 31 August 2024,
    // for 12 months. The notice deadline is 30 days before: 1 August 2025.
    assert_eq!(
        o.subscription.next_renewal_after(date("2024-08-02")),
        Some(date("2025-08-31"))
    );
    assert_eq!(
        o.subscription.notice_deadline_after(date("2024-08-02")),
        Some((date("2025-08-01"), date("2025-08-31")))
    );
    assert_eq!(rerun(&s, &o), 0);
}

// ------------------------------------------------------------------ Lago: calendar billing

/// Lago, `spec/scenarios/invoices/invoices_spec.rb` (getlago/lago-api), context "when pay in
/// advance subscription with free trial used on several subscriptions": a plan of 35.00 a month
/// paid in advance with a 7-day trial, subscribed on 4 March 2024 with Lago's default
/// `billing_time` (calendar), tax 0 %. Its first invoice is `2371 # (31 - 3 - 7) * 35 / 31`:
/// billing starts when the trial ends on 11 March and runs to the end of the calendar month.
#[test]
fn lago_calendar_billing_after_a_seven_day_trial_bills_the_rest_of_march() {
    let body = sub(
        "[settings]\nbilling_alignment = \"calendar\"\n",
        "lago35",
        "monthly",
        "2024-03-04",
        "2024-04-30",
        "trial_days = 7\n",
    );
    let s = parse(&body);
    let o = scenario::run(&s, &catalog()).expect("runs");
    assert_eq!(
        summary(&o),
        vec![
            // invoices_spec.rb: (31 - 3 - 7) * 35 / 31 = 21 × 35.00 / 31 = 23.709… → 23.71
            ("INV-000001".into(), "2024-03-11".into(), 2371),
            // Prorata's rule: the first full calendar month, 1 – 30 April: 35.00.
            ("INV-000002".into(), "2024-04-01".into(), 3500),
        ]
    );
    let stub = seat_line(doc(&o, "INV-000001"));
    assert_eq!(stub.explanation, "1 × 35.00 EUR × 21/31 (68%) = 23.71 EUR");
    assert_eq!(
        days(stub),
        (
            "2024-03-11".into(),
            "2024-03-31".into(),
            "2024-03-01 – 2024-03-31".into()
        )
    );
    assert_eq!(rerun(&s, &o), 0);
}

/// Lago, `spec/scenarios/invoices/invoices_spec.rb`, "refreshes and finalizes invoices"
/// (context "when invoice is paid in advance and grace period"): a plan of 10.00 a month in
/// advance subscribed on 15 December 2022 (calendar), a standard charge of 1.00 per event, an
/// event on 16 and on 17 December, tax 20 %.
#[test]
fn lago_calendar_billing_from_15_december_with_usage_on_the_first_of_january() {
    let body = sub(
        "[settings]\nbilling_alignment = \"calendar\"\n",
        "lago10",
        "monthly",
        "2022-12-15",
        "2023-01-01",
        r#"trial_days = 0

[[actions]]
on = "2022-12-16"
usage = { metric = "event", quantity = 1 }

[[actions]]
on = "2022-12-17"
usage = { metric = "event", quantity = 1 }
"#,
    );
    let s = parse(&body);
    let o = scenario::run(&s, &catalog()).expect("runs");
    let totals: Vec<(String, i64, i64)> = o
        .documents()
        .map(|d| {
            (
                d.issued_on.to_string(),
                d.net_total.minor(),
                d.total.minor(),
            )
        })
        .collect();
    assert_eq!(
        totals,
        vec![
            // `eq(658) # 17 days - From 15th Dec. to 31st Dec.`: 10.00 × 17/31 = 5.4838… →
            // 5.48; with 20 % VAT, 5.48 × 1.2 = 6.576 → 6.58.
            ("2022-12-15".into(), 548, 658),
            // `eq(1440) # (1000 + 200) * 1.2`: January in advance, 10.00, and December's two
            // events, 2 × 1.00 = 2.00; 12.00 × 1.2 = 14.40.
            ("2023-01-01".into(), 1200, 1440),
        ]
    );
    let jan = doc(&o, "INV-000002");
    assert_eq!(
        days(seat_line(jan)),
        (
            "2023-01-01".into(),
            "2023-01-31".into(),
            "2023-01-01 – 2023-01-31".into()
        )
    );
    let usage = jan
        .lines
        .iter()
        .find(|l| l.section == Section::Usage)
        .expect("a usage line");
    assert_eq!(
        (
            usage.service.start.to_string(),
            usage.service.end.to_string()
        ),
        ("2022-12-15".into(), "2022-12-31".into())
    );
    assert_eq!(rerun(&s, &o), 0);
}

// ------------------------------------------------------------------ Stripe: billing_cycle_anchor

/// Stripe, https://docs.stripe.com/payments/checkout/billing-cycle: "a monthly subscription
/// created on May 15 with an anchor at June 1 is billed on May 15, then always on the 1st of
/// the month", the first invoice prorated (`proration_behavior = create_prorations`, the
/// default). The page gives the dates, not amounts: the amounts are Prorata's own worked
/// example under Stripe's `seconds` convention, at 30.00 a month: 15–31 May is 17 days of
/// May's 31, 17 × 86,400 s of 31 × 86,400 s.
#[test]
fn stripe_billing_cycle_anchor_on_the_first_bills_the_rest_of_may_then_every_first() {
    let body = sub(
        "[settings]\nday_count = \"seconds\"\n",
        "flex",
        "monthly",
        "2024-05-15",
        "2024-07-01",
        "trial_days = 0\nbilling_day = 1\n",
    );
    let s = parse(&body);
    let o = scenario::run(&s, &catalog()).expect("runs");
    assert_eq!(
        summary(&o),
        vec![
            // 30.00 × 1,468,800 / 2,678,400 = 30.00 × 17/31 = 16.451… → 16.45
            ("INV-000001".into(), "2024-05-15".into(), 1645),
            ("INV-000002".into(), "2024-06-01".into(), 3000),
            ("INV-000003".into(), "2024-07-01".into(), 3000),
        ]
    );
    assert_eq!(rerun(&s, &o), 0);
}

// ------------------------------------------------------------------ calendar quarters and years

/// Prorata's own worked examples: a quarterly plan (90.00) from 20 August 2024 under calendar
/// billing bills 20 Aug – 30 Sep, 42 of the quarter's 92 days: 90.00 × 42/92 = 41.086… →
/// 41.09, then 90.00 on 1 October; an annual plan (300.00) from 20 July 2024 bills 20 Jul –
/// 31 Dec, 165 of 2024's 366 days: 300.00 × 165/366 = 135.245… → 135.25, then 300.00 on
/// 1 January 2025. Both get a monthly invoice day on the 1st in between (usage, seed 002).
#[test]
fn calendar_quarters_and_years_prorate_the_first_period_to_the_boundary() {
    let settings = "[settings]\nbilling_alignment = \"calendar\"\n";
    let q = play(&sub(
        settings,
        "flex",
        "quarterly",
        "2024-08-20",
        "2024-10-01",
        "trial_days = 0\n",
    ));
    assert_eq!(
        summary(&q),
        vec![
            ("INV-000001".into(), "2024-08-20".into(), 4109),
            ("INV-000002".into(), "2024-10-01".into(), 9000),
        ]
    );
    assert_eq!(
        seat_line(doc(&q, "INV-000001")).explanation,
        "1 × 90.00 EUR × 42/92 (46%) = 41.09 EUR"
    );
    let y = play(&sub(
        settings,
        "flex",
        "annual",
        "2024-07-20",
        "2025-01-01",
        "trial_days = 0\n",
    ));
    assert_eq!(
        summary(&y),
        vec![
            ("INV-000001".into(), "2024-07-20".into(), 13525),
            ("INV-000002".into(), "2025-01-01".into(), 30000),
        ]
    );
    assert_eq!(
        days(seat_line(doc(&y, "INV-000002"))),
        (
            "2025-01-01".into(),
            "2025-12-31".into(),
            "2025-01-01 – 2025-12-31".into()
        )
    );
    // Usage periods follow the calendar too: the month containing 25 August runs from the
    // first paid day, 20 August, to the 31st; from September on, calendar months.
    let cadence = y.subscription.cadence(date("2025-01-01"));
    assert_eq!(
        cadence
            .usage_period_containing(date("2024-07-25"))
            .map(|p| p.to_string()),
        Some("2024-07-20 – 2024-07-31".into())
    );
    assert_eq!(
        cadence
            .usage_period_containing(date("2024-09-25"))
            .map(|p| p.to_string()),
        Some("2024-09-01 – 2024-09-30".into())
    );
}

// ------------------------------------------------------------------ contract, changes, repair

/// The first term runs from the end of the stub: calendar monthly from 20 July 2024 with a
/// 12-month term renews on 1 August 2025 (not 20 July 2025, mid-month, nor 1 July 2025, short
/// of twelve months). A cancellation asked on 2 July 2025, the deadline (30 days before), ends
/// the contract on 1 August 2025: July is the last period billed. One asked on 3 July is
/// refused with the next deadline. Prorata's own example.
#[test]
fn the_term_of_a_calendar_contract_counts_from_its_first_full_month() {
    let settings = "[settings]\nbilling_alignment = \"calendar\"\n";
    let on_time = play(&sub(
        settings,
        "flex",
        "monthly",
        "2024-07-20",
        "2025-09-01",
        "trial_days = 0\nterm_months = 12\n\n[[actions]]\non = \"2025-07-02\"\nrequest = { type = \"cancel\" }\n",
    ));
    let docs = summary(&on_time);
    // 20 – 31 July 2024: 30.00 × 12/31 = 11.612… → 11.61; then 12 full months to July 2025.
    assert_eq!(
        docs.first(),
        Some(&("INV-000001".into(), "2024-07-20".into(), 1161))
    );
    assert_eq!(docs.len(), 13);
    assert_eq!(
        docs.last(),
        Some(&("INV-000013".into(), "2025-07-01".into(), 3000))
    );
    let late = play(&sub(
        settings,
        "flex",
        "monthly",
        "2024-07-20",
        "2025-08-01",
        "trial_days = 0\nterm_months = 12\n\n[[actions]]\non = \"2025-07-03\"\nrequest = { type = \"cancel\" }\n",
    ));
    let refused: Vec<Refusal> = late
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Refused { refusal, .. } => Some(refusal.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        refused,
        vec![Refusal::NoticePeriodMissed {
            notice_days: 30,
            renewal: date("2025-08-01"),
            deadline: date("2025-07-02"),
            next_deadline: date("2026-07-02"),
        }]
    );
}

/// A back-dated upgrade inside the stub repairs itself: calendar monthly from 20 July 2024, a
/// second seat recorded on 10 September effective 27 July. The 10 September invoice bills the
/// stub's 27–31 July (5 of 31 days: 30.00 × 5/31 = 4.838… → 4.84) and the whole of August and
/// September (30.00 each): 64.84. Prorata's own example.
#[test]
fn a_back_dated_change_inside_the_stub_is_repaired_by_the_next_run() {
    let body = sub(
        "[settings]\nbilling_alignment = \"calendar\"\n",
        "flex",
        "monthly",
        "2024-07-20",
        "2024-09-30",
        r#"trial_days = 0

[[actions]]
on = "2024-09-10"
effective = "2024-07-27"
request = { type = "set_quantity", product = "seat", quantity = 2 }
"#,
    );
    let s = parse(&body);
    let o = scenario::run(&s, &catalog()).expect("runs");
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-07-20".into(), 1161),
            ("INV-000002".into(), "2024-08-01".into(), 3000),
            ("INV-000003".into(), "2024-09-01".into(), 3000),
            ("INV-000004".into(), "2024-09-10".into(), 6484),
        ]
    );
    let repair = doc(&o, "INV-000004");
    let stub_line = repair
        .lines
        .iter()
        .find(|l| l.service.start == date("2024-07-27"))
        .expect("a line for the stub");
    assert_eq!(
        stub_line.explanation,
        "1 × 30.00 EUR × 5/31 (16%) = 4.84 EUR"
    );
    assert_eq!(rerun(&s, &o), 0);
}

/// A frequency change asked during the trial keeps the alignment: calendar monthly from
/// 4 March 2024 with a 7-day trial, moved to annual on 5 March, bills 11 Mar – 31 Dec 2024,
/// 296 of 2024's 366 days: 300.00 × 296/366 = 242.622… → 242.62. Prorata's own example.
#[test]
fn a_frequency_change_during_the_trial_keeps_the_calendar() {
    let o = play(&sub(
        "[settings]\nbilling_alignment = \"calendar\"\n",
        "flex",
        "monthly",
        "2024-03-04",
        "2024-04-30",
        "trial_days = 7\n\n[[actions]]\non = \"2024-03-05\"\nrequest = { type = \"change_frequency\", frequency = \"annual\" }\n",
    ));
    assert_eq!(
        summary(&o),
        vec![("INV-000001".into(), "2024-03-11".into(), 24262)]
    );
    assert_eq!(
        days(seat_line(doc(&o, "INV-000001"))),
        (
            "2024-03-11".into(),
            "2024-12-31".into(),
            "2024-01-01 – 2024-12-31".into()
        )
    );
}

/// The tenant's alignment is copied into each subscription when sold: reconciling an
/// anniversary subscription under settings that now say `calendar` issues nothing new.
#[test]
fn changing_the_tenants_alignment_moves_no_existing_subscription() {
    let body = sub(
        "",
        "flex",
        "monthly",
        "2024-07-20",
        "2024-09-30",
        "trial_days = 0\n",
    );
    let mut s = parse(&body);
    let o = scenario::run(&s, &catalog()).expect("runs");
    assert_eq!(o.subscription.alignment, BillingAlignment::Anniversary);
    s.settings = Settings {
        billing_alignment: BillingAlignment::Calendar,
        ..s.settings.clone()
    };
    assert_eq!(rerun(&s, &o), 0);
    // Stored subscriptions without the fields read as anniversary, and write nothing new.
    let json = serde_json::to_string(&o.subscription).expect("json");
    assert!(
        !json.contains("alignment") && !json.contains("billing_day"),
        "{json}"
    );
}

#[test]
fn a_billing_day_outside_1_to_31_is_refused_naming_the_field() {
    for day in [0, 32] {
        let body = sub(
            "",
            "flex",
            "monthly",
            "2024-07-20",
            "2024-09-30",
            &format!("trial_days = 0\nbilling_day = {day}\n"),
        );
        match scenario::run(&parse(&body), &catalog()) {
            Err(ScenarioError::Invalid { path, problem }) => {
                assert_eq!(path, "subscription.billing_day");
                assert!(problem.contains("give 1 to 31"), "{problem}");
            }
            other => panic!("billing_day = {day}: {other:?}"),
        }
    }
}

#[test]
fn the_shipped_example_plays_as_its_comments_say() {
    let text = include_str!("../../../examples/calendar-billing.toml");
    let s = Scenario::from_toml(text).expect("the example parses");
    let cat = Catalog::from_toml(include_str!("../../../catalog/default.toml")).expect("catalog");
    let o = scenario::run(&s, &cat).expect("the example runs");
    assert_eq!(
        summary(&o),
        vec![
            // 12 users × 30.00 × 12/31 (20 – 31 July) = 139.354… → 139.35
            ("INV-000001".into(), "2024-07-20".into(), 13935),
            // 12 × 30.00 for August, and July's 400 minutes: 400 × 0.0150 = 6.00
            ("INV-000002".into(), "2024-08-01".into(), 36600),
            ("INV-000003".into(), "2024-09-01".into(), 36000),
        ]
    );
}
