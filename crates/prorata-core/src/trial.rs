//! Trials: what a trial waives, and what a plan change during it does to it.
//!
//! A plan's trial lasts `trial_days` from the subscription's start. What it waives is the
//! plan's [`TrialWaiver`], copied onto the subscription when it is sold (like `trial_days`), so
//! a later catalog edit never rewrites a running contract:
//!
//! - `everything` (the default, seed 003): nothing is billed during the trial, usage included;
//!   billing periods and contract terms are anchored on the first paid day, the trial's end.
//! - `fee`: only the recurring fees are waived (Lago's `trial_period`, Kill Bill's trial phase
//!   with a usage section). Periods are anchored on the **start**, as if there were no trial,
//!   so the trial's usage belongs to the first usage period and is billed on its invoice day;
//!   the recurring fees are owed from the first paid day, and the period containing it is
//!   billed from that day, prorated (`21/31`), on that day — Lago's rule: the fee of a plan
//!   paid in advance is invoiced when the trial ends, prorated for the days left.
//!
//! A plan change taking effect during the trial may end the trial elsewhere, by the tenant's
//! [`TrialOnPlanChange`]: `keep` it as sold, give it the `new_plan`'s length counted from the
//! original start (Lago; Kill Bill's `START_OF_SUBSCRIPTION` change alignment), or `restart` the
//! new plan's trial on the change day (Kill Bill's `CHANGE_OF_PLAN` alignment). The decision is
//! recorded in the plan-change event (`trial_ends`), so billing reads it from the timeline as
//! known on a date, like every other change. A change after the trial never starts a new one:
//! the periods already billed would have to reopen.
//!
//! Pure: no clock, no I/O.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::cadence::Slice;
use crate::timeline::Subscription;

/// What a plan's trial waives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TrialWaiver {
    /// Nothing is billed during the trial, usage included; periods start when it ends.
    #[default]
    Everything,
    /// Only the recurring fees; usage of the trial days is billed, periods start on the start.
    Fee,
}

impl TrialWaiver {
    /// As files and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            TrialWaiver::Everything => "everything",
            TrialWaiver::Fee => "fee",
        }
    }
}

/// What a plan change taking effect during the trial does to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialOnPlanChange {
    /// The trial sold runs its course: it ends `trial_days` after the start, whatever the plan.
    #[default]
    Keep,
    /// The trial lasts the new plan's `trial_days`, counted from the original start (Lago;
    /// Kill Bill's `START_OF_SUBSCRIPTION` change alignment). It may end on the change day.
    NewPlan,
    /// The new plan's trial starts on the change day (Kill Bill's `CHANGE_OF_PLAN` alignment).
    Restart,
}

impl TrialOnPlanChange {
    /// As files and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            TrialOnPlanChange::Keep => "keep",
            TrialOnPlanChange::NewPlan => "new_plan",
            TrialOnPlanChange::Restart => "restart",
        }
    }
}

/// The day the trial of a plan change effective on `effective` ends, under `policy`, for a new
/// plan whose trial lasts `new_trial_days`; `None` when the change leaves the trial as it is
/// (`keep`, or a change after the trial as known on `known_on`).
pub fn trial_end_after_plan_change(
    sub: &Subscription,
    policy: TrialOnPlanChange,
    new_trial_days: u32,
    effective: NaiveDate,
    known_on: NaiveDate,
) -> Option<NaiveDate> {
    if effective < sub.start || effective >= sub.first_paid_day(known_on) {
        return None;
    }
    let from = match policy {
        TrialOnPlanChange::Keep => return None,
        TrialOnPlanChange::NewPlan => sub.start,
        TrialOnPlanChange::Restart => effective,
    };
    // Never before the change: a shorter trial than the days already given ends on it.
    let ends = from
        .checked_add_days(Days::new(u64::from(new_trial_days)))
        .unwrap_or(NaiveDate::MAX);
    Some(ends.max(effective))
}

/// The part of a licence slice on or after `first_paid` (the first day fees are owed), or
/// `None` when the whole slice falls in the trial. The natural period is kept, so the first
/// paid period is prorated over its own length (`28/31`).
pub fn paid_part(slice: Slice, first_paid: NaiveDate) -> Option<Slice> {
    if slice.until <= first_paid {
        return None;
    }
    Some(Slice {
        from: slice.from.max(first_paid),
        ..slice
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{Frequency, Period};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or(NaiveDate::MIN)
    }

    #[test]
    fn a_slice_loses_its_trial_days_and_keeps_its_period() {
        let slice = Slice {
            period: Period {
                start: d(2024, 3, 1),
                end: d(2024, 3, 31),
            },
            from: d(2024, 3, 1),
            until: d(2024, 4, 1),
            frequency: Frequency::Monthly,
        };
        let paid = paid_part(slice, d(2024, 3, 11));
        assert_eq!(
            paid.map(|s| (s.from, s.period)),
            Some((d(2024, 3, 11), slice.period))
        );
        assert_eq!(paid_part(slice, d(2024, 4, 1)), None);
        assert_eq!(paid_part(slice, d(2024, 2, 1)), Some(slice));
    }

    #[test]
    fn the_spellings_are_the_serde_names() {
        for w in [TrialWaiver::Everything, TrialWaiver::Fee] {
            assert_eq!(
                serde_json::to_value(w).ok(),
                Some(serde_json::Value::from(w.as_str()))
            );
        }
        for p in [
            TrialOnPlanChange::Keep,
            TrialOnPlanChange::NewPlan,
            TrialOnPlanChange::Restart,
        ] {
            assert_eq!(
                serde_json::to_value(p).ok(),
                Some(serde_json::Value::from(p.as_str()))
            );
        }
    }
}
