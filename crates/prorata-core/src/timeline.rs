//! A subscription as a timeline of dated events.
//!
//! The subscription holds what was sold (plan, frequency, currency, start, quantities, the
//! contract's term and notice) and the events that changed it since. Each event has two dates:
//! `recorded_on`, the day the engine learnt of it, and `effective`, the moment it changes what
//! is owed. Billing at a date only sees events recorded by then ([`Subscription::state_at`]
//! takes a `known_on`), so an invoice issued on 6 July is reproduced exactly later, and a
//! change recorded on 10 July yields a correction (credit note or invoice) rather than a
//! silent rewrite. Billable intervals are derived from the events, never stored or edited.
//!
//! Trial, renewals and billing days are derived too: the first paid day is `start +
//! trial_days` (a trial counts from the original start; a plan change during it moves its end
//! only when the tenant says so, recorded in the event: [`crate::trial`]), and both billing
//! periods and contract terms are anchored on it — or on the start, when the trial waives only
//! the recurring fees ([`crate::trial::TrialWaiver::Fee`]) — unless the subscription is
//! aligned on the calendar or on a billing day ([`crate::alignment`]): its periods then start
//! on those days, billing starts on the first paid day with a prorated stub, and the first
//! term runs to the end of the stub plus `term_months`.
//!
//! The frequency and anchor sold are those of the first segment of the subscription's
//! [`Cadence`]: a [`Change::Frequency`] event starts another one on its effective day (the
//! time of day is ignored: periods are dates). Billing periods, invoice days, renewals and
//! notice deadlines follow the segment in force; without such an event there is one segment
//! and everything is as sold.

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};

use crate::alignment::{period_anchor, BillingAlignment};
use crate::cadence::Cadence;
use crate::calendar::{Frequency, Schedule};
use crate::money::Currency;
use crate::trial::TrialWaiver;

/// A change to a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = SubscriptionChange))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Change {
    /// The number of units of a product (licences, numbers, teams; add-ons on with 1, off with 0).
    Quantity { product: String, quantity: i64 },
    /// Another plan of the same catalog. `trial_ends`: the day the trial now ends, when a
    /// change during the trial moved it ([`crate::trial::TrialOnPlanChange`]).
    Plan {
        plan: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trial_ends: Option<NaiveDate>,
    },
    /// The contract will not renew: it ends at the `effective` renewal date.
    CancellationRequested,
    /// The subscription ends at `effective` (billing team, or dunning's cancellation).
    Cancelled,
    /// Billed at `frequency` from the effective day, in periods anchored on `anchor` (on or
    /// before that day: the old anchor kept, the day itself, or the first of its month).
    Frequency {
        frequency: Frequency,
        anchor: NaiveDate,
    },
    /// The catalog's coupon `code` discounts the licence periods starting from the effective
    /// day, for its duration ([`crate::coupon`]).
    Coupon { code: String },
    /// The coupon `code` ends: periods starting from the effective day are not discounted.
    CouponRemoved { code: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = SubscriptionEvent))]
pub struct Event {
    pub recorded_on: NaiveDate,
    pub effective: NaiveDateTime,
    #[serde(flatten)]
    pub change: Change,
}

/// What a subscription is at a moment: its plan and quantities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub plan: String,
    pub quantities: BTreeMap<String, i64>,
}

impl State {
    pub fn quantity(&self, product: &str) -> i64 {
        self.quantities.get(product).copied().unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = SubscriptionTimeline))]
pub struct Subscription {
    pub plan: String,
    pub frequency: Frequency,
    pub currency: Currency,
    pub start: NaiveDate,
    /// Copied from the plan when sold.
    #[serde(default)]
    pub trial_days: u32,
    /// Contract term in months; 0 renews with every billing period.
    #[serde(default)]
    pub term_months: u32,
    /// Days before a renewal by which a downgrade or cancellation must be submitted.
    #[serde(default = "default_notice_days")]
    pub notice_days: u32,
    pub quantities: BTreeMap<String, i64>,
    #[serde(default)]
    pub events: Vec<Event>,
    /// Where the periods start: the tenant's alignment when sold (anniversary when absent).
    #[serde(default, skip_serializing_if = "BillingAlignment::is_anniversary")]
    pub alignment: BillingAlignment,
    /// The day of the month every period starts on (Kill Bill's bill-cycle day), whatever the
    /// alignment; `None`: as the alignment says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_day: Option<u32>,
    /// What the trial waives, copied from the plan when sold.
    #[serde(default)]
    pub trial_waives: TrialWaiver,
}

/// T&C 13.1.b of seed 001: 30 days.
pub const DEFAULT_NOTICE_DAYS: u32 = 30;

fn default_notice_days() -> u32 {
    DEFAULT_NOTICE_DAYS
}

/// Midnight at the start of `date`.
pub fn start_of(date: NaiveDate) -> NaiveDateTime {
    date.and_time(NaiveTime::MIN)
}

impl Subscription {
    /// The day billing periods and contract terms are anchored on, with every event recorded
    /// so far: the first paid day, or the start when the trial waives only the fees.
    pub fn billing_anchor(&self) -> NaiveDate {
        self.anchor_known_on(NaiveDate::MAX)
    }

    fn anchor_known_on(&self, known_on: NaiveDate) -> NaiveDate {
        match self.trial_waives {
            TrialWaiver::Everything => self.first_paid_day(known_on),
            TrialWaiver::Fee => self.start,
        }
    }

    /// The day the trial ends and the recurring fees start, as known on `known_on`: `trial_days`
    /// after the start, unless a plan change during the trial moved it (`trial_ends`).
    pub fn first_paid_day(&self, known_on: NaiveDate) -> NaiveDate {
        let mut ends = self
            .start
            .checked_add_days(Days::new(u64::from(self.trial_days)))
            .unwrap_or(self.start);
        for e in self.events_known_on(known_on) {
            if let Change::Plan {
                trial_ends: Some(t),
                ..
            } = &e.change
            {
                if e.effective.date() < ends {
                    ends = (*t).max(e.effective.date());
                }
            }
        }
        ends
    }

    pub fn in_trial_on(&self, date: NaiveDate) -> bool {
        date < self.first_paid_day(NaiveDate::MAX)
    }

    /// The anchor of the periods at `frequency` under the subscription's alignment and billing
    /// day: the first paid day itself (anniversary), or the start of the natural period
    /// containing it, whose rest is billed as a prorated stub (see [`crate::alignment`]).
    pub fn period_anchor_for(&self, frequency: Frequency) -> NaiveDate {
        period_anchor(
            self.billing_anchor(),
            frequency,
            self.alignment,
            self.billing_day,
        )
    }

    /// Periods of the recurring (licence) charges at the frequency sold: the first segment of
    /// [`Subscription::cadence`], which is the whole of it until the frequency changes. Under
    /// an alignment the first period may start before the first paid day (billing starts on
    /// that day, with a stub).
    pub fn licence_schedule(&self) -> Schedule {
        Schedule::new(self.period_anchor_for(self.frequency), self.frequency)
    }

    /// Invoice days at the frequency sold: every licence period start, and monthly in between
    /// for annual and quarterly plans (usage and prorated additions, seed 002). Like
    /// [`Subscription::licence_schedule`], the first segment of the cadence.
    pub fn invoice_schedule(&self) -> Schedule {
        Schedule::new(
            self.period_anchor_for(self.frequency),
            self.frequency.usage_cadence(),
        )
    }

    /// The frequencies and anchors in force over time, as known on `known_on`: the frequency
    /// sold from the first paid day (in periods aligned as [`Subscription::period_anchor_for`]
    /// says), then each known [`Change::Frequency`] from its day.
    pub fn cadence(&self, known_on: NaiveDate) -> Cadence {
        let first = self.anchor_known_on(known_on);
        let mut cadence = Cadence::aligned(
            first,
            self.frequency,
            period_anchor(first, self.frequency, self.alignment, self.billing_day),
        );
        for e in self.events_known_on(known_on) {
            if let Change::Frequency { frequency, anchor } = &e.change {
                cadence.change(e.effective.date(), *frequency, *anchor);
            }
        }
        cadence
    }

    /// The frequency billed on `date`, as known on `known_on`.
    pub fn frequency_on(&self, date: NaiveDate, known_on: NaiveDate) -> Frequency {
        self.cadence(known_on).frequency_on(date)
    }

    /// The first renewal date strictly after `date`, with every event recorded so far: the
    /// end of the term in force (or of the licence period when `term_months` is 0).
    pub fn next_renewal_after(&self, date: NaiveDate) -> Option<NaiveDate> {
        self.cadence(NaiveDate::MAX)
            .next_renewal_after(date, self.term_months)
    }

    /// The renewal following `date` and the last day a change that reduces the contract can be
    /// submitted for it: `(deadline, renewal)`.
    pub fn notice_deadline_after(&self, date: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
        let renewal = self.next_renewal_after(date)?;
        let deadline = renewal.checked_sub_days(Days::new(u64::from(self.notice_days)))?;
        Some((deadline, renewal))
    }

    /// Events recorded on or before `known_on`, in the order they take effect (ties keep the
    /// order they were recorded in).
    pub fn events_known_on(&self, known_on: NaiveDate) -> Vec<&Event> {
        let mut events: Vec<&Event> = self
            .events
            .iter()
            .filter(|e| e.recorded_on <= known_on)
            .collect();
        events.sort_by_key(|e| e.effective);
        events
    }

    /// When the subscription ends (exclusive), as known on `known_on`.
    pub fn end(&self, known_on: NaiveDate) -> Option<NaiveDateTime> {
        self.events_known_on(known_on)
            .into_iter()
            .filter(|e| matches!(e.change, Change::Cancelled | Change::CancellationRequested))
            .map(|e| e.effective)
            .min()
    }

    fn initial_state(&self) -> State {
        State {
            plan: self.plan.clone(),
            quantities: self.quantities.clone(),
        }
    }

    /// The state at `at`, as known on `known_on`.
    pub fn state_at(&self, at: NaiveDateTime, known_on: NaiveDate) -> State {
        let mut state = self.initial_state();
        for e in self.events_known_on(known_on) {
            if e.effective > at {
                break;
            }
            apply(&mut state, &e.change);
        }
        state
    }

    /// The states in force from `from` (inclusive) to `to` (exclusive): each with the moment it
    /// starts. The first starts at `from`; a state ends where the next begins, or at `to`.
    pub fn segments(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
        known_on: NaiveDate,
    ) -> Vec<(NaiveDateTime, State)> {
        let mut state = self.initial_state();
        let mut out: Vec<(NaiveDateTime, State)> = Vec::new();
        let events = self.events_known_on(known_on);
        let mut rest = events.as_slice();
        while let Some((e, tail)) = rest.split_first() {
            if e.effective > from {
                break;
            }
            apply(&mut state, &e.change);
            rest = tail;
        }
        out.push((from, state.clone()));
        for e in rest {
            if e.effective >= to {
                break;
            }
            apply(&mut state, &e.change);
            match out.last_mut() {
                Some(last) if last.0 == e.effective => last.1 = state.clone(),
                _ => out.push((e.effective, state.clone())),
            }
        }
        out
    }
}

fn apply(state: &mut State, change: &Change) {
    match change {
        Change::Quantity { product, quantity } => {
            state.quantities.insert(product.clone(), *quantity);
        }
        Change::Plan { plan, .. } => state.plan = plan.clone(),
        // What is held does not change; how it is billed is the cadence's.
        // Coupons change what is paid, not what is held: billing reads them from the events.
        Change::CancellationRequested
        | Change::Cancelled
        | Change::Frequency { .. }
        | Change::Coupon { .. }
        | Change::CouponRemoved { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or(NaiveDate::MIN)
    }

    fn sub() -> Subscription {
        Subscription {
            plan: "essentials".into(),
            frequency: Frequency::Monthly,
            currency: Currency::EUR,
            start: d(2024, 1, 6),
            trial_days: 0,
            term_months: 12,
            notice_days: 30,
            quantities: BTreeMap::from([("user".into(), 10)]),
            events: vec![Event {
                recorded_on: d(2024, 7, 10),
                effective: start_of(d(2024, 7, 10)),
                change: Change::Quantity {
                    product: "user".into(),
                    quantity: 6,
                },
            }],
            alignment: BillingAlignment::Anniversary,
            billing_day: None,
            trial_waives: TrialWaiver::Everything,
        }
    }

    #[test]
    fn a_change_is_invisible_before_it_is_recorded() {
        let s = sub();
        let at = start_of(d(2024, 7, 20));
        assert_eq!(s.state_at(at, d(2024, 7, 9)).quantity("user"), 10);
        assert_eq!(s.state_at(at, d(2024, 7, 10)).quantity("user"), 6);
    }

    #[test]
    fn segments_split_at_each_effective_change() {
        let s = sub();
        let segs = s.segments(
            start_of(d(2024, 7, 6)),
            start_of(d(2024, 8, 6)),
            d(2024, 8, 6),
        );
        let seen: Vec<_> = segs
            .iter()
            .map(|(t, st)| (t.date(), st.quantity("user")))
            .collect();
        assert_eq!(seen, vec![(d(2024, 7, 6), 10), (d(2024, 7, 10), 6)]);
    }

    #[test]
    fn the_renewal_and_notice_deadline_follow_the_term() {
        let s = sub();
        assert_eq!(s.next_renewal_after(d(2024, 7, 10)), Some(d(2025, 1, 6)));
        // 30 days before 6 January 2025 is 7 December 2024.
        assert_eq!(
            s.notice_deadline_after(d(2024, 7, 10)),
            Some((d(2024, 12, 7), d(2025, 1, 6)))
        );
    }

    #[test]
    fn stored_subscriptions_read_as_before_and_a_frequency_event_round_trips() {
        // A subscription stored before frequency changes existed.
        let old = r#"{"plan":"essentials","frequency":"monthly","currency":"EUR",
            "start":"2024-01-06","term_months":12,"quantities":{"user":10},
            "events":[{"recorded_on":"2024-07-10","effective":"2024-07-10T00:00:00",
            "type":"quantity","product":"user","quantity":6}]}"#;
        let s = serde_json::from_str::<Subscription>(old).ok();
        assert_eq!(s, Some(sub()));
        assert_eq!(sub().cadence(d(2030, 1, 1)).segments().len(), 1);
        let mut s = sub();
        s.events.push(Event {
            recorded_on: d(2024, 7, 20),
            effective: start_of(d(2024, 7, 20)),
            change: Change::Frequency {
                frequency: Frequency::Annual,
                anchor: d(2024, 7, 1),
            },
        });
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert!(json.contains(r#""type":"frequency","frequency":"annual","anchor":"2024-07-01""#));
        assert_eq!(
            serde_json::from_str::<Subscription>(&json).ok(),
            Some(s.clone())
        );
        // Known from the day it is recorded; the term restarts on the new anchor.
        assert_eq!(
            s.frequency_on(d(2024, 8, 1), d(2024, 7, 19)),
            Frequency::Monthly
        );
        assert_eq!(
            s.frequency_on(d(2024, 8, 1), d(2024, 7, 20)),
            Frequency::Annual
        );
        assert_eq!(s.next_renewal_after(d(2024, 7, 20)), Some(d(2025, 7, 1)));
    }

    #[test]
    fn a_trial_delays_the_anchor_and_is_counted_from_the_start() {
        let mut s = sub();
        s.trial_days = 14;
        assert_eq!(s.billing_anchor(), d(2024, 1, 20));
        assert!(s.in_trial_on(d(2024, 1, 19)));
        assert!(!s.in_trial_on(d(2024, 1, 20)));
    }
}
