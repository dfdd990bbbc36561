//! Exact decimals for prices finer than a minor unit (per-minute call rates, tier prices,
//! percentages).
//!
//! A `Decimal` is `mantissa / 10^scale` with an `i128` mantissa and at most
//! [`Decimal::MAX_SCALE`] decimals. It is parsed from text only: a catalog that writes a price
//! as a TOML float (`0.015`) is refused, because the float has already lost the exact value
//! before we see it. Decimals become money only through [`crate::money::round_half_up`].

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::money::{round_half_up, Currency, Money};

/// Equality, hashing and order are by value: `30.00 == 30.0`, while each keeps its own scale
/// for display.
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a decimal number: {reason}")]
pub struct DecimalError {
    text: String,
    reason: &'static str,
}

impl DecimalError {
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl Decimal {
    pub const MAX_SCALE: u32 = 18;
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    pub const fn from_int(value: i64) -> Decimal {
        Decimal {
            mantissa: value as i128,
            scale: 0,
        }
    }

    /// `mantissa / 10^scale`; `None` when the scale is above [`Decimal::MAX_SCALE`].
    pub fn new(mantissa: i128, scale: u32) -> Option<Decimal> {
        (scale <= Self::MAX_SCALE).then_some(Decimal { mantissa, scale })
    }

    pub const fn mantissa(self) -> i128 {
        self.mantissa
    }

    pub const fn scale(self) -> u32 {
        self.scale
    }

    pub const fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    pub const fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    /// `10^scale` as the denominator of this decimal.
    pub fn denominator(self) -> i128 {
        10_i128.pow(self.scale)
    }

    /// The amount in `currency`'s minor units if it has no more decimals than the currency;
    /// `None` otherwise (or on overflow).
    pub fn to_minor_exact(self, currency: Currency) -> Option<Money> {
        let minor_num = self
            .mantissa
            .checked_mul(10_i128.pow(currency.exponent()))?;
        let den = self.denominator();
        if minor_num % den != 0 {
            return None;
        }
        i64::try_from(minor_num / den)
            .ok()
            .map(|m| Money::from_minor(m, currency))
    }

    /// `self × quantity × num / den` in `currency`, rounded once, half-up, to the minor unit.
    /// This is how every line amount is made.
    pub fn times_rounded(
        self,
        quantity: i128,
        num: i128,
        den: i128,
        currency: Currency,
    ) -> Option<Money> {
        let numerator = self
            .mantissa
            .checked_mul(quantity)?
            .checked_mul(10_i128.pow(currency.exponent()))?
            .checked_mul(num)?;
        let denominator = self.denominator().checked_mul(den)?;
        let minor = round_half_up(numerator, denominator)?;
        i64::try_from(minor)
            .ok()
            .map(|m| Money::from_minor(m, currency))
    }

    /// Compares two decimals exactly.
    pub fn cmp_value(self, other: Decimal) -> std::cmp::Ordering {
        let scale = self.scale.max(other.scale);
        let a = self.mantissa * 10_i128.pow(scale - self.scale);
        let b = other.mantissa * 10_i128.pow(scale - other.scale);
        a.cmp(&b)
    }
}

impl Decimal {
    /// The value with trailing zero decimals removed: the canonical form for equality.
    fn normalized(self) -> (i128, u32) {
        let (mut m, mut s) = (self.mantissa, self.scale);
        while s > 0 && m % 10 == 0 {
            m /= 10;
            s -= 1;
        }
        (m, s)
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        self.normalized() == other.normalized()
    }
}

impl Eq for Decimal {}

impl std::hash::Hash for Decimal {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.normalized().hash(state);
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.cmp_value(*other)
    }
}

impl FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| DecimalError {
            text: text.to_string(),
            reason,
        };
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(err("no digits"));
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("only digits and one '.' are allowed"));
        }
        let scale = u32::try_from(frac.len()).map_err(|_| err("too many decimals"))?;
        if scale > Self::MAX_SCALE {
            return Err(err("more than 18 decimals"));
        }
        // 20 digits keep every comparison and product within i128 (see `cmp_value`).
        if int.len() + frac.len() > 20 {
            return Err(err("too many digits"));
        }
        let digits = format!("{int}{frac}");
        let magnitude: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| err("too many digits"))?
        };
        Ok(Decimal {
            mantissa: if negative { -magnitude } else { magnitude },
            scale,
        })
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let abs = self.mantissa.unsigned_abs();
        if self.scale == 0 {
            return write!(f, "{sign}{abs}");
        }
        let per = 10_u128.pow(self.scale);
        write!(
            f,
            "{sign}{}.{:0width$}",
            abs / per,
            abs % per,
            width = self.scale as usize
        )
    }
}

/// Written as a string of digits (`"0.015"`, `"20"`), so no precision is lost to floats.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Decimal {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^-?[0-9]+(\.[0-9]+)?$"))
            .description(Some("An exact decimal number, written as a string"))
            .examples(["20"])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Decimal {}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal written as a string, such as \"0.015\", or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
                Decimal::from_str(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
                Ok(Decimal::from_int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
                i64::try_from(v)
                    .map(Decimal::from_int)
                    .map_err(|_| E::custom("integer too large"))
            }
            // Reached when a file writes 0.015 unquoted: refuse rather than inherit a float's error.
            fn visit_f64<E: de::Error>(self, _v: f64) -> Result<Decimal, E> {
                Err(E::custom(
                    "write decimal amounts as strings (\"0.015\"), never as floats",
                ))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_exactly() {
        for text in ["0.015", "30.00", "-104.52", "7", "0.000000001"] {
            assert_eq!(
                Decimal::from_str(text).map(|d| d.to_string()),
                Ok(text.to_string())
            );
        }
        assert!(Decimal::from_str("1,5").is_err());
        assert!(Decimal::from_str("").is_err());
        assert!(Decimal::from_str("1e3").is_err());
        assert!(Decimal::from_str("0.1234567890123456789").is_err());
    }

    #[test]
    fn a_per_minute_rate_rounds_once_per_line() {
        // 1234 minutes at 0.015 EUR = 18.51 EUR exactly.
        let rate = Decimal::from_str("0.015").ok();
        let amount = rate.and_then(|r| r.times_rounded(1234, 1, 1, Currency::EUR));
        assert_eq!(amount.map(Money::minor), Some(1851));
        // 333 minutes at 0.015 = 4.995 EUR -> 5.00 EUR (half-up).
        let amount = rate.and_then(|r| r.times_rounded(333, 1, 1, Currency::EUR));
        assert_eq!(amount.map(Money::minor), Some(500));
    }

    #[test]
    fn floats_in_files_are_refused() {
        #[derive(Debug, Deserialize)]
        struct P {
            #[allow(dead_code)]
            rate: Decimal,
        }
        let e = toml::from_str::<P>("rate = 0.015").map(|_| ()).err();
        assert!(e.is_some_and(|e| e.to_string().contains("never as floats")));
        assert!(toml::from_str::<P>("rate = \"0.015\"").is_ok());
    }
}
