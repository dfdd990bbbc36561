//! VAT: which rate applies to a buyer, and the totals per rate.
//!
//! Rules (services sold electronically by a seller established in the EU):
//! - buyer in the seller's country: the seller's rate;
//! - business buyer in another member state: reverse charge, 0 %, marked (EN 16931 category
//!   `AE`, "Autoliquidation" on French documents) — only with a VAT number that parses
//!   ([`crate::vat_number`]) and is of the buyer's country, and a complete address (line,
//!   postcode, city); a buyer without them is taxed as a consumer below, never at 0 %
//!   ([`Buyer::reverse_charge_refusal`] says why);
//! - consumer in another member state: that state's rate (OSS);
//! - buyer outside the EU: outside the scope of EU VAT, 0 % (category `O`).
//!
//! VAT is computed per rate on the sum of the lines at that rate, rounded once half-up
//! (EN 16931 rule BR-CO-17), never line by line.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::decimal::Decimal;
use crate::money::{Currency, Money, MoneyError};
use crate::vat_number::VatNumber;

/// EN 16931 VAT category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaxCategory {
    /// `S`: standard rate.
    Standard,
    /// `AE`: reverse charge; the buyer accounts for the VAT.
    ReverseCharge,
    /// `O`: not subject to EU VAT.
    OutOfScope,
}

impl TaxCategory {
    pub fn code(self) -> &'static str {
        match self {
            TaxCategory::Standard => "S",
            TaxCategory::ReverseCharge => "AE",
            TaxCategory::OutOfScope => "O",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaxTreatment {
    pub category: TaxCategory,
    /// Percent, e.g. `20`.
    pub rate: Decimal,
}

/// The buyer as far as tax is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Buyer {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    #[serde(default)]
    pub vat_number: Option<String>,
    /// Whether the buyer's address has its line, postcode and city
    /// ([`crate::account::Address::first_missing`]): an invoice under reverse charge prints it.
    #[serde(default)]
    pub address_complete: bool,
}

impl Buyer {
    /// Why this buyer may not be invoiced under reverse charge, `None` when it may: a VAT
    /// number that parses, of the buyer's own country, and a complete address. Accounts are
    /// checked when created and changed; this holds for one stored before the check, whose
    /// sales are then taxed as a consumer's.
    pub fn reverse_charge_refusal(&self) -> Option<String> {
        let text = self.vat_number.as_deref().filter(|v| !v.trim().is_empty());
        let Some(text) = text else {
            return Some("no VAT number".into());
        };
        let number = match VatNumber::parse(text) {
            Ok(n) => n,
            Err(e) => return Some(format!("VAT number {text:?}: {e}")),
        };
        if number.country() != self.country {
            return Some(format!(
                "VAT number {number} is not of the buyer's country {}",
                self.country
            ));
        }
        if !self.address_complete {
            return Some("the address lacks its line, postcode or city".into());
        }
        None
    }
}

/// The seller's country and the rates it charges (a tenant setting). Omitted fields keep the
/// defaults: a French seller and the EU standard rates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaxRules {
    pub seller_country: String,
    /// Standard rate by country, in percent.
    pub rates: BTreeMap<String, Decimal>,
}

/// EU member states' standard VAT rates (percent). Tenants override them in their settings
/// when a rate changes.
const EU_STANDARD_RATES: [(&str, &str); 27] = [
    ("AT", "20"),
    ("BE", "21"),
    ("BG", "20"),
    ("CY", "19"),
    ("CZ", "21"),
    ("DE", "19"),
    ("DK", "25"),
    ("EE", "22"),
    ("ES", "21"),
    ("FI", "25.5"),
    ("FR", "20"),
    ("GR", "24"),
    ("HR", "25"),
    ("HU", "27"),
    ("IE", "23"),
    ("IT", "22"),
    ("LT", "21"),
    ("LU", "17"),
    ("LV", "21"),
    ("MT", "18"),
    ("NL", "21"),
    ("PL", "23"),
    ("PT", "23"),
    ("RO", "19"),
    ("SE", "25"),
    ("SI", "22"),
    ("SK", "23"),
];

/// Reads an ISO 3166-1 alpha-2 country code ("FR", "de"), returned in capitals.
pub fn country_code(text: &str) -> Result<String, String> {
    if text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(text.to_ascii_uppercase())
    } else {
        Err(format!(
            "{text:?} is not an ISO 3166-1 alpha-2 country code (such as FR, DE, US)"
        ))
    }
}

pub fn is_eu(country: &str) -> bool {
    EU_STANDARD_RATES.iter().any(|(c, _)| *c == country)
}

impl Default for TaxRules {
    fn default() -> Self {
        TaxRules {
            seller_country: "FR".into(),
            rates: EU_STANDARD_RATES
                .iter()
                .filter_map(|(c, r)| Some(((*c).to_string(), Decimal::from_str(r).ok()?)))
                .collect(),
        }
    }
}

impl TaxRules {
    /// Checks the country codes and rates; the error names the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        country_code(&self.seller_country).map_err(|e| ("tax.seller_country".to_string(), e))?;
        for (country, rate) in &self.rates {
            country_code(country).map_err(|e| (format!("tax.rates.{country}"), e))?;
            if rate.is_negative() || rate.cmp_value(Decimal::from_int(100)).is_gt() {
                return Err((
                    format!("tax.rates.{country}"),
                    format!("{rate} is not a percentage between 0 and 100"),
                ));
            }
        }
        Ok(())
    }

    fn rate_of(&self, country: &str) -> Decimal {
        self.rates.get(country).copied().unwrap_or(Decimal::ZERO)
    }

    /// The VAT treatment of a sale to `buyer`.
    pub fn treatment(&self, buyer: &Buyer) -> TaxTreatment {
        let zero = |category| TaxTreatment {
            category,
            rate: Decimal::ZERO,
        };
        if buyer.country == self.seller_country {
            TaxTreatment {
                category: TaxCategory::Standard,
                rate: self.rate_of(&self.seller_country),
            }
        } else if is_eu(&buyer.country) && is_eu(&self.seller_country) {
            if buyer.reverse_charge_refusal().is_none() {
                zero(TaxCategory::ReverseCharge)
            } else {
                TaxTreatment {
                    category: TaxCategory::Standard,
                    rate: self.rate_of(&buyer.country),
                }
            }
        } else {
            zero(TaxCategory::OutOfScope)
        }
    }
}

/// VAT at one rate on a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaxTotal {
    pub category: TaxCategory,
    pub rate: Decimal,
    /// Sum of the net lines at this rate.
    pub base: Money,
    pub tax: Money,
}

/// VAT per (category, rate) on the sum of the lines: `lines` are `(treatment, net amount)`.
pub fn tax_totals<'a, I>(currency: Currency, lines: I) -> Result<Vec<TaxTotal>, MoneyError>
where
    I: IntoIterator<Item = (&'a TaxTreatment, Money)>,
{
    let mut bases: BTreeMap<(TaxCategory, String), (Decimal, Money)> = BTreeMap::new();
    for (t, amount) in lines {
        let entry = bases
            .entry((t.category, t.rate.to_string()))
            .or_insert((t.rate, Money::zero(currency)));
        entry.1 = entry.1.checked_add(amount)?;
    }
    bases
        .into_iter()
        .map(|((category, _), (rate, base))| {
            // base × rate / 100, rounded once, half-up; the base is in minor units already.
            let tax = crate::money::round_half_up(
                i128::from(base.minor())
                    .checked_mul(rate.mantissa())
                    .ok_or(MoneyError::Overflow)?,
                100 * rate.denominator(),
            )
            .and_then(|t| i64::try_from(t).ok())
            .map(|t| Money::from_minor(t, currency))
            .ok_or(MoneyError::Overflow)?;
            Ok(TaxTotal {
                category,
                rate,
                base,
                tax,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buyer(country: &str, vat: Option<&str>) -> Buyer {
        Buyer {
            country: country.into(),
            vat_number: vat.map(String::from),
            address_complete: true,
        }
    }

    #[test]
    fn treatment_follows_the_buyer_country_and_vat_number() {
        let rules = TaxRules::default();
        let t = rules.treatment(&buyer("FR", Some("FR40303265045")));
        assert_eq!(
            (t.category, t.rate.to_string()),
            (TaxCategory::Standard, "20".into())
        );
        let t = rules.treatment(&buyer("DE", Some("DE136695976")));
        assert_eq!(t.category, TaxCategory::ReverseCharge);
        assert!(t.rate.is_zero());
        let t = rules.treatment(&buyer("DE", None));
        assert_eq!(
            (t.category, t.rate.to_string()),
            (TaxCategory::Standard, "19".into())
        );
        let t = rules.treatment(&buyer("US", None));
        assert_eq!(t.category, TaxCategory::OutOfScope);
    }

    #[test]
    fn nothing_is_reverse_charged_without_a_valid_number_of_the_buyers_country_and_an_address() {
        let rules = TaxRules::default();
        let german_rate = (TaxCategory::Standard, "19".to_string());
        for b in [
            // The account: a made-up number and no address.
            Buyer {
                address_complete: false,
                ..buyer("DE", Some("XX123"))
            },
            buyer("DE", Some("DE136695977")),
            buyer("DE", Some("FR40303265045")),
            buyer("DE", Some("  ")),
            Buyer {
                address_complete: false,
                ..buyer("DE", Some("DE136695976"))
            },
        ] {
            let t = rules.treatment(&b);
            assert_eq!((t.category, t.rate.to_string()), german_rate, "{b:?}");
            assert!(b.reverse_charge_refusal().is_some());
        }
        assert_eq!(
            rules.treatment(&buyer("DE", Some("DE136695976"))).category,
            TaxCategory::ReverseCharge
        );
        assert_eq!(
            rules.treatment(&buyer("GR", Some("EL094019245"))).category,
            TaxCategory::ReverseCharge
        );
    }

    #[test]
    fn vat_is_computed_once_on_the_sum_of_lines() {
        // Three lines of 0.05 EUR at 20 %: per line 0.01 each = 0.03; on the sum 0.15 × 20 % = 0.03.
        // Three lines of 0.03 EUR: per line 0.01 × 3 = 0.03; on the sum 0.09 × 20 % = 0.02.
        let t = TaxTreatment {
            category: TaxCategory::Standard,
            rate: Decimal::from_int(20),
        };
        let lines = [3, 3, 3].map(|c| (&t, Money::from_minor(c, Currency::EUR)));
        let totals = tax_totals(Currency::EUR, lines);
        assert_eq!(
            totals.map(|v| v.iter().map(|t| t.tax.minor()).collect::<Vec<_>>()),
            Ok(vec![2])
        );
    }
}
