//! Charge models for usage: how a quantity of a metric (call minutes, messages, a volume)
//! becomes an amount.
//!
//! Tier bounds are *cumulative and inclusive*: `up_to = 1000` then `up_to = 5000` means units
//! 1–1000 and 1001–5000. The last tier has no `up_to`. Every model computes the exact amount
//! first and rounds it once, half-up, to the minor unit: one rounding per line.
//!
//! | model | 1,500 units with tiers (≤1000 at 0.10, above at 0.05) |
//! |---|---|
//! | `per_unit` (0.10) | 1500 × 0.10 = 150.00 |
//! | `graduated` | 1000 × 0.10 + 500 × 0.05 = 125.00 |
//! | `volume` | all 1500 at the tier reached: 1500 × 0.05 = 75.00 |
//! | `package` (size 100 at 4.00) | ⌈1500/100⌉ = 15 packages × 4.00 = 60.00 |
//! | `percentage` (1.5 %, quantity in minor units) | 150000 × 1.5 % = 22.50 |
//! | `percentage` + 0.20 a transaction, 5 free, 45 transactions | 22.50 + 40 × 0.20 = 30.50 |

use serde::{Deserialize, Serialize};

use crate::decimal::Decimal;
use crate::money::{round_half_up, Currency, Money};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// Last unit of the tier, counted from the first unit of the period (inclusive).
    #[serde(default)]
    pub up_to: Option<i64>,
    pub unit_price: Decimal,
    /// Charged once when the tier is reached.
    #[serde(default = "zero")]
    pub flat_fee: Decimal,
}

fn zero() -> Decimal {
    Decimal::ZERO
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", try_from = "RawChargeModel")]
pub enum ChargeModel {
    PerUnit {
        unit_price: Decimal,
    },
    Graduated {
        tiers: Vec<Tier>,
    },
    Volume {
        tiers: Vec<Tier>,
    },
    Package {
        size: i64,
        price: Decimal,
    },
    /// `percent` of a volume counted in minor units, plus `fixed_fee` per transaction beyond
    /// `free_transactions`, the first `free_amount` of volume free of the percent
    /// ([`crate::percentage`]).
    Percentage {
        percent: Decimal,
        #[serde(default = "zero", skip_serializing_if = "is_zero_decimal")]
        fixed_fee: Decimal,
        #[serde(default, skip_serializing_if = "is_zero_count")]
        free_transactions: i64,
        #[serde(default = "zero", skip_serializing_if = "is_zero_decimal")]
        free_amount: Decimal,
    },
}

fn is_zero_count(n: &i64) -> bool {
    *n == 0
}

fn is_zero_decimal(d: &Decimal) -> bool {
    d.is_zero()
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ModelTag {
    PerUnit,
    Graduated,
    Volume,
    Package,
    Percentage,
}

/// A charge model as written in a file. It is read as one flat table (not serde's internally
/// tagged enum, which buffers the table and loses the position of a bad value), so an error
/// such as a float price points at the value's own line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChargeModel {
    model: ModelTag,
    unit_price: Option<Decimal>,
    tiers: Option<Vec<Tier>>,
    size: Option<i64>,
    price: Option<Decimal>,
    percent: Option<Decimal>,
    fixed_fee: Option<Decimal>,
    free_transactions: Option<i64>,
    free_amount: Option<Decimal>,
    /// Lago's per-transaction limits: read only to be refused with the reason.
    per_transaction_min_amount: Option<Decimal>,
    per_transaction_max_amount: Option<Decimal>,
}

impl TryFrom<RawChargeModel> for ChargeModel {
    type Error = String;
    fn try_from(raw: RawChargeModel) -> Result<Self, Self::Error> {
        let RawChargeModel {
            model,
            unit_price,
            tiers,
            size,
            price,
            percent,
            fixed_fee,
            free_transactions,
            free_amount,
            per_transaction_min_amount,
            per_transaction_max_amount,
        } = raw;
        for (field, set) in [
            (
                "per_transaction_min_amount",
                per_transaction_min_amount.is_some(),
            ),
            (
                "per_transaction_max_amount",
                per_transaction_max_amount.is_some(),
            ),
        ] {
            if set {
                return Err(format!(
                    "{field}: {}",
                    crate::percentage::NO_PER_TRANSACTION_LIMITS
                ));
            }
        }
        // Optional terms of the percentage model, allowed beside what it needs.
        let extras: &[&str] = match model {
            ModelTag::Percentage => &["fixed_fee", "free_transactions", "free_amount"],
            _ => &[],
        };
        let fields = [
            ("unit_price", unit_price.is_some()),
            ("tiers", tiers.is_some()),
            ("size", size.is_some()),
            ("price", price.is_some()),
            ("percent", percent.is_some()),
            ("fixed_fee", fixed_fee.is_some()),
            ("free_transactions", free_transactions.is_some()),
            ("free_amount", free_amount.is_some()),
        ];
        let (parsed, wanted): (Option<ChargeModel>, &[&str]) = match model {
            ModelTag::PerUnit => (
                unit_price.map(|unit_price| ChargeModel::PerUnit { unit_price }),
                &["unit_price"],
            ),
            ModelTag::Graduated => (
                tiers.map(|tiers| ChargeModel::Graduated { tiers }),
                &["tiers"],
            ),
            ModelTag::Volume => (tiers.map(|tiers| ChargeModel::Volume { tiers }), &["tiers"]),
            ModelTag::Package => (
                size.zip(price)
                    .map(|(size, price)| ChargeModel::Package { size, price }),
                &["size", "price"],
            ),
            ModelTag::Percentage => (
                percent.map(|percent| ChargeModel::Percentage {
                    percent,
                    fixed_fee: fixed_fee.unwrap_or(Decimal::ZERO),
                    free_transactions: free_transactions.unwrap_or(0),
                    free_amount: free_amount.unwrap_or(Decimal::ZERO),
                }),
                &["percent"],
            ),
        };
        if let Some((extra, _)) = fields
            .iter()
            .find(|(f, set)| *set && !wanted.contains(f) && !extras.contains(f))
        {
            return Err(format!(
                "{extra} does not apply to this model (it takes {})",
                wanted.join(" and ")
            ));
        }
        parsed.ok_or_else(|| format!("this model needs {}", wanted.join(" and ")))
    }
}

/// One part of a rated quantity, for the invoice line's explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatedPart {
    pub units: i64,
    pub unit_price: Decimal,
    pub flat_fee: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    pub amount: Money,
    /// The unit price when one price applies to every unit (per-unit, volume).
    pub unit_price: Option<Decimal>,
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatingError {
    #[error("negative usage quantity {0}")]
    Negative(i64),
    #[error("amount overflow while rating")]
    Overflow,
}

/// Exact amounts are kept at 18 decimals of the major unit while summing tiers.
const EXACT_SCALE: u32 = 18;

fn exact(units: i64, price: Decimal) -> Option<i128> {
    i128::from(units)
        .checked_mul(price.mantissa())?
        .checked_mul(10_i128.pow(EXACT_SCALE - price.scale()))
}

/// Rounds an exact amount, counted in `1/per` of the major unit at [`EXACT_SCALE`], once,
/// half-up, to the minor unit. `per` is 60 when seconds are priced per minute: dividing first
/// would not be exact (1/60 has no finite decimal form).
fn to_money(exact_major: i128, per: i64, currency: Currency) -> Option<Money> {
    let minor = round_half_up(
        exact_major.checked_mul(10_i128.pow(currency.exponent()))?,
        10_i128.pow(EXACT_SCALE).checked_mul(i128::from(per))?,
    )?;
    i64::try_from(minor)
        .ok()
        .map(|m| Money::from_minor(m, currency))
}

impl ChargeModel {
    /// Checks tiers and parameters; the error is the problem, the caller names the field.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ChargeModel::PerUnit { unit_price } if unit_price.is_negative() => {
                Err("unit_price cannot be negative".into())
            }
            ChargeModel::Graduated { tiers } | ChargeModel::Volume { tiers } => {
                if tiers.is_empty() {
                    return Err("tiers: list at least one tier".into());
                }
                let mut previous = 0;
                for (i, t) in tiers.iter().enumerate() {
                    let last = i + 1 == tiers.len();
                    match (t.up_to, last) {
                        (None, false) => {
                            return Err(format!("tiers[{i}]: only the last tier may omit up_to"))
                        }
                        (Some(_), true) => {
                            return Err(format!(
                                "tiers[{i}]: the last tier must omit up_to (it has no end)"
                            ))
                        }
                        (Some(up), false) if up <= previous => {
                            return Err(format!(
                                "tiers[{i}].up_to: {up} must be above the previous bound {previous} (bounds are cumulative)"
                            ))
                        }
                        (Some(up), false) => previous = up,
                        (None, true) => {}
                    }
                    if t.unit_price.is_negative() || t.flat_fee.is_negative() {
                        return Err(format!("tiers[{i}]: prices cannot be negative"));
                    }
                }
                Ok(())
            }
            ChargeModel::Package { size, .. } if *size <= 0 => {
                Err("size: a package holds at least one unit".into())
            }
            ChargeModel::Package { price, .. } if price.is_negative() => {
                Err("price cannot be negative".into())
            }
            ChargeModel::Percentage { .. } => self
                .percentage_terms()
                .map_or(Ok(()), |t| crate::percentage::validate(&t)),
            _ => Ok(()),
        }
    }

    /// The terms of a percentage model; `None` for the other models.
    pub fn percentage_terms(&self) -> Option<crate::percentage::PercentageTerms> {
        match self {
            ChargeModel::Percentage {
                percent,
                fixed_fee,
                free_transactions,
                free_amount,
            } => Some(crate::percentage::PercentageTerms {
                percent: *percent,
                fixed_fee: *fixed_fee,
                free_transactions: *free_transactions,
                free_amount: *free_amount,
            }),
            _ => None,
        }
    }

    /// Rates a period's usage: `quantity` in `scale`'s sub-units and the `events` (calls,
    /// transactions) it sums, which the percentage model's fee per transaction counts; the
    /// other models rate the quantity alone ([`ChargeModel::rate_in`]).
    pub fn rate_usage(
        &self,
        quantity: i64,
        events: i64,
        scale: Scale,
        currency: Currency,
        lang: crate::catalog::Lang,
    ) -> Result<Rating, RatingError> {
        match self.percentage_terms() {
            Some(t) => crate::percentage::rate(&t, quantity, events, currency, lang),
            None => self.rate_in(quantity, scale, currency),
        }
    }

    /// Rates `quantity` units in `currency`.
    pub fn rate(&self, quantity: i64, currency: Currency) -> Result<Rating, RatingError> {
        self.rate_in(quantity, Scale::UNIT, currency)
    }

    /// Rates `quantity` counted in `scale`'s sub-units (seconds of a per-minute price): tier
    /// bounds and package sizes stay in priced units, and the amount is rounded once.
    pub fn rate_in(
        &self,
        quantity: i64,
        scale: Scale,
        currency: Currency,
    ) -> Result<Rating, RatingError> {
        if quantity < 0 {
            return Err(RatingError::Negative(quantity));
        }
        let per = scale.per;
        let show = |q: i64| scale.show(q);
        let overflow = || RatingError::Overflow;
        let to_money = |total: i128| to_money(total, per, currency).ok_or_else(overflow);
        match self {
            ChargeModel::PerUnit { unit_price } => {
                let amount = to_money(exact(quantity, *unit_price).ok_or_else(overflow)?)?;
                Ok(Rating {
                    amount,
                    unit_price: Some(*unit_price),
                    explanation: format!("{} × {unit_price}", show(quantity)),
                })
            }
            ChargeModel::Graduated { tiers } => {
                let mut total: i128 = 0;
                let mut parts = Vec::new();
                let mut floor = 0;
                for t in tiers {
                    if quantity <= floor {
                        break;
                    }
                    let ceiling = t
                        .up_to
                        .map_or(i64::MAX, |u| u.saturating_mul(per))
                        .min(quantity);
                    let units = ceiling - floor;
                    total = total
                        .checked_add(exact(units, t.unit_price).ok_or_else(overflow)?)
                        .and_then(|s| s.checked_add(exact(per, t.flat_fee)?))
                        .ok_or_else(overflow)?;
                    parts.push(explain_tier(&show(units), t));
                    floor = ceiling;
                }
                Ok(Rating {
                    amount: to_money(total)?,
                    unit_price: None,
                    explanation: if parts.is_empty() {
                        "0".into()
                    } else {
                        parts.join(" + ")
                    },
                })
            }
            ChargeModel::Volume { tiers } => {
                let tier = tiers
                    .iter()
                    .find(|t| t.up_to.is_none_or(|up| quantity <= up.saturating_mul(per)));
                let Some(t) = tier.filter(|_| quantity > 0) else {
                    return Ok(Rating {
                        amount: Money::zero(currency),
                        unit_price: None,
                        explanation: "0".into(),
                    });
                };
                let total = exact(quantity, t.unit_price)
                    .and_then(|a| a.checked_add(exact(per, t.flat_fee)?))
                    .ok_or_else(overflow)?;
                Ok(Rating {
                    amount: to_money(total)?,
                    unit_price: Some(t.unit_price),
                    explanation: explain_tier(&show(quantity), t),
                })
            }
            ChargeModel::Package { size, price } => {
                // Partial packages are rounded up: 101 minutes in packages of 100 is 2.
                let size_in = size.checked_mul(per).ok_or_else(overflow)?;
                let packages = quantity / size_in + i64::from(quantity % size_in != 0);
                let amount = to_money(
                    exact(packages, *price)
                        .and_then(|a| a.checked_mul(i128::from(per)))
                        .ok_or_else(overflow)?,
                )?;
                Ok(Rating {
                    amount,
                    unit_price: None,
                    explanation: format!(
                        "⌈{}/{}⌉ = {packages} × {price}",
                        show(quantity),
                        show(size_in)
                    ),
                })
            }
            ChargeModel::Percentage { .. } => {
                // The quantity is already in minor units; no transactions are counted here.
                let terms = self.percentage_terms().ok_or_else(overflow)?;
                crate::percentage::rate(&terms, quantity, 0, currency, crate::catalog::Lang::En)
            }
        }
    }
}

/// How a quantity relates to the unit its price is quoted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Sub-units per priced unit: 1, or 60 for seconds priced per minute.
    pub per: i64,
}

impl Scale {
    pub const UNIT: Scale = Scale { per: 1 };
    pub const SECONDS_PER_MINUTE: Scale = Scale { per: 60 };

    /// A quantity as an invoice prints it: `754` → `12 min 34 s` for seconds.
    pub fn show(self, quantity: i64) -> String {
        if self.per == 1 {
            return quantity.to_string();
        }
        let (m, s) = (quantity / 60, quantity % 60);
        if s == 0 {
            format!("{m} min")
        } else {
            format!("{m} min {} s", s.abs())
        }
    }
}

fn explain_tier(units: &str, t: &Tier) -> String {
    if t.flat_fee.is_zero() {
        format!("{units} × {}", t.unit_price)
    } else {
        format!("{units} × {} + {}", t.unit_price, t.flat_fee)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap_or(Decimal::ZERO)
    }

    fn tiers() -> Vec<Tier> {
        vec![
            Tier {
                up_to: Some(1000),
                unit_price: dec("0.10"),
                flat_fee: Decimal::ZERO,
            },
            Tier {
                up_to: None,
                unit_price: dec("0.05"),
                flat_fee: Decimal::ZERO,
            },
        ]
    }

    fn minor(model: &ChargeModel, q: i64) -> i64 {
        model
            .rate(q, Currency::EUR)
            .map(|r| r.amount.minor())
            .unwrap_or(-1)
    }

    #[test]
    fn per_unit_rounds_the_line_once() {
        let m = ChargeModel::PerUnit {
            unit_price: dec("0.0150"),
        };
        // 333 × 0.015 = 4.995 -> 5.00
        assert_eq!(minor(&m, 333), 500);
    }

    #[test]
    fn graduated_prices_each_tier_with_inclusive_cumulative_bounds() {
        let m = ChargeModel::Graduated { tiers: tiers() };
        assert_eq!(minor(&m, 1000), 10000); // 1000 × 0.10, all in the first tier
        assert_eq!(minor(&m, 1001), 10005); // + 1 × 0.05
        assert_eq!(minor(&m, 1500), 12500); // 1000 × 0.10 + 500 × 0.05
        assert_eq!(minor(&m, 0), 0);
    }

    #[test]
    fn volume_prices_every_unit_at_the_tier_reached() {
        let m = ChargeModel::Volume { tiers: tiers() };
        assert_eq!(minor(&m, 1000), 10000); // 1000 is inside the first tier (inclusive)
        assert_eq!(minor(&m, 1500), 7500); // 1500 × 0.05
    }

    #[test]
    fn package_rounds_partial_blocks_up() {
        let m = ChargeModel::Package {
            size: 100,
            price: dec("4.00"),
        };
        assert_eq!(minor(&m, 100), 400);
        assert_eq!(minor(&m, 101), 800);
        assert_eq!(minor(&m, 0), 0);
    }

    #[test]
    fn percentage_applies_to_a_quantity_in_minor_units() {
        let m = ChargeModel::Percentage {
            percent: dec("1.5"),
            fixed_fee: Decimal::ZERO,
            free_transactions: 0,
            free_amount: Decimal::ZERO,
        };
        assert_eq!(minor(&m, 150_000), 2250); // 1500.00 × 1.5 %
        assert_eq!(minor(&m, 33), 0); // 0.495 cents -> 0
        assert_eq!(minor(&m, 34), 1); // 0.51 cents -> 1
    }

    #[test]
    fn seconds_priced_per_minute_round_once_on_the_exact_fraction() {
        let m = ChargeModel::PerUnit {
            unit_price: dec("0.0150"),
        };
        let rate = |q| {
            m.rate_in(q, Scale::SECONDS_PER_MINUTE, Currency::EUR)
                .map(|r| (r.amount.minor(), r.explanation))
                .unwrap_or((-1, String::new()))
        };
        // 754 s = 12.5666… min × 0.015 = 0.1885 -> 0.19
        assert_eq!(rate(754), (19, "12 min 34 s × 0.0150".to_string()));
        // 1 s × 0.015 / 60 = 0.00025 -> 0.00
        assert_eq!(rate(1).0, 0);
        // 2,000 s = 33 min 20 s = 0.50 exactly
        assert_eq!(rate(2000).0, 50);
        // Tier bounds stay in minutes: the first 1,000 minutes at 0.10, then 0.05.
        let g = ChargeModel::Graduated { tiers: tiers() };
        let r = g.rate_in(1000 * 60 + 30, Scale::SECONDS_PER_MINUTE, Currency::EUR);
        assert_eq!(r.map(|r| r.amount.minor()).ok(), Some(10003)); // 100.00 + 0.5 × 0.05
        let p = ChargeModel::Package {
            size: 100,
            price: dec("4.00"),
        };
        let r = p.rate_in(100 * 60 + 1, Scale::SECONDS_PER_MINUTE, Currency::EUR);
        assert_eq!(r.map(|r| r.amount.minor()).ok(), Some(800));
    }

    #[test]
    fn tiers_must_be_increasing_and_end_open() {
        let mut t = tiers();
        t[0].up_to = Some(0);
        assert!(ChargeModel::Graduated { tiers: t }.validate().is_err());
        let mut t = tiers();
        t[1].up_to = Some(5000);
        let e = ChargeModel::Volume { tiers: t }.validate();
        assert!(e.is_err_and(|e| e.contains("last tier")));
        assert!(ChargeModel::Graduated { tiers: tiers() }.validate().is_ok());
    }
}
