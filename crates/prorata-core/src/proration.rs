//! Proration: what a slice of a billing period costs.
//!
//! A convention measures a period in its own units (days, 30/360 days or seconds): the period
//! is `N` units long, and any moment in it sits at a *position* `0..=N`. A slice from
//! position `a` to `b` of `q` units at unit price `u` costs `q × u × (b − a) / N`.
//!
//! ## One rounding per line, as printed
//!
//! Every line's amount is its own printed arithmetic rounded once, half-up:
//! `round_half_up(q × u × (b − a) / N)` (`4 × 30.00 × 27/31 = 104.516… → 104.52`). A reader who
//! redoes the arithmetic of any line finds its amount to the cent. `actual-days` first rounds the
//! ratio to 9 decimals half-up, as Kill Bill does, and prints that ratio beside the fraction.
//!
//! Pieces of a period rounded one by one need not add up to the period's price rounded once
//! (1 unit at 10.00 over 3 days, day by day: 3.33 × 3 = 9.99); every peer (Kill Bill, Lago,
//! Stripe) rounds each item alone too. What must hold is that a credit never takes back more
//! than was charged: reconciliation credits each issued line on its own (a credit covering the
//! same slice as the line it corrects takes back exactly its amount) and limits a credit to what
//! is left of that line, saying so on the line.
//!
//! ## Worked examples (users at 30.00 EUR a month, period 6 Jul – 5 Aug 2024, 4 users removed
//! effective 10 Jul)
//!
//! | convention | N | slice | amount |
//! |---|---|---|---|
//! | `inclusive-days` | 31 days (6 Jul..=5 Aug) | 10 Jul..=5 Aug = 27 | 4 × 30.00 × 27/31 = 104.52 |
//! | `actual-days` | 31 (6 Jul → 6 Aug) | 10 Jul → 6 Aug = 27 | 120.00 × 0.870967742 = 104.52 |
//! | `thirty-day-months` | 30 | 30/360 days 10 Jul → 6 Aug = 26 | 4 × 30.00 × 26/30 = 104.00 |
//! | `seconds` | 2,678,400 s | change at 10 Jul 12:00 → 2,289,600 s | 120.00 × 2289600/2678400 = 102.58 |

use std::fmt;

use chrono::{NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::calendar::{days_360, months_between, Period};
use crate::catalog::Lang;
use crate::decimal::Decimal;
use crate::money::{round_half_up, Currency, Money};

/// How a partial period is measured (a tenant setting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DayCount {
    /// Calendar days, both ends inclusive, over the days of the period (seed 001).
    #[default]
    InclusiveDays,
    /// Days from the change to the period end (exclusive) over the period's days; ratio kept
    /// to 9 decimals half-up, then the amount rounded (Kill Bill).
    ActualDays,
    /// Every month counts 30 days (30/360 US, end-of-month rule): a monthly period is always
    /// 30, a year 360. Weekly periods, which 30/360 would distort, are measured in calendar days.
    ThirtyDayMonths,
    /// Seconds between instants (Stripe).
    Seconds,
}

impl DayCount {
    pub fn as_str(self) -> &'static str {
        match self {
            DayCount::InclusiveDays => "inclusive-days",
            DayCount::ActualDays => "actual-days",
            DayCount::ThirtyDayMonths => "thirty-day-months",
            DayCount::Seconds => "seconds",
        }
    }

    /// Whether changes are measured at a finer grain than the day.
    pub fn uses_time_of_day(self) -> bool {
        matches!(self, DayCount::Seconds)
    }

    fn thirty_360_applies(self, period: Period) -> bool {
        self == DayCount::ThirtyDayMonths && period.days() > 7
    }

    /// The period's length `N` in the convention's units.
    pub fn length(self, period: Period) -> i64 {
        match self {
            DayCount::InclusiveDays | DayCount::ActualDays => period.days(),
            DayCount::ThirtyDayMonths if self.thirty_360_applies(period) => {
                30 * months_between(period.start, period.next_start())
            }
            DayCount::ThirtyDayMonths => period.days(),
            DayCount::Seconds => period.days() * 86_400,
        }
    }

    /// Where `at` sits in `period`, clamped to `0..=N`.
    pub fn position(self, period: Period, at: NaiveDateTime) -> i64 {
        let n = self.length(period);
        let raw = match self {
            DayCount::InclusiveDays | DayCount::ActualDays => (at.date() - period.start).num_days(),
            DayCount::ThirtyDayMonths if self.thirty_360_applies(period) => {
                if at.date() >= period.next_start() {
                    n
                } else {
                    days_360(period.start, at.date())
                }
            }
            DayCount::ThirtyDayMonths => (at.date() - period.start).num_days(),
            DayCount::Seconds => (at - period.start.and_time(NaiveTime::MIN)).num_seconds(),
        };
        raw.clamp(0, n)
    }

    /// The amount of `units` at `unit_price` over positions `from..to` of a period `n` long,
    /// rounded once as the line prints it (see the module note).
    pub fn slice_amount(
        self,
        unit_price: Decimal,
        units: i64,
        (from, to, n): (i64, i64, i64),
        currency: Currency,
    ) -> Option<Money> {
        let q = i128::from(units);
        match self {
            DayCount::ActualDays => {
                let ratio = round_half_up(i128::from(to - from) * RATIO_SCALE, i128::from(n))?;
                unit_price.times_rounded(q, ratio, RATIO_SCALE, currency)
            }
            _ => unit_price.times_rounded(q, i128::from(to - from), i128::from(n), currency),
        }
    }

    /// The explanation of a slice: `27/31`, or for `actual-days` also the 9-decimal ratio.
    pub fn fraction(self, (from, to, n): (i64, i64, i64)) -> Fraction {
        let ratio = match self {
            DayCount::ActualDays => {
                round_half_up(i128::from(to - from) * RATIO_SCALE, i128::from(n))
                    .and_then(|m| Decimal::new(m, 9))
            }
            _ => None,
        };
        Fraction {
            num: to - from,
            den: n,
            unit: if self == DayCount::Seconds {
                FractionUnit::Seconds
            } else {
                FractionUnit::Days
            },
            ratio,
        }
    }
}

impl fmt::Display for DayCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const RATIO_SCALE: i128 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FractionUnit {
    Days,
    Seconds,
}

/// The part of a period a prorated line covers: `num/den` units, shown as `27/31` and `87%`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fraction {
    pub num: i64,
    pub den: i64,
    pub unit: FractionUnit,
    /// The rounded ratio actually applied, when the convention rounds it (`actual-days`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio: Option<Decimal>,
}

impl Fraction {
    pub fn is_whole(self) -> bool {
        self.num == self.den
    }

    /// The share of the period in whole percent, rounded half-up: 27/31 -> 87.
    pub fn percent(self) -> i64 {
        round_half_up(i128::from(self.num) * 100, i128::from(self.den))
            .and_then(|p| i64::try_from(p).ok())
            .unwrap_or(0)
    }
}

impl Fraction {
    /// The fraction as a line's arithmetic prints it: `27/31`, `27/31 (0.870967742)` under
    /// `actual-days`, and for seconds the durations a person reads, `26 d 12 h / 31 d`.
    pub fn show(self, lang: Lang) -> String {
        match (self.unit, self.ratio) {
            (FractionUnit::Seconds, _) => format!(
                "{} / {}",
                duration(self.num, lang),
                duration(self.den, lang)
            ),
            (FractionUnit::Days, Some(r)) => format!("{}/{} ({r})", self.num, self.den),
            (FractionUnit::Days, None) => format!("{}/{}", self.num, self.den),
        }
    }

    /// The part of the period in words: `27 of 31 days`, `27 jours sur 31`, `26 d 12 h of 31 d`.
    pub fn describe(self, lang: Lang) -> String {
        match (self.unit, lang) {
            (FractionUnit::Days, Lang::En) => format!("{} of {} days", self.num, self.den),
            (FractionUnit::Days, Lang::Fr) => format!("{} jours sur {}", self.num, self.den),
            (FractionUnit::Seconds, Lang::En) => {
                format!(
                    "{} of {}",
                    duration(self.num, lang),
                    duration(self.den, lang)
                )
            }
            (FractionUnit::Seconds, Lang::Fr) => {
                format!(
                    "{} sur {}",
                    duration(self.num, lang),
                    duration(self.den, lang)
                )
            }
        }
    }
}

/// Seconds as days, hours, minutes and seconds, leaving out the zero parts: `26 d 12 h`,
/// `26 j 12 h 30 min 5 s`; `0 s` when there are none.
pub fn duration(seconds: i64, lang: Lang) -> String {
    let day = match lang {
        Lang::En => "d",
        Lang::Fr => "j",
    };
    let parts = [
        (seconds / 86_400, day),
        (seconds % 86_400 / 3_600, "h"),
        (seconds % 3_600 / 60, "min"),
        (seconds % 60, "s"),
    ];
    let shown: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n != 0)
        .map(|(n, u)| format!("{n} {u}"))
        .collect();
    if shown.is_empty() {
        "0 s".into()
    } else {
        shown.join(" ")
    }
}

impl fmt::Display for Fraction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ratio {
            Some(r) => write!(f, "{}/{} ({r})", self.num, self.den),
            None => write!(f, "{}/{}", self.num, self.den),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use std::str::FromStr;

    fn at(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(h, 0, 0))
            .unwrap_or_default()
    }

    fn seed_period() -> Period {
        Period {
            start: NaiveDate::from_ymd_opt(2024, 7, 6).unwrap_or_default(),
            end: NaiveDate::from_ymd_opt(2024, 8, 5).unwrap_or_default(),
        }
    }

    /// Amount of the 4 users removed at `change`, per convention (the module's table).
    fn credit_for_four_users(conv: DayCount, change: NaiveDateTime) -> (Fraction, i64) {
        let p = seed_period();
        let n = conv.length(p);
        let pos = conv.position(p, change);
        let price = Decimal::from_str("30.00").unwrap_or(Decimal::ZERO);
        let amount = conv
            .slice_amount(price, 4, (pos, n, n), Currency::EUR)
            .map(Money::minor)
            .unwrap_or(-1);
        (conv.fraction((pos, n, n)), amount)
    }

    #[test]
    fn seed_example_inclusive_days_is_27_of_31_days_or_87_percent() {
        let (f, amount) = credit_for_four_users(DayCount::InclusiveDays, at(2024, 7, 10, 0));
        assert_eq!((f.num, f.den, f.percent()), (27, 31, 87));
        // 4 × 30.00 × 27/31 = 104.516… -> 104.52
        assert_eq!(amount, 10452);
    }

    #[test]
    fn actual_days_rounds_the_ratio_to_nine_decimals_first() {
        let (f, amount) = credit_for_four_users(DayCount::ActualDays, at(2024, 7, 10, 0));
        assert_eq!(
            f.ratio.map(|r| r.to_string()),
            Some("0.870967742".to_string())
        );
        // 120.00 × 0.870967742 = 104.51612904 -> 104.52
        assert_eq!(amount, 10452);
    }

    #[test]
    fn thirty_day_months_counts_26_of_30_days() {
        let (f, amount) = credit_for_four_users(DayCount::ThirtyDayMonths, at(2024, 7, 10, 0));
        assert_eq!((f.num, f.den), (26, 30));
        // 4 × 30.00 × 26/30 = 104.00
        assert_eq!(amount, 10400);
    }

    #[test]
    fn seconds_measures_from_the_instant_of_the_change() {
        let (f, amount) = credit_for_four_users(DayCount::Seconds, at(2024, 7, 10, 12));
        // 26.5 days of 31: 120.00 × 2289600/2678400 = 102.580… -> 102.58
        assert_eq!((f.num, f.den), (2_289_600, 2_678_400));
        assert_eq!(amount, 10258);
    }

    #[test]
    fn each_slice_is_its_own_arithmetic_rounded_once() {
        // 1 unit at 10.00 over 3 days: each day prints 1 × 10.00 × 1/3 = 3.333… → 3.33.
        let price = Decimal::from_str("10.00").unwrap_or(Decimal::ZERO);
        let c = DayCount::InclusiveDays;
        let pieces: Vec<i64> = [(0, 1), (1, 2), (2, 3)]
            .iter()
            .filter_map(|&(a, b)| c.slice_amount(price, 1, (a, b, 3), Currency::EUR))
            .map(Money::minor)
            .collect();
        assert_eq!(pieces, vec![333, 333, 333]);
        // Two days of three: 1 × 10.00 × 2/3 = 6.666… → 6.67, not 3.33 + 3.33.
        assert_eq!(
            c.slice_amount(price, 1, (1, 3, 3), Currency::EUR)
                .map(Money::minor),
            Some(667)
        );
    }

    #[test]
    fn seconds_print_as_durations_a_person_reads() {
        let f = DayCount::Seconds.fraction((388_800, 2_678_400, 2_678_400));
        assert_eq!(f.show(Lang::En), "26 d 12 h / 31 d");
        assert_eq!(f.show(Lang::Fr), "26 j 12 h / 31 j");
        assert_eq!(f.describe(Lang::Fr), "26 j 12 h sur 31 j");
        assert_eq!(duration(90_061, Lang::En), "1 d 1 h 1 min 1 s");
        assert_eq!(duration(0, Lang::En), "0 s");
    }

    #[test]
    fn kill_bills_cancellation_credit_rounds_its_own_days() {
        // 249.95 a month, period 10 Jun – 9 Jul 2016 (30 days), cancelled on 19 June: 21 days
        // credited, ratio 0.700000000, 249.95 × 0.7 = 174.965 → 174.97 (issue #15, item 9).
        let price = Decimal::from_str("249.95").unwrap_or(Decimal::ZERO);
        let amount = DayCount::ActualDays.slice_amount(price, 1, (9, 30, 30), Currency::USD);
        assert_eq!(amount.map(Money::minor), Some(17497));
    }
}
