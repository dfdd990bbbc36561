//! The licence table of the "Plan" tab (seed 003): for the user, number and team licences of a
//! plan, the active units (A), the units included (B) and their flat price (C), the extras
//! beyond them (D) and what they cost (E), each row's total (C + E), and the table's total —
//! which, as the seed says, covers licences and add-ons (Analytics+, call bundles) and never
//! the calls themselves.
//!
//! The table is what one full period of the subscription's recurring items costs, priced
//! exactly as [`crate::reconcile`] prices them: per plan item, the included tier once (when
//! the item includes units and has an included price) and each unit beyond `included` at the
//! unit price, looked up by billing frequency and currency, each amount rounded once, half-up.
//! So the total equals the recurring-items section of a full-period invoice; the tests hold
//! it to the engine's own invoice. Prices are indicative (seed 003): the invoice is what
//! counts, prorations included.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::calendar::Frequency;
use crate::catalog::{Catalog, Lang, PlanItem, PriceTable, ProductKind};
use crate::decimal::Decimal;
use crate::money::{Currency, Money, MoneyError};

/// One row: a licence (user, number, team) or an add-on the subscription holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenceRow {
    /// The product's code in the catalog.
    pub product: String,
    /// The product's name in the reader's language.
    pub name: String,
    pub kind: ProductKind,
    /// A: units the subscription holds (may exceed the included ones).
    pub active: i64,
    /// B: units the plan includes.
    pub included: i64,
    /// C: the flat price of the included units (zero when they are free).
    pub included_price: Money,
    /// D: units beyond the included ones.
    pub extras: i64,
    /// The price of each extra unit; `None` when extras are free.
    pub extra_unit_price: Option<Decimal>,
    /// E: `extras × extra_unit_price`, rounded once.
    pub extras_cost: Money,
    /// C + E.
    pub total: Money,
    /// The most units the plan allows (Essentials: 3 teams); `None`: unlimited.
    pub maximum: Option<i64>,
    /// Billed on periods of its own frequency (an annual add-on on a monthly plan): its prices
    /// are for one of those periods, and it is left out of the table's total.
    pub own_period: bool,
}

/// How an item billed on its own periods says so beside its name.
fn billed_every(frequency: Frequency, lang: Lang) -> &'static str {
    match (frequency, lang) {
        (Frequency::Weekly, Lang::En) => "billed weekly",
        (Frequency::Monthly, Lang::En) => "billed monthly",
        (Frequency::Quarterly, Lang::En) => "billed quarterly",
        (Frequency::Annual, Lang::En) => "billed yearly",
        (Frequency::Weekly, Lang::Fr) => "facturé à la semaine",
        (Frequency::Monthly, Lang::Fr) => "facturé au mois",
        (Frequency::Quarterly, Lang::Fr) => "facturé au trimestre",
        (Frequency::Annual, Lang::Fr) => "facturé à l'année",
    }
}

/// A special feature of seed 003 (Analytics+): one the plan lists, or an add-on held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Feature {
    pub code: String,
    pub name: String,
    /// Whether the subscription holds it (a quantity above zero).
    pub held: bool,
}

/// The Plan tab's table for one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicenceTable {
    pub plan: String,
    pub plan_name: String,
    pub frequency: Frequency,
    pub currency: Currency,
    /// User, number and team licences of the plan, in that order.
    pub rows: Vec<LicenceRow>,
    /// Add-ons and call bundles the subscription holds (or that cost something anyway),
    /// priced the same way.
    pub addons: Vec<LicenceRow>,
    /// Every row and add-on: a full period's recurring items, without calls.
    pub total: Money,
    pub features: Vec<Feature>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenceError {
    #[error("the catalog has no plan {0:?}")]
    UnknownPlan(String),
    #[error("the {plan} plan is not billed {frequency}")]
    FrequencyNotOffered { plan: String, frequency: Frequency },
    #[error("{plan}.{product}: no {frequency} price in {currency}")]
    MissingPrice {
        plan: String,
        product: String,
        frequency: Frequency,
        currency: Currency,
    },
    #[error("amount overflow on {0}")]
    Overflow(String),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// The licence table of a subscription to `plan`, billed at `frequency` in `currency`, holding
/// `quantities` (product code → units; a product absent holds none).
pub fn licence_table(
    catalog: &Catalog,
    plan: &str,
    frequency: Frequency,
    currency: Currency,
    quantities: &BTreeMap<String, i64>,
    lang: Lang,
) -> Result<LicenceTable, LicenceError> {
    let p = catalog
        .plan(plan)
        .ok_or_else(|| LicenceError::UnknownPlan(plan.into()))?;
    if !p.frequencies.contains(&frequency) {
        return Err(LicenceError::FrequencyNotOffered {
            plan: plan.into(),
            frequency,
        });
    }
    let quantity = |product: &str| quantities.get(product).copied().unwrap_or(0);
    let mut rows = Vec::new();
    let mut addons = Vec::new();
    for (product, item) in &p.items {
        // A plan item without a product fails catalog validation; skip rather than guess.
        let Some(kind) = catalog.product(product).map(|p| &p.kind) else {
            continue;
        };
        let pricing = Pricing {
            plan,
            product,
            frequency: item.billed_every(frequency),
            currency,
        };
        let mut row = row(catalog, &pricing, item, quantity(product), lang)?;
        if let Some(own) = item.frequency.filter(|f| *f != frequency) {
            // Billed on its own periods: its price is for one of those, outside the total.
            row.name = format!("{} ({})", row.name, billed_every(own, lang));
            row.own_period = true;
        }
        if kind.is_licence() {
            rows.push(row);
        } else if row.active > 0 || !row.total.is_zero() {
            addons.push(row);
        }
    }
    rows.sort_by_key(|r| (rank(&r.kind), r.product.clone()));
    addons.sort_by_key(|r| (rank(&r.kind), r.product.clone()));
    let total = Money::sum(
        currency,
        rows.iter()
            .chain(&addons)
            .filter(|r| !r.own_period)
            .map(|r| r.total),
    )?;

    let mut features: Vec<Feature> = Vec::new();
    let held_addons = addons
        .iter()
        .filter(|r| r.kind == ProductKind::Addon && r.active > 0)
        .map(|r| &r.product);
    for code in p.features.iter().chain(held_addons) {
        if features.iter().any(|f| &f.code == code) {
            continue;
        }
        features.push(Feature {
            code: code.clone(),
            name: name_of(catalog, code, lang),
            held: quantity(code) > 0,
        });
    }

    Ok(LicenceTable {
        plan: plan.into(),
        plan_name: p.name.get(lang).into(),
        frequency,
        currency,
        rows,
        addons,
        total,
        features,
    })
}

/// What a price is looked up for.
struct Pricing<'a> {
    plan: &'a str,
    product: &'a str,
    frequency: Frequency,
    currency: Currency,
}

impl Pricing<'_> {
    /// The price in `table`, as reconciliation reads it: an empty table means free, a table
    /// without this frequency and currency is an error, and a zero price is no price.
    fn price(&self, table: &PriceTable) -> Result<Option<Decimal>, LicenceError> {
        crate::catalog::price_in(table, self.frequency, self.currency).map_err(|_| {
            LicenceError::MissingPrice {
                plan: self.plan.into(),
                product: self.product.into(),
                frequency: self.frequency,
                currency: self.currency,
            }
        })
    }

    /// `units × price` for a whole period, rounded once, half-up (the value reconciliation
    /// gives a run covering the whole period).
    fn amount(&self, price: Option<Decimal>, units: i64) -> Result<Money, LicenceError> {
        match price {
            None => Ok(Money::zero(self.currency)),
            Some(p) => p
                .times_rounded(i128::from(units), 1, 1, self.currency)
                .ok_or_else(|| LicenceError::Overflow(self.product.into())),
        }
    }
}

fn row(
    catalog: &Catalog,
    pricing: &Pricing<'_>,
    item: &PlanItem,
    active: i64,
    lang: Lang,
) -> Result<LicenceRow, LicenceError> {
    let kind = catalog
        .product(pricing.product)
        .map_or(ProductKind::Addon, |p| p.kind.clone());
    if let Some(parts) = crate::seat_tiers::parts(item, active, |t| pricing.price(t))? {
        return tiered_row(catalog, pricing, item, active, kind, &parts, lang);
    }
    // Reconciliation bills the included tier once per period whatever the quantity, and only
    // when the item includes units.
    let included_price = if item.included > 0 {
        pricing.amount(pricing.price(&item.included_price)?, 1)?
    } else {
        Money::zero(pricing.currency)
    };
    let extras = active.saturating_sub(item.included).max(0);
    let extra_unit_price = pricing.price(&item.unit_price)?;
    let extras_cost = pricing.amount(extra_unit_price, extras)?;
    Ok(LicenceRow {
        product: pricing.product.into(),
        name: name_of(catalog, pricing.product, lang),
        kind,
        active,
        included: item.included,
        included_price,
        extras,
        extra_unit_price,
        extras_cost,
        total: included_price.checked_add(extras_cost)?,
        maximum: item.maximum,
        own_period: false,
    })
}

/// A tiered, volume or package item's row: C is the included units' price (packages), E the
/// rest of the whole period's tiered price, and the unit price shown is the one of the tier in
/// force (the highest reached; the package's price).
fn tiered_row(
    catalog: &Catalog,
    pricing: &Pricing<'_>,
    item: &PlanItem,
    active: i64,
    kind: ProductKind,
    parts: &[crate::seat_tiers::Part],
    lang: Lang,
) -> Result<LicenceRow, LicenceError> {
    use crate::document::PriceTier;
    let mut included_price = Money::zero(pricing.currency);
    let mut extras_cost = Money::zero(pricing.currency);
    let mut extra_unit_price = None;
    for part in parts {
        let amount = pricing.amount(Some(part.price), part.units)?;
        match part.tier {
            PriceTier::Included => included_price = included_price.checked_add(amount)?,
            PriceTier::Flat(_) => extras_cost = extras_cost.checked_add(amount)?,
            _ => {
                extras_cost = extras_cost.checked_add(amount)?;
                extra_unit_price = Some(part.price);
            }
        }
    }
    let included = if item.model == crate::seat_tiers::SeatModel::Package {
        item.included
    } else {
        0
    };
    Ok(LicenceRow {
        product: pricing.product.into(),
        name: name_of(catalog, pricing.product, lang),
        kind,
        active,
        included,
        included_price,
        extras: active.saturating_sub(included).max(0),
        extra_unit_price,
        extras_cost,
        total: included_price.checked_add(extras_cost)?,
        maximum: item.maximum,
        own_period: false,
    })
}

fn name_of(catalog: &Catalog, code: &str, lang: Lang) -> String {
    catalog
        .product(code)
        .map_or(code, |p| p.name.get(lang))
        .into()
}

/// The dashboard's order: users, numbers, teams, add-ons, call bundles.
fn rank(kind: &ProductKind) -> u8 {
    match kind {
        ProductKind::User => 0,
        ProductKind::Number => 1,
        ProductKind::Team => 2,
        ProductKind::Addon => 3,
        ProductKind::CallBundle { .. } => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{LineKey, Section};
    use crate::scenario::{self, Scenario};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const DEFAULT: &str = include_str!("../../../catalog/default.toml");

    fn eur(text: &str) -> Result<Money, MoneyError> {
        Money::parse(text, Currency::EUR)
    }

    fn quantities(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(p, q)| ((*p).to_string(), *q)).collect()
    }

    /// The recurring-item lines of the first invoice the scenario runner issues for a
    /// subscription started on 5 Jan 2026 without trial, summed per product.
    fn first_invoice_recurring(
        catalog: &Catalog,
        plan: &str,
        frequency: &str,
        quantities: &str,
    ) -> Result<BTreeMap<String, Money>, Box<dyn std::error::Error>> {
        let text = format!(
            r#"
catalog = "default.toml"
until = "2026-01-05"
[account]
name = "Lumen Conseil SAS"
country = "FR"
[subscription]
plan = "{plan}"
frequency = "{frequency}"
currency = "EUR"
start = "2026-01-05"
trial_days = 0
quantities = {quantities}
"#
        );
        let outcome = scenario::run(&Scenario::from_toml(&text)?, catalog)?;
        let invoice = outcome
            .documents()
            .next()
            .ok_or("the scenario issued no invoice")?;
        let mut per_product = BTreeMap::new();
        for line in invoice
            .lines
            .iter()
            .filter(|l| l.section == Section::Recurring)
        {
            if let LineKey::Recurring(key) = &line.key {
                let sum = per_product
                    .entry(key.product.clone())
                    .or_insert(Money::zero(Currency::EUR));
                *sum = sum.checked_add(line.amount)?;
            }
        }
        Ok(per_product)
    }

    /// Each priced row's total, by product, as the invoice would carry it.
    fn per_product(table: &LicenceTable) -> BTreeMap<String, Money> {
        table
            .rows
            .iter()
            .chain(&table.addons)
            .filter(|r| !r.total.is_zero())
            .map(|r| (r.product.clone(), r.total))
            .collect()
    }

    fn find<'a>(rows: &'a [LicenceRow], product: &str) -> Result<&'a LicenceRow, String> {
        rows.iter()
            .find(|r| r.product == product)
            .ok_or_else(|| format!("no {product} row"))
    }

    #[test]
    fn essentials_monthly_matches_the_first_invoice() -> TestResult {
        let catalog = Catalog::from_toml(DEFAULT)?;
        let q = quantities(&[("user", 10), ("number", 2), ("team", 2)]);
        let t = licence_table(
            &catalog,
            "essentials",
            Frequency::Monthly,
            Currency::EUR,
            &q,
            Lang::Fr,
        )?;
        let order: Vec<&str> = t.rows.iter().map(|r| r.product.as_str()).collect();
        assert_eq!(order, ["user", "number", "team"]);
        assert_eq!(t.plan_name, "Essentiel");

        let user = find(&t.rows, "user")?;
        assert_eq!(user.name, "Licence utilisateur");
        assert_eq!(user.active, 10); // A
        assert_eq!(user.included, 0); // B: Essentials includes no user
        assert_eq!(user.included_price, eur("0.00")?); // C
        assert_eq!(user.extras, 10); // D = 10 − 0
        assert_eq!(user.extras_cost, eur("300.00")?); // E = 10 × 30.00
        assert_eq!(user.total, eur("300.00")?); // C + E

        let number = find(&t.rows, "number")?;
        assert_eq!(number.active, 2); // A
        assert_eq!(number.included, 1); // B
        assert_eq!(number.included_price, eur("0.00")?); // C: the included number is free
        assert_eq!(number.extras, 1); // D = 2 − 1
        assert_eq!(number.extra_unit_price, Some(Decimal::from_int(6)));
        assert_eq!(number.extras_cost, eur("6.00")?); // E = 1 × 6.00
        assert_eq!(number.total, eur("6.00")?);

        let team = find(&t.rows, "team")?;
        assert_eq!(team.active, 2);
        assert_eq!(team.maximum, Some(3)); // "Essentials: up to 3 teams"
        assert_eq!(team.extra_unit_price, None);
        assert_eq!(team.total, eur("0.00")?); // teams are free

        assert!(t.addons.is_empty());
        assert!(t.features.is_empty());
        assert_eq!(t.total, eur("306.00")?); // 300.00 + 6.00 + 0.00

        let invoiced = first_invoice_recurring(
            &catalog,
            "essentials",
            "monthly",
            "{ user = 10, number = 2, team = 2 }",
        )?;
        assert_eq!(per_product(&t), invoiced);
        assert_eq!(Money::sum(Currency::EUR, invoiced.into_values())?, t.total);
        Ok(())
    }

    #[test]
    fn professional_annual_with_analytics_counts_its_add_ons() -> TestResult {
        let catalog = Catalog::from_toml(DEFAULT)?;
        let q = quantities(&[
            ("user", 12),
            ("number", 3),
            ("team", 5),
            ("analytics_plus", 1),
            ("bundle_europe", 1),
        ]);
        let t = licence_table(
            &catalog,
            "professional",
            Frequency::Annual,
            Currency::EUR,
            &q,
            Lang::En,
        )?;
        let user = find(&t.rows, "user")?;
        assert_eq!((user.active, user.included, user.extras), (12, 0, 12)); // A, B, D
        assert_eq!(user.extras_cost, eur("5760.00")?); // E = 12 × 480.00
        let number = find(&t.rows, "number")?;
        assert_eq!((number.active, number.included, number.extras), (3, 2, 1)); // D = 3 − 2
        assert_eq!(number.extras_cost, eur("60.00")?); // E = 1 × 60.00
        let team = find(&t.rows, "team")?;
        assert_eq!((team.active, team.maximum), (5, None)); // Professional: unlimited
        assert_eq!(team.total, eur("0.00")?);

        let names: Vec<&str> = t.addons.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Analytics+", "Europe call bundle (1,000 min)"]);
        assert_eq!(find(&t.addons, "analytics_plus")?.total, eur("1500.00")?); // 1 × 1500.00
        assert_eq!(find(&t.addons, "bundle_europe")?.total, eur("200.00")?); // 1 × 200.00
        assert_eq!(
            t.features,
            [Feature {
                code: "analytics_plus".into(),
                name: "Analytics+".into(),
                held: true
            }]
        );
        // 5760.00 + 60.00 + 0.00 + 1500.00 + 200.00
        assert_eq!(t.total, eur("7520.00")?);

        let invoiced = first_invoice_recurring(
            &catalog,
            "professional",
            "annual",
            "{ user = 12, number = 3, team = 5, analytics_plus = 1, bundle_europe = 1 }",
        )?;
        assert_eq!(per_product(&t), invoiced);
        assert_eq!(Money::sum(Currency::EUR, invoiced.into_values())?, t.total);
        Ok(())
    }

    #[test]
    fn a_feature_of_the_plan_not_held_is_listed_but_not_priced() -> TestResult {
        let catalog = Catalog::from_toml(DEFAULT)?;
        let q = quantities(&[("user", 3), ("number", 2)]);
        let t = licence_table(
            &catalog,
            "professional",
            Frequency::Monthly,
            Currency::EUR,
            &q,
            Lang::En,
        )?;
        assert!(t.addons.is_empty());
        assert_eq!(t.features.len(), 1);
        assert!(t.features.iter().all(|f| !f.held));
        assert_eq!(t.total, eur("150.00")?); // 3 users × 50.00, 2 numbers included free
        Ok(())
    }

    #[test]
    fn an_included_price_is_column_c_billed_once_whatever_the_quantity() -> TestResult {
        let text = DEFAULT.replacen(
            "[plans.essentials.items.user]\nminimum = 3\n",
            "[plans.essentials.items.user]\nminimum = 3\nincluded = 5\n\
             included_price.monthly = { EUR = \"99.99\", USD = \"99.99\", GBP = \"80.00\" }\n\
             included_price.annual = { EUR = \"999.90\", USD = \"999.90\", GBP = \"800.00\" }\n",
            1,
        );
        assert_ne!(text, DEFAULT, "the catalog edit applied");
        let catalog = Catalog::from_toml(&text)?;
        for (users, extras, total) in [(3, 0, "99.99"), (8, 3, "189.99")] {
            let q = quantities(&[("user", users), ("number", 1)]);
            let t = licence_table(
                &catalog,
                "essentials",
                Frequency::Monthly,
                Currency::EUR,
                &q,
                Lang::En,
            )?;
            let user = find(&t.rows, "user")?;
            assert_eq!(user.included, 5); // B
            assert_eq!(user.included_price, eur("99.99")?); // C, even below 5 users
            assert_eq!(user.extras, extras); // D = max(users − 5, 0)
            assert_eq!(user.total, eur(total)?); // 99.99 + D × 30.00
            let invoiced = first_invoice_recurring(
                &catalog,
                "essentials",
                "monthly",
                &format!("{{ user = {users}, number = 1 }}"),
            )?;
            assert_eq!(per_product(&t), invoiced);
        }
        Ok(())
    }

    #[test]
    fn an_unknown_plan_or_frequency_is_an_error() -> TestResult {
        let catalog = Catalog::from_toml(DEFAULT)?;
        let q = BTreeMap::new();
        assert_eq!(
            licence_table(
                &catalog,
                "gold",
                Frequency::Monthly,
                Currency::EUR,
                &q,
                Lang::En
            )
            .err(),
            Some(LicenceError::UnknownPlan("gold".into()))
        );
        assert!(matches!(
            licence_table(
                &catalog,
                "essentials",
                Frequency::Weekly,
                Currency::EUR,
                &q,
                Lang::En
            ),
            Err(LicenceError::FrequencyNotOffered { .. })
        ));
        assert!(matches!(
            licence_table(
                &catalog,
                "essentials",
                Frequency::Monthly,
                Currency::JPY,
                &q,
                Lang::En
            ),
            Err(LicenceError::MissingPrice { .. })
        ));
        Ok(())
    }
}
