//! Coupons and discounts (issue "Billing models", item 10): percentage or fixed amount, once,
//! repeating or forever, on the whole period or on named products and metrics, billed before
//! VAT as their own lines, prorated with what they discount, and reconciled like every other
//! line. Each test plays a scenario through the clock and asserts the documents, with the
//! source of each expected amount and its arithmetic beside it.
//!
//! Kill Bill has no coupon object: its discounts are catalog plan phases (`DISCOUNT` phases
//! priced lower), which Prorata writes as plans, so no case here comes from Kill Bill.

use prorata_core::catalog::Catalog;
use prorata_core::coupon::{CouponRefusal, CouponRequest};
use prorata_core::document::{Document, DocumentKind, Line, LineKey, Section};
use prorata_core::reconcile::{reconcile, Context};
use prorata_core::scenario::{self, Entry, Outcome, Scenario};
use prorata_core::tax::Buyer;

mod common;
use common::*;

const DEFAULT_CATALOG: &str = include_str!("../../../catalog/default.toml");

/// Plans shaped like the sources' cases: a flat fee billed in advance or in arrears (Lago's
/// `pay_in_advance`), a fee-less plan whose usage is 1.00 per unit (Lago's `standard` charge
/// with `amount: "1"`), and Stripe's $90 monthly / $120 or $100 yearly plans.
const CASES: &str = r#"
name = "Coupon cases"
currencies = ["EUR", "USD"]

[products.platform]
kind = "addon"
name = { en = "Platform fee", fr = "Abonnement plateforme" }

[metrics.units]
name = { en = "Units", fr = "Unités" }
unit = "unit"
price.EUR = { model = "per_unit", unit_price = "1.00" }
price.USD = { model = "per_unit", unit_price = "1.00" }

[plans.advance]
name = { en = "In advance", fr = "À échoir" }
rank = 1
frequencies = ["monthly"]
[plans.advance.items.platform]
unit_price.monthly = { EUR = "10.00", USD = "10.00" }

[plans.arrears]
name = { en = "In arrears", fr = "Échu" }
rank = 1
frequencies = ["monthly"]
[plans.arrears.items.platform]
timing = "arrears"
unit_price.monthly = { EUR = "10.00", USD = "10.00" }

[plans.usage]
name = { en = "Usage only", fr = "À l'usage" }
rank = 1
frequencies = ["monthly"]
[plans.usage.items.platform]

[plans.small]
name = { en = "Small", fr = "Petit" }
rank = 1
frequencies = ["monthly"]
[plans.small.items.platform]
unit_price.monthly = { EUR = "3.00", USD = "3.00" }

[plans.tiny]
name = { en = "Tiny", fr = "Minuscule" }
rank = 1
frequencies = ["monthly"]
[plans.tiny.items.platform]
unit_price.monthly = { EUR = "0.06", USD = "0.06" }

[plans.stripe]
name = { en = "Stripe", fr = "Stripe" }
rank = 1
frequencies = ["monthly", "annual"]
[plans.stripe.items.platform]
unit_price.monthly = { EUR = "90.00", USD = "90.00" }
unit_price.annual = { EUR = "120.00", USD = "120.00" }

[plans.yearly100]
name = { en = "Yearly 100", fr = "Annuel 100" }
rank = 1
frequencies = ["annual"]
[plans.yearly100.items.platform]
unit_price.annual = { EUR = "100.00", USD = "100.00" }

[coupons.forever]
name = { en = "Forever 15", fr = "Toujours 15" }
amount_off = { EUR = "15.00" }
duration = "forever"

[coupons.PCT20]
name = { en = "20 %", fr = "20 %" }
percent_off = "20"
duration = "repeating"
duration_in_periods = 3

[coupons.FIXED12]
name = { en = "0.12 off", fr = "0,12 de remise" }
amount_off = { EUR = "0.12" }
duration = "repeating"
duration_in_periods = 3

[coupons.FREE6]
name = { en = "Six months free", fr = "Six mois offerts" }
percent_off = "100"
duration = "repeating"
duration_in_months = 6

[coupons.HALF4]
name = { en = "Half price, 4 months", fr = "Moitié prix, 4 mois" }
percent_off = "50"
duration = "repeating"
duration_in_months = 4
"#;

/// Coupons on the default catalog: 10 % off user licences for ever, limited to one
/// redemption and redeemable until the end of 2024; 20.00 off once, in EUR only.
const DEFAULT_COUPONS: &str = r#"
[coupons.SEATS10]
name = { en = "10 % off licences", fr = "10 % sur les licences" }
percent_off = "10"
duration = "forever"
applies_to = ["user"]
max_redemptions = 1
redeem_by = "2024-12-31"

[coupons.WELCOME20]
name = { en = "Welcome", fr = "Bienvenue" }
amount_off = { EUR = "20.00" }
duration = "once"
"#;

fn cases() -> Catalog {
    Catalog::from_toml(CASES).expect("the cases' catalog")
}

fn default_with_coupons() -> Catalog {
    Catalog::from_toml(&format!("{DEFAULT_CATALOG}\n{DEFAULT_COUPONS}")).expect("catalog")
}

fn play(cat: &Catalog, body: &str) -> Outcome {
    let text = format!("catalog = \"x.toml\"\n{body}");
    let s = Scenario::from_toml(&text).expect("scenario parses");
    let o = scenario::run(&s, cat).expect("scenario runs");
    // Re-running every day's billing on what was issued by then issues nothing.
    let buyer = Buyer {
        country: "FR".into(),
        vat_number: Some("FR40303265045".into()),
        address_complete: true,
    };
    let ctx = Context {
        catalog: cat,
        settings: &s.settings,
        buyer: &buyer,
        lang: s.account.language,
    };
    let docs: Vec<Document> = o.documents().cloned().collect();
    for d in &docs {
        let before: Vec<Document> = docs
            .iter()
            .filter(|x| x.issued_on <= d.issued_on)
            .cloned()
            .collect();
        let again = reconcile(&ctx, &o.subscription, &[], &before, d.issued_on);
        let usage_free = o.entries.iter().all(|e| !matches!(e, Entry::Usage { .. }));
        if usage_free {
            assert_eq!(
                again.map(|v| v.len()).ok(),
                Some(0),
                "re-run on {}",
                d.issued_on
            );
        }
    }
    o
}

/// A subscription to `plan` billed `frequency` in `currency` from `start` with the platform
/// fee, in France (VAT 20 %), English documents.
fn sub(
    plan: &str,
    frequency: &str,
    currency: &str,
    start: &str,
    until: &str,
    rest: &str,
) -> String {
    format!(
        r#"until = "{until}"
[account]
name = "Lumen Conseil SAS"
country = "FR"
vat_number = "FR40303265045"
language = "en"

[subscription]
plan = "{plan}"
frequency = "{frequency}"
currency = "{currency}"
start = "{start}"
trial_days = 0
term_months = 0
notice_days = 0
quantities = {{ platform = 1 }}
{rest}"#
    )
}

fn discount(d: &Document) -> &Line {
    d.lines
        .iter()
        .find(|l| matches!(l.key, LineKey::Discount { .. }))
        .unwrap_or_else(|| panic!("{} has no discount line", d.number))
}

fn discounts(o: &Outcome) -> Vec<(String, i64)> {
    o.documents()
        .flat_map(|d| {
            d.lines
                .iter()
                .filter(|l| matches!(l.key, LineKey::Discount { .. }))
                .map(|l| (d.number.clone(), l.amount.minor()))
        })
        .collect()
}

fn apply(on: &str, code: &str) -> String {
    format!("[[actions]]\non = \"{on}\"\ncoupon = {{ type = \"apply\", code = \"{code}\" }}\n")
}

fn refusals(o: &Outcome) -> Vec<CouponRefusal> {
    o.entries
        .iter()
        .filter_map(|e| match e {
            Entry::CouponRefused { refusal, .. } => Some(refusal.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_fixed_coupon_is_capped_by_the_fee_it_discounts_each_month_in_advance() {
    // Lago, spec/scenarios/coupons_billing_period_spec.rb, "with a subscription fee only /
    // when the subscription is paid in advance / caps the coupon on each billed month": a
    // forever fixed_amount coupon of 15_00 on a 10_00 monthly fee paid in advance; the
    // invoices of 1 Jan, 1 Feb and 1 Mar 2025 each carry the fee 10_00 and coupon 10_00:
    // min(15.00, 10.00) = 10.00, net 10.00 − 10.00 = 0.00.
    let o = play(
        &cases(),
        &sub(
            "advance",
            "monthly",
            "EUR",
            "2025-01-01",
            "2025-03-01",
            &apply("2025-01-01", "forever"),
        ),
    );
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2025-01-01".into(), 0),
            ("INV-000002".into(), "2025-02-01".into(), 0),
            ("INV-000003".into(), "2025-03-01".into(), 0),
        ]
    );
    let l = discount(doc(&o, "INV-000001"));
    assert_eq!(l.amount.minor(), -1000);
    assert_eq!(l.section, Section::Discount);
    assert_eq!(
        l.explanation,
        "15.00 EUR fixed, limited to the 10.00 EUR of the period = 10.00 EUR"
    );
    // Before VAT: the invoice's VAT is 20 % of the net 0.00.
    assert_eq!(doc(&o, "INV-000001").total.minor(), 0);
}

#[test]
fn a_fixed_coupon_discounts_a_fee_in_arrears_on_the_invoice_of_its_period() {
    // Lago, same spec, "when the subscription is paid in arrears / caps the coupon on each
    // billed month": the January fee 10_00 is invoiced on 1 Feb with coupon 10_00, February's
    // on 1 Mar with coupon 10_00 (min(15.00, 10.00) = 10.00 each, net 0.00).
    let o = play(
        &cases(),
        &sub(
            "arrears",
            "monthly",
            "EUR",
            "2025-01-01",
            "2025-03-01",
            &apply("2025-01-01", "forever"),
        ),
    );
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2025-02-01".into(), 0),
            ("INV-000002".into(), "2025-03-01".into(), 0),
        ]
    );
    assert_eq!(
        discounts(&o),
        vec![("INV-000001".into(), -1000), ("INV-000002".into(), -1000),]
    );
}

#[test]
fn a_fixed_coupon_takes_its_whole_amount_off_usage_above_it() {
    // Lago, same spec, "with charges only / when charges are paid in arrears": 20 units at
    // 1.00 on 10 Jan and on 10 Feb 2025; the invoices of 1 Feb and 1 Mar carry the charge
    // 20_00 (20 × 1.00) and coupon 15_00 (min(15.00, 20.00)), net 20.00 − 15.00 = 5.00.
    let usage = |on: &str| {
        format!("[[actions]]\non = \"{on}\"\nusage = {{ metric = \"units\", quantity = 20 }}\n")
    };
    let rest = format!(
        "{}{}{}",
        apply("2025-01-01", "forever"),
        usage("2025-01-10"),
        usage("2025-02-10")
    );
    let o = play(
        &cases(),
        &sub("usage", "monthly", "EUR", "2025-01-01", "2025-03-01", &rest),
    );
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2025-02-01".into(), 500),
            ("INV-000002".into(), "2025-03-01".into(), 500),
        ]
    );
    assert_eq!(
        discount(doc(&o, "INV-000001")).explanation,
        "15.00 EUR fixed = 15.00 EUR"
    );
}

#[test]
fn a_percentage_coupon_takes_its_percentage_and_a_fixed_one_no_more_than_the_base() {
    // Lago, spec/services/applied_coupons/amount_service_spec.rb: "when coupon is recurring
    // and percentage" — percentage_rate 20.00 on base_amount_cents 300 gives 60
    // (20 % × 3.00 = 0.60); "when coupon is recurring and fixed amount / when coupon amount
    // is higher than invoice amount" — amount_cents 12 on base_amount_cents 6 gives 6
    // (min(0.12, 0.06) = 0.06). Both recurring for 3 billing periods (frequency_duration 3):
    // the fourth period is not discounted.
    let o = play(
        &cases(),
        &sub(
            "small",
            "monthly",
            "EUR",
            "2025-01-01",
            "2025-04-01",
            &apply("2025-01-01", "PCT20"),
        ),
    );
    // 3.00 − 0.60 = 2.40 for three months, then 3.00.
    assert_eq!(
        summary(&o).iter().map(|s| s.2).collect::<Vec<_>>(),
        vec![240, 240, 240, 300]
    );
    assert_eq!(
        discount(doc(&o, "INV-000001")).explanation,
        "20 % × 3.00 EUR = 0.60 EUR"
    );
    let o = play(
        &cases(),
        &sub(
            "tiny",
            "monthly",
            "EUR",
            "2025-01-01",
            "2025-01-01",
            &apply("2025-01-01", "FIXED12"),
        ),
    );
    assert_eq!(discounts(&o), vec![("INV-000001".into(), -6)]);
}

#[test]
fn a_repeating_coupon_counts_months_as_stripe_does_whatever_the_billing_frequency() {
    // Stripe API discussion list, Remi J. (Stripe), 13 Aug 2015, "Giving discounts to yearly
    // subscribers" (https://groups.google.com/a/lists.stripe.com/d/topic/api-discuss/iEU6UZzq198):
    // "a $90 monthly plan and a 100% coupon valid for 6 months, then the first 6 invoices …
    // will be $0 and starting from the 7th … $90"; "a $120 yearly plan with a 100% off coupon
    // valid for 6 months, the first yearly invoice is discounted fully … a year later … the
    // customer is charged $120".
    let o = play(
        &cases(),
        &sub(
            "stripe",
            "monthly",
            "USD",
            "2024-01-01",
            "2024-07-01",
            &apply("2024-01-01", "FREE6"),
        ),
    );
    // 90.00 − 100 % × 90.00 = 0.00 for January to June; July 90.00.
    assert_eq!(
        summary(&o).iter().map(|s| s.2).collect::<Vec<_>>(),
        vec![0, 0, 0, 0, 0, 0, 9000]
    );
    let o = play(
        &cases(),
        &sub(
            "stripe",
            "annual",
            "USD",
            "2024-01-01",
            "2025-01-01",
            &apply("2024-01-01", "FREE6"),
        ),
    );
    // 120.00 − 100 % × 120.00 = 0.00 for 2024; 120.00 for 2025.
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-01-01".into(), 0),
            ("INV-000002".into(), "2025-01-01".into(), 12000),
        ]
    );
    // Stripe developer support on Discord, thread "pat-coupons"
    // (https://doublepost.link/guild/841573134531821608/thread/912171663616004117/p/912182158037221446/):
    // "if you have a $100/year subscription, and you apply a 50% coupon with a four month
    // duration. The amount the customer would pay would be $50 for that first year":
    // 100.00 − 50 % × 100.00 = 50.00.
    let o = play(
        &cases(),
        &sub(
            "yearly100",
            "annual",
            "USD",
            "2024-01-01",
            "2025-01-01",
            &apply("2024-01-01", "HALF4"),
        ),
    );
    assert_eq!(
        summary(&o).iter().map(|s| s.2).collect::<Vec<_>>(),
        vec![5000, 10000]
    );
}

/// Seed 001's contract (Essentials, 10 users at 30.00, monthly from 6 June 2024) with a second
/// number (one is included, the second costs 6.00 a month): 10 × 30.00 + 6.00 = 306.00 a
/// month; and `rest`.
fn seed(rest: &str) -> String {
    format!(
        r#"until = "2024-08-06"
[account]
name = "Lumen Conseil SAS"
country = "FR"
vat_number = "FR40303265045"
language = "en"

[subscription]
plan = "essentials"
frequency = "monthly"
currency = "EUR"
start = "2024-06-06"
trial_days = 0
term_months = 12
quantities = {{ user = 10, number = 2 }}
{rest}"#
    )
}

fn total_discount(o: &Outcome) -> i64 {
    discounts(o).iter().map(|d| d.1).sum()
}

#[test]
fn a_percentage_coupon_on_named_products_is_taken_back_in_proportion_of_a_downgrade() {
    // Prorata's own worked example, on seed 001's downgrade (10 → 6 users on 10 July 2024 in
    // the period 6 July – 5 August: the credit 4 × 30.00 × 27/31 = 104.52).
    let o = play(
        &default_with_coupons(),
        &seed(&format!(
            "{}[[actions]]\non = \"2024-07-10\"\nrequest = {{ type = \"set_quantity\", product = \"user\", quantity = 6 }}\n",
            apply("2024-06-06", "SEATS10")
        )),
    );
    // July invoice: the coupon discounts the users only (10 × 30.00 = 300.00), not the second
    // number (6.00): 10 % × 300.00 = 30.00.
    let july = doc(&o, "INV-000002");
    let l = discount(july);
    assert_eq!(l.amount.minor(), -3000);
    assert_eq!(l.explanation, "10 % × 300.00 EUR = 30.00 EUR");
    // The credit note: −104.52 for the users, and the discount taken back:
    // now 10 % × (300.00 − 104.52 = 195.48) = 19.548 → 19.55, so 30.00 − 19.55 = 10.45.
    let cn = doc(&o, "CN-000001");
    assert_eq!(cn.kind, DocumentKind::CreditNote);
    let l = discount(cn);
    assert_eq!(l.amount.minor(), 1045);
    assert_eq!(
        l.explanation,
        "30.00 EUR already deducted − 19.55 EUR (10 % × 195.48 EUR = 19.55 EUR) = 10.45 EUR taken back"
    );
    assert_eq!(l.corrects, vec!["INV-000002".to_string()]);
    // −104.52 + 10.45 = −94.07.
    assert_eq!(cn.net_total.minor(), -9407);
    // August: 6 × 30.00 = 180.00, discount 10 % × 180.00 = 18.00.
    assert_eq!(discount(doc(&o, "INV-000003")).amount.minor(), -1800);
}

#[test]
fn a_back_dated_redemption_is_credited_and_a_back_dated_removal_charged_back() {
    // Prorata's own worked example. Redeemed on 20 July, effective on 6 July (the start of the
    // July period, already invoiced): 10 % × 300.00 = 30.00 comes back as a credit note.
    let o = play(
        &default_with_coupons(),
        &seed(
            "[[actions]]\non = \"2024-07-20\"\neffective = \"2024-07-06\"\ncoupon = { type = \"apply\", code = \"SEATS10\" }\n",
        ),
    );
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-06-06".into(), 30600),
            ("INV-000002".into(), "2024-07-06".into(), 30600),
            ("CN-000001".into(), "2024-07-20".into(), -3000),
            // August: 306.00 − 10 % × 300.00 = 276.00.
            ("INV-000003".into(), "2024-08-06".into(), 27600),
        ]
    );
    // Removed on 10 August, effective 6 August: August's 30.00 is charged back.
    let o = play(
        &default_with_coupons(),
        &format!(
            "{}\n[[actions]]\non = \"2024-08-10\"\neffective = \"2024-08-06\"\ncoupon = {{ type = \"remove\", code = \"SEATS10\" }}\n",
            seed(&apply("2024-06-06", "SEATS10")).replace("2024-08-06\"\n[account]", "2024-08-10\"\n[account]")
        ),
    );
    let last = o.documents().last().expect("a document");
    assert_eq!(
        (
            last.kind,
            last.issued_on.to_string(),
            last.net_total.minor()
        ),
        (DocumentKind::Invoice, "2024-08-10".into(), 3000)
    );
    // June, July and August discounted then August taken back: 3 × −30.00 + 30.00.
    assert_eq!(total_discount(&o), -6000);
}

#[test]
fn a_coupon_is_refused_when_unknown_expired_used_up_or_not_in_the_currency() {
    let rest = [
        apply("2024-06-06", "NOPE"),
        apply("2024-06-06", "SEATS10"),
        apply("2024-06-07", "SEATS10"), // already applied
        "[[actions]]\non = \"2024-06-08\"\ncoupon = { type = \"remove\", code = \"SEATS10\" }\n"
            .to_string(),
        apply("2024-06-09", "SEATS10"), // max_redemptions = 1, redeemed once
        "[[actions]]\non = \"2024-06-10\"\ncoupon = { type = \"remove\", code = \"WELCOME20\" }\n"
            .to_string(),
    ]
    .concat();
    let o = play(&default_with_coupons(), &seed(&rest));
    assert_eq!(
        refusals(&o),
        vec![
            CouponRefusal::Unknown {
                code: "NOPE".into()
            },
            CouponRefusal::AlreadyApplied {
                code: "SEATS10".into()
            },
            CouponRefusal::UsedUp {
                code: "SEATS10".into(),
                max_redemptions: 1
            },
            CouponRefusal::NotApplied {
                code: "WELCOME20".into()
            },
        ]
    );
    // Expired: SEATS10 may be redeemed until 31 December 2024.
    let late = seed("")
        .replace("2024-08-06", "2025-01-02")
        .replace("2024-06-06", "2024-12-06")
        + &apply("2025-01-01", "SEATS10");
    let o = play(&default_with_coupons(), &late);
    assert_eq!(
        refusals(&o),
        vec![CouponRefusal::Expired {
            code: "SEATS10".into(),
            redeem_by: "2024-12-31".parse().expect("date"),
        }]
    );
    // WELCOME20 has an amount in EUR only.
    let usd = seed(&apply("2024-06-06", "WELCOME20")).replace("\"EUR\"", "\"USD\"");
    let o = play(&default_with_coupons(), &usd);
    assert_eq!(
        refusals(&o),
        vec![CouponRefusal::NoAmountInCurrency {
            code: "WELCOME20".into(),
            currency: prorata_core::Currency::USD,
        }]
    );
    assert_eq!(CouponRequest::Apply { code: "X".into() }.code(), "X");
}

#[test]
fn coupons_stack_in_redemption_order_on_what_the_earlier_ones_left() {
    // Prorata's own worked example: the June invoice is 10 × 30.00 + 6.00 = 306.00. SEATS10
    // (redeemed first) takes 10 % × 300.00 = 30.00 off the users; WELCOME20 (the whole
    // period, once) takes 20.00 of the 276.00 left.
    let o = play(
        &default_with_coupons(),
        &seed(&format!(
            "{}{}",
            apply("2024-06-06", "SEATS10"),
            apply("2024-06-06", "WELCOME20")
        ))
        .replace("2024-08-06\"\n[account]", "2024-06-06\"\n[account]"),
    );
    // 306.00 − 30.00 − 20.00 = 256.00.
    assert_eq!(
        summary(&o),
        vec![("INV-000001".into(), "2024-06-06".into(), 25600)]
    );
    let d = doc(&o, "INV-000001");
    let texts: Vec<&str> = d
        .lines
        .iter()
        .filter(|l| l.section == Section::Discount)
        .map(|l| l.explanation.as_str())
        .collect();
    assert_eq!(
        texts,
        vec![
            "10 % × 300.00 EUR = 30.00 EUR",
            "20.00 EUR fixed = 20.00 EUR"
        ]
    );
}

#[test]
fn a_bad_coupon_in_the_catalog_is_refused_naming_its_field() {
    let bad = r#"
[coupons.BAD]
name = { en = "Bad", fr = "Mauvais" }
percent_off = "150"
duration = "forever"
applies_to = ["fax"]

[coupons.NOCUR]
name = { en = "No currency", fr = "Sans devise" }
amount_off = { JPY = "100", EUR = "1.005" }
duration = "once"
"#;
    let err = Catalog::from_toml(&format!("{DEFAULT_CATALOG}\n{bad}"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    for expected in [
        "coupons.BAD.percent_off: 150 is not a percentage above 0 and at most 100",
        "coupons.BAD.applies_to[0]: no product or metric named \"fax\" in the catalog",
        "coupons.NOCUR.amount_off.JPY: the catalog does not bill in JPY",
        "coupons.NOCUR.amount_off.EUR: 1.005 has more decimals than EUR has",
    ] {
        assert!(err.contains(expected), "{expected}\nin:\n{err}");
    }
    let shape = r#"
[coupons.BOTH]
name = { en = "Both", fr = "Les deux" }
percent_off = "10"
amount_off = { EUR = "1.00" }
duration = "repeating"
"#;
    let err = Catalog::from_toml(&format!("{DEFAULT_CATALOG}\n{shape}"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("give exactly one of percent_off or amount_off"),
        "{err}"
    );
}

#[test]
fn the_coupon_example_plays_as_its_comments_say() {
    let text = include_str!("../../../examples/coupon.toml");
    let s = Scenario::from_toml(text).expect("the example parses");
    let o = scenario::run(&s, &Catalog::from_toml(DEFAULT_CATALOG).expect("catalog"))
        .expect("the example runs");
    // Prorata's own worked example (the file's comments): 306.00 − 30.00 = 276.00 in June and
    // July; −104.52 + 10.45 = −94.07; 186.00 − 18.00 = 168.00 in August; 186.00 in September.
    assert_eq!(
        summary(&o),
        vec![
            ("INV-000001".into(), "2024-06-06".into(), 27600),
            ("INV-000002".into(), "2024-07-06".into(), 27600),
            ("CN-000001".into(), "2024-07-10".into(), -9407),
            ("INV-000003".into(), "2024-08-06".into(), 16800),
            ("INV-000004".into(), "2024-09-06".into(), 18600),
        ]
    );
}
