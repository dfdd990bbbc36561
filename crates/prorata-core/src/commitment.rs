//! Non-prorated charges and minimum commitments (issue #15, item 6).
//!
//! ## Non-prorated charges
//!
//! A plan item with `prorated = false` is billed whole for every period, whatever part of it
//! the subscription holds it. Reconciliation keeps working on unit profiles: the expected
//! profile of a non-prorated key is the most units held at any moment of the period, over
//! the whole period ([`bill_whole`]). Hence a subscription starting, changing plan or ending
//! inside a period pays the item's whole period; a unit added inside a period is billed for
//! the whole period (`1 × 10.00 EUR = 10.00 EUR`, no fraction); a unit removed or a
//! cancellation credits nothing for the rest of the period, since the most units held does
//! not go down. A back-dated change still repairs itself: a cancellation back-dated to the
//! period's first moment leaves the period with nothing held, so its whole charge is credited;
//! a back-dated removal that means the unit was never held credits the whole unit.
//!
//! ## Minimum commitments
//!
//! A plan's `minimum_commitment` (per frequency and currency) is the least a licence period's
//! charges come to: its recurring lines, the usage of the usage periods starting in it and
//! its discounts, before tax, as issued so far and issued now. The day after the period (or
//! the day the subscription ends), a true-up line bills what they fall short of the minimum:
//! `minimum 100.00 EUR − charges 5.00 EUR = 95.00 EUR` (Lago's in-arrears true-up). The
//! minimum is prorated over the part of the period the subscription is paid for, as Lago
//! does (`minimum 100.00 EUR × 17/31 = 54.84 EUR`). The true-up is keyed by the period
//! ([`LineKey::Commitment`]), so it reconciles: usage learnt late that lifts the charges takes
//! the true-up back by the difference, and re-running issues nothing.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

use crate::calendar::Period;
use crate::catalog::{Catalog, Lang, PlanItem};
use crate::document::{Document, Line, LineKey, RecurringKey, Section};
use crate::money::Money;
use crate::reconcile::{ReconcileError, Run};
use crate::tax::TaxTreatment;
use crate::timeline::{start_of, Subscription};

/// Serde's default for [`PlanItem::prorated`]: prorated.
pub(crate) fn prorated_default() -> bool {
    true
}

impl Default for PlanItem {
    fn default() -> Self {
        PlanItem {
            included: 0,
            included_price: Default::default(),
            unit_price: Default::default(),
            minimum: 0,
            maximum: None,
            timing: Default::default(),
            frequency: None,
            model: Default::default(),
            tiers: Vec::new(),
            package_size: None,
            prorated: true,
        }
    }
}

/// The problems of the plans' whole items and minimum commitments, each with its field:
/// `(path, problem)`. A volume-priced item is prorated. A minimum, when set, names an amount
/// for every frequency the plan is sold at and every currency the catalog bills in, none
/// negative.
pub(crate) fn problems(catalog: &Catalog) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (code, plan) in &catalog.plans {
        // Billed whole, each tier's key holds the most units it held: right for graduated
        // tiers and packages (filled in order), wrong for volume pricing, where every unit
        // takes the price of the tier the quantity is in and two tiers would both be billed.
        for (product, item) in &plan.items {
            if !item.prorated && item.model == crate::seat_tiers::SeatModel::Volume {
                out.push((
                    format!("plans.{code}.items.{product}.prorated"),
                    "a volume-priced item is always prorated (billed whole, the period would \
                     bill every tier its quantity passed through)"
                        .into(),
                ));
            }
        }
        let table = &plan.minimum_commitment;
        if table.is_empty() {
            continue;
        }
        let path = format!("plans.{code}.minimum_commitment");
        for f in &plan.frequencies {
            let Some(by_currency) = table.get(f) else {
                out.push((
                    path.clone(),
                    format!("no {f} minimum (the plan is sold {f})"),
                ));
                continue;
            };
            for c in &catalog.currencies {
                match by_currency.get(c) {
                    None => out.push((format!("{path}.{f}"), format!("no minimum in {c}"))),
                    Some(m) if m.is_negative() => out.push((
                        format!("{path}.{f}.{c}"),
                        "a minimum cannot be negative".into(),
                    )),
                    Some(_) => {}
                }
            }
        }
        for f in table.keys() {
            if !plan.frequencies.contains(f) {
                out.push((format!("{path}.{f}"), format!("the plan is not sold {f}")));
            }
        }
    }
    out
}

/// Whether `key`'s item is billed whole for its period (`prorated = false`). An item the
/// catalog no longer has is prorated, as before.
fn is_whole(catalog: &Catalog, key: &RecurringKey) -> bool {
    catalog
        .plan(&key.plan)
        .and_then(|p| p.items.get(&key.product))
        .is_some_and(|i| !i.prorated)
}

/// Turns the expected profile of every non-prorated key into one run over its whole period,
/// of the most units held at any moment of it (the runs of a key never overlap: they come
/// from consecutive segments of the timeline).
pub(crate) fn bill_whole(catalog: &Catalog, expected: &mut BTreeMap<RecurringKey, Vec<Run>>) {
    for (key, runs) in expected.iter_mut() {
        if !is_whole(catalog, key) {
            continue;
        }
        let Some(units) = runs.iter().map(|r| r.units).max() else {
            continue;
        };
        *runs = vec![Run {
            from: start_of(key.period.start),
            to: start_of(key.period.next_start()),
            units,
        }];
    }
}

/// What the true-up needs of the run: its date, what it may know, the VAT that applies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope {
    pub as_of: NaiveDate,
    pub knowledge: NaiveDate,
    pub tax: TaxTreatment,
    /// Licence periods ending on or before this day are settled (see
    /// [`crate::reconcile::reconcile_from`]): not walked.
    pub through: Option<NaiveDate>,
}

/// What was issued of the true-up of one period.
#[derive(Default)]
struct Issued {
    amount: i64,
    documents: Vec<String>,
}

/// The true-up lines due at `scope.as_of`: for each licence period over, the minimum
/// (prorated to the paid part) less the period's charges (`billed` and `new_lines`), when
/// positive, less what was issued of its true-up already.
pub(crate) fn true_up_lines(
    catalog: &Catalog,
    lang: Lang,
    day_count: crate::proration::DayCount,
    sub: &Subscription,
    new_lines: &[Line],
    billed: &[Document],
    scope: Scope,
) -> Result<Vec<Line>, ReconcileError> {
    let currency = sub.currency;
    let mut issued: BTreeMap<Period, Issued> = BTreeMap::new();
    for doc in billed {
        for l in &doc.lines {
            if let LineKey::Commitment { period } = l.key {
                let e = issued.entry(period).or_default();
                e.amount = e
                    .amount
                    .checked_add(l.amount.minor())
                    .ok_or_else(|| overflow(period))?;
                if !e.documents.contains(&doc.number) {
                    e.documents.push(doc.number.clone());
                }
            }
        }
    }
    let has_minimum = catalog
        .plans
        .values()
        .any(|p| !p.minimum_commitment.is_empty());
    if !has_minimum && issued.is_empty() {
        return Ok(Vec::new());
    }
    let knowledge = scope.knowledge;
    let end = sub.end(knowledge);
    let cadence = sub.cadence(knowledge);
    let first_paid = sub.first_paid_day(knowledge);
    // Every charge issued or issuing, summed by its licence period (recurring lines and
    // discounts) or by the first day of its usage period.
    let mut by_period: BTreeMap<Period, i64> = BTreeMap::new();
    let mut usage_from: BTreeMap<NaiveDate, i64> = BTreeMap::new();
    for l in billed.iter().flat_map(|d| &d.lines).chain(new_lines) {
        let sum = match &l.key {
            LineKey::Recurring(k) => by_period.entry(k.period).or_default(),
            LineKey::Discount { period, .. } => by_period.entry(*period).or_default(),
            LineKey::Usage { period, .. } => usage_from.entry(period.start).or_default(),
            LineKey::Commitment { .. } => continue,
        };
        *sum = sum
            .checked_add(l.amount.minor())
            .ok_or_else(|| overflow(l.key.period()))?;
    }
    let mut seen: BTreeSet<Period> = BTreeSet::new();
    let mut lines = Vec::new();
    for slice in cadence.licence_slices() {
        let Some(slice) = crate::trial::paid_part(slice, first_paid) else {
            continue;
        };
        let from = start_of(slice.from);
        if slice.from > scope.as_of || end.is_some_and(|e| from >= e) {
            break;
        }
        let to = end.map_or(start_of(slice.until), |e| e.min(start_of(slice.until)));
        // In arrears: the day after the period, or the day the subscription ends.
        if to.date() > scope.as_of {
            break;
        }
        let period = slice.period;
        if scope.through.is_some_and(|t| period.next_start() <= t) {
            continue;
        }
        seen.insert(period);
        // The plan in force at the period's last moment sets the minimum.
        let last = to.checked_sub_signed(TimeDelta::seconds(1)).unwrap_or(from);
        let plan_code = sub.state_at(last.max(from), knowledge).plan;
        let plan = catalog
            .plan(&plan_code)
            .ok_or_else(|| ReconcileError::UnknownPlan(plan_code.clone()))?;
        let minimum = crate::catalog::price_in(&plan.minimum_commitment, slice.frequency, currency)
            .map_err(|_| ReconcileError::MissingPrice {
                plan: plan_code.clone(),
                product: "minimum_commitment".into(),
                frequency: slice.frequency,
                currency,
            })?;
        // The charges of the period: its recurring lines and discounts, and the usage of the
        // usage periods starting in it.
        let mut charges = by_period.get(&period).copied().unwrap_or(0);
        for (_, sum) in usage_from.range(slice.from..slice.until) {
            charges = charges.checked_add(*sum).ok_or_else(|| overflow(period))?;
        }
        let before = issued.remove(&period).unwrap_or_default();
        let mut explanation = String::new();
        let mut proration = None;
        let owed = match minimum {
            None => 0,
            Some(minimum) => {
                let n = day_count.length(period);
                let (a, b) = (
                    day_count.position(period, from),
                    day_count.position(period, to),
                );
                let prorated = day_count
                    .slice_amount(minimum, 1, (a, b, n), currency)
                    .ok_or_else(|| overflow(period))?;
                let word = match lang {
                    Lang::En => "minimum",
                    Lang::Fr => "minimum",
                };
                explanation.push_str(&format!("{word} {minimum} {currency}"));
                if !(a == 0 && b == n) {
                    let f = day_count.fraction((a, b, n));
                    explanation.push_str(&format!(" × {} = {prorated}", f.show(lang)));
                    proration = Some(f);
                }
                let short = prorated
                    .minor()
                    .checked_sub(charges)
                    .ok_or_else(|| overflow(period))?;
                let charges_text = Money::from_minor(charges, currency);
                let owed = short.max(0);
                explanation.push_str(&match lang {
                    Lang::En => format!(" − charges {charges_text}"),
                    Lang::Fr => format!(" − charges {charges_text}"),
                });
                if short < 0 {
                    explanation.push_str(&match lang {
                        Lang::En => ": met, no true-up".to_string(),
                        Lang::Fr => " : atteint, pas de complément".to_string(),
                    });
                } else {
                    explanation.push_str(&format!(" = {}", Money::from_minor(owed, currency)));
                }
                owed
            }
        };
        if let Some(line) = true_up_line(
            lang,
            sub,
            period,
            (from, to),
            (owed, before),
            (explanation, proration),
            scope.tax,
        )? {
            lines.push(line);
        }
    }
    // True-ups of periods no longer billed at all (a cancellation back-dated before them):
    // nothing is owed, they are taken back.
    for (period, before) in issued {
        if seen.contains(&period) {
            continue;
        }
        let (from, to) = (start_of(period.start), start_of(period.next_start()));
        let explanation = match lang {
            Lang::En => "period no longer billed: no true-up".to_string(),
            Lang::Fr => "période plus facturée : pas de complément".to_string(),
        };
        if let Some(line) = true_up_line(
            lang,
            sub,
            period,
            (from, to),
            (0, before),
            (explanation, None),
            scope.tax,
        )? {
            lines.push(line);
        }
    }
    Ok(lines)
}

fn overflow(period: Period) -> ReconcileError {
    ReconcileError::Overflow {
        what: format!("minimum commitment for {period}"),
    }
}

/// The line that brings the true-up of `period` from what was issued to `owed`, if any.
fn true_up_line(
    lang: Lang,
    sub: &Subscription,
    period: Period,
    (from, to): (NaiveDateTime, NaiveDateTime),
    (owed, before): (i64, Issued),
    (mut explanation, proration): (String, Option<crate::proration::Fraction>),
    tax: TaxTreatment,
) -> Result<Option<Line>, ReconcileError> {
    let currency = sub.currency;
    let delta = owed
        .checked_sub(before.amount)
        .ok_or_else(|| overflow(period))?;
    if delta == 0 {
        return Ok(None);
    }
    let amount = Money::from_minor(delta, currency);
    if before.amount != 0 {
        let already = Money::from_minor(before.amount, currency);
        let owed = Money::from_minor(owed, currency);
        explanation.push_str(&match lang {
            Lang::En => format!("; {owed} − {already} already billed = {amount}"),
            Lang::Fr => format!(" ; {owed} − {already} déjà facturés = {amount}"),
        });
    }
    Ok(Some(Line {
        section: Section::Commitment,
        key: LineKey::Commitment { period },
        description: match lang {
            Lang::En => "Minimum commitment true-up".to_string(),
            Lang::Fr => "Complément du minimum d'engagement".to_string(),
        },
        quantity: if delta < 0 { -1 } else { 1 },
        unit_price: None,
        from,
        to,
        service: crate::reconcile::inclusive(from, to),
        proration,
        events: None,
        included_used: None,
        late: false,
        amount,
        tax,
        explanation,
        corrects: if delta < 0 {
            before.documents
        } else {
            Vec::new()
        },
    }))
}
