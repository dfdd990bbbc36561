//! Charge models on subscribed quantities (seats): graduated and volume tiers, packages, and a
//! flat fee per tier.
//!
//! A plan item is priced `standard` by default: `included` units for `included_price`, each
//! further unit at `unit_price`. Its `model` may instead be:
//!
//! | model | 12 users, tiers 1–5 at 7.00, 6–10 at 6.50, 11+ at 6.00 |
//! |---|---|
//! | `graduated` | 5 × 7.00 + 5 × 6.50 + 2 × 6.00 = 79.50 (each unit at its tier's price) |
//! | `volume` | 12 × 6.00 = 72.00 (every unit at the price of the tier the quantity is in) |
//! | `package` (`package_size = 5`, `unit_price` 30.00 a package) | ⌈12/5⌉ = 3 × 30.00 = 90.00 |
//!
//! A tier may carry a `flat_fee`, billed once while the tier is reached: under graduated
//! pricing every tier reached, under volume pricing the tier the quantity is in. Nothing is
//! billed at zero units, flat fees included (Lago's rule: "does not apply the flat amount for
//! 0"). Tier bounds are cumulative and inclusive, as for usage ([`crate::charge`]): `up_to = 5`
//! then `up_to = 10` are units 1–5 and 6–10; the last tier has no `up_to`.
//!
//! Reconciliation bills each part under its own key ([`PriceTier::Tier`], [`PriceTier::Flat`],
//! [`PriceTier::Package`]), so a change of quantity inside a period is the difference of the
//! tiered prices, prorated and explained like any unit: going from 4 to 8 users under
//! graduated tiers bills `3 × 6.50 × fraction` for tier 2 (and one more unit of tier 1);
//! under volume tiers it credits the 4 units at the tier-1 price for the rest of the period and
//! bills the 8 units at the tier-2 price.

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Lang, PlanItem, PriceTable};
use crate::decimal::Decimal;
use crate::document::PriceTier;

/// How a plan item prices the quantity held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatModel {
    /// `included` units for `included_price`, each further unit at `unit_price`.
    #[default]
    Standard,
    /// Each unit at the price of the tier it falls in.
    Graduated,
    /// Every unit at the price of the tier the quantity is in.
    Volume,
    /// Units beyond `included` by packages of `package_size`, each at `unit_price`.
    Package,
}

impl SeatModel {
    pub fn is_standard(&self) -> bool {
        *self == SeatModel::Standard
    }
}

/// One tier of a graduated or volume plan item.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeatTier {
    /// The last unit of the tier (inclusive, counted from the first unit); absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up_to: Option<i64>,
    /// Price of each unit of the tier, per frequency and currency. Empty: free.
    #[serde(default, skip_serializing_if = "PriceTable::is_empty")]
    pub unit_price: PriceTable,
    /// Billed once while the tier is reached, per frequency and currency. Empty: none.
    #[serde(default, skip_serializing_if = "PriceTable::is_empty")]
    pub flat_fee: PriceTable,
}

/// One charge of a plan item at a quantity: the key's tier, its unit price and the units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub tier: PriceTier,
    pub price: Decimal,
    pub units: i64,
}

/// The first and last unit of tier `index` (1-based); `None` for the open last tier's end.
fn bounds(tiers: &[SeatTier], index: usize) -> (i64, Option<i64>) {
    let lower = index
        .checked_sub(2)
        .and_then(|i| tiers.get(i))
        .and_then(|t| t.up_to)
        .unwrap_or(0);
    let upper = tiers.get(index.wrapping_sub(1)).and_then(|t| t.up_to);
    (lower + 1, upper)
}

/// The charges of a tiered, volume or package `item` holding `quantity` units, each price
/// read through `price` (which says how a missing price is an error); `None` for a standard
/// item, which the caller prices by `included` and `unit_price`. Free parts (no price) are
/// left out, as reconciliation leaves out free extras.
pub fn parts<E>(
    item: &PlanItem,
    quantity: i64,
    price: impl Fn(&PriceTable) -> Result<Option<Decimal>, E>,
) -> Result<Option<Vec<Part>>, E> {
    let mut out = Vec::new();
    let mut push = |tier, table: &PriceTable, units: i64| -> Result<(), E> {
        if units > 0 {
            if let Some(p) = price(table)? {
                out.push(Part {
                    tier,
                    price: p,
                    units,
                });
            }
        }
        Ok(())
    };
    match item.model {
        SeatModel::Standard => return Ok(None),
        SeatModel::Graduated => {
            for (i, tier) in item.tiers.iter().enumerate() {
                let n = i as u32 + 1;
                let (first, last) = bounds(&item.tiers, i + 1);
                // Units of the quantity from `first` to `last` (or to the quantity).
                let top = last.map_or(quantity, |l| l.min(quantity));
                let units = (top - first + 1).max(0);
                push(PriceTier::Tier(n), &tier.unit_price, units)?;
                push(PriceTier::Flat(n), &tier.flat_fee, (units > 0).into())?;
            }
        }
        SeatModel::Volume => {
            if quantity > 0 {
                let i = item
                    .tiers
                    .iter()
                    .position(|t| t.up_to.is_none_or(|u| quantity <= u))
                    .unwrap_or(item.tiers.len().saturating_sub(1));
                if let Some(tier) = item.tiers.get(i) {
                    let n = i as u32 + 1;
                    push(PriceTier::Tier(n), &tier.unit_price, quantity)?;
                    push(PriceTier::Flat(n), &tier.flat_fee, 1)?;
                }
            }
        }
        SeatModel::Package => {
            if item.included > 0 {
                push(PriceTier::Included, &item.included_price, 1)?;
            }
            let size = item.package_size.unwrap_or(1).max(1);
            let beyond = (quantity - item.included).max(0);
            // ⌈beyond / size⌉: a package started is a package billed.
            let packages = beyond / size + i64::from(beyond % size != 0);
            push(PriceTier::Package, &item.unit_price, packages)?;
        }
    }
    Ok(Some(out))
}

/// A line's description for a tiered key: which tier, e.g. `Users – Team (6–10)`.
pub fn description(
    item: Option<&PlanItem>,
    tier: PriceTier,
    product: &str,
    plan: &str,
    lang: Lang,
) -> String {
    let range = |n: u32| {
        let tiers = item.map_or(&[][..], |i| i.tiers.as_slice());
        match bounds(tiers, n as usize) {
            (first, Some(last)) => format!("{first}–{last}"),
            (first, None) => format!("{first}+"),
        }
    };
    let volume = item.is_some_and(|i| i.model == SeatModel::Volume);
    let what = match (tier, lang) {
        (PriceTier::Tier(n), _) if !volume => range(n),
        (PriceTier::Tier(n), Lang::En) => format!("{}, every unit at this tier", range(n)),
        (PriceTier::Tier(n), Lang::Fr) => format!("{}, chaque unité à ce palier", range(n)),
        (PriceTier::Flat(n), Lang::En) => format!("{}, flat fee", range(n)),
        (PriceTier::Flat(n), Lang::Fr) => format!("{}, forfait du palier", range(n)),
        (PriceTier::Package, Lang::En) => format!(
            "packages of {}",
            item.and_then(|i| i.package_size).unwrap_or(1)
        ),
        (PriceTier::Package, Lang::Fr) => {
            format!("lots de {}", item.and_then(|i| i.package_size).unwrap_or(1))
        }
        (PriceTier::Included | PriceTier::Extra, _) => return format!("{product} – {plan}"),
    };
    format!("{product} – {plan} ({what})")
}

/// The problems of the catalog's seat models, each with the field it is in.
pub fn problems(catalog: &Catalog) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (code, plan) in &catalog.plans {
        for (product, item) in &plan.items {
            let path = format!("plans.{code}.items.{product}");
            let mut bad = |field: &str, problem: String| {
                let at = if field.is_empty() {
                    path.clone()
                } else {
                    format!("{path}.{field}")
                };
                out.push((at, problem));
            };
            match item.model {
                SeatModel::Standard | SeatModel::Package => {
                    if !item.tiers.is_empty() {
                        bad(
                            "tiers",
                            "tiers apply to model = \"graduated\" or \"volume\"".into(),
                        );
                    }
                }
                SeatModel::Graduated | SeatModel::Volume => {
                    if item.included != 0 || !item.included_price.is_empty() {
                        bad(
                            "included",
                            "tiers price every unit: use a free first tier instead of included units"
                                .into(),
                        );
                    }
                    if !item.unit_price.is_empty() {
                        bad(
                            "unit_price",
                            "tiers price every unit: give each tier its unit_price".into(),
                        );
                    }
                    if item.tiers.is_empty() {
                        bad("tiers", "list at least one tier".into());
                    }
                    // An item on its own schedule is priced at its own frequency only.
                    let billed_at = item
                        .frequency
                        .map_or_else(|| plan.frequencies.clone(), |f| vec![f]);
                    let mut previous = 0;
                    let last = item.tiers.len().saturating_sub(1);
                    for (i, tier) in item.tiers.iter().enumerate() {
                        match (tier.up_to, i == last) {
                            (None, false) => bad(
                                &format!("tiers[{i}].up_to"),
                                "only the last tier may be open (no up_to)".into(),
                            ),
                            (Some(_), true) => bad(
                                &format!("tiers[{i}].up_to"),
                                "the last tier has no up_to: it takes every unit beyond".into(),
                            ),
                            (Some(u), false) if u <= previous => bad(
                                &format!("tiers[{i}].up_to"),
                                format!("{u} must be above the previous tier's bound {previous}"),
                            ),
                            (Some(u), false) => previous = u,
                            (None, true) => {}
                        }
                        for (field, table) in [
                            ("unit_price", &tier.unit_price),
                            ("flat_fee", &tier.flat_fee),
                        ] {
                            for (p, problem) in table_problems(catalog, &billed_at, table) {
                                bad(&format!("tiers[{i}].{field}{p}"), problem);
                            }
                        }
                    }
                }
            }
            match (item.model, item.package_size) {
                (SeatModel::Package, None) => bad(
                    "package_size",
                    "model = \"package\" needs the number of units in a package".into(),
                ),
                (SeatModel::Package, Some(s)) if s <= 0 => bad(
                    "package_size",
                    format!("{s}: a package holds at least one unit"),
                ),
                (SeatModel::Package, Some(_)) | (_, None) => {}
                (_, Some(_)) => bad(
                    "package_size",
                    "package_size applies to model = \"package\" only".into(),
                ),
            }
        }
    }
    out
}

/// A partly filled price table must have a price for every frequency the item is billed at
/// (the plan's, or its own) and every currency, none negative (as the catalog checks
/// `unit_price`).
fn table_problems(
    catalog: &Catalog,
    frequencies: &[crate::calendar::Frequency],
    table: &PriceTable,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if table.is_empty() {
        return out;
    }
    for f in frequencies {
        let Some(by_currency) = table.get(f) else {
            out.push((
                String::new(),
                format!("no {f} price (the plan is sold {f})"),
            ));
            continue;
        };
        for c in &catalog.currencies {
            match by_currency.get(c) {
                None => out.push((format!(".{f}"), format!("no price in {c}"))),
                Some(p) if p.is_negative() => {
                    out.push((format!(".{f}.{c}"), "a price cannot be negative".into()))
                }
                Some(_) => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::calendar::Frequency;
    use crate::money::Currency;

    fn table(price: &str) -> PriceTable {
        // A literal that does not parse is a zero price, which bills nothing: the assertions
        // then fail.
        let d: Decimal = price.parse().unwrap_or(Decimal::ZERO);
        BTreeMap::from([(Frequency::Monthly, BTreeMap::from([(Currency::USD, d)]))])
    }

    /// Stripe's Typographic tiers (docs.stripe.com/subscriptions/pricing-models/tiered-pricing):
    /// 1–5 at 7 USD, 6–10 at 6.5 USD, 11+ at 6 USD.
    fn typographic(model: SeatModel) -> PlanItem {
        let tier = |up_to, p| SeatTier {
            up_to,
            unit_price: table(p),
            flat_fee: PriceTable::new(),
        };
        PlanItem {
            model,
            tiers: vec![tier(Some(5), "7"), tier(Some(10), "6.5"), tier(None, "6")],
            ..PlanItem::default()
        }
    }

    fn priced(item: &PlanItem, q: i64) -> Vec<(PriceTier, String, i64)> {
        let read = |t: &PriceTable| {
            Ok::<_, ()>(
                crate::catalog::price_in(t, Frequency::Monthly, Currency::USD)
                    .ok()
                    .flatten(),
            )
        };
        parts(item, q, read)
            .ok()
            .flatten()
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.tier, p.price.to_string(), p.units))
            .collect()
    }

    #[test]
    fn graduated_units_fall_in_their_tiers_and_volume_takes_the_tier_reached() {
        let g = typographic(SeatModel::Graduated);
        assert_eq!(
            priced(&g, 12),
            vec![
                (PriceTier::Tier(1), "7".into(), 5),
                (PriceTier::Tier(2), "6.5".into(), 5),
                (PriceTier::Tier(3), "6".into(), 2),
            ]
        );
        assert_eq!(priced(&g, 0), vec![]);
        let v = typographic(SeatModel::Volume);
        // Stripe: 5 fonts at 7 USD, 6 fonts at 6.5 USD (every font at the 6–10 rate).
        assert_eq!(priced(&v, 5), vec![(PriceTier::Tier(1), "7".into(), 5)]);
        assert_eq!(priced(&v, 6), vec![(PriceTier::Tier(2), "6.5".into(), 6)]);
        assert_eq!(priced(&v, 25), vec![(PriceTier::Tier(3), "6".into(), 25)]);
    }

    #[test]
    fn a_started_package_counts_whole_and_no_quantity_overflows() {
        let item = PlanItem {
            model: SeatModel::Package,
            package_size: Some(5),
            included: 2,
            unit_price: table("30"),
            ..PlanItem::default()
        };
        // (12 − 2) / 5 = 2 exactly; (13 − 2) / 5 = 2.2 → 3; 2 included → nothing.
        assert_eq!(
            priced(&item, 12),
            vec![(PriceTier::Package, "30".into(), 2)]
        );
        assert_eq!(
            priced(&item, 13),
            vec![(PriceTier::Package, "30".into(), 3)]
        );
        assert_eq!(priced(&item, 2), vec![]);
        // i64::MAX − 2 = 9223372036854775805 is a multiple of 5: exactly that many packages,
        // computed without overflowing on the way.
        assert_eq!(
            priced(&item, i64::MAX),
            vec![(PriceTier::Package, "30".into(), (i64::MAX - 2) / 5)]
        );
        for model in [SeatModel::Graduated, SeatModel::Volume] {
            assert_eq!(
                priced(&typographic(model), i64::MAX).len(),
                1 + usize::from(model == SeatModel::Graduated) * 2
            );
        }
    }

    #[test]
    fn descriptions_name_the_tier() {
        let g = typographic(SeatModel::Graduated);
        assert_eq!(
            description(Some(&g), PriceTier::Tier(2), "Fonts", "Pro", Lang::En),
            "Fonts – Pro (6–10)"
        );
        assert_eq!(
            description(Some(&g), PriceTier::Tier(3), "Fonts", "Pro", Lang::En),
            "Fonts – Pro (11+)"
        );
        let v = typographic(SeatModel::Volume);
        assert_eq!(
            description(Some(&v), PriceTier::Tier(1), "Fonts", "Pro", Lang::Fr),
            "Fonts – Pro (1–5, chaque unité à ce palier)"
        );
    }
}
