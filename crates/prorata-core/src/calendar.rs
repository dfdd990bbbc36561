//! Billing periods on an anniversary day.
//!
//! A subscription's periods are anchored on one date (its first paid day). Period `k` starts
//! `k` frequency-steps after the anchor, always computed *from the anchor*, never from the
//! previous period: a 31 January anchor gives 29 February 2028, then 31 March, not 29 March.
//! When the anchor day does not exist in a month, the month's last day stands in for it.
//!
//! Periods are local calendar dates (the account's time zone is applied before anything gets
//! here); they are shown with inclusive ends: 6 Jul – 5 Aug.

use std::fmt;

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// How often a recurring charge repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    Weekly,
    Monthly,
    Quarterly,
    Annual,
}

impl Frequency {
    pub const ALL: [Frequency; 4] = [
        Frequency::Weekly,
        Frequency::Monthly,
        Frequency::Quarterly,
        Frequency::Annual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Weekly => "weekly",
            Frequency::Monthly => "monthly",
            Frequency::Quarterly => "quarterly",
            Frequency::Annual => "annual",
        }
    }

    /// The cadence of usage (arrears) invoices: weekly plans invoice usage weekly, every other
    /// plan monthly (seed 002: annual customers still get a monthly invoice for call minutes).
    pub fn usage_cadence(self) -> Frequency {
        match self {
            Frequency::Weekly => Frequency::Weekly,
            _ => Frequency::Monthly,
        }
    }

    fn step(self, start: NaiveDate, index: u32) -> Option<NaiveDate> {
        match self {
            Frequency::Weekly => start.checked_add_days(Days::new(7 * u64::from(index))),
            Frequency::Monthly => add_months_clamped(start, index),
            Frequency::Quarterly => add_months_clamped(start, index.checked_mul(3)?),
            Frequency::Annual => add_months_clamped(start, index.checked_mul(12)?),
        }
    }
}

impl fmt::Display for Frequency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `anchor` plus `months`, on the anchor's day of month or the month's last day when shorter.
pub fn add_months_clamped(anchor: NaiveDate, months: u32) -> Option<NaiveDate> {
    // chrono's `checked_add_months` already clamps to the last day of the target month, and
    // because we always add to the anchor the clamping never accumulates.
    anchor.checked_add_months(Months::new(months))
}

/// A billing period with an inclusive end: `start ..= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    /// A period from its first day and the first day of the next one.
    pub fn from_bounds(start: NaiveDate, next_start: NaiveDate) -> Option<Period> {
        (next_start > start).then(|| Period {
            start,
            end: next_start.pred_opt().unwrap_or(start),
        })
    }

    /// The first day after the period.
    pub fn next_start(self) -> NaiveDate {
        self.end.succ_opt().unwrap_or(self.end)
    }

    /// Calendar days in the period, both ends included.
    pub fn days(self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    pub fn contains(self, date: NaiveDate) -> bool {
        self.start <= date && date <= self.end
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} – {}", self.start, self.end)
    }
}

/// The periods of a schedule anchored on `anchor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub anchor: NaiveDate,
    pub frequency: Frequency,
}

impl Schedule {
    pub fn new(anchor: NaiveDate, frequency: Frequency) -> Schedule {
        Schedule { anchor, frequency }
    }

    /// First day of period `index` (0 is the anchor).
    pub fn start_of(self, index: u32) -> Option<NaiveDate> {
        self.frequency.step(self.anchor, index)
    }

    /// Period `index`.
    pub fn period(self, index: u32) -> Option<Period> {
        Period::from_bounds(self.start_of(index)?, self.start_of(index.checked_add(1)?)?)
    }

    /// The index of the period containing `date`, or `None` before the anchor.
    pub fn index_of(self, date: NaiveDate) -> Option<u32> {
        if date < self.anchor {
            return None;
        }
        // Estimate from the calendar distance, then correct by at most a step or two.
        let months = (date.year() - self.anchor.year()) * 12 + date.month() as i32
            - self.anchor.month() as i32;
        let estimate = match self.frequency {
            Frequency::Weekly => (date - self.anchor).num_days() / 7,
            Frequency::Monthly => i64::from(months),
            Frequency::Quarterly => i64::from(months) / 3,
            Frequency::Annual => i64::from(months) / 12,
        };
        let mut index = u32::try_from(estimate.max(0)).ok()?;
        while index > 0 && self.start_of(index)? > date {
            index -= 1;
        }
        while self.start_of(index.checked_add(1)?)? <= date {
            index += 1;
        }
        Some(index)
    }

    /// The period containing `date`, or `None` before the anchor.
    pub fn period_containing(self, date: NaiveDate) -> Option<Period> {
        self.period(self.index_of(date)?)
    }

    /// Periods in order from the anchor, for as long as dates can be represented.
    pub fn periods(self) -> impl Iterator<Item = Period> {
        (0..).map_while(move |i| self.period(i))
    }

    /// The first period start strictly after `date` (the next billing day).
    pub fn next_start_after(self, date: NaiveDate) -> Option<NaiveDate> {
        match self.index_of(date) {
            None => Some(self.anchor),
            Some(i) => self.start_of(i.checked_add(1)?),
        }
    }

    /// The first period start on or after `date`.
    pub fn first_start_on_or_after(self, date: NaiveDate) -> Option<NaiveDate> {
        match self.index_of(date) {
            None => Some(self.anchor),
            Some(i) => {
                let start = self.start_of(i)?;
                if start == date {
                    Some(start)
                } else {
                    self.start_of(i.checked_add(1)?)
                }
            }
        }
    }

    /// The last period start on or before `date`.
    pub fn last_start_on_or_before(self, date: NaiveDate) -> Option<NaiveDate> {
        self.start_of(self.index_of(date)?)
    }
}

/// Days from `from` to `to` under 30/360 US with its end-of-month rule (every month counts 30
/// days; the 31st counts as the 30th, and so does the last day of February when the count
/// starts on it), used by the `thirty-day-months` proration.
pub fn days_360(from: NaiveDate, to: NaiveDate) -> i64 {
    let last_of_february =
        |d: NaiveDate| d.month() == 2 && d.succ_opt().is_some_and(|n| n.month() == 3);
    let (mut d1, mut d2) = (from.day(), to.day());
    if last_of_february(from) && last_of_february(to) {
        d2 = 30;
    }
    if last_of_february(from) {
        d1 = 30;
    }
    if d2 == 31 && d1 >= 30 {
        d2 = 30;
    }
    if d1 == 31 {
        d1 = 30;
    }
    let months =
        i64::from(to.year() - from.year()) * 12 + i64::from(to.month()) - i64::from(from.month());
    months * 30 + (i64::from(d2) - i64::from(d1))
}

/// Whole calendar months from `from` to `to` (by month number, ignoring days).
pub fn months_between(from: NaiveDate, to: NaiveDate) -> i64 {
    i64::from(to.year() - from.year()) * 12 + i64::from(to.month()) - i64::from(from.month())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or(NaiveDate::MIN)
    }

    #[test]
    fn a_31_january_anchor_clamps_to_month_end_without_drifting() {
        let s = Schedule::new(d(2028, 1, 31), Frequency::Monthly);
        let starts: Vec<_> = (0..4).filter_map(|i| s.start_of(i)).collect();
        // 2028 is a leap year: 29 February, then back to the 31st.
        assert_eq!(
            starts,
            vec![
                d(2028, 1, 31),
                d(2028, 2, 29),
                d(2028, 3, 31),
                d(2028, 4, 30)
            ]
        );
        assert_eq!(
            s.period(1),
            Some(Period {
                start: d(2028, 2, 29),
                end: d(2028, 3, 30)
            })
        );
        // Not a leap year: 28 February.
        let s = Schedule::new(d(2027, 1, 31), Frequency::Monthly);
        assert_eq!(s.start_of(1), Some(d(2027, 2, 28)));
    }

    #[test]
    fn a_29_february_annual_anchor_falls_on_28_february_then_returns() {
        let s = Schedule::new(d(2028, 2, 29), Frequency::Annual);
        assert_eq!(s.start_of(1), Some(d(2029, 2, 28)));
        assert_eq!(s.start_of(4), Some(d(2032, 2, 29)));
        assert_eq!(s.period(0).map(Period::days), Some(365));
    }

    #[test]
    fn the_seed_period_runs_6_july_to_5_august_and_has_31_days() {
        let s = Schedule::new(d(2024, 1, 6), Frequency::Monthly);
        let p = s.period_containing(d(2024, 7, 10));
        assert_eq!(
            p,
            Some(Period {
                start: d(2024, 7, 6),
                end: d(2024, 8, 5)
            })
        );
        assert_eq!(p.map(Period::days), Some(31));
    }

    #[test]
    fn index_of_finds_the_period_for_every_day_of_two_years() {
        for freq in Frequency::ALL {
            let s = Schedule::new(d(2024, 1, 31), freq);
            let mut day = d(2024, 1, 31);
            while day < d(2026, 2, 1) {
                let p = s.period_containing(day);
                assert!(p.is_some_and(|p| p.contains(day)), "{freq} {day}");
                day = day.succ_opt().unwrap_or(day);
            }
            assert_eq!(s.index_of(d(2024, 1, 30)), None);
        }
    }

    #[test]
    fn thirty_360_counts_every_month_as_30_days() {
        assert_eq!(days_360(d(2024, 7, 6), d(2024, 8, 6)), 30);
        assert_eq!(days_360(d(2024, 7, 10), d(2024, 8, 6)), 26);
        assert_eq!(days_360(d(2024, 1, 31), d(2024, 2, 29)), 29);
        assert_eq!(days_360(d(2024, 1, 6), d(2025, 1, 6)), 360);
        // End of February counts as the 30th when the count starts on it.
        assert_eq!(days_360(d(2023, 2, 28), d(2023, 3, 31)), 30);
        assert_eq!(days_360(d(2023, 2, 28), d(2023, 3, 15)), 15);
    }
}
