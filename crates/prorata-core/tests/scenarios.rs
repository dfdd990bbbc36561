//! Scenario tests: one per billing rule, each playing a subscription through the clock and
//! asserting the documents, with the arithmetic written beside each expected amount.

use prorata_core::catalog::Catalog;
use prorata_core::document::{Document, DocumentKind, Line, LineKey, Section};
use prorata_core::scenario::{self, Entry, Outcome, Scenario};

mod common;
use common::*;

const DEFAULT_CATALOG: &str = include_str!("../../../catalog/default.toml");

fn catalog() -> Catalog {
    Catalog::from_toml(DEFAULT_CATALOG).expect("default catalog")
}

/// Plays a scenario written in TOML (without the `catalog` key) against the default catalog.
fn play(body: &str) -> Outcome {
    let text = format!("catalog = \"default.toml\"\n{body}");
    let s = Scenario::from_toml(&text).expect("scenario parses");
    scenario::run(&s, &catalog()).expect("scenario runs")
}

fn docs(o: &Outcome) -> Vec<&Document> {
    o.documents().collect()
}

fn line<'a>(d: &'a Document, product_or_metric: &str) -> &'a Line {
    d.lines
        .iter()
        .find(|l| match &l.key {
            LineKey::Recurring(k) => k.product == product_or_metric,
            LineKey::Usage { metric, .. } => metric == product_or_metric,
            LineKey::Discount { coupon, .. } => coupon == product_or_metric,
            LineKey::Commitment { .. } => product_or_metric == "minimum-commitment",
        })
        .unwrap_or_else(|| panic!("{} has no {product_or_metric} line", d.number))
}

fn refusals(o: &Outcome) -> Vec<String> {
    o.entries
        .iter()
        .filter_map(|e| match e {
            Entry::Refused { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

const SEED_ACCOUNT: &str = r#"
[account]
name = "Lumen Conseil SAS"
country = "FR"
vat_number = "FR40303265045"
language = "fr"
"#;

fn monthly_essentials(start: &str, until: &str, users: i64, actions: &str) -> String {
    format!(
        r#"until = "{until}"
{SEED_ACCOUNT}
[subscription]
plan = "essentials"
frequency = "monthly"
currency = "EUR"
start = "{start}"
trial_days = 0
quantities = {{ user = {users} }}
{actions}"#
    )
}

#[test]
fn seed_downgrade_from_10_to_6_users_credits_4_users_for_27_of_31_days() {
    let o = play(&monthly_essentials(
        "2024-06-06",
        "2024-07-31",
        10,
        r#"
[[actions]]
on = "2024-07-10"
request = { type = "set_quantity", product = "user", quantity = 6 }
"#,
    ));
    // 6 June and 6 July invoices: 10 × 30.00 = 300.00 each; then the credit note.
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-06-06".into(), 30000),
            ("INV-000002".into(), "2024-07-06".into(), 30000),
            ("CN-000001".into(), "2024-07-10".into(), -10452),
        ]
    );
    let cn = doc(&o, "CN-000001");
    assert_eq!(cn.kind, DocumentKind::CreditNote);
    assert_eq!(cn.corrects, vec!["INV-000002".to_string()]);
    let l = line(cn, "user");
    assert_eq!(l.section, Section::Prorata);
    assert_eq!(l.quantity, -4);
    assert_eq!(
        (l.service.start.to_string(), l.service.end.to_string()),
        ("2024-07-10".into(), "2024-08-05".into())
    );
    let p = l.proration.expect("prorated");
    // 10 Jul..=5 Aug = 27 days of 6 Jul..=5 Aug = 31 days: 87 %.
    assert_eq!((p.num, p.den, p.percent()), (27, 31, 87));
    // 4 × 30.00 × 27/31 = 104.516… -> 104.52; VAT 20 % on the sum: 20.90.
    assert_eq!(l.amount.minor(), -10452);
    assert_eq!(cn.taxes[0].tax.minor(), -2090);
    assert_eq!(cn.total.minor(), -12542);
    assert_eq!(
        l.explanation,
        "10 → 6 : 4 × 30.00 EUR × 27/31 (87%) = 104.52 EUR"
    );
}

#[test]
fn an_upgrade_is_invoiced_at_once_prorated_to_the_end_of_the_period() {
    let o = play(&monthly_essentials(
        "2024-07-06",
        "2024-08-06",
        10,
        r#"
[[actions]]
on = "2024-07-10"
request = { type = "set_quantity", product = "user", quantity = 12 }
"#,
    ));
    let inv = doc(&o, "INV-000002");
    assert_eq!(inv.issued_on.to_string(), "2024-07-10");
    let l = line(inv, "user");
    // 2 × 30.00 × 27/31 = 52.258… -> 52.26
    assert_eq!((l.quantity, l.amount.minor()), (2, 5226));
    assert_eq!(l.section, Section::Prorata);
    // 6 August: 12 × 30.00 = 360.00 for the new period.
    assert_eq!(line(doc(&o, "INV-000003"), "user").amount.minor(), 36000);
}

#[test]
fn with_next_invoice_billing_an_addition_waits_for_the_prorata_section_of_the_next_invoice() {
    let body = monthly_essentials(
        "2024-07-06",
        "2024-08-06",
        10,
        r#"
[settings]
proration_billing = "next_invoice"

[[actions]]
on = "2024-07-10"
request = { type = "set_quantity", product = "user", quantity = 12 }
"#,
    );
    let o = play(&body);
    // Only two invoices: 6 July, and 6 August carrying both the new period and the prorata.
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-07-06".into(), 30000),
            // 12 × 30.00 = 360.00 + 2 × 30.00 × 27/31 = 52.26 -> 412.26
            ("INV-000002".into(), "2024-08-06".into(), 41226),
        ]
    );
    let sections: Vec<Section> = doc(&o, "INV-000002")
        .lines
        .iter()
        .map(|l| l.section)
        .collect();
    assert_eq!(sections, vec![Section::Recurring, Section::Prorata]);
}

#[test]
fn a_downgrade_inside_the_notice_period_is_refused_with_the_deadline() {
    // Renewal 6 June 2025 (12-month term from 6 June 2024): deadline 7 May 2025.
    let o = play(&monthly_essentials(
        "2024-06-06",
        "2025-06-06",
        10,
        r#"
[[actions]]
on = "2025-05-08"
request = { type = "set_quantity", product = "user", quantity = 6 }

[[actions]]
on = "2025-05-08"
request = { type = "cancel" }
"#,
    ));
    let r = refusals(&o);
    assert_eq!(r.len(), 2);
    for reason in r {
        assert!(reason.contains("2025-05-07"), "{reason}");
        assert!(reason.contains("2025-06-06"), "{reason}");
    }
    assert_eq!(
        o.documents()
            .filter(|d| d.kind == DocumentKind::CreditNote)
            .count(),
        0
    );
    // Without a valid cancellation the contract renews on its terms: 10 users on 6 June 2025.
    let last = docs(&o).last().map(|d| (*d).clone()).expect("documents");
    assert_eq!(last.issued_on.to_string(), "2025-06-06");
    assert_eq!(line(&last, "user").quantity, 10);
}

#[test]
fn a_downgrade_on_the_deadline_day_is_accepted() {
    let o = play(&monthly_essentials(
        "2024-06-06",
        "2025-05-31",
        10,
        r#"
[[actions]]
on = "2025-05-07"
request = { type = "set_quantity", product = "user", quantity = 6 }
"#,
    ));
    assert!(refusals(&o).is_empty());
    let cn = o
        .documents()
        .find(|d| d.kind == DocumentKind::CreditNote)
        .expect("credit note");
    // Period 6 May..=5 June (31 days); 7 May..=5 June = 30 days: 4 × 30.00 × 30/31 = 116.13
    assert_eq!(line(cn, "user").amount.minor(), -11613);
}

/// The effective day of each accepted change, in order.
fn accepted_on(o: &Outcome) -> Vec<String> {
    o.entries
        .iter()
        .filter_map(|e| match e {
            Entry::Accepted { effective, .. } => Some(effective.date().to_string()),
            _ => None,
        })
        .collect()
}

/// Issue #15, item 11: a downgrade asked too late for the coming renewal but meant for the one
/// after is judged by its own renewal's deadline, and scheduled. Prorata's own worked example
/// (the seed's prices, 30.00 EUR a user a month).
#[test]
fn a_late_downgrade_meant_for_the_renewal_after_is_scheduled_for_it() {
    // Renewals on 6 June 2025 (deadline 7 May 2025) and 6 June 2026 (deadline 7 May 2026).
    // On 8 May 2025 the first deadline is past, the second is a year away.
    let o = play(&monthly_essentials(
        "2024-06-06",
        "2026-07-06",
        10,
        r#"
[[actions]]
on = "2025-05-08"
request = { type = "set_quantity", product = "user", quantity = 6 }
effective = "2026-06-06"
"#,
    ));
    assert!(refusals(&o).is_empty(), "{:?}", refusals(&o));
    assert_eq!(accepted_on(&o), ["2026-06-06"]);
    // Nothing to credit: the change waits for its renewal.
    assert_eq!(
        o.documents()
            .filter(|d| d.kind == DocumentKind::CreditNote)
            .count(),
        0
    );
    let net_on = |date: &str| {
        o.documents()
            .find(|d| d.issued_on.to_string() == date)
            .map(|d| (line(d, "user").quantity, d.net_total.minor()))
    };
    // The contract renews on its terms on 6 June 2025: 10 × 30.00 = 300.00 a month…
    assert_eq!(net_on("2025-06-06"), Some((10, 30000)));
    assert_eq!(net_on("2026-05-06"), Some((10, 30000)));
    // …until the renewal the downgrade was meant for: 6 × 30.00 = 180.00.
    assert_eq!(net_on("2026-06-06"), Some((6, 18000)));
    assert_eq!(net_on("2026-07-06"), Some((6, 18000)));
    // 6 June 2024 – 6 July 2026: 26 monthly invoices, no other document.
    assert_eq!(o.documents().count(), 26);
}

#[test]
fn a_late_downgrade_inside_the_renewed_term_is_still_refused_with_the_coming_deadline() {
    // Effective 10 July 2025: inside the term the contract renews into on 6 June 2025, which
    // the 7 May deadline protects.
    let o = play(&monthly_essentials(
        "2024-06-06",
        "2025-07-31",
        10,
        r#"
[[actions]]
on = "2025-05-08"
request = { type = "set_quantity", product = "user", quantity = 6 }
effective = "2025-07-10"
"#,
    ));
    let r = refusals(&o);
    assert_eq!(r.len(), 1);
    assert!(r[0].contains("by 2025-05-07"), "{}", r[0]);
    assert!(
        r[0].contains("renews on its terms on 2025-06-06"),
        "{}",
        r[0]
    );
    assert!(r[0].contains("the next deadline is 2026-05-07"), "{}", r[0]);
}

#[test]
fn a_late_downgrade_is_judged_by_its_own_renewals_deadline() {
    // A one-month term: the contract renews every month. Asked on 5 February 2025:
    // 6 February's deadline was 7 January (6 Feb − 30 days), 6 March's is 4 February
    // (6 Mar − 30 days, February having 28): both past; 6 April's is 7 March: in time.
    let body = |effective: &str| {
        format!(
            r#"until = "2025-04-06"
{SEED_ACCOUNT}
[subscription]
plan = "essentials"
frequency = "monthly"
currency = "EUR"
start = "2024-06-06"
trial_days = 0
term_months = 1
quantities = {{ user = 10 }}
[[actions]]
on = "2025-02-05"
request = {{ type = "set_quantity", product = "user", quantity = 6 }}
effective = "{effective}"
"#
        )
    };
    let o = play(&body("2025-03-06"));
    let refused: Vec<_> = o
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Refused { refusal, .. } => Some(refusal.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        refused,
        [prorata_core::change::Refusal::NoticePeriodMissed {
            notice_days: 30,
            renewal: "2025-03-06".parse().expect("date"),
            deadline: "2025-02-04".parse().expect("date"),
            next_deadline: "2025-03-07".parse().expect("date"),
        }]
    );
    let o = play(&body("2025-04-06"));
    assert!(refusals(&o).is_empty(), "{:?}", refusals(&o));
    assert_eq!(accepted_on(&o), ["2025-04-06"]);
    // March still 10 × 30.00 = 300.00; April 6 × 30.00 = 180.00.
    let last: Vec<_> = summary(&o).into_iter().rev().take(2).collect();
    assert_eq!(
        last,
        [
            ("INV-000011".into(), "2025-04-06".into(), 18000),
            ("INV-000010".into(), "2025-03-06".into(), 30000),
        ]
    );
}

#[test]
fn a_late_cancellation_or_move_down_can_be_asked_for_the_renewal_after() {
    // Professional renewing on 1 March 2025 (deadline 30 January 2025) and 1 March 2026
    // (deadline 30 January 2026). On 10 February 2025 both changes are too late for 2025 and
    // asked for a day of the next term: each waits for the first renewal on or after it.
    let o = play(
        r#"until = "2026-03-01"
[account]
name = "Pro Co"
country = "FR"
[subscription]
plan = "professional"
frequency = "monthly"
currency = "EUR"
start = "2024-03-01"
trial_days = 0
quantities = { user = 3 }
[[actions]]
on = "2025-02-10"
request = { type = "cancel" }
[[actions]]
on = "2025-02-10"
request = { type = "change_plan", plan = "essentials" }
effective = "2025-09-15"
[[actions]]
on = "2025-02-10"
request = { type = "cancel" }
effective = "2026-03-01"
"#,
    );
    // The cancellation asked without a day is for 1 March 2025: refused as before.
    let r = refusals(&o);
    assert_eq!(r.len(), 1);
    assert!(r[0].contains("by 2025-01-30"), "{}", r[0]);
    assert_eq!(accepted_on(&o), ["2026-03-01", "2026-03-01"]);
    let net_on = |date: &str| {
        o.documents()
            .find(|d| d.issued_on.to_string() == date)
            .map(|d| d.net_total.minor())
    };
    // Professional renews on 1 March 2025 (3 × 50.00 = 150.00) and runs the whole term.
    assert_eq!(net_on("2025-03-01"), Some(15000));
    assert_eq!(net_on("2026-02-01"), Some(15000));
    // The contract ends on 1 March 2026: the move down never bills, nothing is billed then.
    assert_eq!(net_on("2026-03-01"), None);
}

#[test]
fn the_shipped_late_downgrade_example_plays_as_its_comments_say() {
    let text = include_str!("../../../examples/downgrade-for-the-renewal-after.toml");
    let s = Scenario::from_toml(text).expect("the example parses");
    let o = scenario::run(&s, &catalog()).expect("the example runs");
    // 15 January 2025 − 30 days = 16 December 2024, past on 20 December.
    let r = refusals(&o);
    assert_eq!(r.len(), 1);
    assert!(r[0].contains("by 2024-12-16"), "{}", r[0]);
    assert!(
        r[0].contains("renews on its terms on 2025-01-15"),
        "{}",
        r[0]
    );
    // 15 March 2025 − 30 days = 13 February 2025: in time.
    assert_eq!(accepted_on(&o), ["2025-03-15"]);
    assert_eq!(
        summary(&o),
        vec![
            // 4 × 25.00 + (2 − 1 included) × 5.00 = 105.00 GBP a month…
            ("INV-000001".into(), "2024-11-15".into(), 10500),
            ("INV-000002".into(), "2024-12-15".into(), 10500),
            ("INV-000003".into(), "2025-01-15".into(), 10500),
            ("INV-000004".into(), "2025-02-15".into(), 10500),
            // …then 3 × 25.00 + 1 × 5.00 = 80.00 GBP from the renewal it was meant for.
            ("INV-000005".into(), "2025-03-15".into(), 8000),
            ("INV-000006".into(), "2025-04-15".into(), 8000),
        ]
    );
}

#[test]
fn a_cancellation_on_time_ends_the_contract_at_renewal_with_nothing_billed_after() {
    let o = play(&monthly_essentials(
        "2024-06-06",
        "2025-08-01",
        3,
        r#"
[[actions]]
on = "2025-04-01"
request = { type = "cancel" }
"#,
    ));
    let last = docs(&o).last().map(|d| d.issued_on.to_string());
    // The last invoice is for 6 May – 5 June 2025; the contract ends on 6 June.
    assert_eq!(last.as_deref(), Some("2025-05-06"));
    assert_eq!(o.documents().count(), 12);
    assert_eq!(
        o.documents()
            .filter(|d| d.kind == DocumentKind::CreditNote)
            .count(),
        0
    );
}

#[test]
fn an_immediate_cancellation_credits_the_rest_of_the_paid_period() {
    let o = play(&monthly_essentials(
        "2024-07-06",
        "2024-09-30",
        3,
        r#"
[[actions]]
on = "2024-07-21"
request = { type = "cancel_immediately" }
"#,
    ));
    let cn = doc(&o, "CN-000001");
    // 21 Jul..=5 Aug = 16 days of 31: 3 × 30.00 × 16/31 = 46.45
    assert_eq!(line(cn, "user").amount.minor(), -4645);
    assert_eq!(
        o.documents().count(),
        2,
        "nothing is billed after the cancellation"
    );
}

#[test]
fn an_annual_plan_bills_the_year_ahead_once_and_usage_every_month() {
    let o = play(
        r#"until = "2024-05-01"
[account]
name = "Nordlicht GmbH"
country = "DE"
vat_number = "DE136695976"
address = { line1 = "Friedrichstraße 68", postcode = "10117", city = "Berlin" }
[subscription]
plan = "professional"
frequency = "annual"
currency = "EUR"
start = "2024-03-01"
trial_days = 0
quantities = { user = 5, number = 2 }
[[actions]]
on = "2024-03-20"
usage = { metric = "outbound_us_ca", quantity = 240 }
[[actions]]
on = "2024-04-20"
usage = { metric = "outbound_us_ca", quantity = 100 }
"#,
    );
    assert_eq!(
        summary(&o),
        vec![
            // 5 × 480.00 = 2400.00 for 1 Mar 2024 – 28 Feb 2025 (2 numbers included: free).
            ("INV-000001".into(), "2024-03-01".into(), 240000),
            // March minutes: 240 × 0.0200 = 4.80
            ("INV-000002".into(), "2024-04-01".into(), 480),
            // April minutes: 100 × 0.0200 = 2.00
            ("INV-000003".into(), "2024-05-01".into(), 200),
        ]
    );
    let year = line(doc(&o, "INV-000001"), "user");
    assert_eq!(
        (year.service.start.to_string(), year.service.end.to_string()),
        ("2024-03-01".into(), "2025-02-28".into())
    );
    // Reverse charge: a German business with a VAT number, seller in France.
    let t = &doc(&o, "INV-000001").taxes[0];
    assert_eq!((t.category.code(), t.tax.minor()), ("AE", 0));
}

#[test]
fn a_monthly_plan_started_on_31_january_bills_on_29_february_then_31_march() {
    let o = play(&monthly_essentials("2028-01-31", "2028-04-30", 3, ""));
    let dates: Vec<String> = o.documents().map(|d| d.issued_on.to_string()).collect();
    assert_eq!(
        dates,
        vec!["2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30"]
    );
    // The February period runs 29 Feb..=30 Mar: 31 days.
    let feb = line(doc(&o, "INV-000002"), "user");
    assert_eq!(
        (feb.service.start.to_string(), feb.service.end.to_string()),
        ("2028-02-29".into(), "2028-03-30".into())
    );
}

#[test]
fn an_upgrade_on_29_february_2028_is_prorated_over_that_periods_days() {
    // Period 6 Feb..=5 Mar 2028 has 29 days (leap year); 29 Feb..=5 Mar = 6 days.
    let o = play(&monthly_essentials(
        "2028-01-06",
        "2028-03-01",
        3,
        r#"
[[actions]]
on = "2028-02-29"
request = { type = "set_quantity", product = "user", quantity = 4 }
"#,
    ));
    let l = line(doc(&o, "INV-000003"), "user");
    let p = l.proration.expect("prorated");
    assert_eq!((p.num, p.den), (6, 29));
    // 1 × 30.00 × 6/29 = 6.206… -> 6.21
    assert_eq!(l.amount.minor(), 621);
}

#[test]
fn nothing_is_billed_during_the_trial_and_a_plan_change_does_not_restart_it() {
    let o = play(
        r#"until = "2024-07-31"
[account]
name = "Trial Co"
country = "FR"
[subscription]
plan = "essentials"
frequency = "monthly"
currency = "EUR"
start = "2024-07-01"
trial_days = 14
quantities = { user = 3 }
[[actions]]
on = "2024-07-10"
request = { type = "change_plan", plan = "professional" }
"#,
    );
    // The trial runs 1..=14 July; the first invoice is on 15 July, on the new plan.
    assert_eq!(
        summary(&o),
        vec![("INV-000001".into(), "2024-07-15".into(), 15000)] // 3 × 50.00
    );
}

#[test]
fn a_downgrade_during_the_trial_needs_no_notice() {
    let o = play(
        r#"until = "2024-07-20"
[account]
name = "Trial Co"
country = "FR"
[subscription]
plan = "essentials"
frequency = "monthly"
currency = "EUR"
start = "2024-07-01"
trial_days = 14
term_months = 1
quantities = { user = 5 }
[[actions]]
on = "2024-07-05"
request = { type = "set_quantity", product = "user", quantity = 3 }
"#,
    );
    assert!(refusals(&o).is_empty());
    assert_eq!(
        summary(&o),
        vec![("INV-000001".into(), "2024-07-15".into(), 9000)]
    );
}

#[test]
fn a_mid_period_move_to_a_higher_plan_credits_the_old_plan_and_invoices_the_new() {
    let o = play(&monthly_essentials(
        "2024-07-06",
        "2024-07-31",
        4,
        r#"
[[actions]]
on = "2024-07-22"
request = { type = "change_plan", plan = "professional" }
"#,
    ));
    // 22 Jul..=5 Aug = 15 days of 31.
    // Credit: 4 × 30.00 × 15/31 = 58.06; invoice: 4 × 50.00 × 15/31 = 96.77.
    assert_eq!(line(doc(&o, "CN-000001"), "user").amount.minor(), -5806);
    assert_eq!(line(doc(&o, "INV-000002"), "user").amount.minor(), 9677);
}

#[test]
fn a_move_down_from_professional_waits_for_the_end_of_the_term() {
    let o = play(
        r#"until = "2025-03-01"
[account]
name = "Pro Co"
country = "FR"
[subscription]
plan = "professional"
frequency = "monthly"
currency = "EUR"
start = "2024-03-01"
trial_days = 0
quantities = { user = 3 }
[[actions]]
on = "2024-10-01"
request = { type = "change_plan", plan = "essentials" }
"#,
    );
    let accepted = o.entries.iter().find_map(|e| match e {
        Entry::Accepted { effective, .. } => Some(effective.date().to_string()),
        _ => None,
    });
    assert_eq!(accepted.as_deref(), Some("2025-03-01"));
    assert_eq!(
        o.documents()
            .filter(|d| d.kind == DocumentKind::CreditNote)
            .count(),
        0
    );
    // February 2025 still on Professional (3 × 50.00), March 2025 on Essentials (3 × 30.00).
    let by_date = |date: &str| {
        o.documents()
            .find(|d| d.issued_on.to_string() == date)
            .map(|d| d.net_total.minor())
    };
    assert_eq!(by_date("2025-02-01"), Some(15000));
    assert_eq!(by_date("2025-03-01"), Some(9000));
}

#[test]
fn a_move_down_to_essentials_with_five_teams_and_fewer_users_than_the_minimum_are_refused() {
    let o = play(
        r#"until = "2024-03-10"
[account]
name = "Teams Co"
country = "FR"
[subscription]
plan = "professional"
frequency = "monthly"
currency = "EUR"
start = "2024-03-01"
trial_days = 0
quantities = { user = 3, team = 5 }
[[actions]]
on = "2024-03-02"
request = { type = "change_plan", plan = "essentials" }
[[actions]]
on = "2024-03-03"
request = { type = "set_quantity", product = "user", quantity = 2 }
"#,
    );
    let r = refusals(&o);
    assert!(
        r[0].contains("team: 5 is above the essentials plan's limit of 3"),
        "{}",
        r[0]
    );
    assert!(r[1].contains("below the plan's minimum of 3"), "{}", r[1]);
}

#[test]
fn usage_beyond_the_bundle_is_rated_and_late_usage_gets_its_own_line() {
    let o = play(
        r#"until = "2024-05-01"
[account]
name = "Calls Co"
country = "FR"
[subscription]
plan = "essentials"
frequency = "monthly"
currency = "EUR"
start = "2024-03-01"
trial_days = 0
quantities = { user = 3, bundle_europe = 1 }
[[actions]]
on = "2024-03-31"
usage = { metric = "outbound_fr_fixed", quantity = 700 }
[[actions]]
on = "2024-03-31"
usage = { metric = "outbound_eu", quantity = 500 }
[[actions]]
on = "2024-03-31"
usage = { metric = "inbound_toll_free", quantity = 61 }
[[actions]]
on = "2024-04-10"
usage = { metric = "outbound_eu", quantity = 50, date = "2024-03-30" }
"#,
    );
    let april = doc(&o, "INV-000002");
    // The bundle's 1,000 minutes go to France fixed first (700), then Europe (300 of 500).
    let fr = line(april, "outbound_fr_fixed");
    // Call metrics count seconds: the bundle's minutes are 60,000 seconds.
    assert_eq!((fr.included_used, fr.amount.minor()), (Some(700 * 60), 0));
    let eu = line(april, "outbound_eu");
    // 200 × 0.0400 = 8.00
    assert_eq!((eu.included_used, eu.amount.minor()), (Some(300 * 60), 800));
    // Toll-free inbound at its own rate: 61 × 0.0350 = 2.135 -> 2.14
    assert_eq!(line(april, "inbound_toll_free").amount.minor(), 214);
    // 50 more minutes for March arrive on 10 April, after March was invoiced: the May invoice
    // carries them as late usage for March, 50 × 0.0400 = 2.00.
    let may = doc(&o, "INV-000003");
    let late = line(may, "outbound_eu");
    assert!(late.late);
    assert_eq!(late.service.start.to_string(), "2024-03-01");
    assert_eq!((late.quantity, late.amount.minor()), (50 * 60, 200));
}

#[test]
fn bundles_are_consumed_in_call_order_day_by_day() {
    // Europe calls on 5 March use up the bundle before the France fixed calls of 20 March,
    // although the bundle lists France fixed first.
    let o = play(
        r#"until = "2024-04-01"
[account]
name = "Calls Co"
country = "FR"
[subscription]
plan = "essentials"
frequency = "monthly"
currency = "EUR"
start = "2024-03-01"
trial_days = 0
quantities = { user = 3, bundle_europe = 1 }
[[actions]]
on = "2024-03-05"
usage = { metric = "outbound_eu", quantity = 900 }
[[actions]]
on = "2024-03-20"
usage = { metric = "outbound_fr_fixed", quantity = 300 }
"#,
    );
    let april = doc(&o, "INV-000002");
    let eu = line(april, "outbound_eu");
    assert_eq!((eu.included_used, eu.amount.minor()), (Some(900 * 60), 0));
    // 100 of France fixed's 300 minutes are left in the bundle; 200 × 0.0150 = 3.00.
    let fr = line(april, "outbound_fr_fixed");
    assert_eq!((fr.included_used, fr.amount.minor()), (Some(100 * 60), 300));
    assert!(
        fr.explanation.contains("300 min − 100 min included"),
        "{}",
        fr.explanation
    );
}

#[test]
fn the_previous_unpaid_balance_is_carried_onto_the_next_invoice() {
    let o = play(&monthly_essentials(
        "2024-01-10",
        "2024-03-10",
        3,
        r#"
[[actions]]
on = "2024-02-01"
payment = "50.00"
"#,
    ));
    // January: 3 × 30.00 = 90.00 + 20 % = 108.00; 50.00 paid leaves 58.00.
    let feb = doc(&o, "INV-000002");
    assert_eq!(feb.previous_balance.map(|m| m.minor()), Some(5800));
    assert_eq!(feb.balance_after.minor(), 5800 + 10800);
    assert_eq!(o.balance.minor(), 5800 + 10800 + 10800);
}

#[test]
fn with_account_credit_a_downgrade_reduces_the_next_invoice_instead_of_a_credit_note() {
    let o = play(&monthly_essentials(
        "2024-06-06",
        "2024-08-06",
        10,
        r#"
[settings]
credit_policy = "account_credit"

[[actions]]
on = "2024-07-10"
request = { type = "set_quantity", product = "user", quantity = 6 }
"#,
    ));
    assert_eq!(
        o.documents()
            .filter(|d| d.kind == DocumentKind::CreditNote)
            .count(),
        0
    );
    // 6 August: 6 × 30.00 = 180.00 − 4 × 30.00 × 27/31 = 104.52 -> 75.48
    let aug = doc(&o, "INV-000003");
    assert_eq!(aug.net_total.minor(), 18000 - 10452);
    assert!(aug.lines.iter().any(|l| l.amount.minor() == -10452));
}

#[test]
fn weekly_and_quarterly_plans_bill_on_their_own_periods() {
    let quarterly = r#"
[plans.q]
name = { en = "Quarterly", fr = "Trimestriel" }
rank = 1
frequencies = ["quarterly", "weekly"]
[plans.q.items.user]
unit_price.quarterly = { EUR = "90.00", USD = "90.00", GBP = "80.00" }
unit_price.weekly = { EUR = "7.00", USD = "7.00", GBP = "6.00" }
"#;
    let cat = Catalog::from_toml(&format!("{DEFAULT_CATALOG}\n{quarterly}")).expect("catalog");
    let run = |frequency: &str, until: &str| {
        let text = format!(
            r#"catalog = "x"
until = "{until}"
[account]
name = "P"
country = "US"
[subscription]
plan = "q"
frequency = "{frequency}"
currency = "USD"
start = "2024-01-31"
quantities = {{ user = 2 }}
"#
        );
        let s = Scenario::from_toml(&text).expect("parses");
        scenario::run(&s, &cat).expect("runs")
    };
    let q = run("quarterly", "2024-12-31");
    let dates: Vec<String> = q.documents().map(|d| d.issued_on.to_string()).collect();
    assert_eq!(
        dates,
        vec!["2024-01-31", "2024-04-30", "2024-07-31", "2024-10-31"]
    );
    let w = run("weekly", "2024-02-14");
    let dates: Vec<String> = w.documents().map(|d| d.issued_on.to_string()).collect();
    assert_eq!(dates, vec!["2024-01-31", "2024-02-07", "2024-02-14"]);
    // 2 × 7.00 a week, outside the EU: no VAT.
    assert!(w.documents().all(|d| d.total.minor() == 1400));
}

#[test]
fn an_arrears_fee_is_billed_the_day_after_its_period() {
    let arrears = r#"
[products.support]
kind = "addon"
name = { en = "Support", fr = "Support" }
[plans.a]
name = { en = "A", fr = "A" }
rank = 1
frequencies = ["monthly"]
[plans.a.items.support]
timing = "arrears"
unit_price.monthly = { EUR = "100.00", USD = "100.00", GBP = "100.00" }
"#;
    let cat = Catalog::from_toml(&format!("{DEFAULT_CATALOG}\n{arrears}")).expect("catalog");
    let text = r#"catalog = "x"
until = "2024-03-01"
[account]
name = "P"
country = "FR"
[subscription]
plan = "a"
frequency = "monthly"
currency = "EUR"
start = "2024-01-01"
quantities = { support = 1 }
"#;
    let o = scenario::run(&Scenario::from_toml(text).expect("parses"), &cat).expect("runs");
    let got: Vec<(String, String)> = o
        .documents()
        .map(|d| {
            (
                d.issued_on.to_string(),
                d.lines[0].service.start.to_string(),
            )
        })
        .collect();
    // January's fee on 1 February, February's on 1 March; nothing on 1 January.
    assert_eq!(
        got,
        vec![
            ("2024-02-01".into(), "2024-01-01".into()),
            ("2024-03-01".into(), "2024-02-01".into())
        ]
    );
}

#[test]
fn each_day_count_convention_prices_the_seed_credit_its_own_way() {
    let credit = |day_count: &str, effective: &str| {
        let o = play(&monthly_essentials(
            "2024-06-06",
            "2024-07-31",
            10,
            &format!(
                r#"
[settings]
day_count = "{day_count}"
[[actions]]
on = "2024-07-10"
effective = "{effective}"
request = {{ type = "set_quantity", product = "user", quantity = 6 }}
"#
            ),
        ));
        line(doc(&o, "CN-000001"), "user").amount.minor()
    };
    // 4 × 30.00 × 27/31 = 104.52
    assert_eq!(credit("inclusive-days", "2024-07-10T00:00:00"), -10452);
    // 120.00 × 0.870967742 = 104.516… -> 104.52
    assert_eq!(credit("actual-days", "2024-07-10T00:00:00"), -10452);
    // 4 × 30.00 × 26/30 = 104.00
    assert_eq!(credit("thirty-day-months", "2024-07-10T00:00:00"), -10400);
    // From 10 Jul 12:00: 120.00 × 2289600/2678400 = 102.58
    assert_eq!(credit("seconds", "2024-07-10T12:00:00"), -10258);
}

#[test]
fn a_back_dated_change_recorded_late_repairs_itself() {
    // The billing team records on 20 July a reduction that took effect on 10 July (it was
    // requested on time): the credit covers 10 Jul..=5 Aug all the same.
    let o = play(&monthly_essentials(
        "2024-06-06",
        "2024-07-31",
        10,
        r#"
[[actions]]
on = "2024-07-20"
effective = "2024-07-10"
request = { type = "set_quantity", product = "user", quantity = 6 }
"#,
    ));
    assert_eq!(line(doc(&o, "CN-000001"), "user").amount.minor(), -10452);
}

#[test]
fn numbers_have_no_gaps_in_either_series() {
    let o = play(&monthly_essentials(
        "2024-01-06",
        "2024-12-31",
        10,
        r#"
[[actions]]
on = "2024-03-10"
request = { type = "set_quantity", product = "user", quantity = 12 }
[[actions]]
on = "2024-04-10"
request = { type = "set_quantity", product = "user", quantity = 8 }
[[actions]]
on = "2024-05-10"
request = { type = "set_quantity", product = "user", quantity = 6 }
"#,
    ));
    for (prefix, kind) in [
        ("INV", DocumentKind::Invoice),
        ("CN", DocumentKind::CreditNote),
    ] {
        let numbers: Vec<String> = o
            .documents()
            .filter(|d| d.kind == kind)
            .map(|d| d.number.clone())
            .collect();
        let expected: Vec<String> = (1..=numbers.len())
            .map(|i| format!("{prefix}-{i:06}"))
            .collect();
        assert_eq!(numbers, expected);
    }
}

#[test]
fn a_fourth_team_on_essentials_is_refused_and_a_third_accepted() {
    let o = play(
        r#"until = "2024-03-10"
[account]
name = "Teams Co"
country = "FR"
[subscription]
plan = "essentials"
frequency = "monthly"
currency = "EUR"
start = "2024-03-01"
trial_days = 0
quantities = { user = 3, team = 2 }
[[actions]]
on = "2024-03-02"
request = { type = "set_quantity", product = "team", quantity = 3 }
[[actions]]
on = "2024-03-03"
request = { type = "set_quantity", product = "team", quantity = 4 }
"#,
    );
    assert_eq!(
        refusals(&o),
        vec!["team: 4 is above the essentials plan's limit of 3".to_string()]
    );
    // Teams are free on Essentials: the accepted third team bills nothing.
    assert_eq!(o.documents().count(), 1);
}
