//! Billing as reconciliation: everything owed up to a date, minus everything already billed,
//! is what the next documents say.
//!
//! ## Recurring charges: unit profiles
//!
//! For every billing period that is due (advance items: on its first day; arrears items: the
//! day after it ends), each charge key — product, plan, price tier, unit price and period —
//! gets an *expected profile*: how many units are owed at each moment of the period, derived
//! from the timeline as known on the knowledge date. The lines already issued with the same
//! key give the *billed profile*. Where the two differ, each maximal run of constant
//! difference becomes one line: `+2 users, 10 Jul – 5 Aug` (an upgrade) or `−4 users,
//! 10 Jul – 5 Aug` (the seed's downgrade, a credit). Hence:
//!
//! - re-running on its own output emits nothing (the profiles then agree);
//! - no unit is billed twice for a moment (billed never exceeds expected after a run);
//! - a credit never exceeds what was billed for that key and slice;
//! - a back-dated change repairs itself on the next run.
//!
//! ## Usage: re-rating
//!
//! For each usage period that is over, each metric's quantity (less bundle allowances) is
//! rated; the difference with what was billed for that metric and period is a line. Usage
//! recorded after its period was invoiced comes out as a *late* line with its own period.
//!
//! ## When changes are billed
//!
//! `proration_billing = immediate` sees every event recorded up to `as_of`, so an upgrade is
//! invoiced the day it is recorded. `next_invoice` sees only what was recorded by the last
//! invoice day, so additions appear on the next invoice under "Prorata – past period", as
//! seed 002 describes. Where credits go is [`CreditPolicy`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::calendar::{Frequency, Period};
use crate::catalog::{Catalog, Lang, PriceTable, ProductKind, Timing};
use crate::charge::RatingError;
use crate::decimal::Decimal;
use crate::document::{
    Document, DocumentKind, Draft, Line, LineKey, PriceTier, RecurringKey, Section,
};
use crate::money::{Currency, Money, MoneyError};
use crate::proration::DayCount;
use crate::tax::{Buyer, TaxRules, TaxTreatment};
use crate::timeline::{start_of, Subscription};

/// When prorated changes are billed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProrationBilling {
    /// On the day the change is recorded (seed 001: "a new invoice will be issued").
    #[default]
    Immediate,
    /// On the next invoice day, in the prorata section (seed 002).
    NextInvoice,
}

/// Where credits go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditPolicy {
    /// A credit note, issued as soon as the credit is known (seed 001).
    #[default]
    CreditNote,
    /// Credit lines carried on the next invoice, reducing it.
    AccountCredit,
    /// Credit lines on the same document as the change's charges, issued at once (Kill Bill's
    /// repair items, Stripe's `always_invoice`); see [`crate::netting`].
    SameInvoice,
}

/// A tenant's billing rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub day_count: DayCount,
    pub proration_billing: ProrationBilling,
    pub credit_policy: CreditPolicy,
    pub tax: TaxRules,
    /// Who issues the documents (their seller block and legal mentions).
    pub seller: crate::seller::Seller,
    /// The contract terms' wording the portal shows (the notice clause, cancellation reasons).
    pub terms: crate::terms::Terms,
    /// Where webhooks may go beyond the public internet (a sandbox's test receiver).
    pub webhooks: crate::destination::WebhookRules,
    /// Support tickets' contact reasons, where each is routed, and the reopening window.
    pub tickets: crate::tickets::TicketRules,
    /// When a billing-frequency change takes effect and how its periods are anchored, unless
    /// the request says.
    pub frequency_changes: crate::change::FrequencyChangePolicy,
    /// Where the periods of new subscriptions start (anniversary or calendar); copied into
    /// each subscription when it is sold, so a change moves no existing subscription.
    pub billing_alignment: crate::alignment::BillingAlignment,
    /// What a plan change taking effect during the trial does to it.
    pub trial_on_plan_change: crate::trial::TrialOnPlanChange,
    /// Under `credit_policy = "same_invoice"`, what a document whose credits outweigh its
    /// charges is issued as (an invoice with a negative total, or a credit note).
    #[serde(default)]
    pub negative_invoice: crate::netting::NegativeInvoice,
    /// When the old plan's fee for the elapsed part of a period billed in arrears is invoiced
    /// at a plan change: at the period's end, or at the change.
    #[serde(default)]
    pub arrears_on_change: crate::netting::ArrearsOnChange,
}

/// Units of a usage metric consumed on a day (in the account's time zone), learnt on
/// `recorded_on`: the daily total the usage store keeps, so invoicing never rescans events.
/// `quantity` is in the metric's counted unit (seconds for call metrics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub metric: String,
    pub date: NaiveDate,
    pub quantity: i64,
    pub recorded_on: NaiveDate,
    /// How many events (calls) the quantity sums; 0 when not counted.
    #[serde(default)]
    pub events: i64,
}

/// What reconciliation needs besides the subscription.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub catalog: &'a Catalog,
    pub settings: &'a Settings,
    pub buyer: &'a Buyer,
    pub lang: Lang,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error("{metric} for {period}: {source}")]
    Rating {
        metric: String,
        period: Period,
        source: RatingError,
    },
    #[error("amount overflow on {what}")]
    Overflow { what: String },
    #[error("the catalog has no plan {0:?}")]
    UnknownPlan(String),
    #[error("the catalog has no usage metric {0:?}")]
    UnknownMetric(String),
    #[error("{plan}.{product}: no {frequency} price in {currency}")]
    MissingPrice {
        plan: String,
        product: String,
        frequency: Frequency,
        currency: Currency,
    },
}

/// One run of a profile: `units` from `from` (inclusive) to `to` (exclusive).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    pub(crate) from: NaiveDateTime,
    pub(crate) to: NaiveDateTime,
    pub(crate) units: i64,
}

/// The date of the run, what it may know, when the subscription ends, and the VAT that applies.
#[derive(Debug, Clone, Copy)]
struct Scope {
    as_of: NaiveDate,
    knowledge: NaiveDate,
    end: Option<NaiveDateTime>,
    tax: TaxTreatment,
    /// Periods ending on or before this day are settled: not walked.
    through: Option<NaiveDate>,
}

impl Scope {
    fn settled(&self, period: Period) -> bool {
        self.through.is_some_and(|t| period.next_start() <= t)
    }
}

/// The usage known of one metric and usage period.
#[derive(Debug, Clone, Copy)]
struct Known {
    quantity: i64,
    events: i64,
    /// The last day any of it was learnt: after the period's invoice day, it is late.
    learnt: NaiveDate,
}

/// What was billed so far for one metric and usage period.
#[derive(Debug, Clone)]
struct BilledUsage {
    quantity: i64,
    events: i64,
    included: i64,
    amount: Money,
    documents: Vec<String>,
}

/// What was issued for one key: every line's run, and the charges a credit may take back.
struct Billed<'a> {
    runs: Vec<Run>,
    sources: Vec<Source<'a>>,
}

/// The documents due for `sub` at `as_of`, given everything already issued for it (`billed`)
/// and its usage. Pure: a preview is this call without saving the result.
pub fn reconcile(
    ctx: &Context<'_>,
    sub: &Subscription,
    usage: &[UsageRecord],
    billed: &[Document],
    as_of: NaiveDate,
) -> Result<Vec<Draft>, ReconcileError> {
    Ok(reconcile_from(ctx, sub, usage, billed, as_of, None)?.drafts)
}

/// What [`reconcile_from`] found.
pub(crate) struct Reconciled {
    pub drafts: Vec<Draft>,
    /// Lines found but not issued yet (credits waiting for the invoice day under
    /// `account_credit`): the periods they belong to are not settled.
    pub held_back: bool,
}

/// [`reconcile`] of the periods ending after `through` only (all of them with `None`): the
/// lines of `billed` and the `usage` of earlier periods are left out, and their periods are
/// not walked. Every computation is per period (a key's profile, a usage period's rating, a
/// coupon's or a commitment's share of a licence period), so when the periods before
/// `through` are settled this finds exactly what the whole history would
/// ([`crate::horizon`]).
pub(crate) fn reconcile_from(
    ctx: &Context<'_>,
    sub: &Subscription,
    usage: &[UsageRecord],
    billed: &[Document],
    as_of: NaiveDate,
    through: Option<NaiveDate>,
) -> Result<Reconciled, ReconcileError> {
    let knowledge = knowledge_date(ctx.settings, sub, as_of);
    let scope = Scope {
        as_of,
        knowledge,
        end: sub.end(knowledge),
        tax: ctx.settings.tax.treatment(ctx.buyer),
        through,
    };
    let (open_docs, open_usage);
    let (billed, usage) = match through {
        None => (billed, usage),
        Some(t) => {
            open_docs = billed
                .iter()
                .filter_map(|d| crate::horizon::open_part(d, t))
                .collect::<Vec<_>>();
            open_usage = usage
                .iter()
                .filter(|u| u.date >= t)
                .cloned()
                .collect::<Vec<_>>();
            (&open_docs[..], &open_usage[..])
        }
    };
    let mut lines = recurring_lines(ctx, sub, billed, scope)?;
    lines.extend(usage_lines(ctx, sub, usage, billed, scope)?);
    let (discounts, with_credits) = crate::coupon::discount_lines(
        ctx.catalog,
        ctx.lang,
        sub,
        &lines,
        billed,
        crate::coupon::Run {
            as_of,
            knowledge,
            tax: scope.tax,
        },
    )?;
    lines.extend(discounts);
    let true_ups = crate::commitment::true_up_lines(
        ctx.catalog,
        ctx.lang,
        ctx.settings.day_count,
        sub,
        &lines,
        billed,
        crate::commitment::Scope {
            as_of,
            knowledge,
            tax: scope.tax,
            through,
        },
    )?;
    lines.extend(true_ups);
    lines.sort_by_cached_key(|l| {
        (
            l.section,
            display_rank(ctx.catalog, &l.key),
            l.key.clone(),
            l.from,
        )
    });
    let (drafts, held_back) = assemble(ctx.settings, sub, lines, &with_credits, as_of)?;
    Ok(Reconciled { drafts, held_back })
}

/// The usage lines of the invoice period containing `date`, rated as if the period ended with
/// the usage known now: what a customer sees of the running month's minutes before its
/// invoice. Nothing is issued; `None` when `date` is in no billed period (the trial).
pub fn usage_in_period(
    ctx: &Context<'_>,
    sub: &Subscription,
    usage: &[UsageRecord],
    date: NaiveDate,
) -> Result<Option<(Period, Vec<Line>)>, ReconcileError> {
    let Some(period) = sub.cadence(NaiveDate::MAX).usage_period_containing(date) else {
        return Ok(None);
    };
    let in_period: Vec<UsageRecord> = usage
        .iter()
        .filter(|r| period.contains(r.date))
        .cloned()
        .collect();
    let scope = Scope {
        as_of: NaiveDate::MAX,
        knowledge: NaiveDate::MAX,
        end: sub.end(NaiveDate::MAX),
        tax: ctx.settings.tax.treatment(ctx.buyer),
        through: None,
    };
    let lines = usage_lines(ctx, sub, &in_period, &[], scope)?;
    Ok(Some((period, lines)))
}

/// Lines print in the dashboard's order: users, numbers, teams, add-ons, bundles.
fn display_rank(catalog: &Catalog, key: &LineKey) -> u8 {
    let LineKey::Recurring(k) = key else {
        return 0;
    };
    match catalog.product(&k.product).map(|p| &p.kind) {
        Some(ProductKind::User) => 0,
        Some(ProductKind::Number) => 1,
        Some(ProductKind::Team) => 2,
        Some(ProductKind::Addon) => 3,
        Some(ProductKind::CallBundle { .. }) | None => 4,
    }
}

/// The last day whose events billing at `as_of` may see.
pub fn knowledge_date(settings: &Settings, sub: &Subscription, as_of: NaiveDate) -> NaiveDate {
    match settings.proration_billing {
        ProrationBilling::Immediate => as_of,
        ProrationBilling::NextInvoice => sub
            .cadence(as_of)
            .last_invoice_day_on_or_before(as_of)
            .unwrap_or(as_of),
    }
}

/// The days after `after` and up to `until` on which something falls due for `sub`
/// (invoice days and the end of the subscription), as known on `known_on`. Changes billed
/// immediately are due on the day they are recorded, which the caller knows.
///
/// Once the subscription has ended one more invoice day falls due: the first on or after the
/// end and after the last input recorded (timeline events, and `last_usage_recorded`, the
/// latest day usage was recorded), where whatever waits for an invoice day (changes billed
/// `next_invoice`, credits carried as `account_credit`, late usage) is settled.
pub fn due_dates(
    sub: &Subscription,
    after: NaiveDate,
    until: NaiveDate,
    known_on: NaiveDate,
    last_usage_recorded: Option<NaiveDate>,
) -> Vec<NaiveDate> {
    let cadence = sub.cadence(known_on);
    let end = sub.end(known_on).map(|e| e.date());
    let last_recorded = sub
        .events
        .iter()
        .map(|e| e.recorded_on)
        .chain(last_usage_recorded)
        .filter(|d| *d <= known_on)
        .max();
    let final_day = end
        .and_then(|e| cadence.first_invoice_day_on_or_after(last_recorded.map_or(e, |r| r.max(e))));
    // Start from the period containing `after` rather than from the anchor: the cost stays
    // constant however old the subscription is.
    let mut out: BTreeSet<NaiveDate> = cadence
        .invoice_days_after(after)
        .take_while(|d| *d <= until && final_day.is_none_or(|f| *d <= f))
        .collect();
    if let Some(e) = end.filter(|e| *e > after && *e <= until) {
        out.insert(e);
    }
    // The fees of a trial that waives only them are due the day it ends, an invoice day or not.
    let first_paid = sub.first_paid_day(known_on);
    if first_paid > after && first_paid <= until && end.is_none_or(|e| first_paid < e) {
        out.insert(first_paid);
    }
    out.into_iter().collect()
}

fn normalize(day_count: DayCount, t: NaiveDateTime) -> NaiveDateTime {
    if day_count.uses_time_of_day() {
        t
    } else {
        t.date().and_time(NaiveTime::MIN)
    }
}

fn price_of(
    table: &PriceTable,
    (frequency, currency): (Frequency, Currency),
    plan: &str,
    product: &str,
) -> Result<Option<Decimal>, ReconcileError> {
    crate::catalog::price_in(table, frequency, currency).map_err(|_| ReconcileError::MissingPrice {
        plan: plan.into(),
        product: product.into(),
        frequency,
        currency,
    })
}

fn recurring_lines(
    ctx: &Context<'_>,
    sub: &Subscription,
    billed: &[Document],
    scope: Scope,
) -> Result<Vec<Line>, ReconcileError> {
    let Scope {
        as_of,
        knowledge,
        end,
        tax,
        through: _,
    } = scope;
    let dc = ctx.settings.day_count;
    let mut expected: BTreeMap<RecurringKey, Vec<Run>> = BTreeMap::new();
    // Each licence period of the frequency in force, clipped where the frequency changes: the
    // key keeps the whole period, which proration measures, and the runs cover the slice.
    let cadence = sub.cadence(knowledge);
    let first_paid = sub.first_paid_day(knowledge);
    // Items at the subscription's frequency follow the licence periods; an item with a
    // frequency of its own (an annual add-on on a monthly plan) follows periods of that
    // frequency on the same anchor.
    let walks = std::iter::once(None).chain(ctx.catalog.own_frequencies().map(Some));
    let slices = walks.flat_map(|own| {
        cadence
            .slices_at(own)
            .take_while(move |s| s.from <= as_of && end.is_none_or(|e| start_of(s.from) < e))
            .map(move |s| (own, s))
    });
    for (own, slice) in slices {
        // A trial that waives only the fees leaves usage periods from the start: the fees of
        // its days are not owed.
        let Some(slice) = crate::trial::paid_part(slice, first_paid) else {
            continue;
        };
        let period = slice.period;
        if scope.settled(period) {
            continue;
        }
        let p_start = start_of(slice.from);
        if slice.from > as_of || end.is_some_and(|e| p_start >= e) {
            continue;
        }
        let p_end = slice_end(slice.until, end);
        let pricing = (slice.frequency, sub.currency);
        let segments = sub.segments(p_start, p_end, knowledge);
        for (i, (t, state)) in segments.iter().enumerate() {
            let from = normalize(dc, *t);
            let to = normalize(dc, segments.get(i + 1).map_or(p_end, |s| s.0));
            if from >= to {
                continue;
            }
            let plan = ctx
                .catalog
                .plan(&state.plan)
                .ok_or_else(|| ReconcileError::UnknownPlan(state.plan.clone()))?;
            for (product, item) in &plan.items {
                if item.frequency != own {
                    continue;
                }
                let due = match item.timing {
                    Timing::Advance => slice.from <= as_of,
                    Timing::Arrears => {
                        let policy = ctx.settings.arrears_on_change;
                        crate::netting::arrears_due(policy, &segments, i, p_end).date() <= as_of
                    }
                };
                if !due {
                    continue;
                }
                let q = state.quantity(product);
                let mut push = |tier, price: Decimal, units: i64| {
                    let key = RecurringKey {
                        product: product.clone(),
                        plan: state.plan.clone(),
                        tier,
                        unit_price: price,
                        period,
                    };
                    expected
                        .entry(key)
                        .or_default()
                        .push(Run { from, to, units });
                };
                // Tiered, volume and package items: a key per tier or package price.
                let read = |t: &PriceTable| price_of(t, pricing, &state.plan, product);
                if let Some(parts) = crate::seat_tiers::parts(item, q, read)? {
                    for part in parts {
                        push(part.tier, part.price, part.units);
                    }
                    continue;
                }
                if item.included > 0 {
                    if let Some(price) =
                        price_of(&item.included_price, pricing, &state.plan, product)?
                    {
                        push(PriceTier::Included, price, 1);
                    }
                }
                let extras = (q - item.included).max(0);
                if extras > 0 {
                    if let Some(price) = price_of(&item.unit_price, pricing, &state.plan, product)?
                    {
                        push(PriceTier::Extra, price, extras);
                    }
                }
            }
        }
    }

    crate::commitment::bill_whole(ctx.catalog, &mut expected);

    let mut already: BTreeMap<&RecurringKey, Billed<'_>> = BTreeMap::new();
    for doc in billed {
        for line in &doc.lines {
            if let LineKey::Recurring(key) = &line.key {
                let run = Run {
                    from: line.from,
                    to: line.to,
                    units: line.quantity,
                };
                let b = already.entry(key).or_insert_with(|| Billed {
                    runs: Vec::new(),
                    sources: Vec::new(),
                });
                b.runs.push(run);
                b.record(
                    ctx.settings.day_count,
                    key,
                    doc.number.as_str(),
                    run,
                    line.amount,
                )?;
            }
        }
    }

    let keys: BTreeSet<&RecurringKey> = expected.keys().chain(already.keys().copied()).collect();
    let mut lines = Vec::new();
    let dc = ctx.settings.day_count;
    for key in keys {
        let exp = expected.get(key).map_or(&[][..], Vec::as_slice);
        let mut bil = already.remove(key).unwrap_or(Billed {
            runs: Vec::new(),
            sources: Vec::new(),
        });
        for run in difference(exp, &bil.runs) {
            if run.units > 0 {
                let amount = slice_value(dc, key, run, sub.currency)?;
                lines.push(recurring_line(ctx, sub, key, run, amount, None, tax)?);
                continue;
            }
            // A credit takes back issued lines one by one, each priced on its own.
            let pieces = bil.take_back(run);
            let change = if pieces.len() == 1 {
                reduction(sub, &key.plan, &key.product, run.from, scope)
            } else {
                None
            };
            for piece in pieces {
                let own = slice_value(dc, key, piece.run, sub.currency)?.checked_neg()?;
                let (amount, taken) = match piece.source {
                    Some(i) => {
                        let source = &mut bil.sources[i];
                        // Never more than is left of the line: pieces rounded one by one could
                        // add up to a cent more than the line they take back.
                        let amount = if own.checked_add(source.amount_left)?.is_negative() {
                            source.amount_left.checked_neg()?
                        } else {
                            own
                        };
                        source.amount_left = source.amount_left.checked_add(amount)?;
                        (
                            amount,
                            Some(Taken {
                                source: source.number,
                                own,
                                change,
                            }),
                        )
                    }
                    None => (own, None),
                };
                lines.push(recurring_line(
                    ctx, sub, key, piece.run, amount, taken, tax,
                )?);
            }
        }
    }
    Ok(lines)
}

/// A line already issued that a credit may take back: its document, its run and what credits
/// took back from it, and its amount not taken back yet.
struct Source<'a> {
    number: &'a str,
    /// The line's own run.
    run: Run,
    /// What credits took back from it (negative runs); empty, and so not allocated, for
    /// nearly every line.
    taken: Vec<Run>,
    amount_left: Money,
}

/// What a credit line takes back: from which document, what its own arithmetic gives (before
/// any limit to what is left of the line), and the key's units before and after the change
/// when one line says it all.
#[derive(Clone, Copy)]
struct Taken<'a> {
    source: &'a str,
    own: Money,
    change: Option<(i64, i64)>,
}

/// A part of a credit taken from one issued line (`None`: from no line, which only data
/// issued by another rule can produce).
struct Piece {
    source: Option<usize>,
    run: Run,
}

impl Source<'_> {
    /// The units of the line not taken back yet at `t`.
    fn units_left_at(&self, t: NaiveDateTime) -> i64 {
        units_at(std::slice::from_ref(&self.run), t) + units_at(&self.taken, t)
    }
}

impl<'a> Billed<'a> {
    /// Takes account of an issued line: a charge becomes a source, a credit is taken back from
    /// the sources as [`Billed::take_back`] would have taken it, its amount from theirs.
    fn record(
        &mut self,
        dc: DayCount,
        key: &RecurringKey,
        number: &'a str,
        run: Run,
        amount: Money,
    ) -> Result<(), ReconcileError> {
        if run.units > 0 {
            self.sources.push(Source {
                number,
                run,
                taken: Vec::new(),
                amount_left: amount,
            });
            return Ok(());
        }
        if run.units == 0 {
            return Ok(());
        }
        let pieces = self.take_back(run);
        let mut rest = amount.checked_neg()?;
        let last = pieces.len().saturating_sub(1);
        for (i, piece) in pieces.iter().enumerate() {
            let part = if i == last {
                rest
            } else {
                slice_value(dc, key, piece.run, amount.currency())?.checked_neg()?
            };
            rest = rest.checked_sub(part)?;
            if let Some(s) = piece.source.and_then(|s| self.sources.get_mut(s)) {
                s.amount_left = s.amount_left.checked_sub(part)?;
            }
        }
        Ok(())
    }

    /// Splits a credit run (negative units) over the issued lines that billed those units, the
    /// latest first (a reduction undoes the last addition), and removes what it takes from them.
    fn take_back(&mut self, run: Run) -> Vec<Piece> {
        let mut cuts: BTreeSet<NaiveDateTime> = BTreeSet::from([run.from, run.to]);
        for s in &self.sources {
            for r in std::iter::once(&s.run).chain(&s.taken) {
                cuts.extend(
                    [r.from, r.to]
                        .into_iter()
                        .filter(|c| run.from < *c && *c < run.to),
                );
            }
        }
        let cuts: Vec<NaiveDateTime> = cuts.into_iter().collect();
        let mut pieces: Vec<Piece> = Vec::new();
        for w in cuts.windows(2) {
            let (from, to) = (w[0], w[1]);
            let mut need = -run.units;
            let mut takes: Vec<(Option<usize>, i64)> = Vec::new();
            for (i, s) in self.sources.iter().enumerate().rev() {
                let take = s.units_left_at(from).min(need);
                if take > 0 {
                    takes.push((Some(i), take));
                    need -= take;
                }
                if need == 0 {
                    break;
                }
            }
            if need > 0 {
                takes.push((None, need));
            }
            for (source, take) in takes {
                let merged = pieces
                    .iter_mut()
                    .rev()
                    .find(|p| p.source == source && p.run.to == from && p.run.units == -take);
                match merged {
                    Some(p) => p.run.to = to,
                    None => pieces.push(Piece {
                        source,
                        run: Run {
                            from,
                            to,
                            units: -take,
                        },
                    }),
                }
            }
        }
        for p in &pieces {
            if let Some(s) = p.source.and_then(|s| self.sources.get_mut(s)) {
                s.taken.push(p.run);
            }
        }
        pieces.sort_by_key(|p| (p.run.from, std::cmp::Reverse(p.source)));
        pieces
    }
}

/// The quantities before and after a reduction of `product` on `plan` effective at `at`, when
/// one is: what a credit line for it prints (`10 → 6`). Not for a cancellation or a plan or
/// frequency change, where the quantity held does not change.
fn reduction(
    sub: &Subscription,
    plan: &str,
    product: &str,
    at: NaiveDateTime,
    scope: Scope,
) -> Option<(i64, i64)> {
    if scope.end.is_some_and(|e| e <= at) {
        return None;
    }
    let just_before = at.checked_sub_signed(chrono::TimeDelta::seconds(1))?;
    let (before, after) = (
        sub.state_at(just_before, scope.knowledge),
        sub.state_at(at, scope.knowledge),
    );
    let (b, a) = (before.quantity(product), after.quantity(product));
    (before.plan == plan && after.plan == plan && a < b).then_some((b, a))
}

/// The units a profile holds at `t`.
fn units_at(runs: &[Run], t: NaiveDateTime) -> i64 {
    runs.iter()
        .filter(|r| r.from <= t && t < r.to)
        .map(|r| r.units)
        .sum()
}

/// What a run of a key costs, as its line prints it: `|units| × unit price × fraction`,
/// rounded once.
fn slice_value(
    dc: DayCount,
    key: &RecurringKey,
    run: Run,
    currency: Currency,
) -> Result<Money, ReconcileError> {
    let n = dc.length(key.period);
    let (a, b) = (
        dc.position(key.period, run.from),
        dc.position(key.period, run.to),
    );
    dc.slice_amount(key.unit_price, run.units.abs(), (a, b, n), currency)
        .ok_or_else(|| ReconcileError::Overflow {
            what: format!("{} for {}", key.product, key.period),
        })
}

/// The end (exclusive) of `period`, or of the subscription when it ends first.
fn period_end(period: Period, end: Option<NaiveDateTime>) -> NaiveDateTime {
    slice_end(period.next_start(), end)
}

/// The moment a slice ending (exclusive) on `until` ends, or the subscription when it ends
/// first.
fn slice_end(until: NaiveDate, end: Option<NaiveDateTime>) -> NaiveDateTime {
    let natural = start_of(until);
    end.map_or(natural, |e| e.min(natural))
}

/// Runs of `expected − billed`, merged where adjacent runs carry the same difference.
fn difference(expected: &[Run], billed: &[Run]) -> Vec<Run> {
    let mut cuts: BTreeSet<NaiveDateTime> = BTreeSet::new();
    for r in expected.iter().chain(billed) {
        cuts.insert(r.from);
        cuts.insert(r.to);
    }
    let cuts: Vec<NaiveDateTime> = cuts.into_iter().collect();
    let mut out: Vec<Run> = Vec::new();
    for w in cuts.windows(2) {
        let (from, to) = (w[0], w[1]);
        let d = units_at(expected, from) - units_at(billed, from);
        if d == 0 {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.to == from && last.units == d => last.to = to,
            _ => out.push(Run { from, to, units: d }),
        }
    }
    out
}

pub(crate) fn inclusive(from: NaiveDateTime, to: NaiveDateTime) -> Period {
    // `to` is exclusive; the last day covered is the day before it (or its own day when the
    // slice ends during a day, under the seconds convention).
    let last = if to.time() == NaiveTime::MIN {
        to.date().pred_opt().unwrap_or(to.date())
    } else {
        to.date()
    };
    Period {
        start: from.date(),
        end: last.max(from.date()),
    }
}

fn recurring_line(
    ctx: &Context<'_>,
    sub: &Subscription,
    key: &RecurringKey,
    run: Run,
    amount: Money,
    taken: Option<Taken<'_>>,
    tax: TaxTreatment,
) -> Result<Line, ReconcileError> {
    let RecurringKey {
        product,
        plan,
        tier,
        unit_price,
        period,
    } = key;
    let dc = ctx.settings.day_count;
    let n = dc.length(*period);
    let (a, b) = (dc.position(*period, run.from), dc.position(*period, run.to));
    let whole = a == 0 && b == n;
    let proration = (!whole).then(|| dc.fraction((a, b, n)));
    let product_name = ctx
        .catalog
        .product(product)
        .map_or(product.as_str(), |p| p.name.get(ctx.lang));
    let plan_name = ctx
        .catalog
        .plan(plan)
        .map_or(plan.as_str(), |p| p.name.get(ctx.lang));
    let included = ctx
        .catalog
        .plan(plan)
        .and_then(|p| p.items.get(product))
        .map_or(0, |i| i.included);
    let description = match (tier, ctx.lang) {
        (PriceTier::Included, Lang::En) => {
            format!("{product_name} – {plan_name} ({included} included)")
        }
        (PriceTier::Included, Lang::Fr) => {
            format!("{product_name} – {plan_name} ({included} inclus)")
        }
        (PriceTier::Extra, _) if included == 0 => format!("{product_name} – {plan_name}"),
        (PriceTier::Extra, Lang::En) => {
            format!("{product_name} – {plan_name} (beyond {included} included)")
        }
        (PriceTier::Extra, Lang::Fr) => {
            format!("{product_name} – {plan_name} (au-delà de {included} inclus)")
        }
        (PriceTier::Tier(_) | PriceTier::Flat(_) | PriceTier::Package, _) => {
            let item = ctx.catalog.plan(plan).and_then(|p| p.items.get(product));
            crate::seat_tiers::description(item, *tier, product_name, plan_name, ctx.lang)
        }
    };
    // The arithmetic reads in positive figures, as a credit note prints them; the sign is the
    // line's (and the document's) to carry. A reduction says what it reduces: `10 → 6: 4 × …`.
    let mut explanation = String::new();
    if let Some((before, after)) = taken.and_then(|t| t.change) {
        explanation.push_str(&match ctx.lang {
            Lang::En => format!("{before} → {after}: "),
            Lang::Fr => format!("{before} → {after} : "),
        });
    }
    explanation.push_str(&format!(
        "{} × {unit_price} {}",
        run.units.abs(),
        sub.currency
    ));
    if let Some(f) = proration {
        explanation.push_str(&format!(" × {} ({}%)", f.show(ctx.lang), f.percent()));
    }
    let positive = |m: Money| {
        if m.is_negative() {
            m.checked_neg()
        } else {
            Ok(m)
        }
    };
    let shown = positive(amount)?;
    match taken {
        Some(t) if t.own != amount => {
            let own = positive(t.own)?;
            explanation.push_str(&match ctx.lang {
                Lang::En => format!(
                    " = {own}, limited to the {shown} left of {}'s line",
                    t.source
                ),
                Lang::Fr => format!(
                    " = {own}, limité aux {shown} restant sur la ligne de {}",
                    t.source
                ),
            });
        }
        _ => explanation.push_str(&format!(" = {shown}")),
    }
    let corrects = taken.map_or_else(Vec::new, |t| vec![t.source.to_string()]);
    Ok(Line {
        section: if whole && run.units > 0 {
            Section::Recurring
        } else {
            Section::Prorata
        },
        key: LineKey::Recurring(key.clone()),
        description,
        quantity: run.units,
        unit_price: Some(*unit_price),
        from: run.from,
        to: run.to,
        service: inclusive(run.from, run.to),
        proration,
        events: None,
        included_used: None,
        late: false,
        amount,
        tax,
        explanation,
        corrects,
    })
}

fn usage_lines(
    ctx: &Context<'_>,
    sub: &Subscription,
    usage: &[UsageRecord],
    billed: &[Document],
    scope: Scope,
) -> Result<Vec<Line>, ReconcileError> {
    let (as_of, knowledge, end) = (scope.as_of, scope.knowledge, scope.end);
    let cadence = sub.cadence(knowledge);
    // What is known by the knowledge date per (usage period, metric), and per day for the
    // bundles.
    let mut totals: BTreeMap<(Period, &str), Known> = BTreeMap::new();
    let mut daily: BTreeMap<(Period, NaiveDate, &str), i64> = BTreeMap::new();
    for r in usage.iter().filter(|r| r.recorded_on <= knowledge) {
        let Some(period) = cadence.usage_period_containing(r.date) else {
            continue; // usage during the trial is not billed
        };
        if end.is_some_and(|e| start_of(r.date) >= e) {
            continue;
        }
        if !ctx.catalog.metrics.contains_key(&r.metric) {
            return Err(ReconcileError::UnknownMetric(r.metric.clone()));
        }
        let t = totals.entry((period, r.metric.as_str())).or_insert(Known {
            quantity: 0,
            events: 0,
            learnt: r.recorded_on,
        });
        t.quantity += r.quantity;
        t.events += r.events;
        t.learnt = t.learnt.max(r.recorded_on);
        *daily
            .entry((period, r.date, r.metric.as_str()))
            .or_default() += r.quantity;
    }
    // What was billed per (usage period, metric).
    let mut already: BTreeMap<(Period, String), BilledUsage> = BTreeMap::new();
    for doc in billed {
        for line in &doc.lines {
            if let LineKey::Usage { metric, period } = &line.key {
                let e = already
                    .entry((*period, metric.clone()))
                    .or_insert_with(|| BilledUsage {
                        quantity: 0,
                        events: 0,
                        included: 0,
                        amount: Money::zero(sub.currency),
                        documents: Vec::new(),
                    });
                e.quantity += line.quantity;
                e.events += line.events.unwrap_or(0);
                e.included += line.included_used.unwrap_or(0);
                e.amount = e.amount.checked_add(line.amount)?;
                if !e.documents.contains(&doc.number) {
                    e.documents.push(doc.number.clone());
                }
            }
        }
    }
    let periods: BTreeSet<Period> = totals
        .keys()
        .map(|(p, _)| *p)
        .chain(already.keys().map(|(p, _)| *p))
        .collect();
    let mut lines = Vec::new();
    for period in periods {
        let p_end = period_end(period, end);
        if p_end.date() > as_of {
            continue; // not over yet
        }
        let included = bundle_allowance(ctx, sub, period, knowledge, &daily);
        let metrics: BTreeSet<&str> = totals
            .keys()
            .filter(|(p, _)| *p == period)
            .map(|(_, m)| *m)
            .chain(
                already
                    .keys()
                    .filter(|(p, _)| *p == period)
                    .map(|(_, m)| m.as_str()),
            )
            .collect();
        for metric_code in metrics {
            let metric = ctx
                .catalog
                .metrics
                .get(metric_code)
                .ok_or_else(|| ReconcileError::UnknownMetric(metric_code.into()))?;
            let scale = metric.scale();
            let known = totals.get(&(period, metric_code));
            let (quantity, events) = known.map_or((0, 0), |k| (k.quantity, k.events));
            let inc = included.get(metric_code).copied().unwrap_or(0);
            let model = metric.price.get(&sub.currency).ok_or_else(|| {
                ReconcileError::UnknownMetric(format!("{metric_code} in {}", sub.currency))
            })?;
            let rating = model
                .rate_usage(quantity - inc, events, scale, sub.currency, ctx.lang)
                .map_err(|source| ReconcileError::Rating {
                    metric: metric_code.into(),
                    period,
                    source,
                })?;
            let BilledUsage {
                quantity: b_qty,
                events: b_events,
                included: b_inc,
                amount: b_amount,
                documents: b_docs,
            } = already
                .get(&(period, metric_code.to_string()))
                .cloned()
                .unwrap_or(BilledUsage {
                    quantity: 0,
                    events: 0,
                    included: 0,
                    amount: Money::zero(sub.currency),
                    documents: Vec::new(),
                });
            let d_amount = rating.amount.checked_sub(b_amount)?;
            if quantity == b_qty && inc == b_inc && events == b_events && d_amount.is_zero() {
                continue;
            }
            // Late: the period was billed already, or usage of it was learnt after the day
            // its invoice was due (whether or not that invoice had a line for this metric).
            let late = !b_docs.is_empty() || known.is_some_and(|k| k.learnt > p_end.date());
            let name = metric.name.get(ctx.lang);
            let mut explanation = String::new();
            if late {
                // A late line bills the difference: the period's whole usage is shown first.
                explanation.push_str(match ctx.lang {
                    Lang::En => "period now: ",
                    Lang::Fr => "période à ce jour : ",
                });
            }
            if events > 0 {
                let plural = if events == 1 { "" } else { "s" };
                // A volume in minor units sums transactions (card payments), not calls.
                let volume = metric.unit == crate::catalog::UsageUnit::MinorUnits;
                explanation.push_str(&match (ctx.lang, volume) {
                    (_, true) => format!("{events} transaction{plural}, "),
                    (Lang::En, false) => format!("{events} call{plural}, "),
                    (Lang::Fr, false) => format!("{events} appel{plural}, "),
                });
            }
            if inc > 0 {
                let (q, i) = (scale.show(quantity), scale.show(inc));
                explanation.push_str(&match ctx.lang {
                    Lang::En => format!("{q} − {i} included = "),
                    Lang::Fr => format!("{q} − {i} inclus = "),
                });
            }
            explanation.push_str(&rating.explanation);
            explanation.push_str(&format!(" = {}", rating.amount));
            if late {
                explanation.push_str(&match ctx.lang {
                    Lang::En => format!(" − {b_amount} already billed = {d_amount}"),
                    Lang::Fr => format!(" − {b_amount} déjà facturés = {d_amount}"),
                });
            }
            lines.push(Line {
                section: Section::Usage,
                key: LineKey::Usage {
                    metric: metric_code.into(),
                    period,
                },
                description: if late {
                    match ctx.lang {
                        Lang::En => format!("{name} (late usage)"),
                        Lang::Fr => format!("{name} (consommation tardive)"),
                    }
                } else {
                    name.to_string()
                },
                quantity: quantity - b_qty,
                events: (events != b_events || events > 0).then_some(events - b_events),
                unit_price: rating.unit_price,
                from: start_of(period.start),
                to: p_end,
                service: inclusive(start_of(period.start), p_end),
                proration: None,
                included_used: (inc != b_inc || inc > 0).then_some(inc - b_inc),
                late,
                amount: d_amount,
                tax: scope.tax,
                explanation,
                corrects: if d_amount.is_negative() {
                    b_docs
                } else {
                    Vec::new()
                },
            });
        }
    }
    Ok(lines)
}

/// Units of each metric covered by the call bundles held at the start of `period`. Bundles
/// are consumed in call order at the resolution of the day the usage store keeps: day by day,
/// and within a day bundle by bundle, each in the order it lists its metrics. A bundle of
/// `included_units` minutes covers `included_units × 60` seconds of seconds-counted metrics.
fn bundle_allowance<'a>(
    ctx: &Context<'a>,
    sub: &Subscription,
    period: Period,
    knowledge: NaiveDate,
    daily: &BTreeMap<(Period, NaiveDate, &str), i64>,
) -> BTreeMap<&'a str, i64> {
    let state = sub.state_at(start_of(period.start), knowledge);
    let mut bundles: Vec<(i64, &'a [String])> = Vec::new();
    for (code, product) in &ctx.catalog.products {
        let ProductKind::CallBundle {
            included_units,
            metrics,
        } = &product.kind
        else {
            continue;
        };
        let per = metrics
            .first()
            .and_then(|m| ctx.catalog.metrics.get(m))
            .map_or(1, |m| m.scale().per);
        let allowance = state
            .quantity(code)
            .max(0)
            .saturating_mul(*included_units)
            .saturating_mul(per);
        if allowance > 0 {
            bundles.push((allowance, metrics.as_slice()));
        }
    }
    let mut used: BTreeMap<&'a str, i64> = BTreeMap::new();
    if bundles.is_empty() {
        return used;
    }
    let in_period = daily
        .range((period, NaiveDate::MIN, "")..)
        .take_while(|((p, _, _), _)| *p == period);
    let mut days: BTreeMap<NaiveDate, BTreeMap<&str, i64>> = BTreeMap::new();
    for ((_, day, metric), q) in in_period {
        days.entry(*day).or_default().insert(metric, *q);
    }
    for day in days.values_mut() {
        for (allowance, metrics) in bundles.iter_mut() {
            for m in metrics.iter() {
                let Some(q) = day.get_mut(m.as_str()) else {
                    continue;
                };
                let take = (*allowance).min(*q).max(0);
                *q -= take;
                *allowance -= take;
                *used.entry(m.as_str()).or_default() += take;
            }
        }
    }
    used
}

/// Groups lines into documents according to the credit policy. Discount lines go with the
/// credits when their key is in `discounts_with_credits`, else with the charges.
fn assemble(
    settings: &Settings,
    sub: &Subscription,
    mut lines: Vec<Line>,
    discounts_with_credits: &BTreeSet<LineKey>,
    as_of: NaiveDate,
) -> Result<(Vec<Draft>, bool), ReconcileError> {
    let mut held_back = false;
    let is_credit = |l: &Line| match l.key {
        LineKey::Discount { .. } => discounts_with_credits.contains(&l.key),
        _ => l.amount.is_negative() || (l.amount.is_zero() && l.quantity < 0),
    };
    let draft = |kind, lines: Vec<Line>| Draft {
        kind,
        currency: sub.currency,
        lines,
    };
    let mut out = Vec::new();
    match settings.credit_policy {
        CreditPolicy::CreditNote => {
            let (credits, charges): (Vec<Line>, Vec<Line>) = lines.into_iter().partition(is_credit);
            let (charges, credits) = crate::coupon::keep_signs(sub.currency, charges, credits)?;
            if !charges.is_empty() {
                out.push(draft(DocumentKind::Invoice, charges));
            }
            if !credits.is_empty() {
                out.push(draft(DocumentKind::CreditNote, credits));
            }
        }
        CreditPolicy::AccountCredit => {
            // Credits wait for the next invoice day, where they reduce the invoice.
            let invoice_day =
                sub.cadence(as_of).last_invoice_day_on_or_before(as_of) == Some(as_of);
            if !invoice_day {
                let before = lines.len();
                lines.retain(|l| !is_credit(l));
                held_back = lines.len() < before;
            }
            if !lines.is_empty() {
                let d = draft(DocumentKind::Invoice, lines);
                let kind = if d.net_total()?.is_negative() {
                    DocumentKind::CreditNote
                } else {
                    DocumentKind::Invoice
                };
                out.push(Draft { kind, ..d });
            }
        }
        CreditPolicy::SameInvoice => {
            let negative = settings.negative_invoice;
            out = crate::netting::same_invoice(negative, sub.currency, lines)?;
        }
    }
    Ok((out, held_back))
}
