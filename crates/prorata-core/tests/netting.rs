//! Netting (issue #15, item 8): a change's credit and charge on one document
//! (`credit_policy = "same_invoice"`, with `negative_invoice` saying what a document whose
//! credits outweigh its charges is issued as), and the old plan's fee billed in arrears
//! invoiced at the plan change (`arrears_on_change = "at_change"`). Each test plays a scenario
//! and asserts the documents, the arithmetic and its source beside each amount.

use prorata_core::catalog::Catalog;
use prorata_core::document::{Document, DocumentKind};
use prorata_core::scenario::{self, Outcome, Scenario};

const CATALOG: &str = include_str!("../../../examples/catalogs/netting.toml");

/// Plays a scenario under Kill Bill's `actual-days` and `settings` (more inline-table fields).
fn play(settings: &str, subscription: &str, actions: &str, until: &str) -> Outcome {
    let settings = if settings.is_empty() {
        String::new()
    } else {
        format!(", {settings}")
    };
    let text = format!(
        r#"catalog = "netting.toml"
until = "{until}"
settings = {{ day_count = "actual-days"{settings} }}

[account]
name = "Hardy Kitchens Inc."
country = "US"
language = "en"
address = {{ line1 = "10 Main Street", postcode = "94105", city = "San Francisco", state = "CA" }}

[subscription]
currency = "USD"
trial_days = 0
quantities = {{}}
{subscription}
{actions}"#
    );
    let s = Scenario::from_toml(&text).expect("scenario parses");
    let catalog = Catalog::from_toml(CATALOG).expect("catalog");
    scenario::run(&s, &catalog).expect("scenario runs")
}

/// Each document as (number, issued on, net total in minor units, line amounts).
fn summary(o: &Outcome) -> Vec<(String, String, i64, Vec<i64>)> {
    o.documents()
        .map(|d: &Document| {
            (
                d.number.clone(),
                d.issued_on.to_string(),
                d.net_total.minor(),
                d.lines.iter().map(|l| l.amount.minor()).collect(),
            )
        })
        .collect()
}

/// Kill Bill's Shotgun, annual, paid from 1 May 2012 (after its 30-day trial).
const SHOTGUN_ANNUAL: &str = "plan = \"shotgun\"\nfrequency = \"annual\"\nstart = \"2012-05-01\"";

/// Paid on the day, so the balances that follow show only the netting.
const PAID_ON_1_MAY: &str = "[[actions]]\non = \"2012-05-01\"\npayment = \"2399.95\"\n";

const TO_ASSAULT_RIFLE: &str = "[[actions]]\non = \"2012-05-11\"\n\
     request = { type = \"change_plan\", plan = \"assault_rifle\" }\n";

const TO_MONTHLY_AT_ONCE: &str = "[[actions]]\non = \"2012-05-11\"\n\
     request = { type = \"change_frequency\", frequency = \"monthly\", when = \"at_once\", \
     anchor = \"keep\" }\n";

#[test]
fn kill_bill_change_of_plan_puts_the_repair_beside_the_new_plan_on_one_invoice() {
    // killbill/killbill, beatrix TestSubscription.testChangeOfPlan: Shotgun annual (2399.95,
    // 1 May 2012 – 1 May 2013), changed at once on 11 May 2012 to Assault-Rifle annual; invoice
    // 3 holds RECURRING 5835.57 (11 May 2012 – 1 May 2013) and REPAIR_ADJ −2334.20.
    let o = play(
        "credit_policy = \"same_invoice\"",
        SHOTGUN_ANNUAL,
        TO_ASSAULT_RIFLE,
        "2012-06-30",
    );
    assert_eq!(
        summary(&o),
        [
            // 1 × 2399.95 for the year.
            (
                "INV-000001".into(),
                "2012-05-01".into(),
                239995,
                vec![239995]
            ),
            // 5999.95 × 355/365 (0.972602740) = 5835.567… → 5835.57 (Kill Bill RECURRING);
            // 2399.95 × 355/365 = 2334.197… → −2334.20 (Kill Bill REPAIR_ADJ); net 3501.37.
            (
                "INV-000002".into(),
                "2012-05-11".into(),
                350137,
                vec![583557, -233420]
            ),
        ]
    );
    let inv = o.documents().nth(1).expect("the change's invoice");
    assert_eq!(inv.kind, DocumentKind::Invoice);
    // The credit line names the invoice whose line it takes back, and so does the invoice.
    assert_eq!(inv.lines[1].corrects, ["INV-000001"]);
    assert_eq!(inv.corrects, ["INV-000001"]);

    // The default policy splits the same amounts: an invoice and a credit note.
    let split = play("", SHOTGUN_ANNUAL, TO_ASSAULT_RIFLE, "2012-06-30");
    assert_eq!(
        summary(&split)[1..],
        [
            (
                "INV-000002".into(),
                "2012-05-11".into(),
                583557,
                vec![583557]
            ),
            (
                "CN-000001".into(),
                "2012-05-11".into(),
                -233420,
                vec![-233420]
            ),
        ]
    );
}

#[test]
fn kill_bill_forced_annual_to_monthly_nets_to_a_negative_invoice_kept_as_account_credit() {
    // killbill/killbill, beatrix TestSubscription.testForcePolicy: Shotgun annual (2399.95),
    // billing period changed at once to monthly on 11 May 2012; invoice 3 holds RECURRING
    // 169.32 (11 May – 1 June), REPAIR_ADJ −2334.20 (11 May 2012 – 1 May 2013) and CBA_ADJ
    // 2164.88: the negative net goes to the account's credit.
    let actions = format!("{PAID_ON_1_MAY}{TO_MONTHLY_AT_ONCE}");
    let o = play(
        "credit_policy = \"same_invoice\"",
        SHOTGUN_ANNUAL,
        &actions,
        "2012-07-02",
    );
    assert_eq!(
        summary(&o),
        [
            (
                "INV-000001".into(),
                "2012-05-01".into(),
                239995,
                vec![239995]
            ),
            // 249.95 × 21/31 (0.677419355) = 169.320… → 169.32 (Kill Bill RECURRING);
            // 2399.95 × 355/365 = 2334.197… → −2334.20 (REPAIR_ADJ); 169.32 − 2334.20 =
            // −2164.88, Kill Bill's CBA_ADJ 2164.88.
            (
                "INV-000002".into(),
                "2012-05-11".into(),
                -216488,
                vec![16932, -233420]
            ),
            // Monthly from 1 June: 1 × 249.95 (Kill Bill bills Shotgun monthly 249.95).
            ("INV-000003".into(), "2012-06-01".into(), 24995, vec![24995]),
            ("INV-000004".into(), "2012-07-01".into(), 24995, vec![24995]),
        ]
    );
    let docs: Vec<&Document> = o.documents().collect();
    // An invoice with a negative total, not a credit note.
    assert_eq!(docs[1].kind, DocumentKind::Invoice);
    // The ledger carries the credit (Prorata's rule, docs/billing-rules.md "Reconciliation":
    // a negative previous balance lowers the amount due): paid 2399.95, so 0 before; then
    // 0 − 2164.88 = −2164.88; June: −2164.88 + 249.95 = −1914.93; July: −1914.93 + 249.95 =
    // −1664.98.
    let balances: Vec<(Option<i64>, i64)> = docs
        .iter()
        .map(|d| {
            (
                d.previous_balance.map(|m| m.minor()),
                d.balance_after.minor(),
            )
        })
        .collect();
    assert_eq!(
        balances[1..],
        [
            (Some(0), -216488),
            (Some(-216488), -191493),
            (Some(-191493), -166498)
        ]
    );
}

#[test]
fn a_negative_net_is_a_credit_note_when_the_tenant_says_so() {
    // The same case as testForcePolicy with `negative_invoice = "credit_note"`: the same two
    // lines, 169.32 − 2334.20 = −2164.88, on one credit note, printed as 2164.88.
    let actions = format!("{PAID_ON_1_MAY}{TO_MONTHLY_AT_ONCE}");
    let o = play(
        "credit_policy = \"same_invoice\", negative_invoice = \"credit_note\"",
        SHOTGUN_ANNUAL,
        &actions,
        "2012-06-01",
    );
    assert_eq!(
        summary(&o),
        [
            (
                "INV-000001".into(),
                "2012-05-01".into(),
                239995,
                vec![239995]
            ),
            (
                "CN-000001".into(),
                "2012-05-11".into(),
                -216488,
                vec![16932, -233420]
            ),
            ("INV-000002".into(), "2012-06-01".into(), 24995, vec![24995]),
        ]
    );
    let note = o.documents().nth(1).expect("the credit note");
    assert_eq!(note.kind, DocumentKind::CreditNote);
    assert_eq!(note.printed(note.net_total).minor(), 216488);
    assert_eq!(note.corrects, ["INV-000001"]);
}

#[test]
fn stripe_always_invoice_bills_the_unused_and_the_remaining_time_on_one_invoice() {
    // Stripe, https://stripe.com/docs/billing/subscriptions/prorations: "if a customer
    // upgrades from a 10 USD per month subscription to a 20 USD option … halfway through the
    // billing period, the customer is billed an additional 5 USD: -5 USD for unused time on
    // the initial price, and 10 USD for the remaining time on the new price." Halfway: 16 April
    // 2024, 15 of April's 30 days left; `proration_behavior = always_invoice` invoices it at
    // once.
    let o = play(
        "credit_policy = \"same_invoice\"",
        "plan = \"starter\"\nfrequency = \"monthly\"\nstart = \"2024-04-01\"",
        "[[actions]]\non = \"2024-04-16\"\nrequest = { type = \"change_plan\", plan = \"growth\" }",
        "2024-05-01",
    );
    assert_eq!(
        summary(&o),
        [
            ("INV-000001".into(), "2024-04-01".into(), 1000, vec![1000]),
            // 20.00 × 15/30 = 10.00 and −10.00 × 15/30 = −5.00: 5.00 (Stripe).
            (
                "INV-000002".into(),
                "2024-04-16".into(),
                500,
                vec![1000, -500]
            ),
            // 1 × 20.00 for May.
            ("INV-000003".into(), "2024-05-01".into(), 2000, vec![2000]),
        ]
    );
}

const PLAN_A_IN_ARREARS: &str =
    "plan = \"arrears_a\"\nfrequency = \"monthly\"\nstart = \"2025-01-01\"";
const TO_PLAN_B: &str =
    "[[actions]]\non = \"2025-01-15\"\nrequest = { type = \"change_plan\", plan = \"arrears_b\" }";

#[test]
fn lago_invoices_the_old_plans_elapsed_days_in_arrears_at_the_upgrade() {
    // Lago, https://getlago.com/docs/guide/subscriptions/upgrades-downgrades, "Subscription
    // paid in arrears": Plan A (100/month, in arrears) from 1 January, upgraded to Plan B
    // (200/month) on 15 January: "January 15th — Invoice for Plan A: 14 days prorated = €45.16
    // (14/31 × €100)".
    let o = play(
        "arrears_on_change = \"at_change\"",
        PLAN_A_IN_ARREARS,
        TO_PLAN_B,
        "2025-02-01",
    );
    assert_eq!(
        summary(&o),
        [
            // 100.00 × 14/31 (0.451612903) = 45.16 (Lago).
            ("INV-000001".into(), "2025-01-15".into(), 4516, vec![4516]),
            // Prorata's own worked example (the page's second figure was not read): Plan B for
            // 15 – 31 January, 200.00 × 17/31 (0.548387097) = 109.677… → 109.68, the day after
            // the period.
            ("INV-000002".into(), "2025-02-01".into(), 10968, vec![10968]),
        ]
    );

    // By default both parts wait for the period's end: 45.16 + 109.68 = 154.84 on 1 February.
    let o = play("", PLAN_A_IN_ARREARS, TO_PLAN_B, "2025-02-01");
    assert_eq!(
        summary(&o),
        [(
            "INV-000001".into(),
            "2025-02-01".into(),
            15484,
            vec![4516, 10968]
        )]
    );
}

#[test]
fn without_a_plan_change_arrears_wait_for_the_period_end_even_at_change() {
    // Prorata's own worked example: no plan change, so `at_change` brings nothing forward.
    let o = play(
        "arrears_on_change = \"at_change\"",
        PLAN_A_IN_ARREARS,
        "",
        "2025-02-01",
    );
    // 1 × 100.00 for January, on 1 February.
    assert_eq!(
        summary(&o),
        [("INV-000001".into(), "2025-02-01".into(), 10000, vec![10000])]
    );
}

#[test]
fn a_misspelt_setting_is_refused_naming_it() {
    for (bad, field) in [
        ("credit_policy = \"same_invoce\"", "credit_policy"),
        ("negative_invoice = \"refund\"", "negative_invoice"),
        ("arrears_on_change = \"at_once\"", "arrears_on_change"),
    ] {
        let text = format!(
            "catalog = \"netting.toml\"\nuntil = \"2025-02-01\"\n[settings]\n{bad}\n\
             [account]\nname = \"A\"\ncountry = \"US\"\n[subscription]\n{PLAN_A_IN_ARREARS}\n\
             currency = \"USD\"\n"
        );
        let err = Scenario::from_toml(&text).expect_err(bad).to_string();
        assert!(err.contains(field), "{bad}: {err}");
        assert!(err.contains("unknown variant"), "{bad}: {err}");
    }
}
