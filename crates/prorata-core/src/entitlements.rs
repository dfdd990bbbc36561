//! Entitlements: what a subscription gives access to on a date, so the vendor's product can
//! gate its features (issue #15, item 11).
//!
//! Read from the catalog and the timeline, never stored: the plan in force on the date, its
//! features, and per product of that plan the limits a product enforces — the units held, the
//! units the plan includes, its minimum and maximum. A feature the plan lists is one of two
//! things, as seed 003's "special features" are: when its code names a product of the catalog
//! (Analytics+), it is an optional feature bought as that add-on, enabled while at least one
//! unit is held; when it names no product, it is part of the plan and always enabled. An
//! add-on held that the plan does not list is a feature too.
//!
//! The date is read as a whole day: the subscription as it stands at the end of that day, so a
//! change made during the day (effective at a time of day) shows on it, and one effective at
//! midnight the next day does not. Before the subscription starts and from the day it ends,
//! it entitles to nothing: no feature, no limit. A trial entitles to its plan in full.
//!
//! Pure, like the rest of the core: the caller passes the date and `known_on`, the day the
//! timeline is read as of (the tenant's today, so changes scheduled for later show on the
//! dates they take effect).

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::Serialize;

use crate::calendar::Frequency;
use crate::catalog::{Catalog, ProductKind, Text};
use crate::timeline::{start_of, Subscription};

/// Where the subscription stands on the date (also the status `GET /v1/subscriptions` lists
/// and filters by).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = SubscriptionStatus))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The subscription starts after the date: nothing yet.
    NotStarted,
    /// In its trial: the plan in full, nothing billed.
    Trial,
    Active,
    /// Ended (cancelled, or not renewed) on or before the date: nothing any more.
    Ended,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::NotStarted,
        Status::Trial,
        Status::Active,
        Status::Ended,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Status::NotStarted => "not_started",
            Status::Trial => "trial",
            Status::Active => "active",
            Status::Ended => "ended",
        }
    }

    /// The status named `text` (as serialized), if any.
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the subscription grants anything on the date.
    pub fn entitles(self) -> bool {
        matches!(self, Status::Trial | Status::Active)
    }
}

/// Why a feature is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FeatureSource {
    /// Listed by the plan and naming no product: part of the plan.
    Plan,
    /// A product held as an add-on (listed by the plan as optional, or not).
    Addon,
}

/// One feature of the subscription on the date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = EntitledFeature))]
pub struct Feature {
    /// The code the catalog lists it under (a product code for add-ons).
    pub code: String,
    /// Its name in both languages (the code itself when it names no product).
    pub name: Text,
    pub source: FeatureSource,
    /// Whether the product may use it: an optional feature the plan offers but the
    /// subscription does not hold is listed, disabled.
    pub enabled: bool,
}

/// What one product of the plan allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ProductLimit))]
pub struct Limit {
    pub product: String,
    pub name: Text,
    /// The product's kind; a call bundle carries the minutes it includes and the metrics.
    #[serde(flatten)]
    pub kind: ProductKind,
    /// Units the subscription holds.
    pub quantity: i64,
    /// Units the plan includes in its flat price (or free).
    pub included: i64,
    /// The fewest units the plan allows.
    pub minimum: i64,
    /// The most units the plan allows; `None`: unlimited.
    pub maximum: Option<i64>,
}

/// A subscription's entitlements on one date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Entitlements {
    pub as_of: NaiveDate,
    pub status: Status,
    /// The plan in force on the date (before the start: the plan sold; after the end: the
    /// last one).
    pub plan: String,
    pub plan_name: Text,
    /// The billing frequency in force on the date.
    pub frequency: Frequency,
    /// Empty unless the status entitles.
    pub features: Vec<Feature>,
    /// Per product of the plan, in the catalog's order; empty unless the status entitles.
    pub limits: Vec<Limit>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntitlementError {
    #[error("plan: the catalog has no plan {0:?}")]
    UnknownPlan(String),
}

/// The three days a subscription's [`Status`] turns on, as known on a day: kept beside the
/// stored subscription so a list can filter by status in SQL (`prorata-store`), and read
/// back by [`Milestones::status_on`], the one rule both follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Milestones {
    /// The first day of the subscription.
    pub starts_on: NaiveDate,
    /// The day the trial ends and the recurring fees start (the start when there is no trial).
    pub paid_from: NaiveDate,
    /// The day of the moment it ends (cancelled or not renewed): nothing from that day.
    pub ends_on: Option<NaiveDate>,
}

impl Milestones {
    /// `sub`'s milestones with the events recorded by `known_on` (the trial's end as last
    /// recorded, as [`Subscription::in_trial_on`] reads it).
    pub fn of(sub: &Subscription, known_on: NaiveDate) -> Milestones {
        Milestones {
            starts_on: sub.start,
            paid_from: sub.first_paid_day(NaiveDate::MAX),
            ends_on: sub.end(known_on).map(|e| e.date()),
        }
    }

    /// The status on `date`, read as a whole day: not started before the start; ended from
    /// the day of the end (even at a time of day: the day is not whole any more); in trial
    /// before the first paid day; active otherwise.
    pub fn status_on(&self, date: NaiveDate) -> Status {
        if date < self.starts_on {
            Status::NotStarted
        } else if self.ends_on.is_some_and(|end| end <= date) {
            Status::Ended
        } else if date < self.paid_from {
            Status::Trial
        } else {
            Status::Active
        }
    }
}

/// The last moment of `date`: what "as of a date" reads.
fn end_of(date: NaiveDate) -> NaiveDateTime {
    NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999)
        .map_or_else(|| start_of(date), |t| date.and_time(t))
}

/// The entitlements of `sub`, sold on `catalog`, on `as_of`, with the events recorded by
/// `known_on`.
pub fn entitlements(
    catalog: &Catalog,
    sub: &Subscription,
    as_of: NaiveDate,
    known_on: NaiveDate,
) -> Result<Entitlements, EntitlementError> {
    let at = end_of(as_of);
    let status = Milestones::of(sub, known_on).status_on(as_of);
    let state = sub.state_at(at, known_on);
    let plan = catalog
        .plan(&state.plan)
        .ok_or_else(|| EntitlementError::UnknownPlan(state.plan.clone()))?;
    let name_of = |code: &str| {
        catalog.product(code).map_or_else(
            || Text {
                en: code.into(),
                fr: code.into(),
            },
            |p| p.name.clone(),
        )
    };
    let mut features = Vec::new();
    let mut limits = Vec::new();
    if status.entitles() {
        for code in &plan.features {
            let (source, enabled) = match catalog.product(code) {
                Some(_) => (FeatureSource::Addon, state.quantity(code) > 0),
                None => (FeatureSource::Plan, true),
            };
            features.push(Feature {
                code: code.clone(),
                name: name_of(code),
                source,
                enabled,
            });
        }
        for (code, quantity) in &state.quantities {
            let addon = catalog
                .product(code)
                .is_some_and(|p| p.kind == ProductKind::Addon);
            if addon && *quantity > 0 && !plan.features.contains(code) {
                features.push(Feature {
                    code: code.clone(),
                    name: name_of(code),
                    source: FeatureSource::Addon,
                    enabled: true,
                });
            }
        }
        for (code, item) in &plan.items {
            // A plan item without a product fails catalog validation; skip rather than guess.
            let Some(product) = catalog.product(code) else {
                continue;
            };
            limits.push(Limit {
                product: code.clone(),
                name: product.name.clone(),
                kind: product.kind.clone(),
                quantity: state.quantity(code),
                included: item.included,
                minimum: item.minimum,
                maximum: item.maximum,
            });
        }
    }
    Ok(Entitlements {
        as_of,
        status,
        plan: state.plan.clone(),
        plan_name: plan.name.clone(),
        frequency: sub.frequency_on(as_of, known_on),
        features,
        limits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{decide, Request};
    use crate::money::Currency;
    use crate::timeline::Subscription;
    use std::collections::BTreeMap;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const DEFAULT: &str = include_str!("../../../catalog/default.toml");

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or(NaiveDate::MIN)
    }

    /// Essentials, monthly, sold on 6 June 2024 with a 7-day trial (first paid day 13 June),
    /// a 12-month term: 5 users, 2 numbers, 1 team.
    fn essentials() -> Subscription {
        Subscription {
            plan: "essentials".into(),
            frequency: Frequency::Monthly,
            currency: Currency::EUR,
            start: d(2024, 6, 6),
            trial_days: 7,
            term_months: 12,
            notice_days: 30,
            quantities: BTreeMap::from([
                ("user".into(), 5),
                ("number".into(), 2),
                ("team".into(), 1),
            ]),
            events: Vec::new(),
            alignment: Default::default(),
            billing_day: None,
            trial_waives: Default::default(),
        }
    }

    #[test]
    fn milestones_give_each_status_on_its_days() {
        let mut sub = essentials();
        // Cancelled on 20 July at noon: the day is not whole any more, so ended from it.
        sub.events.push(crate::timeline::Event {
            recorded_on: d(2024, 7, 1),
            effective: d(2024, 7, 20).and_hms_opt(12, 0, 0).unwrap_or_default(),
            change: crate::timeline::Change::Cancelled,
        });
        let m = Milestones::of(&sub, d(2024, 7, 1));
        assert_eq!(
            m,
            Milestones {
                starts_on: d(2024, 6, 6),
                paid_from: d(2024, 6, 13),
                ends_on: Some(d(2024, 7, 20)),
            }
        );
        assert_eq!(m.status_on(d(2024, 6, 5)), Status::NotStarted);
        assert_eq!(m.status_on(d(2024, 6, 6)), Status::Trial);
        assert_eq!(m.status_on(d(2024, 6, 12)), Status::Trial);
        assert_eq!(m.status_on(d(2024, 6, 13)), Status::Active);
        assert_eq!(m.status_on(d(2024, 7, 19)), Status::Active);
        assert_eq!(m.status_on(d(2024, 7, 20)), Status::Ended);
        // Known before the cancellation was recorded, it does not end.
        assert_eq!(Milestones::of(&sub, d(2024, 6, 30)).ends_on, None);
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("cancelled"), None);
    }

    fn limit<'a>(e: &'a Entitlements, product: &str) -> Result<&'a Limit, String> {
        e.limits
            .iter()
            .find(|l| l.product == product)
            .ok_or_else(|| format!("no {product} limit"))
    }

    fn enabled(e: &Entitlements) -> Vec<(&str, bool)> {
        e.features
            .iter()
            .map(|f| (f.code.as_str(), f.enabled))
            .collect()
    }

    #[test]
    fn essentials_lists_its_limits_and_no_feature() -> TestResult {
        let catalog = Catalog::from_toml(DEFAULT)?;
        let sub = essentials();
        let e = entitlements(&catalog, &sub, d(2024, 7, 1), d(2024, 7, 1))?;
        assert_eq!(e.status, Status::Active);
        assert_eq!(
            (e.plan.as_str(), e.plan_name.en.as_str()),
            ("essentials", "Essentials")
        );
        assert_eq!(e.frequency, Frequency::Monthly);
        assert!(e.features.is_empty());
        // Essentials: at least 3 users, 1 number included, at most 3 teams and 1 bundle.
        let user = limit(&e, "user")?;
        assert_eq!(
            (user.quantity, user.included, user.minimum, user.maximum),
            (5, 0, 3, None)
        );
        let number = limit(&e, "number")?;
        assert_eq!((number.quantity, number.included), (2, 1));
        let team = limit(&e, "team")?;
        assert_eq!((team.quantity, team.maximum), (1, Some(3)));
        let bundle = limit(&e, "bundle_europe")?;
        assert_eq!((bundle.quantity, bundle.maximum), (0, Some(1)));
        assert!(matches!(
            bundle.kind,
            ProductKind::CallBundle {
                included_units: 1000,
                ..
            }
        ));
        // Every item of the plan, in the catalog's order.
        let products: Vec<&str> = e.limits.iter().map(|l| l.product.as_str()).collect();
        assert_eq!(products, ["bundle_europe", "number", "team", "user"]);
        Ok(())
    }

    #[test]
    fn the_trial_entitles_to_the_plan_and_nothing_before_the_start() -> TestResult {
        let catalog = Catalog::from_toml(DEFAULT)?;
        let sub = essentials();
        let before = entitlements(&catalog, &sub, d(2024, 6, 5), d(2024, 6, 1))?;
        assert_eq!(before.status, Status::NotStarted);
        assert!(before.limits.is_empty() && before.features.is_empty());
        // 6..=12 June is the trial; 13 June the first paid day.
        let trial = entitlements(&catalog, &sub, d(2024, 6, 12), d(2024, 6, 12))?;
        assert_eq!(trial.status, Status::Trial);
        assert_eq!(limit(&trial, "user")?.quantity, 5);
        let paid = entitlements(&catalog, &sub, d(2024, 6, 13), d(2024, 6, 13))?;
        assert_eq!(paid.status, Status::Active);
        Ok(())
    }

    #[test]
    fn an_upgrade_to_professional_enables_analytics_when_bought() -> TestResult {
        let catalog = Catalog::from_toml(DEFAULT)?;
        let mut sub = essentials();
        let on = d(2024, 7, 10);
        let up = decide(
            &sub,
            &catalog,
            &Request::ChangePlan {
                plan: "professional".into(),
            },
            on,
            None,
        )?;
        sub.events.push(up.event);
        // The day before the change: Essentials, no feature.
        let e = entitlements(&catalog, &sub, d(2024, 7, 9), on)?;
        assert_eq!(e.plan, "essentials");
        assert!(e.features.is_empty());
        // From the change: Professional offers Analytics+, an add-on not held yet.
        let e = entitlements(&catalog, &sub, on, on)?;
        assert_eq!(e.plan, "professional");
        assert_eq!(enabled(&e), [("analytics_plus", false)]);
        assert_eq!(e.features[0].source, FeatureSource::Addon);
        // Professional includes 2 numbers and has no team limit.
        assert_eq!(limit(&e, "number")?.included, 2);
        assert_eq!(limit(&e, "team")?.maximum, None);
        let add = decide(
            &sub,
            &catalog,
            &Request::AddAddon {
                product: "analytics_plus".into(),
            },
            d(2024, 7, 15),
            None,
        )?;
        sub.events.push(add.event);
        // Effective 15 July: the 14th does not have it, the 15th does.
        let e = entitlements(&catalog, &sub, d(2024, 7, 14), d(2024, 7, 15))?;
        assert_eq!(enabled(&e), [("analytics_plus", false)]);
        let e = entitlements(&catalog, &sub, d(2024, 7, 15), d(2024, 7, 15))?;
        assert_eq!(enabled(&e), [("analytics_plus", true)]);
        assert_eq!(limit(&e, "analytics_plus")?.quantity, 1);
        Ok(())
    }

    #[test]
    fn a_feature_naming_no_product_is_part_of_the_plan() -> TestResult {
        let text = DEFAULT.replacen(
            "features = [\"analytics_plus\"]",
            "features = [\"analytics_plus\", \"call_recording\"]",
            1,
        );
        assert_ne!(text, DEFAULT, "the catalog edit applied");
        let catalog = Catalog::from_toml(&text)?;
        let mut sub = essentials();
        sub.plan = "professional".into();
        let e = entitlements(&catalog, &sub, d(2024, 7, 1), d(2024, 7, 1))?;
        assert_eq!(
            enabled(&e),
            [("analytics_plus", false), ("call_recording", true)]
        );
        assert_eq!(e.features[1].source, FeatureSource::Plan);
        assert_eq!(e.features[1].name.en, "call_recording");
        Ok(())
    }

    #[test]
    fn a_cancellation_ends_the_entitlements_on_its_day() -> TestResult {
        let catalog = Catalog::from_toml(DEFAULT)?;
        let mut sub = essentials();
        // Renewal on 13 June 2025 (12 months from the first paid day); the deadline is
        // 30 days before, 14 May 2025. Asked on 1 May: on time.
        let cancel = decide(&sub, &catalog, &Request::Cancel, d(2025, 5, 1), None)?;
        sub.events.push(cancel.event);
        let known = d(2025, 5, 1);
        let last = entitlements(&catalog, &sub, d(2025, 6, 12), known)?;
        assert_eq!(last.status, Status::Active);
        assert_eq!(limit(&last, "user")?.quantity, 5);
        let ended = entitlements(&catalog, &sub, d(2025, 6, 13), known)?;
        assert_eq!(ended.status, Status::Ended);
        assert!(ended.limits.is_empty() && ended.features.is_empty());
        assert_eq!(ended.plan, "essentials");
        Ok(())
    }

    #[test]
    fn a_plan_missing_from_the_catalog_is_named() -> TestResult {
        let catalog = Catalog::from_toml(DEFAULT)?;
        let mut sub = essentials();
        sub.plan = "gold".into();
        let err = entitlements(&catalog, &sub, d(2024, 7, 1), d(2024, 7, 1)).err();
        assert_eq!(err, Some(EntitlementError::UnknownPlan("gold".into())));
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("plan: the catalog has no plan \"gold\"")
        );
        Ok(())
    }
}
