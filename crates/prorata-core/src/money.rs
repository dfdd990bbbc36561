//! Money: integer minor units tagged with an ISO 4217 currency.
//!
//! Invariants: an amount is an `i64` count of the currency's minor unit (cents for EUR, USD,
//! GBP; yen for JPY). Arithmetic is checked: adding two currencies or overflowing is an error,
//! never a silent wrap. Nothing here ever touches a float.
//!
//! Amounts finer than the minor unit (a per-minute call rate of 0.015 EUR) are [`Decimal`]s;
//! they become `Money` only through [`round_half_up`], the one rounding of the engine.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::decimal::Decimal;

/// An ISO 4217 currency the engine can bill in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Currency {
    EUR,
    USD,
    GBP,
    CHF,
    CAD,
    AUD,
    SEK,
    DKK,
    NOK,
    PLN,
    JPY,
}

impl Currency {
    pub const ALL: [Currency; 11] = [
        Currency::EUR,
        Currency::USD,
        Currency::GBP,
        Currency::CHF,
        Currency::CAD,
        Currency::AUD,
        Currency::SEK,
        Currency::DKK,
        Currency::NOK,
        Currency::PLN,
        Currency::JPY,
    ];

    /// Digits after the decimal point of the minor unit (ISO 4217 "exponent").
    pub const fn exponent(self) -> u32 {
        match self {
            Currency::JPY => 0,
            _ => 2,
        }
    }

    pub const fn code(self) -> &'static str {
        match self {
            Currency::EUR => "EUR",
            Currency::USD => "USD",
            Currency::GBP => "GBP",
            Currency::CHF => "CHF",
            Currency::CAD => "CAD",
            Currency::AUD => "AUD",
            Currency::SEK => "SEK",
            Currency::DKK => "DKK",
            Currency::NOK => "NOK",
            Currency::PLN => "PLN",
            Currency::JPY => "JPY",
        }
    }

    /// The number of minor units in one major unit (100 for EUR, 1 for JPY).
    pub const fn minor_per_major(self) -> i64 {
        10_i64.pow(self.exponent())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::ALL
            .into_iter()
            .find(|c| c.code() == s)
            .ok_or_else(|| MoneyError::UnknownCurrency(s.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("cannot combine {left} and {right}: amounts in different currencies")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("amount overflow")]
    Overflow,
    #[error("unknown currency {0:?} (expected an ISO 4217 code such as EUR, USD or GBP)")]
    UnknownCurrency(String),
    #[error("{0:?} is not an amount in {1}: {2}")]
    Parse(String, Currency, &'static str),
}

/// An exact amount of money: minor units and a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"minor": 10452, "currency": "EUR"}))
)]
pub struct Money {
    /// The amount in the currency's minor units (cents): `10452` is 104.52 EUR.
    minor: i64,
    currency: Currency,
}

impl Money {
    pub const fn from_minor(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    pub const fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    pub const fn minor(self) -> i64 {
        self.minor
    }

    pub const fn currency(self) -> Currency {
        self.currency
    }

    pub const fn is_zero(self) -> bool {
        self.minor == 0
    }

    pub const fn is_negative(self) -> bool {
        self.minor < 0
    }

    /// Parses a major-unit amount such as `"30.00"` or `"-104.52"`. More decimals than the
    /// currency has is an error: an amount is never rounded silently.
    pub fn parse(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let d = Decimal::from_str(text)
            .map_err(|e| MoneyError::Parse(text.to_string(), currency, e.reason()))?;
        d.to_minor_exact(currency).ok_or(MoneyError::Parse(
            text.to_string(),
            currency,
            "more decimals than the currency's minor unit",
        ))
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::from_minor(minor, self.currency))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::from_minor(minor, self.currency))
    }

    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        let minor = self.minor.checked_neg().ok_or(MoneyError::Overflow)?;
        Ok(Money::from_minor(minor, self.currency))
    }

    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        let minor = self.minor.checked_mul(factor).ok_or(MoneyError::Overflow)?;
        Ok(Money::from_minor(minor, self.currency))
    }

    /// Sums amounts that must all be in `currency`.
    pub fn sum<I: IntoIterator<Item = Money>>(
        currency: Currency,
        items: I,
    ) -> Result<Money, MoneyError> {
        items
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }

    /// The amount in major units, as text with the currency's decimals: `-104.52`.
    pub fn amount_text(self) -> String {
        let exp = self.currency.exponent();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exp == 0 {
            return format!("{sign}{abs}");
        }
        let per = 10_u64.pow(exp);
        format!(
            "{sign}{}.{:0width$}",
            abs / per,
            abs % per,
            width = exp as usize
        )
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount_text(), self.currency)
    }
}

/// The engine's one rounding: `numerator / denominator` rounded to the nearest integer, halves
/// away from zero ("half-up" as commercial rounding means it: 0.5 -> 1, -0.5 -> -1). Being
/// symmetric, a credit of an amount is exactly the negation of its charge.
///
/// Returns `None` for a zero denominator or an overflow.
pub fn round_half_up(numerator: i128, denominator: i128) -> Option<i128> {
    if denominator == 0 {
        return None;
    }
    let (n, d) = if denominator < 0 {
        (numerator.checked_neg()?, denominator.checked_neg()?)
    } else {
        (numerator, denominator)
    };
    let q = n / d;
    let r = n % d;
    // |r| * 2 >= d  <=>  the remainder is at least a half.
    if r.checked_abs()?.checked_mul(2)? >= d {
        Some(if n < 0 { q - 1 } else { q + 1 })
    } else {
        Some(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_sends_halves_away_from_zero() {
        assert_eq!(round_half_up(5, 10), Some(1));
        assert_eq!(round_half_up(-5, 10), Some(-1));
        assert_eq!(round_half_up(4, 10), Some(0));
        assert_eq!(round_half_up(-4, 10), Some(0));
        assert_eq!(round_half_up(15, -10), Some(-2));
        // 120.00 EUR x 27/31 = 104.516... EUR -> 10452 cents.
        assert_eq!(round_half_up(12000 * 27, 31), Some(10452));
        assert_eq!(round_half_up(1, 0), None);
    }

    #[test]
    fn adding_two_currencies_is_an_error() {
        let eur = Money::from_minor(100, Currency::EUR);
        let usd = Money::from_minor(100, Currency::USD);
        assert_eq!(
            eur.checked_add(usd),
            Err(MoneyError::CurrencyMismatch {
                left: Currency::EUR,
                right: Currency::USD
            })
        );
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        let big = Money::from_minor(i64::MAX, Currency::EUR);
        assert_eq!(
            big.checked_add(Money::from_minor(1, Currency::EUR)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(big.checked_mul(2), Err(MoneyError::Overflow));
        assert_eq!(
            Money::from_minor(i64::MIN, Currency::EUR).checked_neg(),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn parse_respects_each_currency_exponent() {
        assert_eq!(
            Money::parse("30.00", Currency::EUR).map(Money::minor),
            Ok(3000)
        );
        assert_eq!(
            Money::parse("30", Currency::GBP).map(Money::minor),
            Ok(3000)
        );
        assert_eq!(
            Money::parse("1500", Currency::JPY).map(Money::minor),
            Ok(1500)
        );
        assert!(Money::parse("30.001", Currency::EUR).is_err());
        assert!(Money::parse("1.5", Currency::JPY).is_err());
        assert!(Money::parse("30,00", Currency::EUR).is_err());
    }

    #[test]
    fn display_shows_major_units_and_code() {
        assert_eq!(
            Money::from_minor(-10452, Currency::EUR).to_string(),
            "-104.52 EUR"
        );
        assert_eq!(Money::from_minor(5, Currency::USD).to_string(), "0.05 USD");
        assert_eq!(
            Money::from_minor(1500, Currency::JPY).to_string(),
            "1500 JPY"
        );
        assert_eq!("GBP".parse::<Currency>(), Ok(Currency::GBP));
        assert!("XXX".parse::<Currency>().is_err());
    }
}
