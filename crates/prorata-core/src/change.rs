//! Contract-change rules (seed 001): what a customer or account manager may change, and when.
//!
//! - Upgrades (more units, an add-on, a higher-ranked plan) are accepted any time and take
//!   effect on the day asked; billing picks them up as a prorated invoice.
//! - Downgrades (fewer units, an add-on removed, a lower-ranked plan) and cancellations are
//!   accepted only when submitted at least `notice_days` (30) before the next renewal date
//!   (T&C 13.1.b); otherwise they are refused with that deadline, and the contract renews on
//!   its terms. An accepted downgrade effective inside a billed period yields a prorated
//!   credit note. One asked too late for the coming renewal but effective on a later one is
//!   judged by that later renewal's deadline, and scheduled for it ([`check_notice_for`]).
//! - During the trial everything may change: nothing has been billed and no term has begun.
//!   A plan change during it keeps the trial, or ends it where the tenant's
//!   [`TrialOnPlanChange`] says (the new plan's trial from the start, or from the change).
//! - Catalog limits hold whatever the direction: minimums, maximums (Essentials: 3 teams), and
//!   products the plan offers.
//! - A billing-frequency change (seed 000: handled by the account manager) to a *longer*
//!   period (monthly → quarterly → annual) commits the customer to more and pays more in
//!   advance: an upgrade, accepted any time. To a *shorter* one it reduces the commitment: a
//!   downgrade, under the notice rule. It takes effect at once, at the end of the current
//!   period or at the end of the term ([`FrequencyTiming`]), and the new periods keep the old
//!   anchor or restart on the change's day or on the first of its month ([`AnchorPolicy`]):
//!   the tenant's [`FrequencyChangePolicy`] unless the request says otherwise. The plan in
//!   force must be sold at that frequency.
//!
//! [`decide`] is pure: it returns the event to append, or a [`Refusal`] that says why.

use chrono::{Days, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::cadence::first_of_month;
use crate::calendar::Frequency;
use crate::catalog::{Catalog, PlanChangePolicy};
use crate::timeline::{start_of, Change, Event, Subscription};
use crate::trial::{trial_end_after_plan_change, TrialOnPlanChange};

/// When a billing-frequency change takes effect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FrequencyTiming {
    /// On the day asked: the unused part of the period billed is credited, the new period
    /// billed from that day.
    AtOnce,
    /// On the next billing day: nothing to prorate.
    #[default]
    EndOfPeriod,
    /// At the next renewal of the contract.
    EndOfTerm,
}

/// Where the periods of the new frequency are anchored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AnchorPolicy {
    /// The old anchor stays: periods and renewals keep falling on the same anniversary, and
    /// the first new period is a prorated stub up to it.
    Keep,
    /// The new periods, and the term, restart on the day the change takes effect (Stripe
    /// resets the cycle when the interval changes).
    #[default]
    ChangeDate,
    /// They restart on the first of that day's month (Kill Bill restarts an annual period
    /// from the month of the change); the days before the change are not billed.
    ChangeMonth,
}

impl FrequencyTiming {
    /// As files and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            FrequencyTiming::AtOnce => "at_once",
            FrequencyTiming::EndOfPeriod => "end_of_period",
            FrequencyTiming::EndOfTerm => "end_of_term",
        }
    }
}

impl AnchorPolicy {
    /// As files and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            AnchorPolicy::Keep => "keep",
            AnchorPolicy::ChangeDate => "change_date",
            AnchorPolicy::ChangeMonth => "change_month",
        }
    }
}

/// A tenant's defaults for billing-frequency changes; a request may override either.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrequencyChangePolicy {
    pub when: FrequencyTiming,
    pub anchor: AnchorPolicy,
}

/// What is asked: a contract change, one object per `type` (each variant titled, so a
/// generated client names its class).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ContractChange))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Set a licence's quantity: more is an upgrade, fewer a downgrade.
    #[cfg_attr(feature = "openapi", schema(title = "SetQuantity"))]
    SetQuantity {
        /// A product code of the catalog (`user`, `number`, an add-on).
        product: String,
        quantity: i64,
    },
    /// Add an add-on: an upgrade.
    #[cfg_attr(feature = "openapi", schema(title = "AddAddon"))]
    AddAddon {
        /// An add-on's product code.
        product: String,
    },
    /// Remove an add-on: a downgrade.
    #[cfg_attr(feature = "openapi", schema(title = "RemoveAddon"))]
    RemoveAddon {
        /// An add-on's product code.
        product: String,
    },
    /// Move to another plan of the catalog: a higher rank is an upgrade.
    #[cfg_attr(feature = "openapi", schema(title = "ChangePlan"))]
    ChangePlan {
        /// A plan code of the catalog.
        plan: String,
    },
    /// Do not renew: the contract ends at the next renewal date (under the notice rule).
    #[cfg_attr(feature = "openapi", schema(title = "Cancel"))]
    Cancel,
    /// End now, outside the notice rule (billing team, dunning).
    #[cfg_attr(feature = "openapi", schema(title = "CancelImmediately"))]
    CancelImmediately,
    /// Bill the same plan at another frequency (it must be sold at it): a longer period is an
    /// upgrade (applied and billed at once), a shorter one a downgrade under the notice rule;
    /// `when` and `anchor` default to the tenant's policy (its `FrequencyChangePolicy`).
    #[cfg_attr(feature = "openapi", schema(title = "ChangeFrequency"))]
    ChangeFrequency {
        frequency: Frequency,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        when: Option<FrequencyTiming>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        anchor: Option<AnchorPolicy>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ChangeDirection))]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Upgrade,
    Downgrade,
    Cancellation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub direction: Direction,
    pub event: Event,
}

/// Why a contract change is refused, with the rule's figures (a problem's `refusal`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ChangeRefusal))]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    #[error(
        "too late: changes that reduce the contract must be submitted at least {notice_days} days \
         before the renewal date {renewal}, that is by {deadline}; the contract renews on its \
         terms on {renewal} (the next deadline is {next_deadline})"
    )]
    NoticePeriodMissed {
        notice_days: u32,
        renewal: NaiveDate,
        deadline: NaiveDate,
        next_deadline: NaiveDate,
    },
    #[error("{product}: {quantity} is below the plan's minimum of {minimum}")]
    BelowMinimum {
        product: String,
        quantity: i64,
        minimum: i64,
    },
    #[error("{product}: {quantity} is above the {plan} plan's limit of {maximum}")]
    AboveMaximum {
        product: String,
        quantity: i64,
        maximum: i64,
        plan: String,
    },
    #[error("{field}: {value} is above the largest value accepted, {max}")]
    OutOfRange { field: String, value: u64, max: u64 },
    #[error("the {plan} plan does not offer {product}")]
    NotInPlan { product: String, plan: String },
    #[error("no plan named {plan:?} in the catalog")]
    UnknownPlan { plan: String },
    #[error("{product} is not an add-on")]
    NotAnAddon { product: String },
    #[error("the {plan} plan is not sold {frequency}")]
    FrequencyNotOffered { plan: String, frequency: String },
    #[error("nothing to change: {what}")]
    NoChange { what: String },
    #[error("the subscription has ended or will end on {end}")]
    Ended { end: NaiveDate },
    #[error("a change cannot take effect before the subscription starts ({start})")]
    BeforeStart { start: NaiveDate },
}

/// Decides on `request`, submitted on `on`, to take effect at `effective` (the submission day
/// when `None`), under the default frequency-change policy. Returns the event to append to the
/// subscription's timeline.
pub fn decide(
    sub: &Subscription,
    catalog: &Catalog,
    request: &Request,
    on: NaiveDate,
    effective: Option<NaiveDateTime>,
) -> Result<Accepted, Refusal> {
    let rules = Rules {
        catalog,
        frequency: FrequencyChangePolicy::default(),
        trial: TrialOnPlanChange::default(),
    };
    decide_with(sub, &rules, request, on, effective)
}

/// What a decision reads besides the subscription: the catalog and the tenant's policies.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub catalog: &'a Catalog,
    pub frequency: FrequencyChangePolicy,
    /// What a plan change during the trial does to it.
    pub trial: TrialOnPlanChange,
}

/// [`decide`] under a tenant's `rules`.
pub fn decide_with(
    sub: &Subscription,
    rules: &Rules<'_>,
    request: &Request,
    on: NaiveDate,
    effective: Option<NaiveDateTime>,
) -> Result<Accepted, Refusal> {
    let accepted = judge(sub, rules, request, on, effective)?;
    // An immediate cancellation (billing team, dunning) is outside the notice rule.
    let reduces =
        accepted.direction != Direction::Upgrade && !matches!(request, Request::CancelImmediately);
    if reduces && !sub.in_trial_on(on) {
        check_notice_for(sub, on, accepted.event.effective.date())?;
    }
    Ok(accepted)
}

/// [`decide_with`] without the notice rule: a tenant admin's override of a change that
/// reduces the contract after its deadline (the engine checks who asks and keeps the
/// reason). Every other rule still holds.
pub fn decide_waiving_notice(
    sub: &Subscription,
    rules: &Rules<'_>,
    request: &Request,
    on: NaiveDate,
    effective: Option<NaiveDateTime>,
) -> Result<Accepted, Refusal> {
    judge(sub, rules, request, on, effective)
}

/// Every rule but the notice rule: the event, its direction, or why not.
fn judge(
    sub: &Subscription,
    rules: &Rules<'_>,
    request: &Request,
    on: NaiveDate,
    effective: Option<NaiveDateTime>,
) -> Result<Accepted, Refusal> {
    let catalog = rules.catalog;
    let effective = effective.unwrap_or_else(|| start_of(on));
    if effective.date() < sub.start {
        return Err(Refusal::BeforeStart { start: sub.start });
    }
    if let Some(end) = sub.end(on) {
        // Before the end, upgrades and an immediate cancellation remain possible.
        if effective >= end || matches!(request, Request::Cancel) {
            return Err(Refusal::Ended { end: end.date() });
        }
    }
    let current = sub.state_at(effective, on);
    let plan_code = current.plan.clone();
    let plan = catalog
        .plan(&plan_code)
        .ok_or_else(|| Refusal::UnknownPlan {
            plan: plan_code.clone(),
        })?;
    let event = |change| Event {
        recorded_on: on,
        effective,
        change,
    };

    let (direction, event) = match request {
        Request::SetQuantity { product, quantity } => {
            check_quantity(catalog, &plan_code, product, *quantity)?;
            let now = current.quantity(product);
            let direction = match quantity.cmp(&now) {
                std::cmp::Ordering::Greater => Direction::Upgrade,
                std::cmp::Ordering::Less => Direction::Downgrade,
                std::cmp::Ordering::Equal => {
                    return Err(Refusal::NoChange {
                        what: format!("{product} is already {now}"),
                    })
                }
            };
            (
                direction,
                event(Change::Quantity {
                    product: product.clone(),
                    quantity: *quantity,
                }),
            )
        }
        Request::AddAddon { product } | Request::RemoveAddon { product } => {
            let is_addon = catalog
                .product(product)
                .is_some_and(|p| !p.kind.is_licence());
            if !is_addon {
                return Err(Refusal::NotAnAddon {
                    product: product.clone(),
                });
            }
            let quantity = i64::from(matches!(request, Request::AddAddon { .. }));
            return judge(
                sub,
                rules,
                &Request::SetQuantity {
                    product: product.clone(),
                    quantity,
                },
                on,
                Some(effective),
            );
        }
        Request::ChangePlan { plan: target } => {
            let to = catalog.plan(target).ok_or_else(|| Refusal::UnknownPlan {
                plan: target.clone(),
            })?;
            if target == &plan_code {
                return Err(Refusal::NoChange {
                    what: format!("already on {target}"),
                });
            }
            // The frequency billed when the new plan starts (end of term: maybe another one).
            let mut start = effective;
            if catalog.plan_change_policy(&plan_code, target) == PlanChangePolicy::EndOfTerm {
                if let Some(renewal) = renewal_asked(sub, on, effective) {
                    start = start_of(renewal);
                }
            }
            let frequency = sub.frequency_on(start.date(), on);
            if !to.frequencies.contains(&frequency) {
                return Err(Refusal::FrequencyNotOffered {
                    plan: target.clone(),
                    frequency: frequency.to_string(),
                });
            }
            for (product, quantity) in &current.quantities {
                if *quantity != 0 {
                    check_quantity(catalog, target, product, *quantity)?;
                }
            }
            let direction = if to.rank >= plan.rank {
                Direction::Upgrade
            } else {
                Direction::Downgrade
            };
            let trial_ends =
                trial_end_after_plan_change(sub, rules.trial, to.trial_days, start.date(), on);
            let mut e = event(Change::Plan {
                plan: target.clone(),
                trial_ends,
            });
            e.effective = start;
            (direction, e)
        }
        Request::ChangeFrequency {
            frequency,
            when,
            anchor,
        } => frequency_change(
            sub,
            catalog,
            FrequencyChangePolicy {
                when: when.unwrap_or(rules.frequency.when),
                anchor: anchor.unwrap_or(rules.frequency.anchor),
            },
            *frequency,
            on,
            effective,
        )?,
        Request::Cancel => {
            let renewal = renewal_asked(sub, on, effective).ok_or(Refusal::Ended { end: on })?;
            let mut e = event(Change::CancellationRequested);
            e.effective = start_of(renewal);
            (Direction::Cancellation, e)
        }
        Request::CancelImmediately => {
            return Ok(Accepted {
                direction: Direction::Cancellation,
                event: event(Change::Cancelled),
            })
        }
    };
    Ok(Accepted { direction, event })
}

/// The renewal a change that waits for one (a cancellation, an end-of-term plan change) takes
/// effect on: the first after the submission day `on`, or, when a later day is asked, the
/// first on or after that day (a change meant for a later renewal).
fn renewal_asked(sub: &Subscription, on: NaiveDate, effective: NaiveDateTime) -> Option<NaiveDate> {
    match effective.date().pred_opt() {
        Some(before) if effective.date() > on => sub.next_renewal_after(before),
        _ => sub.next_renewal_after(on),
    }
}

/// A billing-frequency change: the day it takes effect, the new anchor, and its direction.
fn frequency_change(
    sub: &Subscription,
    catalog: &Catalog,
    policy: FrequencyChangePolicy,
    frequency: Frequency,
    on: NaiveDate,
    effective: NaiveDateTime,
) -> Result<(Direction, Event), Refusal> {
    let cadence = sub.cadence(on);
    let first_paid = sub.billing_anchor();
    let asked = effective.date();
    // During the trial nothing is billed and no term has begun: the subscription simply
    // starts paying at the new frequency on its first paid day, in periods aligned as sold
    // (the first paid day itself, or the calendar or billing day's period containing it).
    let (day, anchor) = if asked < first_paid {
        (first_paid, sub.period_anchor_for(frequency))
    } else {
        let day = match policy.when {
            FrequencyTiming::AtOnce => Some(asked),
            FrequencyTiming::EndOfPeriod => cadence.next_licence_start_after(asked),
            FrequencyTiming::EndOfTerm => cadence.next_renewal_after(asked, sub.term_months),
        }
        .ok_or(Refusal::Ended { end: asked })?;
        let anchor = match policy.anchor {
            AnchorPolicy::Keep => cadence.term_anchor_on(day),
            AnchorPolicy::ChangeDate => day,
            AnchorPolicy::ChangeMonth => first_of_month(day),
        };
        (day, anchor)
    };
    if let Some(end) = sub.end(on).filter(|end| start_of(day) >= *end) {
        return Err(Refusal::Ended { end: end.date() });
    }
    let now = cadence.frequency_on(day);
    if now == frequency {
        return Err(Refusal::NoChange {
            what: format!("already billed {frequency} on {day}"),
        });
    }
    let plan = sub.state_at(start_of(day), on).plan;
    let offered = catalog
        .plan(&plan)
        .is_some_and(|p| p.frequencies.contains(&frequency));
    if !offered {
        return Err(Refusal::FrequencyNotOffered {
            plan,
            frequency: frequency.to_string(),
        });
    }
    // Frequencies order by the length of their period: weekly < monthly < quarterly < annual.
    let direction = if frequency > now {
        Direction::Upgrade
    } else {
        Direction::Downgrade
    };
    Ok((
        direction,
        Event {
            recorded_on: on,
            effective: start_of(day),
            change: Change::Frequency { frequency, anchor },
        },
    ))
}

/// The notice rule: `on` must be no later than `notice_days` before the next renewal.
pub fn check_notice(sub: &Subscription, on: NaiveDate) -> Result<(), Refusal> {
    let Some((deadline, renewal)) = sub.notice_deadline_after(on) else {
        return Ok(());
    };
    if on <= deadline {
        return Ok(());
    }
    let next_deadline = sub
        .notice_deadline_after(renewal)
        .map(|(d, _)| d)
        .unwrap_or(deadline);
    Err(Refusal::NoticePeriodMissed {
        notice_days: sub.notice_days,
        renewal,
        deadline,
        next_deadline,
    })
}

/// The notice rule for a change submitted on `on` that takes effect on `effective`. Submitted
/// by the coming renewal's deadline, it is in time whatever its day ([`check_notice`]). Past
/// that deadline the contract renews on its terms at the coming renewal, but a change that
/// takes effect on or after a later renewal is meant for that renewal — the last one on or
/// before its day — and is in time when submitted by *that* renewal's deadline: a downgrade
/// asked too late for 6 June 2025 but effective on 6 June 2026 needs notice by 7 May 2026.
pub fn check_notice_for(
    sub: &Subscription,
    on: NaiveDate,
    effective: NaiveDate,
) -> Result<(), Refusal> {
    let missed = match check_notice(sub, on) {
        Ok(()) => return Ok(()),
        Err(missed) => missed,
    };
    let Some(renewal) = later_renewal_on_or_before(sub, on, effective) else {
        return Err(missed);
    };
    let Some(deadline) = renewal.checked_sub_days(Days::new(u64::from(sub.notice_days))) else {
        return Err(missed);
    };
    if on <= deadline {
        return Ok(());
    }
    let next_deadline = sub
        .notice_deadline_after(renewal)
        .map_or(deadline, |(d, _)| d);
    Err(Refusal::NoticePeriodMissed {
        notice_days: sub.notice_days,
        renewal,
        deadline,
        next_deadline,
    })
}

/// How many renewals [`later_renewal_on_or_before`] walks at most: a century of monthly
/// renewals, far past any date the engine accepts.
const MAX_RENEWALS_WALKED: u32 = 1_200;

/// The last renewal on or before `effective` among those after the coming renewal (the first
/// after `on`); `None` when `effective` is before the second renewal.
fn later_renewal_on_or_before(
    sub: &Subscription,
    on: NaiveDate,
    effective: NaiveDate,
) -> Option<NaiveDate> {
    let mut renewal = sub.next_renewal_after(on)?;
    let mut meant = None;
    for _ in 0..MAX_RENEWALS_WALKED {
        match sub.next_renewal_after(renewal) {
            Some(next) if next <= effective => {
                meant = Some(next);
                renewal = next;
            }
            _ => break,
        }
    }
    meant
}

/// The most units of one product a subscription may hold: far beyond any real contract, and
/// small enough that no amount computed from it can overflow.
pub const MAX_UNITS: i64 = 1_000_000_000;
/// Bounds on a contract's durations, in days or months: ten years, a century of term.
pub const MAX_TRIAL_DAYS: u32 = 3_650;
pub const MAX_NOTICE_DAYS: u32 = 3_650;
pub const MAX_TERM_MONTHS: u32 = 1_200;

fn out_of_range(field: &str, value: u64, max: u64) -> Result<(), Refusal> {
    if value > max {
        Err(Refusal::OutOfRange {
            field: field.into(),
            value,
            max,
        })
    } else {
        Ok(())
    }
}

fn check_quantity(
    catalog: &Catalog,
    plan_code: &str,
    product: &str,
    quantity: i64,
) -> Result<(), Refusal> {
    let plan = catalog
        .plan(plan_code)
        .ok_or_else(|| Refusal::UnknownPlan {
            plan: plan_code.into(),
        })?;
    let item = plan.items.get(product).ok_or_else(|| Refusal::NotInPlan {
        product: product.into(),
        plan: plan_code.into(),
    })?;
    out_of_range(
        product,
        quantity.max(0).unsigned_abs(),
        MAX_UNITS.unsigned_abs(),
    )?;
    if quantity < item.minimum || quantity < 0 {
        return Err(Refusal::BelowMinimum {
            product: product.into(),
            quantity,
            minimum: item.minimum.max(0),
        });
    }
    if let Some(maximum) = item.maximum {
        if quantity > maximum {
            return Err(Refusal::AboveMaximum {
                product: product.into(),
                quantity,
                maximum,
                plan: plan_code.into(),
            });
        }
    }
    Ok(())
}

/// Checks that a new subscription's quantities fit its plan and its durations are sane.
pub fn check_initial(catalog: &Catalog, sub: &Subscription) -> Result<(), Refusal> {
    out_of_range("trial_days", sub.trial_days.into(), MAX_TRIAL_DAYS.into())?;
    out_of_range(
        "notice_days",
        sub.notice_days.into(),
        MAX_NOTICE_DAYS.into(),
    )?;
    out_of_range(
        "term_months",
        sub.term_months.into(),
        MAX_TERM_MONTHS.into(),
    )?;
    let plan = catalog
        .plan(&sub.plan)
        .ok_or_else(|| Refusal::UnknownPlan {
            plan: sub.plan.clone(),
        })?;
    if !plan.frequencies.contains(&sub.frequency) {
        return Err(Refusal::FrequencyNotOffered {
            plan: sub.plan.clone(),
            frequency: sub.frequency.to_string(),
        });
    }
    for (product, item) in &plan.items {
        let q = sub.quantities.get(product).copied().unwrap_or(0);
        if q < item.minimum {
            return Err(Refusal::BelowMinimum {
                product: product.clone(),
                quantity: q,
                minimum: item.minimum,
            });
        }
    }
    for (product, q) in &sub.quantities {
        check_quantity(catalog, &sub.plan, product, *q)?;
    }
    Ok(())
}
