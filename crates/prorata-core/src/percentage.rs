//! The percentage charge model (Lago's `percentage`): a percent of a volume counted in minor
//! units (card payments, transfers), plus a fixed fee per transaction, with a number of
//! transactions free of that fee and an amount of volume free of the percent.
//!
//! Usage is kept as daily totals — the volume and the number of transactions of each day
//! ([`crate::reconcile::UsageRecord`]'s `quantity` and `events`) — so a period is rated on its
//! totals, exactly:
//!
//! ```text
//! amount = max(0, volume − free_amount) × percent / 100
//!        + max(0, transactions − free_transactions) × fixed_fee
//! ```
//!
//! rounded once, half-up, to the minor unit; nothing at all for a period without volume (as
//! Lago: no fixed fee on a zero volume). The two allowances are independent, as Lago's
//! documentation defines them ("number of events that are not subject to the fixed fee";
//! "amount that is not subject to the charge rate").
//!
//! Not offered, because they need each transaction's amount and order, which daily totals do
//! not keep: per-transaction minimums and maximums (a catalog asking for them is refused,
//! naming the field), and Lago's coupling of the two allowances ("the first 3 events or $500",
//! whichever is exhausted first, and the percent waived on the free events' amounts).

use crate::catalog::Lang;
use crate::charge::{Rating, RatingError};
use crate::decimal::Decimal;
use crate::money::{round_half_up, Currency, Money};

/// The terms of a percentage charge, as the catalog gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PercentageTerms {
    /// Percent of the volume, 0 to 100.
    pub percent: Decimal,
    /// Per transaction, in major units of the currency.
    pub fixed_fee: Decimal,
    /// Transactions of a period free of the fixed fee.
    pub free_transactions: i64,
    /// Volume of a period free of the percent, in major units.
    pub free_amount: Decimal,
}

/// What is refused in a percentage charge's terms; the caller names the model's field.
pub fn validate(t: &PercentageTerms) -> Result<(), String> {
    if t.percent.is_negative() || t.percent.cmp_value(Decimal::from_int(100)).is_gt() {
        return Err("percent must be between 0 and 100".into());
    }
    if t.fixed_fee.is_negative() {
        return Err("fixed_fee cannot be negative".into());
    }
    if t.free_transactions < 0 {
        return Err("free_transactions cannot be negative".into());
    }
    if t.free_amount.is_negative() {
        return Err("free_amount cannot be negative".into());
    }
    Ok(())
}

/// Why per-transaction limits are refused (Lago's `per_transaction_min_amount` and
/// `per_transaction_max_amount`).
pub const NO_PER_TRANSACTION_LIMITS: &str = "per-transaction minimums and maximums need each \
     transaction's amount, but usage is kept as daily totals (the volume and the number of \
     transactions of each day), so they cannot be applied exactly and are not offered";

/// `10^n` as an `i128`, or an overflow.
fn pow10(n: u32) -> Result<i128, RatingError> {
    10_i128.checked_pow(n).ok_or(RatingError::Overflow)
}

/// An exact amount of `num / 10^scale` minor units, printed in major units with the
/// currency's decimals at least and only the further decimals it needs: `180.00`, `0.16042`.
fn show_exact(num: i128, scale: u32, currency: Currency) -> String {
    let exp = currency.exponent();
    let digits = scale + exp;
    let sign = if num < 0 { "-" } else { "" };
    let abs = num.unsigned_abs();
    let Some(per) = 10_u128.checked_pow(digits) else {
        return format!("{sign}{abs}e-{digits}");
    };
    let (int, frac) = (abs / per, abs % per);
    if digits == 0 {
        return format!("{sign}{int}");
    }
    let mut frac = format!("{frac:0width$}", width = digits as usize);
    while frac.len() > exp as usize && frac.ends_with('0') {
        frac.pop();
    }
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// Rates a period's `volume` (minor units) and `transactions` under `t`, in `currency`.
pub fn rate(
    t: &PercentageTerms,
    volume: i64,
    transactions: i64,
    currency: Currency,
    lang: Lang,
) -> Result<Rating, RatingError> {
    if volume < 0 {
        return Err(RatingError::Negative(volume));
    }
    if transactions < 0 {
        return Err(RatingError::Negative(transactions));
    }
    let overflow = || RatingError::Overflow;
    let exp = currency.exponent();
    let volume_text = Money::from_minor(volume, currency).amount_text();
    let free_word = match lang {
        Lang::En => "free",
        Lang::Fr => "gratuites",
    };
    // The billable volume, in minor units × 10^fs: (volume − free_amount) at the free amount's
    // scale, never below zero.
    let fs = t.free_amount.scale();
    let free_minor = t
        .free_amount
        .mantissa()
        .checked_mul(pow10(exp)?)
        .ok_or_else(overflow)?;
    let base = i128::from(volume)
        .checked_mul(pow10(fs)?)
        .and_then(|v| v.checked_sub(free_minor))
        .ok_or_else(overflow)?
        .max(0);
    // percent part = base × percent / 100, in minor units × 10^k1.
    let k1 = fs + 2 + t.percent.scale();
    let pct_num = base
        .checked_mul(t.percent.mantissa())
        .ok_or_else(overflow)?;
    // fee part = paid × fee, in minor units × 10^k2.
    let free_tx = t.free_transactions.clamp(0, transactions);
    let paid = transactions - free_tx;
    let k2 = t.fixed_fee.scale();
    let fee_num = i128::from(paid)
        .checked_mul(t.fixed_fee.mantissa())
        .and_then(|f| f.checked_mul(10_i128.checked_pow(exp)?))
        .ok_or_else(overflow)?;
    // One rounding of the exact sum, over the common denominator 10^k.
    let k = k1.max(k2);
    let total = pct_num
        .checked_mul(pow10(k - k1)?)
        .and_then(|p| p.checked_add(fee_num.checked_mul(10_i128.checked_pow(k - k2)?)?))
        .ok_or_else(overflow)?;
    let minor = if volume == 0 {
        0 // no volume, no fee (Lago: a fixed fee is charged only on a volume)
    } else {
        round_half_up(total, pow10(k)?).ok_or_else(overflow)?
    };
    let amount = Money::from_minor(i64::try_from(minor).map_err(|_| overflow())?, currency);

    let percent = t.percent;
    let mut explanation = if t.free_amount.is_zero() {
        format!("{volume_text} × {percent} %")
    } else {
        let free_text = show_exact(free_minor, fs, currency);
        format!("({volume_text} − {free_text} {free_word}) × {percent} %")
    };
    if !t.fixed_fee.is_zero() {
        let fee = t.fixed_fee;
        let count = if t.free_transactions > 0 {
            format!("({transactions} − {free_tx} {free_word})")
        } else {
            transactions.to_string()
        };
        explanation = format!(
            "{explanation} [{}] + {count} × {fee} [{}]",
            show_exact(pct_num, k1, currency),
            show_exact(fee_num, k2, currency),
        );
    }
    Ok(Rating {
        amount,
        unit_price: None,
        explanation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or(Decimal::ZERO)
    }

    fn terms(percent: &str, fee: &str, free_tx: i64, free_amount: &str) -> PercentageTerms {
        PercentageTerms {
            percent: dec(percent),
            fixed_fee: dec(fee),
            free_transactions: free_tx,
            free_amount: dec(free_amount),
        }
    }

    #[test]
    fn exact_parts_print_the_decimals_they_need() {
        assert_eq!(show_exact(18_000_000, 3, Currency::EUR), "180.00");
        assert_eq!(show_exact(16_042, 3, Currency::EUR), "0.16042");
        assert_eq!(show_exact(5, 0, Currency::JPY), "5");
    }

    #[test]
    fn the_period_is_rated_once_on_its_exact_total() {
        // 1.3 % × 12.34 = 0.16042 and 1 × 0.004 = 0.004: 0.16442 → 0.16 (each part rounded
        // alone would give 0.16 + 0.00 as well; here the sum is what is rounded).
        let r = rate(
            &terms("1.3", "0.004", 0, "0"),
            1234,
            1,
            Currency::EUR,
            Lang::En,
        );
        assert_eq!(r.map(|r| r.amount.minor()).ok(), Some(16));
        // 0.5 % × 1.01 = 0.00505 + 1 × 0.005 = 0.01005 → 0.01, where rounding each part
        // first would give 0.01 + 0.01 = 0.02.
        let r = rate(
            &terms("0.5", "0.005", 0, "0"),
            101,
            1,
            Currency::EUR,
            Lang::En,
        );
        assert_eq!(r.map(|r| r.amount.minor()).ok(), Some(1));
    }

    #[test]
    fn bad_terms_name_what_is_wrong() {
        assert!(validate(&terms("101", "0", 0, "0")).is_err_and(|e| e.contains("percent")));
        assert!(validate(&terms("1", "-1", 0, "0")).is_err_and(|e| e.contains("fixed_fee")));
        assert!(validate(&terms("1", "0", -1, "0")).is_err_and(|e| e.contains("free_transactions")));
        assert!(validate(&terms("1", "0", 0, "-5")).is_err_and(|e| e.contains("free_amount")));
        assert!(rate(&terms("1", "0", 0, "0"), 1, -1, Currency::EUR, Lang::En).is_err());
    }
}
