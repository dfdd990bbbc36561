//! `prorata quote`: a subscription with no changes, billed from its start to a date. It is a
//! scenario without actions, so quotes and simulations price identically.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use chrono::NaiveDate;
use clap::Args;
use prorata_core::catalog::Lang;
use prorata_core::reconcile::Settings;
use prorata_core::scenario::{self, Account, Scenario, SubscriptionSpec};
use prorata_core::{Currency, DayCount, Frequency};

#[derive(Args)]
pub struct QuoteArgs {
    /// Catalog file.
    #[arg(long, default_value = "catalog/default.toml")]
    catalog: PathBuf,
    /// Plan code, e.g. essentials.
    #[arg(long)]
    plan: String,
    /// monthly, annual, quarterly or weekly.
    #[arg(long, default_value = "monthly", value_parser = parse_frequency)]
    frequency: Frequency,
    #[arg(long, default_value = "EUR")]
    currency: String,
    /// First day of the subscription (YYYY-MM-DD).
    #[arg(long)]
    start: NaiveDate,
    /// Bill every day due up to this one (defaults to the start).
    #[arg(long)]
    until: Option<NaiveDate>,
    /// Units of a product, repeatable: --quantity user=10 --quantity number=2.
    #[arg(long = "quantity", value_parser = parse_quantity)]
    quantities: Vec<(String, i64)>,
    /// Days of trial (defaults to the plan's).
    #[arg(long)]
    trial_days: Option<u32>,
    /// Buyer's country (ISO 3166-1 alpha-2), for VAT.
    #[arg(long, default_value = "FR")]
    country: String,
    #[arg(long)]
    vat_number: Option<String>,
    #[arg(long, default_value = "inclusive-days", value_parser = parse_day_count)]
    day_count: DayCount,
    /// en or fr.
    #[arg(long, default_value = "en", value_parser = parse_lang)]
    lang: Lang,
    #[arg(long)]
    json: bool,
}

fn parse_quantity(s: &str) -> Result<(String, i64), String> {
    let (product, n) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: write PRODUCT=UNITS, e.g. user=10"))?;
    let n = n
        .parse()
        .map_err(|_| format!("{s:?}: {n:?} is not a whole number"))?;
    Ok((product.to_string(), n))
}

fn parse_enum<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|e| e.to_string())
}

fn parse_frequency(s: &str) -> Result<Frequency, String> {
    parse_enum(s)
}

fn parse_day_count(s: &str) -> Result<DayCount, String> {
    parse_enum(s)
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    parse_enum(s)
}

pub fn run(args: QuoteArgs) -> Result<()> {
    let catalog = crate::load_catalog(&args.catalog)?;
    let currency: Currency = args.currency.parse()?;
    let mut quantities = BTreeMap::new();
    for (product, n) in args.quantities {
        if quantities.insert(product.clone(), n).is_some() {
            bail!("--quantity {product}=… is given more than once");
        }
    }
    let until = args.until.unwrap_or(args.start);
    if until < args.start {
        bail!("--until {until} is before --start {}", args.start);
    }
    let scenario = Scenario {
        title: format!("Quote: {} ({})", args.plan, args.frequency),
        catalog: args.catalog.display().to_string(),
        until,
        settings: Settings {
            day_count: args.day_count,
            ..Settings::default()
        },
        account: Account {
            name: "Quote".into(),
            country: args.country,
            vat_number: args.vat_number,
            language: args.lang,
            address: Default::default(),
        },
        subscription: SubscriptionSpec {
            plan: args.plan,
            frequency: args.frequency,
            currency,
            start: args.start,
            trial_days: args.trial_days,
            term_months: 12,
            notice_days: 30,
            quantities,
            billing_day: None,
        },
        actions: Vec::new(),
    };
    let outcome = scenario::run(&scenario, &catalog)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print!("{}", prorata_docs::quote::quote(&outcome));
    }
    Ok(())
}
