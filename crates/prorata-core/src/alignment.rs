//! Billing alignment: on which days a subscription's billing periods start.
//!
//! By default periods are anchored on the first paid day (the start, or the end of the trial):
//! the **anniversary**. Two other alignments move the period starts without moving the first
//! paid day:
//!
//! - **calendar** (a tenant's `billing_alignment`): periods on calendar months (the 1st),
//!   quarters (1 January, April, July, October), years (1 January) and weeks (Mondays) — Lago's
//!   `billing_time = "calendar"`;
//! - a **billing day** (a subscription's `billing_day`, 1–31): every period of a monthly,
//!   quarterly or annual plan starts on that day of the month, clamped to the month's last day
//!   (31 → 30 April, 28/29 February) — Kill Bill's bill-cycle day, Stripe's
//!   `billing_cycle_anchor`. The months are the first paid day's (quarterly: every third month
//!   from it; annual: its month). A billing day wins over the tenant's alignment; weekly plans
//!   ignore it (weekly periods follow the alignment alone).
//!
//! Either way the result is a schedule *anchor* on or before the first paid day, whose periods
//! are those wanted. [`crate::cadence::Cadence`] then starts billing on the first paid day with
//! a *stub*: the rest of the natural period containing that day, prorated like any other
//! slice (`1 × 30.00 EUR × 17/31`). When the first paid day is itself a period start there is
//! no stub and the alignment changes nothing.
//!
//! The tenant's alignment is copied into each subscription when it is sold (like the plan's
//! trial): changing the setting later moves no existing subscription's periods, which would
//! re-bill their history.
//!
//! The anchor is searched, not constructed, because periods are always computed from their
//! anchor with clamping ([`crate::calendar::add_months_clamped`]): an anchor on 31 January
//! gives 29 February then 31 March, while one on 29 February would give 29 March. So a billing
//! day of 31 needs an anchor in a month that has a 31st.

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::calendar::Frequency;

/// Where a tenant's new subscriptions start their periods, unless one has a billing day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BillingAlignment {
    /// On the first paid day and its anniversaries.
    #[default]
    Anniversary,
    /// On calendar months, quarters, years and weeks (Mondays).
    Calendar,
}

impl BillingAlignment {
    /// As files and the API spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            BillingAlignment::Anniversary => "anniversary",
            BillingAlignment::Calendar => "calendar",
        }
    }

    /// `true` for the default (what a stored subscription without the field means).
    pub fn is_anniversary(&self) -> bool {
        *self == BillingAlignment::Anniversary
    }
}

/// The largest billing day: the 31st (clamped to shorter months).
pub const MAX_BILLING_DAY: u32 = 31;

/// Checks a billing day: a day of the month, 1 to 31.
pub fn check_billing_day(day: u32) -> Result<(), String> {
    if (1..=MAX_BILLING_DAY).contains(&day) {
        Ok(())
    } else {
        Err(format!(
            "{day} is not a day of the month: give 1 to {MAX_BILLING_DAY} (31 bills on each \
             month's last day)"
        ))
    }
}

/// The anchor of the periods of a subscription whose first paid day is `first_paid`, billed
/// at `frequency`: on or before `first_paid`, and equal to it under the anniversary alignment
/// without a billing day. Total: a billing day out of range is clamped to 1..=31.
pub fn period_anchor(
    first_paid: NaiveDate,
    frequency: Frequency,
    alignment: BillingAlignment,
    billing_day: Option<u32>,
) -> NaiveDate {
    match (frequency, billing_day, alignment) {
        (Frequency::Weekly, _, BillingAlignment::Anniversary) => first_paid,
        (Frequency::Weekly, _, BillingAlignment::Calendar) => {
            // Monday of the ISO week containing the first paid day.
            let back = u64::from(first_paid.weekday().num_days_from_monday());
            first_paid
                .checked_sub_days(Days::new(back))
                .unwrap_or(first_paid)
        }
        (_, Some(day), _) => day_anchor(first_paid, months_per_period(frequency), day),
        (_, None, BillingAlignment::Anniversary) => first_paid,
        (_, None, BillingAlignment::Calendar) => calendar_start(first_paid, frequency),
    }
}

fn months_per_period(frequency: Frequency) -> u32 {
    match frequency {
        Frequency::Weekly | Frequency::Monthly => 1,
        Frequency::Quarterly => 3,
        Frequency::Annual => 12,
    }
}

/// The first day of the calendar month, quarter or year containing `date`.
fn calendar_start(date: NaiveDate, frequency: Frequency) -> NaiveDate {
    let month = match frequency {
        Frequency::Weekly | Frequency::Monthly => date.month(),
        Frequency::Quarterly => (date.month() - 1) / 3 * 3 + 1,
        Frequency::Annual => 1,
    };
    NaiveDate::from_ymd_opt(date.year(), month, 1).unwrap_or(date)
}

/// The latest date on or before `first_paid` that lies on `day` of a month of the period grid
/// (every `step` months from `first_paid`'s month) having that day. An annual grid on February
/// takes the 29th of a leap year for any day from 29 on: from it, periods fall on the last day
/// of every February.
fn day_anchor(first_paid: NaiveDate, step: u32, day: u32) -> NaiveDate {
    let day = day.clamp(1, MAX_BILLING_DAY);
    let base = i64::from(first_paid.year()) * 12 + i64::from(first_paid.month0());
    // Sixteen steps back always reach a month with the day (a 31st within three months; a
    // leap year's 29 February within eight years).
    for j in 0..=16_i64 {
        let index = base - j * i64::from(step);
        let (Ok(year), Ok(month0)) = (
            i32::try_from(index.div_euclid(12)),
            u32::try_from(index.rem_euclid(12)),
        ) else {
            break;
        };
        let wanted = if step == 12 && month0 == 1 {
            day.min(29)
        } else {
            day
        };
        if let Some(date) = NaiveDate::from_ymd_opt(year, month0 + 1, wanted) {
            if date <= first_paid {
                return date;
            }
        }
    }
    first_paid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Schedule;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or(NaiveDate::MIN)
    }

    /// The natural period containing `first_paid` under the alignment: (start, end).
    fn first_period(
        first_paid: NaiveDate,
        f: Frequency,
        a: BillingAlignment,
        day: Option<u32>,
    ) -> Option<(NaiveDate, NaiveDate)> {
        let anchor = period_anchor(first_paid, f, a, day);
        assert!(anchor <= first_paid);
        Schedule::new(anchor, f)
            .period_containing(first_paid)
            .map(|p| (p.start, p.end))
    }

    #[test]
    fn anniversary_without_a_billing_day_anchors_on_the_first_paid_day() {
        for f in Frequency::ALL {
            let a = BillingAlignment::Anniversary;
            assert_eq!(period_anchor(d(2024, 7, 20), f, a, None), d(2024, 7, 20));
        }
    }

    #[test]
    fn calendar_periods_start_on_months_quarters_years_and_mondays() {
        let c = BillingAlignment::Calendar;
        let day = d(2024, 8, 20); // a Tuesday
        assert_eq!(
            first_period(day, Frequency::Monthly, c, None),
            Some((d(2024, 8, 1), d(2024, 8, 31)))
        );
        assert_eq!(
            first_period(day, Frequency::Quarterly, c, None),
            Some((d(2024, 7, 1), d(2024, 9, 30)))
        );
        assert_eq!(
            first_period(day, Frequency::Annual, c, None),
            Some((d(2024, 1, 1), d(2024, 12, 31)))
        );
        assert_eq!(
            first_period(day, Frequency::Weekly, c, None),
            Some((d(2024, 8, 19), d(2024, 8, 25)))
        );
        assert_eq!(d(2024, 8, 19).weekday(), chrono::Weekday::Mon);
    }

    #[test]
    fn a_billing_day_of_31_falls_on_each_months_last_day() {
        let a = BillingAlignment::Anniversary;
        // First paid on 2 March 2024: the period containing it started on 29 February (the
        // last day of a leap February) and ends on 30 March.
        let anchor = period_anchor(d(2024, 3, 2), Frequency::Monthly, a, Some(31));
        assert_eq!(anchor, d(2024, 1, 31));
        let s = Schedule::new(anchor, Frequency::Monthly);
        let starts: Vec<_> = (1..5).filter_map(|i| s.start_of(i)).collect();
        assert_eq!(
            starts,
            vec![
                d(2024, 2, 29),
                d(2024, 3, 31),
                d(2024, 4, 30),
                d(2024, 5, 31)
            ]
        );
        // The same day under the calendar alignment: the billing day wins.
        let c = BillingAlignment::Calendar;
        assert_eq!(
            period_anchor(d(2024, 3, 2), Frequency::Monthly, c, Some(31)),
            d(2024, 1, 31)
        );
    }

    #[test]
    fn a_billing_day_keeps_the_first_paid_days_months_for_longer_periods() {
        let a = BillingAlignment::Anniversary;
        // Quarterly from 2 May 2024 on the 31st: quarters start on 31 Aug, 30 Nov, 29 Feb,
        // 31 May; the one containing 2 May is 29 Feb – 30 May 2024.
        assert_eq!(
            first_period(d(2024, 5, 2), Frequency::Quarterly, a, Some(31)),
            Some((d(2024, 2, 29), d(2024, 5, 30)))
        );
        // Annual from 10 February 2025 on the 30th: every last day of February.
        assert_eq!(
            first_period(d(2025, 2, 10), Frequency::Annual, a, Some(30)),
            Some((d(2024, 2, 29), d(2025, 2, 27)))
        );
        // Annual on the 15th from 20 June 2024: 15 June 2024 – 14 June 2025.
        assert_eq!(
            first_period(d(2024, 6, 20), Frequency::Annual, a, Some(15)),
            Some((d(2024, 6, 15), d(2025, 6, 14)))
        );
    }

    #[test]
    fn a_first_paid_day_on_the_billing_day_has_no_stub() {
        let a = BillingAlignment::Anniversary;
        assert_eq!(
            period_anchor(d(2024, 4, 30), Frequency::Monthly, a, Some(31)),
            d(2024, 3, 31)
        );
        assert_eq!(
            first_period(d(2024, 4, 30), Frequency::Monthly, a, Some(31)),
            Some((d(2024, 4, 30), d(2024, 5, 30)))
        );
        assert_eq!(
            period_anchor(
                d(2024, 5, 1),
                Frequency::Monthly,
                BillingAlignment::Calendar,
                None
            ),
            d(2024, 5, 1)
        );
    }

    #[test]
    fn weekly_plans_ignore_the_billing_day() {
        let a = BillingAlignment::Anniversary;
        assert_eq!(
            period_anchor(d(2024, 8, 20), Frequency::Weekly, a, Some(3)),
            d(2024, 8, 20)
        );
    }

    #[test]
    fn billing_days_outside_1_to_31_are_refused_with_the_rule() {
        assert!(check_billing_day(1).is_ok());
        assert!(check_billing_day(31).is_ok());
        let zero = check_billing_day(0).err().unwrap_or_default();
        assert!(zero.contains("give 1 to 31"), "{zero}");
        assert!(check_billing_day(32).is_err());
        // The anchor stays total whatever the value.
        let a = BillingAlignment::Anniversary;
        assert_eq!(
            period_anchor(d(2024, 3, 2), Frequency::Monthly, a, Some(99)),
            d(2024, 1, 31)
        );
    }
}
