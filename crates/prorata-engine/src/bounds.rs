//! The bounds every input is held to, declared once: dates inside a window around the
//! tenant's today, money amounts small enough that every sum of them stays exact in `i64`.
//! A value outside is the caller's mistake: a 422 naming the field, never a 500 later.

use chrono::{Months, NaiveDate};

use crate::{invalid, Result};

/// No subscription, change or preview before this day.
pub const EARLIEST: NaiveDate = match NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// How far after the tenant's today a date may lie (subscription starts, previews, a sandbox
/// clock's move).
pub const YEARS_AHEAD: u32 = 10;

/// The largest amount one payment, transfer or refund may carry, in minor units (ten billion
/// units of a two-decimal currency): nine million of them still add up exactly in `i64`.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// Checks that `date` lies between [`EARLIEST`] and [`YEARS_AHEAD`] years after `today`.
pub fn check_date(field: &str, date: NaiveDate, today: NaiveDate) -> Result<()> {
    let latest = today
        .checked_add_months(Months::new(YEARS_AHEAD * 12))
        .unwrap_or(NaiveDate::MAX);
    if date < EARLIEST || date > latest {
        return Err(invalid(
            field,
            format!("{date} is outside the accepted dates, {EARLIEST} to {latest}"),
        ));
    }
    Ok(())
}

/// Checks that a positive amount in minor units is at most [`MAX_AMOUNT`].
pub fn check_amount(field: &str, minor: i64) -> Result<()> {
    if minor <= 0 {
        return Err(invalid(field, "must be positive (minor units)"));
    }
    if minor > MAX_AMOUNT {
        return Err(invalid(
            field,
            format!("at most {MAX_AMOUNT} minor units at a time"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_amounts_outside_the_bounds_name_their_field() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap_or_default();
        assert!(check_date("start", today, today).is_ok());
        assert!(check_date("start", EARLIEST, today).is_ok());
        let e = check_date(
            "start",
            NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or_default(),
            today,
        );
        assert!(e.is_err_and(|e| e.to_string().starts_with("start:")));
        assert!(check_date("to", NaiveDate::MAX, today).is_err());
        assert!(check_date(
            "to",
            NaiveDate::from_ymd_opt(2036, 12, 4).unwrap_or_default(),
            today
        )
        .is_ok());
        assert!(check_date(
            "to",
            NaiveDate::from_ymd_opt(2036, 12, 5).unwrap_or_default(),
            today
        )
        .is_err());
        assert!(check_amount("amount", 1).is_ok());
        assert!(check_amount("amount", MAX_AMOUNT).is_ok());
        assert!(check_amount("amount", i64::MAX).is_err());
        assert!(check_amount("amount", 0).is_err());
        // Nine million of the largest amounts still add up.
        assert!(MAX_AMOUNT.checked_mul(9_000_000).is_some());
    }
}
