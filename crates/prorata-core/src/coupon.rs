//! Coupons: discounts defined in the catalog, redeemed on a subscription by code, and billed
//! as their own negative lines by reconciliation.
//!
//! ## Where coupons are defined
//!
//! In the catalog (`[coupons.CODE]`), beside the plans: a coupon names the products and usage
//! metrics it discounts and its fixed amount per currency, so it is checked against the
//! catalog when the catalog is read (an unknown product, a currency the catalog does not bill
//! in), and it travels with the catalog version a subscription was sold on. The tenant's
//! settings hold how billing works, not what is sold.
//!
//! ## What a coupon discounts
//!
//! A redemption is a timeline event ([`crate::timeline::Change::Coupon`], ended by
//! [`crate::timeline::Change::CouponRemoved`]). It covers whole *licence periods*: those that
//! start on or after the day it takes effect and before the day it is removed, and of them:
//!
//! - `once`: the first;
//! - `repeating` with `duration_in_months = N` (Stripe): those that start within N months of
//!   the redemption (a monthly plan: N periods; an annual plan: the first year only);
//! - `repeating` with `duration_in_periods = N` (Lago's `frequency_duration`): the first N;
//! - `forever`: all.
//!
//! Usage belongs to the licence period its usage period starts in. For each covered period the
//! coupon discounts the period's lines — all of them, or those of the products and metrics it
//! `applies_to` — as they stand *owed* (every line issued for the period plus the run's new
//! ones): a percentage of their total, rounded half-up once, or its fixed amount, never more
//! than that total. Lines prorated inside a covered period (an upgrade on the 10th) are part
//! of the total, so a percentage discounts them by the same percentage; a fixed amount is per
//! period, not prorated (Stripe takes `amount_off` off each invoice whole; Lago caps a fixed
//! coupon per billing period across the invoices of the period). Coupons that cover the same
//! period apply in the order they were redeemed, each to what the earlier ones left.
//!
//! ## Reconciliation
//!
//! The discount of a coupon and period is keyed ([`LineKey::Discount`]): what is owed is
//! compared with what the issued discount lines of the key add up to, and the difference is a
//! line. So a downgrade credited in a covered period takes back the discount in proportion,
//! re-running issues nothing, and a back-dated redemption or removal repairs itself.
//!
//! A discount line goes on the document of the lines it discounts: a discount of new charges
//! on their invoice, a discount taken back beside the credits it follows. A discount with no
//! charge beside it (a coupon redeemed back-dated on a period already invoiced) is a credit, a
//! discount taken back with no credit beside it (a back-dated removal) a charge.
//!
//! ## Redemption
//!
//! [`decide`] checks a request to apply or remove a coupon: the code exists, it may still be
//! redeemed (`redeem_by`, the last day), it is not used up (`max_redemptions`, against the
//! count of earlier redemptions the caller passes in), a fixed coupon has an amount in the
//! subscription's currency, and the subscription has not ended.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::calendar::{add_months_clamped, Period};
use crate::catalog::{Catalog, Lang, Text};
use crate::decimal::Decimal;
use crate::document::{Document, Line, LineKey, Section};
use crate::money::{round_half_up, Currency, Money};
use crate::reconcile::ReconcileError;
use crate::tax::TaxTreatment;
use crate::timeline::{start_of, Change, Event, Subscription};

/// How much a coupon takes off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discount {
    /// A percentage (0 < p ≤ 100) of the lines it discounts.
    Percent(Decimal),
    /// A fixed amount per currency, per covered period, limited to the lines it discounts.
    Amount(BTreeMap<Currency, Decimal>),
}

/// How long a redeemed coupon lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duration {
    Once,
    /// The licence periods starting within this many months of the redemption (Stripe's
    /// `duration_in_months`).
    Months(u32),
    /// This many licence periods (Lago's `frequency_duration`).
    Periods(u32),
    Forever,
}

/// A coupon of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawCoupon", into = "RawCoupon")]
pub struct Coupon {
    pub name: Text,
    pub discount: Discount,
    pub duration: Duration,
    /// Product and metric codes it discounts; empty: every line of the period.
    pub applies_to: Vec<String>,
    /// How many times it may be redeemed in all (across the tenant's subscriptions).
    pub max_redemptions: Option<u32>,
    /// The last day it may be redeemed; a subscription that has it keeps it for its duration.
    pub redeem_by: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DurationTag {
    Once,
    Repeating,
    Forever,
}

/// A coupon as written in the catalog file: Stripe's field names.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCoupon {
    name: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    percent_off: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    amount_off: Option<BTreeMap<Currency, Decimal>>,
    duration: DurationTag,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    duration_in_months: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    duration_in_periods: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    applies_to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_redemptions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redeem_by: Option<NaiveDate>,
}

impl TryFrom<RawCoupon> for Coupon {
    type Error = String;
    fn try_from(raw: RawCoupon) -> Result<Self, Self::Error> {
        let discount = match (raw.percent_off, raw.amount_off) {
            (Some(p), None) => Discount::Percent(p),
            (None, Some(a)) => Discount::Amount(a),
            _ => return Err("give exactly one of percent_off or amount_off".into()),
        };
        let duration =
            match (
                raw.duration,
                raw.duration_in_months,
                raw.duration_in_periods,
            ) {
                (DurationTag::Once, None, None) => Duration::Once,
                (DurationTag::Forever, None, None) => Duration::Forever,
                (DurationTag::Repeating, Some(m), None) if m > 0 => Duration::Months(m),
                (DurationTag::Repeating, None, Some(p)) if p > 0 => Duration::Periods(p),
                (DurationTag::Repeating, ..) => return Err(
                    "a repeating coupon needs one of duration_in_months or duration_in_periods, \
                     above 0"
                        .into(),
                ),
                _ => return Err(
                    "duration_in_months and duration_in_periods apply to repeating coupons only"
                        .into(),
                ),
            };
        Ok(Coupon {
            name: raw.name,
            discount,
            duration,
            applies_to: raw.applies_to,
            max_redemptions: raw.max_redemptions,
            redeem_by: raw.redeem_by,
        })
    }
}

impl From<Coupon> for RawCoupon {
    fn from(c: Coupon) -> Self {
        let (percent_off, amount_off) = match c.discount {
            Discount::Percent(p) => (Some(p), None),
            Discount::Amount(a) => (None, Some(a)),
        };
        let (duration, duration_in_months, duration_in_periods) = match c.duration {
            Duration::Once => (DurationTag::Once, None, None),
            Duration::Forever => (DurationTag::Forever, None, None),
            Duration::Months(m) => (DurationTag::Repeating, Some(m), None),
            Duration::Periods(p) => (DurationTag::Repeating, None, Some(p)),
        };
        RawCoupon {
            name: c.name,
            percent_off,
            amount_off,
            duration,
            duration_in_months,
            duration_in_periods,
            applies_to: c.applies_to,
            max_redemptions: c.max_redemptions,
            redeem_by: c.redeem_by,
        }
    }
}

/// Coupon codes are what customers type: letters (either case), digits, `-` and `_`.
fn valid_coupon_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The problems of the catalog's coupons, each with its field: `(path, problem)`.
pub(crate) fn problems(catalog: &Catalog) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let hundred = Decimal::from_int(100);
    for (code, c) in &catalog.coupons {
        let path = format!("coupons.{code}");
        if !valid_coupon_code(code) {
            out.push((
                path.clone(),
                "coupon codes use letters, digits, '-' and '_' only (at most 64)".into(),
            ));
        }
        match &c.discount {
            Discount::Percent(p) => {
                if p.is_negative()
                    || p.is_zero()
                    || p.cmp_value(hundred) == std::cmp::Ordering::Greater
                {
                    out.push((
                        format!("{path}.percent_off"),
                        format!("{p} is not a percentage above 0 and at most 100"),
                    ));
                }
            }
            Discount::Amount(amounts) => {
                if amounts.is_empty() {
                    out.push((
                        format!("{path}.amount_off"),
                        "give an amount in at least one currency".into(),
                    ));
                }
                for (currency, amount) in amounts {
                    let apath = format!("{path}.amount_off.{currency}");
                    if !catalog.currencies.contains(currency) {
                        out.push((apath, format!("the catalog does not bill in {currency}")));
                    } else if amount.is_negative() || amount.is_zero() {
                        out.push((apath, "must be above 0".into()));
                    } else if amount.to_minor_exact(*currency).is_none() {
                        out.push((
                            apath,
                            format!("{amount} has more decimals than {currency} has"),
                        ));
                    }
                }
            }
        }
        for (i, item) in c.applies_to.iter().enumerate() {
            if !catalog.products.contains_key(item) && !catalog.metrics.contains_key(item) {
                out.push((
                    format!("{path}.applies_to[{i}]"),
                    format!("no product or metric named {item:?} in the catalog"),
                ));
            }
        }
        if c.max_redemptions == Some(0) {
            out.push((
                format!("{path}.max_redemptions"),
                "must be at least 1 (leave it out for no limit)".into(),
            ));
        }
    }
    out
}

// ------------------------------------------------------------------ requests

/// What is asked of a subscription's coupons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CouponRequest {
    /// Redeem the coupon `code` on the subscription.
    Apply { code: String },
    /// End the coupon `code`: periods starting from the effective day are no longer discounted.
    Remove { code: String },
}

impl CouponRequest {
    pub fn code(&self) -> &str {
        match self {
            CouponRequest::Apply { code } | CouponRequest::Remove { code } => code,
        }
    }
}

/// Why a coupon request is refused. Each names the code and what would make it acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum CouponRefusal {
    #[error("no coupon {code:?} in the catalog")]
    Unknown { code: String },
    #[error("coupon {code:?} could be redeemed until {redeem_by}")]
    Expired { code: String, redeem_by: NaiveDate },
    #[error("coupon {code:?} has been redeemed {max_redemptions} times, its limit")]
    UsedUp { code: String, max_redemptions: u32 },
    #[error("coupon {code:?} has no amount in {currency}, the subscription's currency")]
    NoAmountInCurrency { code: String, currency: Currency },
    #[error("coupon {code:?} is already applied to the subscription")]
    AlreadyApplied { code: String },
    #[error("coupon {code:?} is not applied to the subscription")]
    NotApplied { code: String },
    #[error("the subscription has ended or will end on {end}")]
    Ended { end: NaiveDate },
    #[error("a coupon cannot take effect before the subscription starts ({start})")]
    BeforeStart { start: NaiveDate },
}

impl CouponRefusal {
    /// A stable machine code for the API's problem documents.
    pub fn code(&self) -> &'static str {
        match self {
            CouponRefusal::Unknown { .. } => "coupon_unknown",
            CouponRefusal::Expired { .. } => "coupon_expired",
            CouponRefusal::UsedUp { .. } => "coupon_used_up",
            CouponRefusal::NoAmountInCurrency { .. } => "coupon_currency",
            CouponRefusal::AlreadyApplied { .. } => "coupon_already_applied",
            CouponRefusal::NotApplied { .. } => "coupon_not_applied",
            CouponRefusal::Ended { .. } => "subscription_ended",
            CouponRefusal::BeforeStart { .. } => "before_start",
        }
    }
}

/// Decides on `request`, submitted on `on`, to take effect at `effective` (the submission day
/// when `None`). `times_redeemed` is how many times the code has been redeemed so far across
/// the tenant (the caller counts). Returns the event to append to the timeline.
pub fn decide(
    sub: &Subscription,
    catalog: &Catalog,
    request: &CouponRequest,
    on: NaiveDate,
    effective: Option<NaiveDateTime>,
    times_redeemed: u32,
) -> Result<Event, CouponRefusal> {
    let effective = effective.unwrap_or_else(|| start_of(on));
    let code = request.code().to_string();
    if effective.date() < sub.start {
        return Err(CouponRefusal::BeforeStart { start: sub.start });
    }
    if let Some(end) = sub.end(on).filter(|e| effective >= *e) {
        return Err(CouponRefusal::Ended { end: end.date() });
    }
    let active = redemptions(sub, on)
        .iter()
        .any(|r| r.code == code && r.until.is_none_or(|u| u > effective.date()));
    let change = match request {
        CouponRequest::Apply { .. } => {
            let coupon = catalog
                .coupons
                .get(&code)
                .ok_or_else(|| CouponRefusal::Unknown { code: code.clone() })?;
            if active {
                return Err(CouponRefusal::AlreadyApplied { code });
            }
            if let Some(redeem_by) = coupon.redeem_by.filter(|d| on > *d) {
                return Err(CouponRefusal::Expired { code, redeem_by });
            }
            if let Some(max) = coupon.max_redemptions.filter(|m| times_redeemed >= *m) {
                return Err(CouponRefusal::UsedUp {
                    code,
                    max_redemptions: max,
                });
            }
            if let Discount::Amount(amounts) = &coupon.discount {
                if !amounts.contains_key(&sub.currency) {
                    return Err(CouponRefusal::NoAmountInCurrency {
                        code,
                        currency: sub.currency,
                    });
                }
            }
            Change::Coupon { code }
        }
        CouponRequest::Remove { .. } => {
            if !active {
                return Err(CouponRefusal::NotApplied { code });
            }
            Change::CouponRemoved { code }
        }
    };
    Ok(Event {
        recorded_on: on,
        effective,
        change,
    })
}

// ------------------------------------------------------------------ redemptions

/// A coupon held from `from` (inclusive) until `until` (exclusive, when removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    pub code: String,
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
}

/// The subscription's coupons as known on `known_on`, in the order they take effect. A code
/// applied again while held is the same redemption; a removal ends the one held.
pub fn redemptions(sub: &Subscription, known_on: NaiveDate) -> Vec<Redemption> {
    let mut out: Vec<Redemption> = Vec::new();
    for e in sub.events_known_on(known_on) {
        match &e.change {
            Change::Coupon { code }
                if !out.iter().any(|r| &r.code == code && r.until.is_none()) =>
            {
                out.push(Redemption {
                    code: code.clone(),
                    from: e.effective.date(),
                    until: None,
                });
            }
            Change::CouponRemoved { code } => {
                if let Some(r) = out
                    .iter_mut()
                    .find(|r| &r.code == code && r.until.is_none())
                {
                    r.until = Some(e.effective.date().max(r.from));
                }
            }
            _ => {}
        }
    }
    out
}

/// The licence periods a redemption covers, among `starts` (each period with its first day
/// billed, in order).
fn covered(r: &Redemption, coupon: &Coupon, starts: &[(Period, NaiveDate)]) -> BTreeSet<Period> {
    let candidates = starts
        .iter()
        .filter(|(_, from)| *from >= r.from && r.until.is_none_or(|u| *from < u));
    let mut out = BTreeSet::new();
    match coupon.duration {
        Duration::Once => out.extend(candidates.take(1).map(|(p, _)| *p)),
        Duration::Periods(n) => {
            for (p, _) in candidates {
                if out.len() >= n as usize && !out.contains(p) {
                    break;
                }
                out.insert(*p);
            }
        }
        Duration::Months(m) => {
            let end = add_months_clamped(r.from, m);
            out.extend(
                candidates
                    .filter(|(_, from)| end.is_none_or(|e| *from < e))
                    .map(|(p, _)| *p),
            );
        }
        Duration::Forever => out.extend(candidates.map(|(p, _)| *p)),
    }
    out
}

// ------------------------------------------------------------------ discount lines

/// What [`discount_lines`] needs of the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    pub as_of: NaiveDate,
    pub knowledge: NaiveDate,
    pub tax: TaxTreatment,
}

/// The discount lines due, given the run's new charge lines, and the keys of those that go
/// with the credits (onto a credit note, or wait for the invoice day under `account_credit`).
pub(crate) fn discount_lines(
    catalog: &Catalog,
    lang: Lang,
    sub: &Subscription,
    new_lines: &[Line],
    billed: &[Document],
    run: Run,
) -> Result<(Vec<Line>, BTreeSet<LineKey>), ReconcileError> {
    let currency = sub.currency;
    let held = redemptions(sub, run.knowledge);
    let has_billed_discount = billed
        .iter()
        .flat_map(|d| &d.lines)
        .any(|l| matches!(l.key, LineKey::Discount { .. }));
    if held.is_empty() && !has_billed_discount {
        return Ok((Vec::new(), BTreeSet::new()));
    }
    // The licence periods billed so far, each with its first day and the days it covers.
    let cadence = sub.cadence(run.knowledge);
    let slices: Vec<_> = cadence
        .licence_slices()
        .take_while(|s| s.from <= run.as_of)
        .collect();
    let starts: Vec<(Period, NaiveDate)> = slices.iter().map(|s| (s.period, s.from)).collect();
    let licence_period = |key: &LineKey| -> Option<Period> {
        match key {
            LineKey::Recurring(k) => Some(k.period),
            LineKey::Usage { period, .. } => slices
                .iter()
                .find(|s| s.from <= period.start && period.start < s.until)
                .map(|s| s.period)
                .or(Some(*period)),
            LineKey::Discount { .. } | LineKey::Commitment { .. } => None,
        }
    };
    let item_of = |key: &LineKey| -> Option<String> {
        match key {
            LineKey::Recurring(k) => Some(k.product.clone()),
            LineKey::Usage { metric, .. } => Some(metric.clone()),
            LineKey::Discount { .. } | LineKey::Commitment { .. } => None,
        }
    };
    // What is owed per licence period and item, and what was discounted per key.
    let mut owed: BTreeMap<Period, BTreeMap<String, i64>> = BTreeMap::new();
    let mut given: BTreeMap<(String, Period), i64> = BTreeMap::new();
    let mut sources: BTreeMap<(String, Period), Vec<String>> = BTreeMap::new();
    let all = billed
        .iter()
        .flat_map(|d| d.lines.iter().map(move |l| (Some(d.number.as_str()), l)))
        .chain(new_lines.iter().map(|l| (None, l)));
    for (number, l) in all {
        if let LineKey::Discount { coupon, period } = &l.key {
            // Discount lines are negative: the discount given is their negation.
            let e = given.entry((coupon.clone(), *period)).or_default();
            *e = e
                .checked_sub(l.amount.minor())
                .ok_or_else(|| overflow(coupon))?;
            if let Some(n) = number.filter(|_| l.amount.is_negative()) {
                let s = sources.entry((coupon.clone(), *period)).or_default();
                if !s.iter().any(|x| x == n) {
                    s.push(n.to_string());
                }
            }
            continue;
        }
        let (Some(p), Some(item)) = (licence_period(&l.key), item_of(&l.key)) else {
            continue;
        };
        let e = owed.entry(p).or_default().entry(item).or_default();
        *e = e
            .checked_add(l.amount.minor())
            .ok_or_else(|| overflow("a period's lines"))?;
    }
    // The periods of the run's new charges and credits, to place each discount line.
    let mut new_charges: BTreeSet<Period> = BTreeSet::new();
    let mut new_credits: BTreeSet<Period> = BTreeSet::new();
    for l in new_lines {
        if let Some(p) = licence_period(&l.key) {
            if l.amount.is_negative() {
                new_credits.insert(p);
            } else if l.amount.minor() > 0 {
                new_charges.insert(p);
            }
        }
    }

    // What each coupon owes per period, in redemption order.
    let mut due: BTreeMap<(String, Period), Owed> = BTreeMap::new();
    let mut remaining: BTreeMap<Period, i64> = owed
        .iter()
        .map(|(p, items)| (*p, items.values().sum::<i64>().max(0)))
        .collect();
    for r in &held {
        let Some(coupon) = catalog.coupons.get(&r.code) else {
            continue;
        };
        for period in covered(r, coupon, &starts) {
            let Some(items) = owed.get(&period) else {
                continue;
            };
            let left = remaining.get(&period).copied().unwrap_or(0);
            let eligible: i64 = if coupon.applies_to.is_empty() {
                items.values().sum()
            } else {
                coupon.applies_to.iter().filter_map(|c| items.get(c)).sum()
            };
            let base = eligible.clamp(0, left);
            let amount = match &coupon.discount {
                Discount::Percent(p) => {
                    let num = i128::from(base)
                        .checked_mul(p.mantissa())
                        .ok_or_else(|| overflow(&r.code))?;
                    let den = p
                        .denominator()
                        .checked_mul(100)
                        .ok_or_else(|| overflow(&r.code))?;
                    round_half_up(num, den)
                        .and_then(|v| i64::try_from(v).ok())
                        .ok_or_else(|| overflow(&r.code))?
                }
                Discount::Amount(amounts) => {
                    let fixed = amounts
                        .get(&currency)
                        .and_then(|a| a.to_minor_exact(currency))
                        .map_or(0, Money::minor);
                    fixed.min(base)
                }
            };
            remaining.insert(period, left - amount);
            due.insert(
                (r.code.clone(), period),
                Owed {
                    amount,
                    base,
                    eligible,
                },
            );
        }
    }

    let keys: BTreeSet<(String, Period)> = due.keys().chain(given.keys()).cloned().collect();
    let mut lines = Vec::new();
    let mut credit_side = BTreeSet::new();
    for (code, period) in keys {
        let now = due.get(&(code.clone(), period)).copied().unwrap_or(Owed {
            amount: 0,
            base: 0,
            eligible: 0,
        });
        let before = given.get(&(code.clone(), period)).copied().unwrap_or(0);
        if now.amount == before {
            continue;
        }
        let delta = Money::from_minor(before - now.amount, currency);
        let key = LineKey::Discount {
            coupon: code.clone(),
            period,
        };
        let goes_with_credits = if delta.is_negative() {
            !new_charges.contains(&period)
        } else {
            new_credits.contains(&period)
        };
        if goes_with_credits {
            credit_side.insert(key.clone());
        }
        // A coupon taken out of the catalog keeps what was billed of it.
        let Some(coupon) = catalog.coupons.get(&code) else {
            continue;
        };
        let explanation = explain(catalog, lang, coupon, currency, now, before);
        let name = coupon.name.get(lang);
        lines.push(Line {
            section: Section::Discount,
            key,
            description: match lang {
                Lang::En => format!("Discount {name} ({code})"),
                Lang::Fr => format!("Remise {name} ({code})"),
            },
            quantity: delta.minor().signum(),
            unit_price: None,
            from: start_of(period.start),
            to: start_of(period.next_start()),
            service: period,
            proration: None,
            events: None,
            included_used: None,
            late: false,
            amount: delta,
            tax: run.tax,
            explanation,
            corrects: if delta.is_negative() {
                Vec::new()
            } else {
                sources.remove(&(code, period)).unwrap_or_default()
            },
        });
    }
    Ok((lines, credit_side))
}

/// A coupon's discount of a period: the amount, the base it was taken from (what the lines
/// it discounts add up to, less what earlier coupons took), and those lines' total.
#[derive(Debug, Clone, Copy)]
struct Owed {
    amount: i64,
    base: i64,
    eligible: i64,
}

fn overflow(what: &str) -> ReconcileError {
    ReconcileError::Overflow {
        what: format!("discount {what}"),
    }
}

/// The arithmetic of a discount line, in positive figures: `10 % × 300.00 EUR = 30.00 EUR`,
/// `20.00 EUR fixed, limited to the 12.50 EUR of User licence = 12.50 EUR`, then, when some
/// was already deducted, the difference.
fn explain(
    catalog: &Catalog,
    lang: Lang,
    coupon: &Coupon,
    currency: Currency,
    now: Owed,
    before: i64,
) -> String {
    let m = |minor: i64| Money::from_minor(minor, currency);
    let what = {
        let c = coupon;
        if c.applies_to.is_empty() {
            match lang {
                Lang::En => "the period".into(),
                Lang::Fr => "la période".into(),
            }
        } else {
            c.applies_to
                .iter()
                .map(|code| {
                    catalog
                        .products
                        .get(code)
                        .map(|p| p.name.get(lang))
                        .or_else(|| catalog.metrics.get(code).map(|x| x.name.get(lang)))
                        .unwrap_or(code)
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let mut text = match &coupon.discount {
        Discount::Percent(p) => format!("{p} % × {} = {}", m(now.base), m(now.amount)),
        Discount::Amount(amounts) => {
            let fixed = amounts
                .get(&currency)
                .and_then(|a| a.to_minor_exact(currency))
                .unwrap_or(Money::zero(currency));
            let fixed_word = match lang {
                Lang::En => "fixed",
                Lang::Fr => "fixe",
            };
            if fixed.minor() <= now.base {
                format!("{fixed} {fixed_word} = {}", m(now.amount))
            } else if now.base < now.eligible {
                match lang {
                    Lang::En => format!(
                        "{fixed} {fixed_word}, limited to the {} earlier coupons left of {what} = {}",
                        m(now.base),
                        m(now.amount)
                    ),
                    Lang::Fr => format!(
                        "{fixed} {fixed_word}, limité aux {} que les remises précédentes laissent de {what} = {}",
                        m(now.base),
                        m(now.amount)
                    ),
                }
            } else {
                match lang {
                    Lang::En => format!(
                        "{fixed} {fixed_word}, limited to the {} of {what} = {}",
                        m(now.base),
                        m(now.amount)
                    ),
                    Lang::Fr => format!(
                        "{fixed} {fixed_word}, limité aux {} de {what} = {}",
                        m(now.base),
                        m(now.amount)
                    ),
                }
            }
        }
    };
    if before == 0 {
        return text;
    }
    let (already, back) = match lang {
        Lang::En => ("already deducted", "taken back"),
        Lang::Fr => ("déjà déduits", "repris"),
    };
    if now.amount > before {
        text.push_str(&format!(
            " − {} {already} = {}",
            m(before),
            m(now.amount - before)
        ));
    } else {
        text = format!(
            "{} {already} − {} ({text}) = {} {back}",
            m(before),
            m(now.amount),
            m(before - now.amount)
        );
    }
    text
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Duration::Once => write!(f, "once"),
            Duration::Months(m) => write!(f, "for {m} months"),
            Duration::Periods(p) => write!(f, "for {p} periods"),
            Duration::Forever => write!(f, "forever"),
        }
    }
}

/// Keeps an invoice from going negative and a credit note from going positive because of the
/// discount lines placed on them: the discounts that would are moved to the other document.
pub(crate) fn keep_signs(
    currency: Currency,
    mut charges: Vec<Line>,
    mut credits: Vec<Line>,
) -> Result<(Vec<Line>, Vec<Line>), ReconcileError> {
    let is_discount = |l: &Line| matches!(l.key, LineKey::Discount { .. });
    if Money::sum(currency, charges.iter().map(|l| l.amount))?.is_negative() {
        let (moved, kept): (Vec<Line>, Vec<Line>) = charges
            .into_iter()
            .partition(|l| is_discount(l) && l.amount.is_negative());
        charges = kept;
        credits.extend(moved);
    }
    if Money::sum(currency, credits.iter().map(|l| l.amount))?.minor() > 0 {
        let (moved, kept): (Vec<Line>, Vec<Line>) = credits
            .into_iter()
            .partition(|l| is_discount(l) && l.amount.minor() > 0);
        credits = kept;
        charges.extend(moved);
    }
    Ok((charges, credits))
}
