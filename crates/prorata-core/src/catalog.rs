//! The catalog: what a vendor sells and at what price.
//!
//! A catalog is a human-edited TOML file (see `catalog/default.toml`). It is read in two steps:
//! serde reads the shape (unknown fields are refused, so a typo is named with its line), then
//! [`Catalog::validate`] checks the meaning and names the field of each problem, for example
//! `plans.essentials.items.user.unit_price.annual: no price in USD`.
//!
//! Products are what a subscription holds quantities of: user, number and team licences,
//! add-ons (Analytics+) and call bundles (N included minutes a month for given usage metrics).
//! A plan prices its products per billing frequency and currency: `included` units for a flat
//! `included_price` (the dashboard's B and C columns), each further unit at `unit_price` (the
//! extras, D and E), with minimums and limits (Essentials: at most 3 teams). Usage metrics
//! (call minutes by zone and direction) are priced by charge models in [`crate::charge`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::calendar::Frequency;
use crate::charge::{ChargeModel, Scale};
use crate::decimal::Decimal;
use crate::money::Currency;

/// A name in the languages documents are issued in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub en: String,
    pub fr: String,
}

impl Text {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            Lang::Fr => &self.fr,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Fr,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    /// The ISO 639-1 code, as serde, the store, `<html lang>` and `Content-Language` write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// The other language of the two (the portal's language switch).
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Fr,
            Lang::Fr => Lang::En,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProductKind {
    User,
    Number,
    Team,
    Addon,
    CallBundle {
        /// Units of the listed metrics included each usage period, per bundle held.
        included_units: i64,
        /// Metrics the bundle covers, consumed in this order.
        metrics: Vec<String>,
    },
}

impl ProductKind {
    pub fn is_licence(&self) -> bool {
        matches!(
            self,
            ProductKind::User | ProductKind::Number | ProductKind::Team
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawProduct")]
pub struct Product {
    pub name: Text,
    #[serde(flatten)]
    pub kind: ProductKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindTag {
    User,
    Number,
    Team,
    Addon,
    CallBundle,
}

/// A product as written in the file; bundle fields are checked against the kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProduct {
    name: Text,
    kind: KindTag,
    included_units: Option<i64>,
    metrics: Option<Vec<String>>,
}

impl TryFrom<RawProduct> for Product {
    type Error = String;
    fn try_from(raw: RawProduct) -> Result<Self, Self::Error> {
        let kind = match (raw.kind, raw.included_units, raw.metrics) {
            (KindTag::CallBundle, Some(included_units), Some(metrics)) => ProductKind::CallBundle {
                included_units,
                metrics,
            },
            (KindTag::CallBundle, _, _) => {
                return Err("a call_bundle needs included_units and metrics".into())
            }
            (_, Some(_), _) | (_, _, Some(_)) => {
                return Err("included_units and metrics apply to call bundles only".into())
            }
            (KindTag::User, ..) => ProductKind::User,
            (KindTag::Number, ..) => ProductKind::Number,
            (KindTag::Team, ..) => ProductKind::Team,
            (KindTag::Addon, ..) => ProductKind::Addon,
        };
        Ok(Product {
            name: raw.name,
            kind,
        })
    }
}

/// The unit a usage metric counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageUnit {
    #[default]
    Minute,
    /// Counted in seconds, priced per minute (call zones whose rounding is per second).
    Second,
    Unit,
    /// An amount in minor units (for percentage fees on a volume).
    MinorUnits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    pub name: Text,
    #[serde(default)]
    pub unit: UsageUnit,
    /// The charge model per currency.
    pub price: BTreeMap<Currency, ChargeModel>,
}

impl UsageUnit {
    /// How quantities of this unit relate to the unit prices are quoted in.
    pub fn scale(self) -> Scale {
        match self {
            UsageUnit::Second => Scale::SECONDS_PER_MINUTE,
            _ => Scale::UNIT,
        }
    }
}

impl Metric {
    pub fn scale(&self) -> Scale {
        self.unit.scale()
    }
}

/// How a call's duration becomes billable seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallRounding {
    /// Each call rounded up to the whole minute: 61 s bills 120 s.
    #[default]
    PerMinute,
    /// The first minute is billed whole, then by the second: 10 s bills 60 s, 61 s bills 61 s.
    PerSecondAfterFirstMinute,
    /// By the second from the first.
    PerSecond,
}

/// A destination zone for outbound calls: the callee's E.164 prefixes it covers, the metric
/// (and so the per-minute rate) its minutes are billed under, and its rounding rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub metric: String,
    /// E.164 prefixes with their `+`, e.g. `"+336"`; the longest match wins. `"+"` alone
    /// matches every number (a rest-of-world zone).
    pub prefixes: Vec<String>,
    #[serde(default)]
    pub rounding: CallRounding,
}

/// Inbound calls to the customer's toll-free numbers, rated at their own rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TollFree {
    pub metric: String,
    #[serde(default)]
    pub rounding: CallRounding,
}

/// How call records become usage (issue #4). Inbound calls to ordinary numbers are free.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calls {
    #[serde(default)]
    pub zones: BTreeMap<String, Zone>,
    #[serde(default)]
    pub toll_free: Option<TollFree>,
}

/// When a recurring item is billed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// On the first day of the period, for the period ahead (licences).
    #[default]
    Advance,
    /// The day after the period ends, for the period just over (some fees).
    Arrears,
}

/// Prices by billing frequency, then currency.
pub type PriceTable = BTreeMap<Frequency, BTreeMap<Currency, Decimal>>;

/// A price table has prices but none for the frequency and currency asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoPrice;

/// The price of `table` for `frequency` and `currency`, as billing reads it: an empty table
/// means free (`None`), a zero price is no price (`None`), and a table with prices but none
/// for this frequency and currency is a catalog error ([`NoPrice`]). Reconciliation and the
/// licence table both read prices through here.
pub fn price_in(
    table: &PriceTable,
    frequency: Frequency,
    currency: Currency,
) -> Result<Option<Decimal>, NoPrice> {
    if table.is_empty() {
        return Ok(None);
    }
    let price = table
        .get(&frequency)
        .and_then(|m| m.get(&currency))
        .ok_or(NoPrice)?;
    Ok((!price.is_zero()).then_some(*price))
}

// `Default` is [`crate::commitment`]'s: an item is prorated unless it says otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanItem {
    /// Units covered by `included_price` (the dashboard's B column).
    #[serde(default)]
    pub included: i64,
    /// Flat price of the included units (C). Absent: the included units are free.
    #[serde(default)]
    pub included_price: PriceTable,
    /// Price of each unit beyond `included` (the extras' E column).
    #[serde(default)]
    pub unit_price: PriceTable,
    /// The fewest units a subscription may hold.
    #[serde(default)]
    pub minimum: i64,
    /// The most units a subscription may hold (Essentials: 3 teams). Absent: unlimited.
    #[serde(default)]
    pub maximum: Option<i64>,
    #[serde(default)]
    pub timing: Timing,
    /// A frequency of its own (an annual add-on on a monthly plan): billed on periods of that
    /// frequency, on the subscription's anchor, at its price for that frequency. Absent: at the
    /// subscription's frequency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<Frequency>,
    /// How the quantity is priced: `standard` (the fields above), `graduated` or `volume`
    /// (by `tiers`), or `package` (by packages of `package_size`) ([`crate::seat_tiers`]).
    #[serde(
        default,
        skip_serializing_if = "crate::seat_tiers::SeatModel::is_standard"
    )]
    pub model: crate::seat_tiers::SeatModel,
    /// The tiers of a `graduated` or `volume` item, each with its unit price and flat fee.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<crate::seat_tiers::SeatTier>,
    /// Units in a package (`model = "package"`); `unit_price` is then the package's price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_size: Option<i64>,
    /// `false`: billed whole for every period whatever part of it is held, at the most units
    /// held at any moment of it ([`crate::commitment`]). Default `true`: prorated.
    #[serde(default = "crate::commitment::prorated_default")]
    pub prorated: bool,
}

impl PlanItem {
    /// The frequency the item is billed at on a subscription billed at `subscription`.
    pub fn billed_every(&self, subscription: Frequency) -> Frequency {
        self.frequency.unwrap_or(subscription)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub name: Text,
    /// Orders plans: moving to a higher rank is an upgrade, to a lower one a downgrade.
    pub rank: u32,
    #[serde(default)]
    pub trial_days: u32,
    pub frequencies: Vec<Frequency>,
    pub items: BTreeMap<String, PlanItem>,
    /// Optional features shown under "special features" (seed 003), e.g. Analytics+.
    #[serde(default)]
    pub features: Vec<String>,
    /// What the trial waives: `everything` (the default) or only the recurring `fee`, usage
    /// still billed ([`crate::trial`]).
    #[serde(default)]
    pub trial_waives: crate::trial::TrialWaiver,
    /// The least a period's charges (recurring, usage and discounts, before tax) come to, per
    /// frequency and currency: a true-up line bills what they fall short of it, the day after
    /// the period ([`crate::commitment`]). Empty: no minimum.
    #[serde(default)]
    pub minimum_commitment: PriceTable,
}

/// When a plan change between two plans takes effect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanChangePolicy {
    /// On the day asked for, prorated.
    #[default]
    Immediate,
    /// At the next renewal date, with nothing to prorate.
    EndOfTerm,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanChangeRule {
    pub from: String,
    pub to: String,
    pub policy: PlanChangePolicy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub name: String,
    pub currencies: Vec<Currency>,
    pub products: BTreeMap<String, Product>,
    #[serde(default)]
    pub metrics: BTreeMap<String, Metric>,
    pub plans: BTreeMap<String, Plan>,
    #[serde(default)]
    pub plan_changes: Vec<PlanChangeRule>,
    #[serde(default)]
    pub calls: Calls,
    /// Discounts redeemable by code (see [`crate::coupon`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub coupons: BTreeMap<String, crate::coupon::Coupon>,
}

/// A problem with a catalog: the field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("{0}")]
    Syntax(String),
    #[error("{path}: {problem}")]
    Invalid { path: String, problem: String },
}

/// All the problems found in a catalog, so one edit can fix them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogErrors(pub Vec<CatalogError>);

impl fmt::Display for CatalogErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CatalogErrors {}

impl Catalog {
    /// Reads and validates a catalog from TOML text.
    pub fn from_toml(text: &str) -> Result<Catalog, CatalogErrors> {
        let catalog: Catalog = toml::from_str(text)
            .map_err(|e| CatalogErrors(vec![CatalogError::Syntax(e.to_string())]))?;
        catalog.validate()?;
        Ok(catalog)
    }

    pub fn product(&self, code: &str) -> Option<&Product> {
        self.products.get(code)
    }

    /// The frequencies of their own that items of the catalog's plans are billed at, each once.
    pub fn own_frequencies(&self) -> impl Iterator<Item = Frequency> {
        let own: std::collections::BTreeSet<Frequency> = self
            .plans
            .values()
            .flat_map(|p| p.items.values())
            .filter_map(|i| i.frequency)
            .collect();
        own.into_iter()
    }

    pub fn plan(&self, code: &str) -> Option<&Plan> {
        self.plans.get(code)
    }

    pub fn plan_change_policy(&self, from: &str, to: &str) -> PlanChangePolicy {
        self.plan_changes
            .iter()
            .find(|r| r.from == from && r.to == to)
            .map(|r| r.policy)
            .unwrap_or_default()
    }

    /// Checks everything serde cannot: references, prices for every currency and frequency,
    /// sane quantities and tiers.
    pub fn validate(&self) -> Result<(), CatalogErrors> {
        let mut errors = Vec::new();
        let mut bad = |path: String, problem: String| {
            errors.push(CatalogError::Invalid { path, problem });
        };
        let currencies = || {
            self.currencies
                .iter()
                .map(|c| c.code())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.currencies.is_empty() {
            bad("currencies".into(), "list at least one currency".into());
        }
        for code in self
            .products
            .keys()
            .chain(self.metrics.keys())
            .chain(self.plans.keys())
        {
            if !valid_code(code) {
                bad(
                    code.clone(),
                    "codes use lowercase letters, digits and '_' only".into(),
                );
            }
        }
        for (code, product) in &self.products {
            if let ProductKind::CallBundle {
                included_units,
                metrics,
            } = &product.kind
            {
                if *included_units <= 0 {
                    bad(
                        format!("products.{code}.included_units"),
                        "must be a positive number of units".into(),
                    );
                }
                if metrics.is_empty() {
                    bad(
                        format!("products.{code}.metrics"),
                        "list the usage metrics the bundle covers".into(),
                    );
                }
                for m in metrics {
                    if !self.metrics.contains_key(m) {
                        bad(
                            format!("products.{code}.metrics"),
                            format!("no metric named {m:?} in [metrics]"),
                        );
                    }
                }
                // The allowance is counted in one unit: minutes of seconds-counted metrics
                // cannot be mixed with units of another metric.
                let units: std::collections::BTreeSet<_> = metrics
                    .iter()
                    .filter_map(|m| self.metrics.get(m))
                    .map(|m| m.scale().per)
                    .collect();
                if units.len() > 1 {
                    bad(
                        format!("products.{code}.metrics"),
                        "a bundle's metrics must count the same unit".into(),
                    );
                }
            }
        }
        for (code, metric) in &self.metrics {
            for c in &self.currencies {
                match metric.price.get(c) {
                    None => bad(
                        format!("metrics.{code}.price"),
                        format!("no price in {c} (the catalog bills in {})", currencies()),
                    ),
                    Some(model) => {
                        if let Err(problem) = model.validate() {
                            bad(format!("metrics.{code}.price.{c}"), problem);
                        }
                    }
                }
            }
        }
        let mut call_metric = |path: String, metric: &str| match self.metrics.get(metric) {
            None => bad(path, format!("no metric named {metric:?} in [metrics]")),
            Some(m) if m.unit != UsageUnit::Second => bad(
                path,
                format!("metric {metric:?} must have unit = \"second\" to rate calls"),
            ),
            Some(_) => {}
        };
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        let mut prefix_problems = Vec::new();
        for (code, zone) in &self.calls.zones {
            call_metric(format!("calls.zones.{code}.metric"), &zone.metric);
            if zone.prefixes.is_empty() {
                prefix_problems.push((code.as_str(), "list at least one prefix".to_string()));
            }
            for p in &zone.prefixes {
                if !crate::calls::valid_prefix(p) {
                    prefix_problems.push((
                        code.as_str(),
                        format!("{p:?} is not an E.164 prefix ('+' then up to 15 digits)"),
                    ));
                } else if let Some(other) = seen.insert(p, code) {
                    prefix_problems.push((code.as_str(), format!("{p:?} is also in zone {other}")));
                }
            }
        }
        if let Some(tf) = &self.calls.toll_free {
            call_metric("calls.toll_free.metric".into(), &tf.metric);
        }
        for (code, problem) in prefix_problems {
            bad(format!("calls.zones.{code}.prefixes"), problem);
        }
        if self.plans.is_empty() {
            bad("plans".into(), "define at least one plan".into());
        }
        for (code, plan) in &self.plans {
            let path = format!("plans.{code}");
            if plan.frequencies.is_empty() {
                bad(
                    format!("{path}.frequencies"),
                    "list at least one billing frequency".into(),
                );
            }
            for (product, item) in &plan.items {
                let ipath = format!("{path}.items.{product}");
                if !self.products.contains_key(product) {
                    bad(
                        ipath.clone(),
                        format!("no product named {product:?} in [products]"),
                    );
                }
                if item.included < 0 || item.minimum < 0 {
                    bad(
                        ipath.clone(),
                        "included and minimum cannot be negative".into(),
                    );
                }
                if let Some(max) = item.maximum {
                    if max < item.minimum {
                        bad(
                            format!("{ipath}.maximum"),
                            format!("{max} is below the minimum {}", item.minimum),
                        );
                    }
                }
                if let Some(own) = item.frequency {
                    // Its periods must start on invoice days: monthly or longer, on a plan whose
                    // invoices are monthly.
                    if own == Frequency::Weekly || plan.frequencies.contains(&Frequency::Weekly) {
                        bad(
                            format!("{ipath}.frequency"),
                            "an item's own frequency is monthly, quarterly or annual, on a plan \
                             not sold weekly"
                                .into(),
                        );
                    }
                }
                let billed_at: Vec<Frequency> = match item.frequency {
                    Some(own) => vec![own],
                    None => plan.frequencies.clone(),
                };
                for (field, table) in [
                    ("unit_price", &item.unit_price),
                    ("included_price", &item.included_price),
                ] {
                    // An empty table means free; a partly filled one must be complete.
                    if table.is_empty() {
                        continue;
                    }
                    for f in &billed_at {
                        let Some(by_currency) = table.get(f) else {
                            let why = match item.frequency {
                                Some(_) => format!("the item is billed {f}"),
                                None => format!("the plan is sold {f}"),
                            };
                            bad(format!("{ipath}.{field}"), format!("no {f} price ({why})"));
                            continue;
                        };
                        for c in &self.currencies {
                            match by_currency.get(c) {
                                None => bad(
                                    format!("{ipath}.{field}.{f}"),
                                    format!(
                                        "no price in {c} (the catalog bills in {})",
                                        currencies()
                                    ),
                                ),
                                Some(p) if p.is_negative() => bad(
                                    format!("{ipath}.{field}.{f}.{c}"),
                                    "a price cannot be negative".into(),
                                ),
                                Some(_) => {}
                            }
                        }
                    }
                }
                if !item.included_price.is_empty() && item.included == 0 {
                    bad(
                        format!("{ipath}.included"),
                        "included_price is set but no unit is included".into(),
                    );
                }
            }
        }
        for (i, rule) in self.plan_changes.iter().enumerate() {
            for (field, plan) in [("from", &rule.from), ("to", &rule.to)] {
                if !self.plans.contains_key(plan) {
                    bad(
                        format!("plan_changes[{i}].{field}"),
                        format!("no plan named {plan:?}"),
                    );
                }
            }
        }
        for (path, problem) in crate::coupon::problems(self) {
            bad(path, problem);
        }
        for (path, problem) in crate::seat_tiers::problems(self) {
            bad(path, problem);
        }
        for (path, problem) in crate::commitment::problems(self) {
            bad(path, problem);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(CatalogErrors(errors))
        }
    }
}

fn valid_code(code: &str) -> bool {
    !code.is_empty()
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_language_code_is_its_serde_name_and_parses_back() {
        for l in Lang::ALL {
            assert_eq!(
                serde_json::to_value(l).ok(),
                Some(serde_json::Value::from(l.as_str()))
            );
            assert_eq!(Lang::parse(l.as_str()), Some(l));
            assert_eq!(l.other().other(), l);
        }
        assert_eq!(Lang::parse("de"), None);
    }

    use super::*;

    const DEFAULT: &str = include_str!("../../../catalog/default.toml");

    #[test]
    fn the_shipped_default_catalog_is_valid() {
        let c = Catalog::from_toml(DEFAULT);
        assert!(
            c.is_ok(),
            "{}",
            c.err().map(|e| e.to_string()).unwrap_or_default()
        );
    }

    #[test]
    fn a_missing_currency_price_names_the_field() {
        let text = DEFAULT.replacen(", GBP = \"25.00\" }", " }", 1);
        let err = Catalog::from_toml(&text).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e
                    .contains("plans.essentials.items.user.unit_price.monthly: no price in GBP")),
            "{err:?}"
        );
    }

    #[test]
    fn an_unknown_field_or_kind_is_refused_with_its_line() {
        let text = DEFAULT.replacen("kind = \"user\"", "kind = \"usr\"", 1);
        let err = Catalog::from_toml(&text).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("line") && e.contains("usr")),
            "{err:?}"
        );
        let text = DEFAULT.replacen("rank = 1", "rank = 1\nrnak = 2", 1);
        let err = Catalog::from_toml(&text).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("rnak")),
            "{err:?}"
        );
    }

    #[test]
    fn a_reference_to_an_unknown_product_is_named() {
        let text = format!("{DEFAULT}\n[plans.essentials.items.fax]\nminimum = 0\n");
        let err = Catalog::from_toml(&text).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("plans.essentials.items.fax: no product named \"fax\"")),
            "{err:?}"
        );
    }

    #[test]
    fn call_zones_are_checked() {
        let text = DEFAULT.replacen("prefixes = [\"+1\"]", "prefixes = [\"+336\", \"1\"]", 1);
        let err = Catalog::from_toml(&text).err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(
            err.contains("calls.zones.us_ca.prefixes: \"+336\" is also in zone"),
            "{err}"
        );
        assert!(err.contains("\"1\" is not an E.164 prefix"), "{err}");
        let text = DEFAULT.replacen("metric = \"outbound_eu\"", "metric = \"outbound_mars\"", 1);
        let err = Catalog::from_toml(&text).err().map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(
                |e| e.contains("calls.zones.eu.metric: no metric named \"outbound_mars\"")
            ),
            "{err:?}"
        );
    }
}
