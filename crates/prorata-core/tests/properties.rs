//! Property tests of the billing rules.
//!
//! The first property checks proration's rounding on its own; the others play random
//! scenarios (plans, quantities, plan and frequency changes, cancellations, usage and payments
//! over about fourteen months) against the default catalog under random tenant settings, and
//! check the promises of the reconciliation module: every line's amount is its printed
//! arithmetic, re-running emits nothing, a credit never exceeds what was billed, and no unit is
//! billed twice for a moment.
//!
//! Failure persistence is off (no `proptest-regressions` files are written): a failing case
//! prints its scenario as JSON, field for field what a scenario file holds. `PROPTEST_CASES`
//! overrides every case count below, for a longer hunt. The regression tests at the end
//! reproduce the bugs these properties found, now fixed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use prorata_core::alignment::BillingAlignment;
use prorata_core::calendar::{Frequency, Period, Schedule};
use prorata_core::catalog::{Catalog, Lang, PriceTable, Timing};
use prorata_core::change::{AnchorPolicy, FrequencyTiming, Request};
use prorata_core::coupon::CouponRequest;
use prorata_core::decimal::Decimal;
use prorata_core::document::{Draft, LineKey, PriceTier, RecurringKey};
use prorata_core::money::{Currency, Money};
use prorata_core::netting::NegativeInvoice;
use prorata_core::proration::DayCount;
use prorata_core::reconcile::{self, CreditPolicy, ProrationBilling, Settings};
use prorata_core::scenario::{
    self, Account, Action, Entry, Outcome, Scenario, SubscriptionSpec, TopUpSpec, UsageSpec,
};
use prorata_core::seat_tiers;
use prorata_core::timeline::start_of;
use prorata_core::wallet::TopUp;

const DEFAULT_CATALOG: &str = include_str!("../../../catalog/default.toml");

/// Coupons of every kind the scenarios redeem: a percentage on licences for ever, a fixed
/// amount on the whole period once (in EUR and USD only: refused in GBP), a percentage for 3
/// months, a fixed amount for 2 periods on usage.
const COUPONS: &str = r#"
[coupons.SEATS10]
name = { en = "10 % off licences", fr = "10 % sur les licences" }
percent_off = "10"
duration = "forever"
applies_to = ["user"]

[coupons.WELCOME20]
name = { en = "Welcome", fr = "Bienvenue" }
amount_off = { EUR = "20.00", USD = "25.00" }
duration = "once"

[coupons.THIRD]
name = { en = "A third off", fr = "Un tiers de remise" }
percent_off = "33.33"
duration = "repeating"
duration_in_months = 3

[coupons.CALLS5]
name = { en = "5.00 off calls", fr = "5,00 sur les appels" }
amount_off = { EUR = "5.00", USD = "5.00", GBP = "5.00" }
duration = "repeating"
duration_in_periods = 2
applies_to = ["outbound_fr_fixed", "outbound_fr_mobile", "outbound_eu", "outbound_world"]
"#;

/// A plan priced by seat tiers (docs/billing-rules.md, "Seat tiers"): users by graduated
/// tiers with a flat fee on the second, numbers by volume tiers with a flat fee on the last,
/// teams by packages of 2 beyond one free (Analytics+ and the call bundle as on Professional);
/// prices with odd cents, so prorated tiers round.
const TIERED: &str = r#"
[plans.tiered]
name = { en = "Tiered", fr = "Par paliers" }
rank = 3
frequencies = ["monthly", "annual"]

[plans.tiered.items.user]
minimum = 1
model = "graduated"
tiers = [
  { up_to = 5, unit_price.monthly = { EUR = "30.00", USD = "31.00", GBP = "26.00" }, unit_price.annual = { EUR = "300.00", USD = "310.00", GBP = "260.00" } },
  { up_to = 20, unit_price.monthly = { EUR = "24.99", USD = "25.99", GBP = "21.49" }, unit_price.annual = { EUR = "249.90", USD = "259.90", GBP = "214.90" }, flat_fee.monthly = { EUR = "49.95", USD = "52.00", GBP = "43.00" }, flat_fee.annual = { EUR = "499.50", USD = "520.00", GBP = "430.00" } },
  { unit_price.monthly = { EUR = "19.97", USD = "20.97", GBP = "17.17" }, unit_price.annual = { EUR = "199.70", USD = "209.70", GBP = "171.70" } },
]

[plans.tiered.items.number]
model = "volume"
tiers = [
  { up_to = 3, unit_price.monthly = { EUR = "7.00", USD = "7.00", GBP = "6.00" }, unit_price.annual = { EUR = "70.00", USD = "70.00", GBP = "60.00" } },
  { unit_price.monthly = { EUR = "6.33", USD = "6.33", GBP = "5.33" }, unit_price.annual = { EUR = "63.30", USD = "63.30", GBP = "53.30" }, flat_fee.monthly = { EUR = "9.99", USD = "9.99", GBP = "8.99" }, flat_fee.annual = { EUR = "99.90", USD = "99.90", GBP = "89.90" } },
]

[plans.tiered.items.team]
model = "package"
package_size = 2
included = 1
unit_price.monthly = { EUR = "15.55", USD = "15.55", GBP = "13.33" }
unit_price.annual = { EUR = "155.50", USD = "155.50", GBP = "133.30" }

[plans.tiered.items.analytics_plus]
maximum = 1
unit_price.monthly = { EUR = "150.00", USD = "150.00", GBP = "130.00" }
unit_price.annual = { EUR = "1500.00", USD = "1500.00", GBP = "1300.00" }

[plans.tiered.items.bundle_europe]
maximum = 1
unit_price.monthly = { EUR = "20.00", USD = "22.00", GBP = "18.00" }
unit_price.annual = { EUR = "200.00", USD = "220.00", GBP = "180.00" }
"#;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        // Analytics+ billed by the year on both frequencies: an item on its own schedule.
        let yearly = DEFAULT_CATALOG.replace(
            "[plans.professional.items.analytics_plus]\nmaximum = 1\n",
            "[plans.professional.items.analytics_plus]\nmaximum = 1\nfrequency = \"annual\"\n",
        );
        assert_ne!(yearly, DEFAULT_CATALOG, "Analytics+ is on its own schedule");
        Catalog::from_toml(&format!("{yearly}\n{COUPONS}\n{TIERED}")).expect("default catalog")
    })
}

/// `cases` cases, and no regression files written next to the sources.
fn config(cases: u32) -> ProptestConfig {
    // PROPTEST_CASES, when set, overrides the count (for a longer hunt).
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
}

fn plus_days(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_add_days(Days::new(n)).expect("date in range")
}

fn minus_days(d: NaiveDate, n: u64) -> NaiveDate {
    d.checked_sub_days(Days::new(n)).expect("date in range")
}

// ------------------------------------------------------------------ 1. one rounding per slice

/// A cut of a period: a position given directly, or the position of an instant (seconds after
/// the period's first midnight) under the convention.
#[derive(Debug, Clone, Copy)]
enum Cut {
    Position(u32),
    Instant(u32),
}

fn cut() -> impl Strategy<Value = Cut> {
    prop_oneof![
        any::<u32>().prop_map(Cut::Position),
        any::<u32>().prop_map(Cut::Instant),
    ]
}

/// A unit price of 0 to 1,000,000 in the mantissa with 0 to 4 decimals (0 to 1,000,000.0000).
fn unit_price() -> impl Strategy<Value = Decimal> {
    (0_i128..=1_000_000, 0_u32..=4).prop_map(|(m, s)| Decimal::new(m, s).expect("scale <= 18"))
}

/// A billing period: period `index` of a schedule anchored on a day of 2020–2030.
fn period() -> impl Strategy<Value = Period> {
    (
        0_u64..=(365 * 11),
        prop::sample::select(Frequency::ALL.to_vec()),
        0_u32..30,
    )
        .prop_map(|(offset, frequency, index)| {
            Schedule::new(plus_days(date(2020, 1, 1), offset), frequency)
                .period(index)
                .expect("period in range")
        })
}

/// `round_half_up(num / den)` for a positive or negative rational, computed apart from the
/// engine's own helpers.
fn rounded(num: i128, den: i128) -> i128 {
    let (num, den) = if den < 0 { (-num, -den) } else { (num, den) };
    let magnitude = (2 * num.abs() + den) / (2 * den);
    if num < 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// A decimal's digits and scale, read from its text (`30.00` → (3000, 2)).
fn digits(text: &str) -> (i128, u32) {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let mantissa: i128 = format!("{int}{frac}").parse().expect("a decimal");
    (mantissa, u32::try_from(frac.len()).expect("short"))
}

proptest! {
    #![proptest_config(config(256))]

    /// Every slice `a..b` of a period `N` long costs `q × u × (b − a)/N` rounded half-up once
    /// (`actual-days`: the ratio `(b − a)/N` rounded to 9 decimals first), recomputed here from
    /// the price's digits; the whole period is the price rounded once.
    #[test]
    fn each_slice_is_its_own_arithmetic_rounded_once(
        price in unit_price(),
        units in 1_i64..50,
        period in period(),
        cuts in prop::collection::vec(cut(), 2..3),
        currency in prop::sample::select(Currency::ALL.to_vec()),
    ) {
        let once = price.times_rounded(i128::from(units), 1, 1, currency);
        prop_assert!(once.is_some());
        let (m, scale) = digits(&price.to_string());
        let minor = 10_i128.pow(currency.exponent());
        for dc in ALL_DAY_COUNTS {
            let n = dc.length(period);
            prop_assert!(n > 0, "{dc}: empty period {period}");
            let mut positions: Vec<i64> = cuts
                .iter()
                .map(|c| match *c {
                    Cut::Position(p) => i64::from(p) % (n + 1),
                    Cut::Instant(s) => {
                        let secs = i64::from(s) % (period.days() * 86_400);
                        let at = start_of(period.start) + TimeDelta::seconds(secs);
                        dc.position(period, at)
                    }
                })
                .collect();
            positions.sort_unstable();
            let (a, b) = (positions[0], positions[1]);
            prop_assert!(0 <= a && b <= n);
            let piece = dc.slice_amount(price, units, (a, b, n), currency);
            let q = i128::from(units) * m * minor;
            let expected = match dc {
                DayCount::ActualDays => {
                    let ratio = rounded(i128::from(b - a) * 1_000_000_000, i128::from(n));
                    rounded(q * ratio, 10_i128.pow(scale) * 1_000_000_000)
                }
                _ => rounded(q * i128::from(b - a), 10_i128.pow(scale) * i128::from(n)),
            };
            prop_assert_eq!(
                piece.map(|p| i128::from(p.minor())), Some(expected),
                "{}: {} × {} over {}..{} of {}", dc, units, price, a, b, n
            );
            let whole = dc.slice_amount(price, units, (0, n, n), currency);
            prop_assert_eq!(whole, once, "{}: the whole period is not the price rounded once", dc);
        }
    }
}

// ------------------------------------------------------------------ random scenarios

const METRICS: [&str; 6] = [
    "outbound_fr_fixed",
    "outbound_fr_mobile",
    "outbound_eu",
    "outbound_us_ca",
    "outbound_world",
    "inbound_toll_free",
];

/// What an action does, before it is dated.
#[derive(Debug, Clone)]
enum Act {
    Request(Request),
    Coupon(CouponRequest),
    Usage {
        metric: &'static str,
        quantity: i64,
        days_before: u64,
    },
    Payment(i64),
    /// Prepaid credit put on the wallet, in minor units.
    TopUp(i64),
}

fn request() -> impl Strategy<Value = Request> {
    let set = |product: &'static str, q: std::ops::RangeInclusive<i64>| {
        q.prop_map(move |quantity| Request::SetQuantity {
            product: product.into(),
            quantity,
        })
    };
    prop_oneof![
        6 => set("user", 3..=40),
        3 => set("number", 0..=10),
        1 => set("team", 0..=4),
        1 => set("bundle_europe", 0..=1),
        1 => Just(Request::AddAddon { product: "analytics_plus".into() }),
        1 => Just(Request::RemoveAddon { product: "analytics_plus".into() }),
        2 => prop::sample::select(vec!["essentials", "professional", "tiered"])
            .prop_map(|p| Request::ChangePlan { plan: p.into() }),
        1 => Just(Request::Cancel),
        2 => Just(Request::CancelImmediately),
        1 => (
            prop::sample::select(vec![Frequency::Monthly, Frequency::Quarterly, Frequency::Annual]),
            prop::sample::select(vec![
                FrequencyTiming::AtOnce,
                FrequencyTiming::EndOfPeriod,
                FrequencyTiming::EndOfTerm,
            ]),
            prop::sample::select(vec![
                AnchorPolicy::Keep,
                AnchorPolicy::ChangeDate,
                AnchorPolicy::ChangeMonth,
            ]),
        )
            .prop_map(|(frequency, when, anchor)| Request::ChangeFrequency {
                frequency,
                when: Some(when),
                anchor: Some(anchor),
            }),
    ]
}

fn coupon() -> impl Strategy<Value = CouponRequest> {
    let code = prop::sample::select(vec!["SEATS10", "WELCOME20", "THIRD", "CALLS5"]);
    (any::<bool>(), code).prop_map(|(apply, code)| {
        let code = code.to_string();
        if apply {
            CouponRequest::Apply { code }
        } else {
            CouponRequest::Remove { code }
        }
    })
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        6 => request().prop_map(Act::Request),
        2 => coupon().prop_map(Act::Coupon),
        3 => (prop::sample::select(METRICS.to_vec()), 0_i64..=3000, 0_u64..=40)
            .prop_map(|(metric, quantity, days_before)| {
                Act::Usage { metric, quantity, days_before }
            }),
        1 => (1_i64..=200_000).prop_map(Act::Payment),
        1 => (1_i64..=200_000).prop_map(Act::TopUp),
    ]
}

/// When a request takes effect.
#[derive(Debug, Clone, Copy)]
enum Effective {
    /// The action's day, at midnight (no `effective` given).
    OnTheDay,
    /// Some days before or after the action's day, at a second of the day.
    FromTheDay(i64, u32),
    /// Some days after the subscription's start (often the first paid day, that is the start
    /// of the first period, so that a change can undo a whole period), at a second of the day.
    FromTheStart(i64, u32),
}

/// Midnight half of the time, else any second of the day.
fn second_of_day() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0_u32), 0_u32..86_400]
}

fn effective() -> impl Strategy<Value = Effective> {
    prop_oneof![
        2 => Just(Effective::OnTheDay),
        1 => (-45_i64..=45, second_of_day()).prop_map(|(d, s)| Effective::FromTheDay(d, s)),
        2 => (prop_oneof![Just(7_i64), 0_i64..=45], second_of_day())
            .prop_map(|(d, s)| Effective::FromTheStart(d, s)),
    ]
}

/// The day of an action, as an offset from the start: anywhere in the first 400 days, or, half
/// of the time, in the first 45 (around the trial and the first period), so that changes pile
/// up on the same periods.
fn action_day() -> impl Strategy<Value = u64> {
    prop_oneof![0_u64..=400, 0_u64..=45]
}

/// An action: its day (offset from the start), what it does and, for a request, an effective
/// moment.
type RawAction = (u64, Act, Effective);

fn dated(start: NaiveDate, (day, act, eff): RawAction) -> Action {
    let on = plus_days(start, day);
    let mut a = Action {
        on,
        request: None,
        effective: None,
        usage: None,
        payment: None,
        coupon: None,
        top_up: None,
    };
    let at = |day: NaiveDate, days: i64, secs: u32| {
        start_of(day) + TimeDelta::days(days) + TimeDelta::seconds(i64::from(secs))
    };
    let effective = match eff {
        Effective::OnTheDay => None,
        Effective::FromTheDay(days, secs) => Some(at(on, days, secs)),
        Effective::FromTheStart(days, secs) => Some(at(start, days, secs)),
    };
    match act {
        Act::Request(r) => {
            a.request = Some(r);
            a.effective = effective;
        }
        Act::Coupon(c) => {
            a.coupon = Some(c);
            a.effective = effective;
        }
        Act::Usage {
            metric,
            quantity,
            days_before,
        } => {
            a.usage = Some(UsageSpec {
                metric: metric.into(),
                quantity,
                // Late usage, but not before the subscription started.
                date: (days_before > 0).then(|| minus_days(on, days_before).max(start)),
                events: 0,
            });
        }
        Act::Payment(cents) => a.payment = Some(major(cents)),
        Act::TopUp(cents) => {
            a.top_up = Some(TopUpSpec {
                amount: major(cents),
                kind: TopUp::Paid,
            })
        }
    }
    a
}

/// `cents` in major units, as scenario files write amounts ("12.05").
fn major(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

fn settings(
    day_counts: &[DayCount],
    billings: &[ProrationBilling],
    credits: &[CreditPolicy],
) -> impl Strategy<Value = Settings> {
    (
        prop::sample::select(day_counts.to_vec()),
        prop::sample::select(billings.to_vec()),
        prop::sample::select(credits.to_vec()),
        prop::sample::select(vec![
            BillingAlignment::Anniversary,
            BillingAlignment::Calendar,
        ]),
        prop::sample::select(vec![
            NegativeInvoice::AccountCredit,
            NegativeInvoice::CreditNote,
        ]),
    )
        .prop_map(
            |(day_count, proration_billing, credit_policy, billing_alignment, negative_invoice)| {
                Settings {
                    day_count,
                    proration_billing,
                    credit_policy,
                    billing_alignment,
                    negative_invoice,
                    ..Settings::default()
                }
            },
        )
}

const ALL_DAY_COUNTS: [DayCount; 4] = [
    DayCount::InclusiveDays,
    DayCount::ActualDays,
    DayCount::ThirtyDayMonths,
    DayCount::Seconds,
];
const ALL_BILLINGS: [ProrationBilling; 2] =
    [ProrationBilling::Immediate, ProrationBilling::NextInvoice];
const ALL_CREDITS: [CreditPolicy; 3] = [
    CreditPolicy::CreditNote,
    CreditPolicy::AccountCredit,
    CreditPolicy::SameInvoice,
];

/// A subscription to Essentials or Professional, monthly or annual, in EUR, USD or GBP,
/// starting between 2023 and 2026 (trial of the plan or of 0 to 20 days, term of 0, 1, 3 or 12
/// months, notice of 0, 7 or 30 days; a billing day of 1 to 31 one time in three, and the
/// settings' anniversary or calendar alignment), with 3 to 30 users, 0 to 5 numbers, perhaps the call
/// bundle and Analytics+, and 0 to 10 actions over its first 400 days (half of them in the
/// first 45): quantity changes, add-ons, plan changes, cancellations (some back-dated or
/// post-dated, at any second of a day), usage (some of it late) and payments. The scenario runs
/// for 400 to 460 days (about fourteen months).
fn scenario(settings: impl Strategy<Value = Settings>) -> impl Strategy<Value = Scenario> {
    let subscription = (
        prop::sample::select(vec!["essentials", "professional", "tiered"]),
        prop::sample::select(vec![Frequency::Monthly, Frequency::Annual]),
        prop::sample::select(vec![Currency::EUR, Currency::USD, Currency::GBP]),
        0_u64..(365 * 4),
        prop_oneof![Just(None), (0_u32..=20).prop_map(Some)],
        prop::sample::select(vec![0_u32, 1, 3, 12]),
        prop::sample::select(vec![0_u32, 7, 30]),
        (3_i64..=30, 0_i64..=5, 0_i64..=1, any::<bool>()),
        // A billing day one time in three (any day, the 29th to 31st clamped in short months).
        prop_oneof![2 => Just(None), 1 => (1_u32..=31).prop_map(Some)],
    );
    (
        subscription,
        400_u64..=460,
        settings,
        prop::collection::vec((action_day(), act(), effective()), 0..=10),
        prop::sample::select(vec![Lang::En, Lang::Fr]),
    )
        .prop_map(
            |(
                (
                    plan,
                    frequency,
                    currency,
                    offset,
                    trial_days,
                    term_months,
                    notice_days,
                    q,
                    billing_day,
                ),
                length,
                settings,
                actions,
                language,
            )| {
                let start = plus_days(date(2023, 1, 1), offset);
                let (users, numbers, bundle, analytics) = q;
                let mut quantities =
                    BTreeMap::from([("user".to_string(), users), ("number".to_string(), numbers)]);
                if bundle > 0 {
                    quantities.insert("bundle_europe".into(), bundle);
                }
                if analytics && plan == "professional" {
                    quantities.insert("analytics_plus".into(), 1);
                }
                Scenario {
                    title: "random".into(),
                    catalog: "default.toml".into(),
                    until: plus_days(start, length),
                    settings,
                    account: Account {
                        name: "Random SAS".into(),
                        country: "FR".into(),
                        vat_number: None,
                        language,
                        address: Default::default(),
                    },
                    subscription: SubscriptionSpec {
                        plan: plan.into(),
                        frequency,
                        currency,
                        start,
                        trial_days,
                        term_months,
                        notice_days,
                        quantities,
                        billing_day,
                    },
                    actions: actions.into_iter().map(|a| dated(start, a)).collect(),
                }
            },
        )
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("<not serialisable: {e}>"))
}

fn play(s: &Scenario) -> Result<Outcome, TestCaseError> {
    scenario::run(s, catalog())
        .map_err(|e| TestCaseError::fail(format!("the scenario does not run: {e}\n{}", json(s))))
}

/// Drafts, a text line per document line: `+2 user (essentials, Extra, <period>) <from>..<to>
/// = 12.34 EUR`.
fn describe(drafts: &[Draft]) -> String {
    let mut out = String::new();
    for d in drafts {
        out.push_str(&format!("{:?}:\n", d.kind));
        for l in &d.lines {
            let what = match &l.key {
                LineKey::Recurring(k) => {
                    format!("{} ({}, {:?}, {})", k.product, k.plan, k.tier, k.period)
                }
                LineKey::Usage { metric, period } => format!("{metric} ({period})"),
                LineKey::Discount { coupon, period } => format!("discount {coupon} ({period})"),
                LineKey::Commitment { period } => format!("minimum commitment ({period})"),
            };
            out.push_str(&format!(
                "  {:+} {what} {}..{} = {}\n",
                l.quantity, l.from, l.to, l.amount
            ));
        }
    }
    out
}

// ------------------------------------------------------------------ 2. idempotence

/// Reconciles once more at `until`, with the final timeline, the usage as recorded (each
/// record learnt on its action's day) and every document issued; fails if anything is emitted.
fn check_idempotent(s: &Scenario, o: &Outcome) -> Result<(), TestCaseError> {
    let drafts = o.reconcile_again(catalog(), &s.settings, s.until);
    prop_assert!(drafts.is_ok(), "reconcile failed: {:?}", drafts.err());
    let drafts = drafts.expect("checked");
    prop_assert!(
        drafts.is_empty(),
        "reconciling again on {} emits:\n{}scenario: {}",
        s.until,
        describe(&drafts),
        json(s)
    );
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    /// After a scenario has run to `until`, reconciling once more at `until` — with the final
    /// timeline, the same usage and every document issued — emits nothing: everything that
    /// was due has been billed. Under the account-credit policy, credits found on a day that
    /// is not an invoice day are held, so nothing is emitted then either; under
    /// `next_invoice` the knowledge date is the last invoice day, which the run has already
    /// reconciled.
    #[test]
    fn reconciliation_is_idempotent(
        s in scenario(settings(&ALL_DAY_COUNTS, &ALL_BILLINGS, &ALL_CREDITS)),
    ) {
        let o = play(&s)?;
        check_idempotent(&s, &o)?;
    }
}

// ------------------------------------------------------------------ 3. credits

/// `(from, to, units)` of the lines billed so far for one key.
type Profile = Vec<(NaiveDateTime, NaiveDateTime, i64)>;

fn units_at(profile: &Profile, t: NaiveDateTime) -> i64 {
    profile
        .iter()
        .filter(|(from, to, _)| *from <= t && t < *to)
        .map(|(_, _, u)| u)
        .sum()
}

/// Walks the documents in the order they were issued. Each credit line (negative quantity)
/// of a recurring charge must take back, at every moment of its slice, no more units than
/// the documents before it had billed there, and the net amount of each charge must stay at or
/// above zero after every document.
fn check_credits(s: &Scenario, o: &Outcome) -> Result<(), TestCaseError> {
    let mut profiles: BTreeMap<RecurringKey, Profile> = BTreeMap::new();
    let mut nets: BTreeMap<RecurringKey, (i64, i64)> = BTreeMap::new();
    for doc in o.documents() {
        for line in &doc.lines {
            let LineKey::Recurring(key) = &line.key else {
                continue;
            };
            if line.quantity >= 0 {
                continue;
            }
            let profile = profiles.get(key).cloned().unwrap_or_default();
            let mut cuts: BTreeSet<NaiveDateTime> = BTreeSet::from([line.from]);
            cuts.extend(
                profile
                    .iter()
                    .flat_map(|(f, t, _)| [*f, *t])
                    .filter(|c| line.from < *c && *c < line.to),
            );
            for c in cuts {
                let had = units_at(&profile, c);
                prop_assert!(
                    had + line.quantity >= 0,
                    "{} ({}) credits {} units of {} ({}, {}) at {c} where {had} were billed\n\
                     scenario: {}",
                    doc.number,
                    doc.issued_on,
                    -line.quantity,
                    key.product,
                    key.plan,
                    key.period,
                    json(s)
                );
            }
        }
        let mut touched: BTreeSet<&RecurringKey> = BTreeSet::new();
        for line in &doc.lines {
            let LineKey::Recurring(key) = &line.key else {
                continue;
            };
            profiles
                .entry(key.clone())
                .or_default()
                .push((line.from, line.to, line.quantity));
            let (charged, credited) = nets.entry(key.clone()).or_default();
            if line.amount.is_negative() {
                *credited -= line.amount.minor();
            } else {
                *charged += line.amount.minor();
            }
            touched.insert(key);
        }
        for key in touched {
            let (charged, credited) = nets.get(key).copied().unwrap_or_default();
            prop_assert!(
                credited <= charged,
                "after {} ({}): {} ({}, {:?} at {}, period {}) charged {charged}, credited \
                 {credited} (minor units)\nscenario: {}",
                doc.number,
                doc.issued_on,
                key.product,
                key.plan,
                key.tier,
                key.unit_price,
                key.period,
                json(s)
            );
        }
    }
    Ok(())
}

proptest! {
    // Regression guard for the rounding of lines of different quantities (fixed by pricing
    // each key's whole profile once): about one scenario in 500 hit it, so 2048 cases.
    #![proptest_config(config(2048))]

    /// Under the credit-note policy, for every recurring charge (product, plan, tier, unit
    /// price, period): a credit line takes back, at every moment of its slice, no more units
    /// than the documents before it had billed there; and after every document the credits
    /// (absolute amounts) add up to no more than the charges, so the net amount billed for
    /// the charge is never negative.
    #[test]
    fn a_credit_never_exceeds_what_was_billed_for_that_item_and_period(
        s in scenario(settings(&ALL_DAY_COUNTS, &ALL_BILLINGS, &[CreditPolicy::CreditNote])),
    ) {
        let o = play(&s)?;
        check_credits(&s, &o)?;
    }
}

// ------------------------------------------------------------------ 3b. printed arithmetic

/// Seconds in a printed duration (`26 d 12 h`, `26 j 12 h 30 min 5 s`).
fn seconds_of(text: &str) -> Option<i64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut total = 0;
    for pair in words.chunks(2) {
        let [n, unit] = pair else { return None };
        let n: i64 = n.parse().ok()?;
        total += n * match *unit {
            "d" | "j" => 86_400,
            "h" => 3_600,
            "min" => 60,
            "s" => 1,
            _ => return None,
        };
    }
    Some(total)
}

/// The amount a recurring line's explanation prints, redone from its text alone:
/// `[10 → 6: ]4 × 30.00 EUR[ × 27/31[ (0.870967742)] (87%)] = 104.52 EUR`, or with seconds
/// `× 26 d 12 h / 31 d`; a credit limited to what is left of the line it takes back ends
/// `= 0.03 EUR, limited to the 0.02 EUR left of INV-000001's line` (French: `limité aux …`).
/// Returns the arithmetic's result and the amount printed last, in minor units.
fn redo(explanation: &str, currency: Currency) -> Result<(i64, i64), String> {
    let text = explanation
        .split_once(": ")
        .filter(|(head, _)| head.contains(" → "))
        .map_or(explanation, |(_, rest)| rest);
    let (lhs, rhs) = text.split_once(" = ").ok_or("no ' = '")?;
    let money = |t: &str| -> Result<i64, String> {
        let figure = t
            .trim()
            .strip_suffix(currency.code())
            .ok_or(format!("{t:?}: currency"))?;
        Money::parse(figure.trim(), currency)
            .map(Money::minor)
            .map_err(|e| format!("{t:?}: {e}"))
    };
    let (own, printed) = match rhs
        .split_once(", limited to the ")
        .or_else(|| rhs.split_once(", limité aux "))
    {
        Some((own, rest)) => {
            let left = rest
                .split_once(" left of ")
                .or_else(|| rest.split_once(" restant sur "))
                .ok_or("no remainder")?
                .0;
            (money(own)?, money(left)?)
        }
        None => (money(rhs)?, money(rhs)?),
    };
    let mut factors = lhs.split(" × ");
    let units: i128 = factors
        .next()
        .and_then(|u| u.parse().ok())
        .ok_or("no units")?;
    let price = factors
        .next()
        .and_then(|p| p.strip_suffix(currency.code()))
        .ok_or("no price")?;
    let (m, scale) = digits(price.trim());
    let q = units * m * 10_i128.pow(currency.exponent());
    let result = match factors.next() {
        None => rounded(q, 10_i128.pow(scale)),
        Some(f) => {
            let f = f.rsplit_once(" (").ok_or("no percentage")?.0;
            let (fraction, ratio) = match f.split_once(" (") {
                Some((fr, r)) => (fr, Some(r.trim_end_matches(')'))),
                None => (f, None),
            };
            match ratio {
                Some(r) => {
                    let (rm, rs) = digits(r);
                    rounded(q * rm, 10_i128.pow(scale + rs))
                }
                None => {
                    let (a, b) = fraction
                        .split_once('/')
                        .map(|(a, b)| (a.trim(), b.trim()))
                        .ok_or("no fraction")?;
                    let as_number = |x: &str| {
                        x.parse::<i64>()
                            .ok()
                            .or_else(|| seconds_of(x))
                            .ok_or(format!("{x:?}"))
                    };
                    let (a, b) = (as_number(a)?, as_number(b)?);
                    rounded(q * i128::from(a), 10_i128.pow(scale) * i128::from(b))
                }
            }
        }
    };
    let result = i64::try_from(result).map_err(|e| e.to_string())?;
    if own != result {
        return Err(format!("prints {own}, its arithmetic gives {result}"));
    }
    Ok((result, printed))
}

/// Every recurring line of every document: its explanation, redone, gives its amount to the
/// cent (the magnitude; the document carries the sign). A credit limited to what is left of the
/// line it takes back prints both, and the limit is below its own arithmetic.
fn check_printed_arithmetic(s: &Scenario, o: &Outcome) -> Result<(), TestCaseError> {
    for doc in o.documents() {
        for line in &doc.lines {
            if !matches!(line.key, LineKey::Recurring(_)) {
                continue;
            }
            let redone = redo(&line.explanation, doc.currency);
            prop_assert!(
                redone.is_ok(),
                "{} ({}): {:?}: {}\nscenario: {}",
                doc.number,
                doc.issued_on,
                line.explanation,
                redone.err().unwrap_or_default(),
                json(s)
            );
            let (own, printed) = redone.expect("checked");
            prop_assert_eq!(
                line.amount.minor().abs(),
                printed,
                "{} ({}): {:?}\nscenario: {}",
                &doc.number,
                doc.issued_on,
                &line.explanation,
                json(s)
            );
            prop_assert!(
                printed <= own,
                "a limit above the arithmetic: {:?}",
                line.explanation
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    /// Under every day-count convention, billing timing, credit policy and language, every
    /// recurring line's amount is what its printed arithmetic gives (issue #15, item 9: a
    /// credit of 249.95 × 21/30 printed 174.96 where the arithmetic gives 174.97).
    #[test]
    fn every_line_is_its_printed_arithmetic(
        s in scenario(settings(&ALL_DAY_COUNTS, &ALL_BILLINGS, &ALL_CREDITS)),
    ) {
        let o = play(&s)?;
        check_printed_arithmetic(&s, &o)?;
    }
}

// ------------------------------------------------------------------ 4. no double billing

/// The price of one unit in the subscription's frequency and currency; `None` when free.
fn price_in(table: &PriceTable, frequency: Frequency, currency: Currency) -> Option<Decimal> {
    table
        .get(&frequency)
        .and_then(|m| m.get(&currency))
        .copied()
        .filter(|p| !p.is_zero())
}

/// The last day the run reconciled on. The run stops on the start, on every action's day and
/// on every day `reconcile::due_dates` names up to `until` (invoice days while the
/// subscription lives, its end, and the invoice day that settles what waited after it). This
/// is the stopping rule only; what is owed on each day is computed independently below.
fn last_run_day(s: &Scenario, o: &Outcome) -> NaiveDate {
    let sub = &o.subscription;
    let last_usage = o.usage.iter().map(|u| u.recorded_on).max();
    let due = prorata_core::reconcile::due_dates(sub, sub.start, s.until, s.until, last_usage);
    s.actions
        .iter()
        .map(|a| a.on)
        .chain(due)
        .fold(sub.start, NaiveDate::max)
}

/// The units owed for each charge on each day, from the timeline as known on `known_on`, for
/// the licence periods that start on or before `as_of` (and before the end of the
/// subscription).
///
/// With a day-based convention a day counts in full under the state in force at its end: a
/// change effective at 12:00 applies to its whole day, as reconciliation sees it, and the day
/// the subscription ends (at any time of it) is not owed.
fn owed(
    o: &Outcome,
    as_of: NaiveDate,
    known_on: NaiveDate,
) -> BTreeMap<(RecurringKey, NaiveDate), i64> {
    let sub = &o.subscription;
    let end_day = sub.end(known_on).map(|e| e.date());
    let last_second = NaiveTime::from_hms_opt(23, 59, 59).expect("time");
    let mut owed = BTreeMap::new();
    // The periods of the frequency in force, clipped where the frequency changes; an item
    // with a frequency of its own (Analytics+ billed yearly) on periods of that frequency.
    let cadence = sub.cadence(known_on);
    let walks = std::iter::once(None).chain(catalog().own_frequencies().map(Some));
    let slices = walks.flat_map(|own| {
        cadence
            .slices_at(own)
            .take_while(move |s| s.from <= as_of && end_day.is_none_or(|e| s.from < e))
            .map(move |s| (own, s))
    });
    for (own, slice) in slices {
        let period = slice.period;
        let over = end_day.map_or(slice.until, |e| e.min(slice.until));
        // Under an alignment the first period starts before the first paid day: owed from it.
        let mut day = slice.from.max(sub.billing_anchor());
        while day < over {
            let state = sub.state_at(day.and_time(last_second), known_on);
            let plan = catalog().plan(&state.plan).expect("plan of the catalog");
            for (product, item) in &plan.items {
                if item.frequency != own {
                    continue;
                }
                let due = match item.timing {
                    Timing::Advance => true,
                    Timing::Arrears => over <= as_of,
                };
                if !due {
                    continue;
                }
                let mut put = |tier, table: &PriceTable, units: i64| {
                    let price = price_in(table, slice.frequency, sub.currency);
                    if let Some(unit_price) = price.filter(|_| units > 0) {
                        let key = RecurringKey {
                            product: product.clone(),
                            plan: state.plan.clone(),
                            tier,
                            unit_price,
                            period,
                        };
                        owed.insert((key, day), units);
                    }
                };
                // Seat tiers: the parts the catalog's model gives (their arithmetic is checked
                // against the peers' amounts in tests/seat_tiers.rs), one key each.
                let read = |t: &PriceTable| Ok::<_, ()>(price_in(t, slice.frequency, sub.currency));
                if let Ok(Some(parts)) = seat_tiers::parts(item, state.quantity(product), read) {
                    for part in parts {
                        let table = BTreeMap::from([(
                            slice.frequency,
                            BTreeMap::from([(sub.currency, part.price)]),
                        )]);
                        put(part.tier, &table, part.units);
                    }
                    continue;
                }
                if item.included > 0 {
                    put(PriceTier::Included, &item.included_price, 1);
                }
                let extras = (state.quantity(product) - item.included).max(0);
                put(PriceTier::Extra, &item.unit_price, extras);
            }
            day = day.succ_opt().expect("date in range");
        }
    }
    owed
}

/// The net units billed for each charge on each day, from every recurring line issued (whose
/// slices must fall on midnights, inside the line's period).
fn billed(
    o: &Outcome,
    s: &Scenario,
) -> Result<BTreeMap<(RecurringKey, NaiveDate), i64>, TestCaseError> {
    let mut billed: BTreeMap<(RecurringKey, NaiveDate), i64> = BTreeMap::new();
    for doc in o.documents() {
        for line in &doc.lines {
            let LineKey::Recurring(key) = &line.key else {
                continue;
            };
            prop_assert!(
                line.from.time() == NaiveTime::MIN && line.to.time() == NaiveTime::MIN,
                "{}: a {} line from {} to {} is not on midnights",
                doc.number,
                s.settings.day_count,
                line.from,
                line.to
            );
            prop_assert!(
                line.from < line.to
                    && key.period.start <= line.from.date()
                    && line.to.date() <= key.period.next_start(),
                "{}: the line {}..{} is not a slice of its period {}",
                doc.number,
                line.from,
                line.to,
                key.period
            );
            let mut day = line.from.date();
            while day < line.to.date() {
                *billed.entry((key.clone(), day)).or_default() += line.quantity;
                day = day.succ_opt().expect("date in range");
            }
        }
    }
    Ok(billed)
}

proptest! {
    #![proptest_config(config(128))]

    /// For every recurring charge and every day, with a day-based convention: the net units
    /// billed (the quantities of all the lines covering that day) are never negative and never
    /// more than the units owed — `max(0, quantity − included)` under the plan in force that
    /// day, nothing under another plan or after the end — for the periods started by the last
    /// day the run reconciled (`L`), on the timeline as known on its knowledge date (`L`
    /// itself when changes are billed immediately, the last invoice day under `next_invoice`;
    /// with immediate billing that is the final timeline). Under the credit-note policy they
    /// are exactly the units owed: nothing is left unbilled or uncredited. Under the
    /// account-credit policy, credits found on a day that is not an invoice day are held, so
    /// there the billed units are at least those owed instead.
    #[test]
    fn no_item_is_billed_twice_for_a_period(
        s in scenario(settings(
            &[DayCount::InclusiveDays, DayCount::ActualDays, DayCount::ThirtyDayMonths],
            &ALL_BILLINGS,
            &ALL_CREDITS,
        )),
    ) {
        let o = play(&s)?;
        let last = last_run_day(&s, &o);
        let known_on = reconcile::knowledge_date(&s.settings, &o.subscription, last);
        let owed = owed(&o, last, known_on);
        let billed = billed(&o, &s)?;
        let keys: BTreeSet<&(RecurringKey, NaiveDate)> =
            owed.keys().chain(billed.keys()).collect();
        for k in keys {
            let (key, day) = k;
            let b = billed.get(k).copied().unwrap_or(0);
            let w = owed.get(k).copied().unwrap_or(0);
            let what = format!(
                "{} ({}, {:?} at {}, period {}) on {day}: billed {b}, owed {w} (last run day \
                 {last}, known on {known_on})",
                key.product, key.plan, key.tier, key.unit_price, key.period
            );
            prop_assert!(b >= 0, "negative: {}\nscenario: {}", what, json(&s));
            match s.settings.credit_policy {
                // Same invoice: credits are issued at once, beside the charges.
                CreditPolicy::CreditNote | CreditPolicy::SameInvoice => {
                    prop_assert!(b <= w, "billed twice: {}\nscenario: {}", what, json(&s));
                    prop_assert!(b == w, "not billed: {}\nscenario: {}", what, json(&s));
                }
                CreditPolicy::AccountCredit => {
                    prop_assert!(b >= w, "not billed: {}\nscenario: {}", what, json(&s));
                }
            }
        }
    }
}

// ------------------------------------------------------------------ 5. discounts

/// After each day's documents: every coupon's discount of a period (its key's lines summed)
/// is a deduction, never a charge; the discounts of each period (by the period of the
/// discounted lines: the licence period) never exceed what its lines charge; and no document
/// is an invoice with a negative net (but under `same_invoice` with `negative_invoice =
/// "account_credit"`, where that is the account credit) or a credit note with a positive one.
fn check_discounts(s: &Scenario, o: &Outcome) -> Result<(), TestCaseError> {
    let mut given: BTreeMap<(String, Period), i64> = BTreeMap::new();
    let mut charged: i64 = 0;
    let days: BTreeSet<NaiveDate> = o.documents().map(|d| d.issued_on).collect();
    for day in days {
        for d in o.documents().filter(|d| d.issued_on == day) {
            let net = d.net_total.minor();
            // Same invoice, account credit: an invoice's negative total is account credit.
            let negative_invoices = s.settings.credit_policy == CreditPolicy::SameInvoice
                && s.settings.negative_invoice == NegativeInvoice::AccountCredit;
            match d.kind {
                prorata_core::DocumentKind::Invoice => prop_assert!(
                    net >= 0 || negative_invoices,
                    "{} ({}) is an invoice of {net}\nscenario: {}",
                    d.number,
                    d.issued_on,
                    json(s)
                ),
                prorata_core::DocumentKind::CreditNote => prop_assert!(
                    net <= 0,
                    "{} ({}) is a credit note of {net}\nscenario: {}",
                    d.number,
                    d.issued_on,
                    json(s)
                ),
            }
            for l in &d.lines {
                match &l.key {
                    LineKey::Discount { coupon, period } => {
                        *given.entry((coupon.clone(), *period)).or_default() -= l.amount.minor();
                    }
                    _ => charged += l.amount.minor(),
                }
            }
        }
        for ((coupon, period), g) in &given {
            prop_assert!(
                *g >= 0,
                "after {day}: {coupon} for {period} charges {}\nscenario: {}",
                -g,
                json(s)
            );
        }
        let total: i64 = given.values().sum();
        prop_assert!(
            total <= charged,
            "after {day}: discounts {total} exceed the charges {charged}\nscenario: {}",
            json(s)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    /// With coupons redeemed and removed (some back-dated) among the other actions, under
    /// every convention and policy: discounts stay deductions within what was charged, and
    /// reconciling once more issues nothing.
    #[test]
    fn a_discount_never_exceeds_what_was_charged_and_reruns_issue_nothing(
        s in scenario(settings(&ALL_DAY_COUNTS, &ALL_BILLINGS, &ALL_CREDITS)),
    ) {
        let o = play(&s)?;
        check_discounts(&s, &o)?;
        check_idempotent(&s, &o)?;
    }
}

/// Prepaid credit is neither lost nor overdrawn: what was topped up is what the invoices took
/// plus what is left; an invoice takes no more than its total nor than what is owed with it,
/// takes nothing while credit is left unless it is paid whole, and a credit note takes
/// nothing; the balance is the documents, less the payments and the credit taken.
fn check_wallet(o: &Outcome) -> Result<(), TestCaseError> {
    let currency = o.balance.currency();
    let (mut wallet, mut topped_up, mut taken, mut balance) = (0_i64, 0_i64, 0_i64, 0_i64);
    for e in &o.entries {
        match e {
            Entry::TopUp { amount, .. } => {
                wallet += amount.minor();
                topped_up += amount.minor();
            }
            Entry::Payment { amount, .. } => balance -= amount.minor(),
            Entry::Document(d) => {
                let prepaid = d.prepaid_credit.map_or(0, |p| p.minor());
                let owed = balance + d.total.minor();
                prop_assert!(
                    prepaid >= 0 && prepaid <= wallet,
                    "{} took {prepaid} of {wallet}",
                    d.number
                );
                prop_assert!(
                    prepaid <= d.total.minor().max(0) && prepaid <= owed.max(0),
                    "{} took {prepaid}",
                    d.number
                );
                if prepaid < wallet {
                    // Credit was left over: the invoice took all it could.
                    prop_assert_eq!(
                        prepaid,
                        d.total.minor().min(owed).max(0),
                        "{} left credit unused",
                        &d.number
                    );
                }
                if d.kind == prorata_core::document::DocumentKind::CreditNote {
                    prop_assert_eq!(prepaid, 0);
                }
                prop_assert_eq!(
                    d.balance_after.minor(),
                    owed - prepaid,
                    "{}'s amount due",
                    &d.number
                );
                wallet -= prepaid;
                taken += prepaid;
                balance = owed - prepaid;
            }
            _ => {}
        }
    }
    prop_assert_eq!(topped_up, taken + o.wallet.minor());
    prop_assert_eq!(o.wallet, Money::from_minor(wallet, currency));
    prop_assert_eq!(o.balance, Money::from_minor(balance, currency));
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    /// With top-ups among the other actions, under every convention and policy (so with
    /// negative invoices and credits carried on the balance): prepaid credit adds up.
    #[test]
    fn prepaid_credit_is_neither_lost_nor_overdrawn(
        s in scenario(settings(&ALL_DAY_COUNTS, &ALL_BILLINGS, &ALL_CREDITS)),
    ) {
        let o = play(&s)?;
        check_wallet(&o)?;
    }
}

// ------------------------------------------------------------------ regressions

/// Plays a scenario written in TOML (without the `catalog` key) on the default catalog.
fn play_toml(body: &str) -> Outcome {
    let text = format!("catalog = \"default.toml\"\n{body}");
    let s = Scenario::from_toml(&text).expect("scenario parses");
    scenario::run(&s, catalog()).expect("scenario runs")
}

/// Net amount of all the recurring lines issued, in minor units.
fn recurring_net(o: &Outcome) -> i64 {
    o.documents()
        .flat_map(|d| &d.lines)
        .filter(|l| matches!(l.key, LineKey::Recurring(_)))
        .map(|l| l.amount.minor())
        .sum()
}

/// 3 users at 30.00 EUR a month from 8 January 2023, cancelled on 9 January with effect that
/// day: 30 of the 31 days billed on 8 January are owed back, 3 × 30.00 × 30/31 = 87.10 EUR,
/// leaving 2.90 EUR. `until` is well past the next invoice day (8 February).
const CANCELLED_THE_DAY_AFTER: &str = r#"
until = "2023-03-31"

[account]
name = "Repro"
country = "FR"

[subscription]
plan = "essentials"
frequency = "monthly"
currency = "EUR"
start = "2023-01-08"
trial_days = 0
quantities = { user = 3 }

[[actions]]
on = "2023-01-09"
request = { type = "cancel_immediately" }
"#;

#[test]
fn an_immediate_cancellation_is_credited_when_changes_are_billed_immediately() {
    let o = play_toml(CANCELLED_THE_DAY_AFTER);
    assert_eq!(recurring_net(&o), 9000 - 8710);
}

#[test]
fn an_immediate_cancellation_is_credited_under_next_invoice_billing() {
    let o = play_toml(&format!(
        "settings = {{ proration_billing = \"next_invoice\" }}\n{CANCELLED_THE_DAY_AFTER}"
    ));
    assert_eq!(recurring_net(&o), 9000 - 8710);
}

#[test]
fn an_immediate_cancellation_is_credited_under_the_account_credit_policy() {
    let o = play_toml(&format!(
        "settings = {{ credit_policy = \"account_credit\" }}\n{CANCELLED_THE_DAY_AFTER}"
    ));
    assert_eq!(recurring_net(&o), 9000 - 8710);
}

/// Default settings (inclusive days, immediate, credit notes). 3 users at 30.00 EUR for 6 Jul –
/// 5 Aug 2024 (31 days): INV-000001 90.00. A 4th user from 8 July: INV-000002 1 × 30.00 ×
/// 29/31 = 28.06. On 10 July the subscription is cancelled with effect from 6 July, so nothing
/// at all is owed: CN-000001 takes back each invoice's line on its own, 3 × 30.00 = 90.00 and
/// 1 × 30.00 × 29/31 = 28.06, exactly what was charged. (Credited as runs of the difference,
/// −3 users × 2/31 and −4 users × 29/31, it would be 5.81 + 112.26 = 118.07, a cent too much.)
#[test]
fn a_back_dated_cancellation_credits_exactly_what_was_charged() {
    let o = play_toml(
        r#"
until = "2024-07-10"

[account]
name = "Repro"
country = "FR"

[subscription]
plan = "essentials"
frequency = "monthly"
currency = "EUR"
start = "2024-07-06"
trial_days = 0
quantities = { user = 3 }

[[actions]]
on = "2024-07-08"
request = { type = "set_quantity", product = "user", quantity = 4 }

[[actions]]
on = "2024-07-10"
request = { type = "cancel_immediately" }
effective = "2024-07-06"
"#,
    );
    assert_eq!(recurring_net(&o), 0);
}

/// 3 users at 30.00 EUR for 8 Jan – 7 Feb 2023 (31 days), 90.00 on INV-000001, then taken back
/// in three pieces, each cancellation back-dated before the last: 21 days (3 × 30.00 × 21/31 =
/// 60.967… → 60.97), 5 days (14.516… → 14.52), and the first 5 days, whose own arithmetic gives
/// 14.52 too but only 90.00 − 60.97 − 14.52 = 14.51 is left of the line: that credit is limited
/// to 14.51 and says so, and the net of the period is zero.
#[test]
fn a_credit_is_limited_to_what_is_left_of_the_line_it_takes_back() {
    let o = play_toml(
        r#"
until = "2023-01-20"

[account]
name = "Repro"
country = "FR"

[subscription]
plan = "essentials"
frequency = "monthly"
currency = "EUR"
start = "2023-01-08"
trial_days = 0
quantities = { user = 3 }

[[actions]]
on = "2023-01-18"
request = { type = "cancel_immediately" }

[[actions]]
on = "2023-01-19"
request = { type = "cancel_immediately" }
effective = "2023-01-13"

[[actions]]
on = "2023-01-20"
request = { type = "cancel_immediately" }
effective = "2023-01-08"
"#,
    );
    let credits: Vec<(i64, String)> = o
        .documents()
        .flat_map(|d| &d.lines)
        .filter(|l| l.amount.is_negative())
        .map(|l| (l.amount.minor(), l.explanation.clone()))
        .collect();
    assert_eq!(
        credits,
        vec![
            (-6097, "3 × 30.00 EUR × 21/31 (68%) = 60.97 EUR".to_string()),
            (-1452, "3 × 30.00 EUR × 5/31 (16%) = 14.52 EUR".to_string()),
            (
                -1451,
                "3 × 30.00 EUR × 5/31 (16%) = 14.52 EUR, limited to the 14.51 EUR left of \
                 INV-000001's line"
                    .to_string()
            ),
        ]
    );
    assert_eq!(recurring_net(&o), 0);
}

// ------------------------------------------------------------------ 7. the horizon

proptest! {
    #![proptest_config(config(256))]

    /// Billing that reads only what came after each subscription's settled-through horizon
    /// (the documents issued after it, the usage from its day, the lines of older documents
    /// still open) issues exactly the documents that reading the whole history issues, on
    /// every day of a random scenario under random settings — back-dated changes, late usage
    /// and held credits included.
    #[test]
    fn a_horizon_reconciles_as_the_whole_history_does(
        s in scenario(settings(&ALL_DAY_COUNTS, &ALL_BILLINGS, &ALL_CREDITS)),
    ) {
        let whole = play(&s)?;
        let settled = scenario::run_reading(&s, catalog(), scenario::Reading::Settled)
            .map_err(|e| TestCaseError::fail(format!("does not run from the horizon: {e}")))?;
        let issued = |o: &Outcome| o.documents().cloned().collect::<Vec<_>>();
        let (a, b) = (issued(&whole), issued(&settled));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            prop_assert!(
                x == y,
                "document {i} differs ({} on {}):\nwhole history:\n{}from the horizon:\n{}scenario: {}",
                x.number,
                x.issued_on,
                describe_issued(x),
                describe_issued(y),
                json(&s)
            );
        }
        prop_assert_eq!(a.len(), b.len(), "scenario: {}", json(&s));
        prop_assert_eq!(whole, settled);
    }
}

fn describe_issued(d: &prorata_core::document::Document) -> String {
    describe(&[Draft {
        kind: d.kind,
        currency: d.currency,
        lines: d.lines.clone(),
    }])
}
