//! Scenarios: a subscription and dated actions, played through a clock in memory.
//!
//! A scenario file (TOML) names a catalog, the tenant's settings, an account, a subscription
//! and actions on given days: contract changes, usage, payments. [`run`] moves the clock from
//! the start to `until`, stopping on every day something is due (invoice days, the end of the
//! subscription) or an action happens. On each stop it applies the day's actions, then
//! reconciles and issues what is due, numbered without gaps per series, with the previous
//! balance read from the ledger. It is the same sequence the engine runs against a database;
//! here everything stays in memory, so the rules can be tried from files.

use chrono::{Days, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::alignment::{check_billing_day, BillingAlignment};
use crate::calendar::{add_months_clamped, Frequency};
use crate::catalog::{Catalog, Lang};
use crate::change::{check_initial, decide_with, Direction, Refusal, Request, Rules};
use crate::document::{Document, DocumentKind};
use crate::money::{Currency, Money, MoneyError};
use crate::reconcile::{due_dates, reconcile, Context, ReconcileError, Settings, UsageRecord};
use crate::tax::{self, Buyer};
use crate::timeline::{start_of, Subscription, DEFAULT_NOTICE_DAYS};
use crate::wallet::TopUp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    #[serde(default)]
    pub vat_number: Option<String>,
    #[serde(default)]
    pub language: Lang,
    /// Printed in the buyer block of the scenario's documents.
    #[serde(default)]
    pub address: crate::account::Address,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    pub plan: String,
    pub frequency: Frequency,
    pub currency: Currency,
    pub start: NaiveDate,
    /// Defaults to the plan's trial.
    #[serde(default)]
    pub trial_days: Option<u32>,
    #[serde(default = "default_term")]
    pub term_months: u32,
    #[serde(default = "default_notice")]
    pub notice_days: u32,
    pub quantities: std::collections::BTreeMap<String, i64>,
    /// The day of the month every period starts on (1–31, the 31st clamped to shorter
    /// months), whatever the tenant's alignment; the first paid day's period is prorated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_day: Option<u32>,
}

fn default_term() -> u32 {
    12
}

fn default_notice() -> u32 {
    DEFAULT_NOTICE_DAYS
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSpec {
    pub metric: String,
    /// In the unit the metric is priced in: minutes for call metrics counted in seconds.
    pub quantity: i64,
    /// The day the usage happened; the action's day when absent.
    #[serde(default)]
    pub date: Option<NaiveDate>,
    /// How many events (calls, transactions) the quantity sums: what a percentage charge's
    /// fee per transaction counts. 0 when not counted.
    #[serde(default)]
    pub events: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub on: NaiveDate,
    #[serde(default)]
    pub request: Option<Request>,
    /// When a request takes effect: a date (`2024-07-10`) or a date and time
    /// (`2024-07-10T12:00:00`); the action's day when absent.
    #[serde(default, deserialize_with = "date_or_datetime")]
    pub effective: Option<NaiveDateTime>,
    #[serde(default)]
    pub usage: Option<UsageSpec>,
    /// A payment received, in major units ("300.00").
    #[serde(default)]
    pub payment: Option<String>,
    /// A coupon redeemed or removed: `{ type = "apply", code = "WELCOME10" }`; `effective`
    /// says from when.
    #[serde(default)]
    pub coupon: Option<crate::coupon::CouponRequest>,
    /// Prepaid credit put on the account's wallet: `{ amount = "100.00" }` (paid) or
    /// `{ amount = "20.00", kind = "granted" }`.
    #[serde(default)]
    pub top_up: Option<TopUpSpec>,
}

/// A top-up of the account's wallet ([`crate::wallet`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopUpSpec {
    /// In major units ("100.00").
    pub amount: String,
    #[serde(default = "paid")]
    pub kind: TopUp,
}

fn paid() -> TopUp {
    TopUp::Paid
}

fn date_or_datetime<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<NaiveDateTime>, D::Error> {
    let text = String::deserialize(d)?;
    if let Ok(date) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        return Ok(Some(start_of(date)));
    }
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S")
        .map(Some)
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "{text:?} is neither a date (2024-07-10) nor a date and time (2024-07-10T12:00:00)"
            ))
        })
}

/// The seller's name on a scenario's documents when its settings name none.
pub const SCENARIO_SELLER: &str = "Prorata (scenario)";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub title: String,
    /// Path of the catalog file, relative to the scenario file.
    pub catalog: String,
    pub until: NaiveDate,
    #[serde(default)]
    pub settings: Settings,
    pub account: Account,
    pub subscription: SubscriptionSpec,
    #[serde(default)]
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    #[error("{0}")]
    Syntax(String),
    #[error("{path}: {problem}")]
    Invalid { path: String, problem: String },
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// What happened on a day of the scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    Accepted {
        on: NaiveDate,
        request: Request,
        direction: Direction,
        effective: NaiveDateTime,
    },
    Refused {
        on: NaiveDate,
        request: Request,
        reason: String,
        refusal: Refusal,
    },
    Usage {
        on: NaiveDate,
        metric: String,
        date: NaiveDate,
        quantity: i64,
    },
    Payment {
        on: NaiveDate,
        amount: Money,
        balance_after: Money,
    },
    Document(Box<Document>),
    /// Prepaid credit put on the wallet.
    TopUp {
        on: NaiveDate,
        amount: Money,
        kind: TopUp,
        wallet_after: Money,
    },
    /// A coupon applied or removed.
    Coupon {
        on: NaiveDate,
        request: crate::coupon::CouponRequest,
        effective: NaiveDateTime,
    },
    /// A coupon request refused, and why.
    CouponRefused {
        on: NaiveDate,
        request: crate::coupon::CouponRequest,
        reason: String,
        refusal: crate::coupon::CouponRefusal,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub title: String,
    pub account: Account,
    pub subscription: Subscription,
    pub entries: Vec<Entry>,
    /// What the customer owes at the end (negative: a credit in their favour).
    pub balance: Money,
    /// The prepaid credit left on the wallet at the end.
    pub wallet: Money,
    /// The usage recorded, as billing read it (counted units, each with its day recorded).
    #[serde(skip)]
    pub usage: Vec<UsageRecord>,
}

impl Outcome {
    /// What billing once more on `day` would issue, knowing the usage recorded and the
    /// documents issued by then, under the scenario's `settings`: nothing, when billing is
    /// idempotent. Tests of every billing model ask it after each invoice day.
    pub fn reconcile_again(
        &self,
        catalog: &Catalog,
        settings: &Settings,
        day: NaiveDate,
    ) -> Result<Vec<crate::document::Draft>, ScenarioError> {
        let buyer = Buyer {
            country: tax::country_code(&self.account.country)
                .map_err(|e| invalid("account.country", e))?,
            vat_number: self.account.vat_number.clone(),
            address_complete: self.account.address.first_missing().is_none(),
        };
        let ctx = Context {
            catalog,
            settings,
            buyer: &buyer,
            lang: self.account.language,
        };
        let usage: Vec<UsageRecord> = self
            .usage
            .iter()
            .filter(|u| u.recorded_on <= day)
            .cloned()
            .collect();
        let issued: Vec<Document> = self
            .documents()
            .filter(|d| d.issued_on <= day)
            .cloned()
            .collect();
        Ok(reconcile(&ctx, &self.subscription, &usage, &issued, day)?)
    }

    pub fn documents(&self) -> impl Iterator<Item = &Document> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Document(d) => Some(d.as_ref()),
            _ => None,
        })
    }
}

impl Scenario {
    pub fn from_toml(text: &str) -> Result<Scenario, ScenarioError> {
        toml::from_str(text).map_err(|e| ScenarioError::Syntax(e.to_string()))
    }
}

/// The longest scenario: a century of billing…
const MAX_SCENARIO_MONTHS: u32 = 1_200;
/// …or 1,200 weeks (23 years) billed weekly. Each stop reconciles against every document
/// issued so far, so the run's cost grows with the square of the invoices: a century of
/// weekly invoices (5,200) took minutes (found by `tests/fuzz_files.rs`).
const MAX_SCENARIO_WEEKS: u64 = 1_200;

/// The last day a scenario of a subscription starting on `start` may run to.
fn last_scenario_day(start: NaiveDate, frequency: Frequency) -> NaiveDate {
    match frequency {
        Frequency::Weekly => start.checked_add_days(Days::new(7 * MAX_SCENARIO_WEEKS)),
        _ => add_months_clamped(start, MAX_SCENARIO_MONTHS),
    }
    .unwrap_or(start)
}
/// The most units of usage one action may record.
pub const MAX_USAGE_QUANTITY: i64 = 1_000_000_000_000;

fn invalid(path: impl Into<String>, problem: impl ToString) -> ScenarioError {
    ScenarioError::Invalid {
        path: path.into(),
        problem: problem.to_string(),
    }
}

/// The series a document kind is numbered in.
pub fn series(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Invoice => "INV",
        DocumentKind::CreditNote => "CN",
    }
}

/// The printed number of the `n`-th document of its series: `INV-000001`, `CN-000001`.
pub fn document_number(kind: DocumentKind, n: i64) -> String {
    format!("{}-{n:06}", series(kind))
}

/// Document numbers without gaps, one series per kind.
#[derive(Debug, Default)]
pub struct Numbering {
    invoices: i64,
    credit_notes: i64,
}

impl Numbering {
    pub fn next(&mut self, kind: DocumentKind) -> String {
        let n = match kind {
            DocumentKind::Invoice => &mut self.invoices,
            DocumentKind::CreditNote => &mut self.credit_notes,
        };
        *n += 1;
        document_number(kind, *n)
    }
}

/// Builds the subscription a scenario starts with, checked against the catalog, under the
/// default (anniversary) alignment; [`subscription_aligned`] for a tenant's.
pub fn subscription(
    spec: &SubscriptionSpec,
    catalog: &Catalog,
) -> Result<Subscription, ScenarioError> {
    subscription_aligned(spec, catalog, BillingAlignment::default())
}

/// Builds a subscription sold under a tenant's `alignment` (copied into it, so a later change
/// of the tenant's setting moves none of its periods), checked against the catalog.
pub fn subscription_aligned(
    spec: &SubscriptionSpec,
    catalog: &Catalog,
    alignment: BillingAlignment,
) -> Result<Subscription, ScenarioError> {
    if let Some(day) = spec.billing_day {
        check_billing_day(day).map_err(|e| invalid("subscription.billing_day", e))?;
    }
    let plan = catalog.plan(&spec.plan).ok_or_else(|| {
        invalid(
            "subscription.plan",
            format!("no plan named {:?} in the catalog", spec.plan),
        )
    })?;
    if !catalog.currencies.contains(&spec.currency) {
        return Err(invalid(
            "subscription.currency",
            format!("the catalog does not bill in {}", spec.currency),
        ));
    }
    let sub = Subscription {
        plan: spec.plan.clone(),
        frequency: spec.frequency,
        currency: spec.currency,
        start: spec.start,
        trial_days: spec.trial_days.unwrap_or(plan.trial_days),
        term_months: spec.term_months,
        notice_days: spec.notice_days,
        quantities: spec.quantities.clone(),
        events: Vec::new(),
        alignment,
        billing_day: spec.billing_day,
        trial_waives: plan.trial_waives,
    };
    check_initial(catalog, &sub).map_err(|r| match &r {
        Refusal::OutOfRange { field, .. } => invalid(format!("subscription.{field}"), &r),
        Refusal::BelowMinimum { product, .. } | Refusal::AboveMaximum { product, .. } => {
            invalid(format!("subscription.quantities.{product}"), &r)
        }
        _ => invalid("subscription", &r),
    })?;
    Ok(sub)
}

/// How a scenario's runs read the subscription's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Every document and all usage, every time.
    Whole,
    /// As the billing run reads it: from the subscription's settled-through horizon on
    /// ([`crate::horizon`]), the documents issued after it and the usage from its day; usage
    /// learnt later and dated before it voids it, as the usage store's fold does.
    Settled,
}

/// Plays the scenario against `catalog`.
pub fn run(scenario: &Scenario, catalog: &Catalog) -> Result<Outcome, ScenarioError> {
    run_reading(scenario, catalog, Reading::Whole)
}

/// [`run`], reading the history as `reading` says: both give the same outcome.
pub fn run_reading(
    scenario: &Scenario,
    catalog: &Catalog,
    reading: Reading,
) -> Result<Outcome, ScenarioError> {
    let mut sub = subscription_aligned(
        &scenario.subscription,
        catalog,
        scenario.settings.billing_alignment,
    )?;
    if scenario.until < sub.start {
        return Err(invalid(
            "until",
            format!(
                "{} is before the subscription starts ({})",
                scenario.until, sub.start
            ),
        ));
    }
    let last = last_scenario_day(sub.start, sub.frequency);
    if scenario.until > last {
        return Err(invalid(
            "until",
            format!(
                "{} is too far: a scenario runs at most a century, 1,200 weeks when billed weekly (until {last})",
                scenario.until
            ),
        ));
    }
    let currency = sub.currency;
    let country =
        tax::country_code(&scenario.account.country).map_err(|e| invalid("account.country", e))?;
    // A number that does not parse is a typing mistake in the file: said rather than billed as
    // a consumer's. (Without an address, a valid one is billed as a consumer's: see `tax`.)
    if let Some(v) = &scenario.account.vat_number {
        crate::vat_number::VatNumber::parse(v)
            .map_err(|e| invalid("account.vat_number", e.to_string()))?;
    }
    scenario
        .settings
        .tax
        .validate()
        .map_err(|(path, e)| invalid(format!("settings.{path}"), e))?;
    for (i, a) in scenario.actions.iter().enumerate() {
        let count = usize::from(a.request.is_some())
            + usize::from(a.usage.is_some())
            + usize::from(a.payment.is_some())
            + usize::from(a.coupon.is_some())
            + usize::from(a.top_up.is_some());
        if count != 1 {
            return Err(invalid(
                format!("actions[{i}]"),
                "give exactly one of request, usage, payment, coupon or top_up",
            ));
        }
        if let Some(t) = &a.top_up {
            let amount = Money::parse(&t.amount, currency)
                .map_err(|e| invalid(format!("actions[{i}].top_up.amount"), e))?;
            if amount.minor() <= 0 {
                return Err(invalid(
                    format!("actions[{i}].top_up.amount"),
                    "a top-up is a positive amount",
                ));
            }
        }
        if let Some(u) = &a.usage {
            if !catalog.metrics.contains_key(&u.metric) {
                return Err(invalid(
                    format!("actions[{i}].usage.metric"),
                    format!("no metric named {:?} in the catalog", u.metric),
                ));
            }
            if !(0..=MAX_USAGE_QUANTITY).contains(&u.quantity) {
                return Err(invalid(
                    format!("actions[{i}].usage.quantity"),
                    format!("must be between 0 and {MAX_USAGE_QUANTITY}"),
                ));
            }
            if !(0..=MAX_USAGE_QUANTITY).contains(&u.events) {
                return Err(invalid(
                    format!("actions[{i}].usage.events"),
                    format!("must be between 0 and {MAX_USAGE_QUANTITY}"),
                ));
            }
            if let Some(date) = u.date.filter(|d| *d < sub.start || *d > a.on) {
                return Err(invalid(
                    format!("actions[{i}].usage.date"),
                    format!(
                        "{date} is not between the subscription's start ({}) and the day it is recorded ({})",
                        sub.start, a.on
                    ),
                ));
            }
        }
        if let Some(p) = &a.payment {
            Money::parse(p, currency).map_err(|e| invalid(format!("actions[{i}].payment"), e))?;
        }
        if a.on < sub.start || a.on > scenario.until {
            return Err(invalid(
                format!("actions[{i}].on"),
                format!(
                    "{} is outside the scenario ({} to {})",
                    a.on, sub.start, scenario.until
                ),
            ));
        }
    }
    let mut actions: Vec<&Action> = scenario.actions.iter().collect();
    actions.sort_by_key(|a| a.on);

    let buyer = Buyer {
        country,
        vat_number: scenario.account.vat_number.clone(),
        address_complete: scenario.account.address.first_missing().is_none(),
    };
    let ctx = Context {
        catalog,
        settings: &scenario.settings,
        buyer: &buyer,
        lang: scenario.account.language,
    };
    let mut numbering = Numbering::default();
    let mut documents: Vec<Document> = Vec::new();
    let mut usage: Vec<UsageRecord> = Vec::new();
    let mut horizon: Option<crate::horizon::Horizon> = None;
    let mut entries = Vec::new();
    let mut balance = Money::zero(currency);
    let mut wallet = Money::zero(currency);
    let mut next_action = 0;
    let mut today = sub.start;
    loop {
        while let Some(a) = actions.get(next_action).filter(|a| a.on == today) {
            next_action += 1;
            if let Some(request) = &a.request {
                let rules = Rules {
                    catalog,
                    frequency: scenario.settings.frequency_changes,
                    trial: scenario.settings.trial_on_plan_change,
                };
                match decide_with(&sub, &rules, request, today, a.effective) {
                    Ok(accepted) => {
                        entries.push(Entry::Accepted {
                            on: today,
                            request: request.clone(),
                            direction: accepted.direction,
                            effective: accepted.event.effective,
                        });
                        sub.events.push(accepted.event);
                    }
                    Err(refusal) => entries.push(Entry::Refused {
                        on: today,
                        request: request.clone(),
                        reason: refusal.to_string(),
                        refusal,
                    }),
                }
            } else if let Some(u) = &a.usage {
                let date = u.date.unwrap_or(today);
                let per = catalog.metrics.get(&u.metric).map_or(1, |m| m.scale().per);
                usage.push(UsageRecord {
                    metric: u.metric.clone(),
                    date,
                    quantity: u.quantity.saturating_mul(per),
                    recorded_on: today,
                    events: u.events,
                });
                entries.push(Entry::Usage {
                    on: today,
                    metric: u.metric.clone(),
                    date,
                    quantity: u.quantity,
                });
            } else if let Some(request) = &a.coupon {
                // The scenario is the tenant's only subscription: its redemptions are all.
                let redeemed = entries
                    .iter()
                    .filter(|e| {
                        matches!(e, Entry::Coupon {
                            request: crate::coupon::CouponRequest::Apply { code },
                            ..
                        } if code == request.code())
                    })
                    .count();
                let redeemed = u32::try_from(redeemed).unwrap_or(u32::MAX);
                match crate::coupon::decide(&sub, catalog, request, today, a.effective, redeemed) {
                    Ok(event) => {
                        entries.push(Entry::Coupon {
                            on: today,
                            request: request.clone(),
                            effective: event.effective,
                        });
                        sub.events.push(event);
                    }
                    Err(refusal) => entries.push(Entry::CouponRefused {
                        on: today,
                        request: request.clone(),
                        reason: refusal.to_string(),
                        refusal,
                    }),
                }
            } else if let Some(t) = &a.top_up {
                let amount = Money::parse(&t.amount, currency)?;
                wallet = wallet.checked_add(amount)?;
                entries.push(Entry::TopUp {
                    on: today,
                    amount,
                    kind: t.kind,
                    wallet_after: wallet,
                });
            } else if let Some(p) = &a.payment {
                let amount = Money::parse(p, currency)?;
                balance = balance.checked_sub(amount)?;
                entries.push(Entry::Payment {
                    on: today,
                    amount,
                    balance_after: balance,
                });
            }
        }
        let drafts = match reading {
            Reading::Whole => reconcile(&ctx, &sub, &usage, &documents, today)?,
            Reading::Settled => {
                settled_drafts(&ctx, &sub, &usage, &documents, &mut horizon, today)?
            }
        };
        for draft in drafts {
            let number = numbering.next(draft.kind);
            let mut doc = draft.issue(number, today, balance)?;
            // Issued as the engine issues: the buyer and seller of the day on the document.
            doc.buyer = Some(crate::account::BuyerSnapshot {
                name: scenario.account.name.clone(),
                address: scenario.account.address.clone(),
                country: buyer.country.clone(),
                vat_number: buyer.vat_number.clone(),
                language: Some(scenario.account.language),
                siren: None,
                siret: None,
                delivery_address: None,
            });
            doc.seller = Some(
                scenario
                    .settings
                    .seller
                    .snapshot(SCENARIO_SELLER, &scenario.settings.tax.seller_country),
            );
            if doc.kind == crate::document::DocumentKind::Invoice {
                doc.due_on = Some(scenario.settings.seller.due_on(today));
            }
            let taken = crate::wallet::draw(&doc, wallet);
            doc.apply_prepaid(taken)?;
            wallet = wallet.checked_sub(taken)?;
            balance = doc.balance_after;
            entries.push(Entry::Document(Box::new(doc.clone())));
            documents.push(doc);
        }
        let last_usage = usage.iter().map(|u| u.recorded_on).max();
        let next_due = due_dates(&sub, today, scenario.until, today, last_usage)
            .into_iter()
            .next();
        let next_act = actions.get(next_action).map(|a| a.on);
        let next = match (next_due, next_act) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(d) => d,
                None => break,
            },
        };
        if next > scenario.until {
            break;
        }
        today = next;
    }
    Ok(Outcome {
        title: scenario.title.clone(),
        account: scenario.account.clone(),
        subscription: sub,
        entries,
        balance,
        wallet,
        usage,
    })
}

/// What a billing run reading from the subscription's horizon issues on `today`, the
/// documents' ids being their places in `documents` (from 1); `horizon` moves on.
fn settled_drafts(
    ctx: &Context<'_>,
    sub: &Subscription,
    usage: &[UsageRecord],
    documents: &[Document],
    horizon: &mut Option<crate::horizon::Horizon>,
    today: NaiveDate,
) -> Result<Vec<crate::document::Draft>, ScenarioError> {
    let from = |h: &crate::horizon::Horizon| -> Vec<UsageRecord> {
        usage
            .iter()
            .filter(|u| u.date >= h.through)
            .cloned()
            .collect()
    };
    let standing = horizon.take().filter(|h| {
        let folded_late = usage
            .iter()
            .any(|u| u.date < h.through && u.recorded_on > h.known_on);
        !folded_late && h.holds(sub, &from(h))
    });
    let read_usage = standing.as_ref().map_or_else(|| usage.to_vec(), from);
    let after = standing.as_ref().map_or(0, |h| h.after_document);
    let read: Vec<(i64, Document)> = (1_i64..)
        .zip(documents)
        .filter(|(id, _)| *id > after)
        .map(|(id, d)| (id, d.clone()))
        .collect();
    let settled =
        crate::horizon::reconcile_settled(ctx, sub, &read_usage, standing.as_ref(), read, today)?;
    *horizon = settled.horizon;
    Ok(settled.drafts)
}
