//! A subscription's billing cadence: its frequency and anchor as functions of time.
//!
//! A subscription is sold at one frequency, anchored on its first paid day. A billing-frequency
//! change (`Change::Frequency`, monthly ↔ quarterly ↔ annual) starts a new *segment* on its
//! effective day, with its own frequency and anchor. A [`Cadence`] is the list of segments:
//! each runs from its first day (inclusive) to the next segment's first day (exclusive), and
//! the last one runs on.
//!
//! Billing periods are the periods of each segment's [`Schedule`], clipped to the segment: a
//! [`Slice`] keeps the whole *natural* period (which proration measures: `17/31`, `170/366`)
//! and the days of it the segment covers. So:
//!
//! - a period cut short by a change ends the day before it (what was billed beyond is
//!   credited by reconciliation);
//! - a segment whose anchor lies before its first day (the old anchor kept, or the first of
//!   the change month) starts with a *stub*: the rest of the period containing that day,
//!   prorated;
//! - every segment's first day is a period start, hence an invoice day.
//!
//! Invariants: segments are ordered by strictly increasing first day; a segment's anchor is on
//! or before its first day; two consecutive segments never share a schedule (they merge). A
//! subscription without frequency events has one segment, so every date computed here is
//! the one its single [`Schedule`] gives.

use chrono::{Datelike, NaiveDate};

use crate::calendar::{add_months_clamped, months_between, Frequency, Period, Schedule};

/// The frequency and anchor in force from `from` (inclusive) until `until` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
    pub schedule: Schedule,
}

impl Segment {
    pub fn frequency(&self) -> Frequency {
        self.schedule.frequency
    }

    pub fn contains(&self, date: NaiveDate) -> bool {
        self.from <= date && self.until.is_none_or(|u| date < u)
    }
}

/// A billing period as one segment bills it: the natural `period`, of which the days
/// `from..until` (`until` exclusive) fall in the segment, at the segment's `frequency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub period: Period,
    pub from: NaiveDate,
    pub until: NaiveDate,
    pub frequency: Frequency,
}

impl Slice {
    /// The days the slice covers, as an inclusive period.
    pub fn days(&self) -> Period {
        Period {
            start: self.from,
            end: self.until.pred_opt().unwrap_or(self.from).max(self.from),
        }
    }
}

/// Which schedule of a segment is walked: its licence periods, its invoice (usage) days, or
/// the periods of an item billed at a frequency of its own, on the segment's anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    Licence,
    Usage,
    Every(Frequency),
}

impl Walk {
    fn schedule(self, s: &Segment) -> Schedule {
        match self {
            Walk::Licence => s.schedule,
            Walk::Usage => Schedule::new(s.schedule.anchor, s.frequency().usage_cadence()),
            Walk::Every(f) => Schedule::new(s.schedule.anchor, f),
        }
    }

    /// The frequency a slice of the walk is priced at.
    fn frequency(self, s: &Segment) -> Frequency {
        match self {
            Walk::Every(f) => f,
            Walk::Licence | Walk::Usage => s.frequency(),
        }
    }
}

/// The segments of a subscription's billing, in order; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cadence {
    segments: Vec<Segment>,
}

impl Cadence {
    /// One segment from `anchor`, at `frequency`.
    pub fn new(anchor: NaiveDate, frequency: Frequency) -> Cadence {
        Cadence {
            segments: vec![Segment {
                from: anchor,
                until: None,
                schedule: Schedule::new(anchor, frequency),
            }],
        }
    }

    /// One segment from `first_day`, at `frequency`, in periods anchored on `anchor` (on or
    /// before `first_day`: a later one is taken as `first_day`). An earlier anchor makes the
    /// first period a stub: calendar billing, or a billing day (see [`crate::alignment`]).
    pub fn aligned(first_day: NaiveDate, frequency: Frequency, anchor: NaiveDate) -> Cadence {
        Cadence {
            segments: vec![Segment {
                from: first_day,
                until: None,
                schedule: Schedule::new(anchor.min(first_day), frequency),
            }],
        }
    }

    /// Starts `frequency`, anchored on `anchor`, on `from`. Changes must come in the order
    /// they take effect; one on the same day as the last replaces it. A change before the
    /// first segment starts on the first segment's day; an anchor after `from` is taken as
    /// `from` (the periods of a segment start on or before its first day).
    pub fn change(&mut self, from: NaiveDate, frequency: Frequency, anchor: NaiveDate) {
        let first = self.first_day();
        let from = from.max(first);
        let schedule = Schedule::new(anchor.min(from), frequency);
        while self.segments.len() > 1 && self.segments.last().is_some_and(|s| s.from >= from) {
            self.segments.pop();
        }
        if let Some(last) = self.segments.last_mut() {
            if last.from >= from {
                // Only the first segment is left, and the change starts with it.
                last.schedule = schedule;
                return;
            }
            if last.schedule == schedule {
                last.until = None;
                return;
            }
            last.until = Some(from);
        }
        self.segments.push(Segment {
            from,
            until: None,
            schedule,
        });
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The first paid day.
    pub fn first_day(&self) -> NaiveDate {
        self.segments.first().map_or(NaiveDate::MIN, |s| s.from)
    }

    /// The segment in force on `date` (the first one before it starts).
    pub fn segment_on(&self, date: NaiveDate) -> Segment {
        let i = self
            .segments
            .partition_point(|s| s.from <= date)
            .saturating_sub(1);
        self.segments.get(i).copied().unwrap_or_else(|| Segment {
            from: date,
            until: None,
            schedule: Schedule::new(date, Frequency::Monthly),
        })
    }

    pub fn frequency_on(&self, date: NaiveDate) -> Frequency {
        self.segment_on(date).frequency()
    }

    /// Licence periods in order from the first paid day, each clipped to its segment.
    pub fn licence_slices(&self) -> impl Iterator<Item = Slice> + '_ {
        self.slices_from(self.first_day(), Walk::Licence)
    }

    /// The periods of an item billed at a frequency of its own (`Some`: an annual add-on on a
    /// monthly plan), or of the licences (`None`), from the first paid day, each clipped to its
    /// segment. An item's own periods are anchored on the segment's anchor, so with a monthly
    /// invoice cadence they start on invoice days; a frequency change that restarts the
    /// anchor restarts them too.
    pub fn slices_at(&self, own: Option<Frequency>) -> impl Iterator<Item = Slice> + '_ {
        let walk = own.map_or(Walk::Licence, Walk::Every);
        self.slices_from(self.first_day(), walk)
    }

    /// The first licence period start strictly after `date`: the end of the current period.
    pub fn next_licence_start_after(&self, date: NaiveDate) -> Option<NaiveDate> {
        self.slices_from(date, Walk::Licence)
            .map(|s| s.from)
            .find(|d| *d > date)
    }

    /// The licence period containing `date` when no segment boundary cuts it before `date`
    /// (`None` before the first paid day, or when its slice starts after the period does).
    pub fn licence_period_containing(&self, date: NaiveDate) -> Option<Period> {
        self.slices_from(date, Walk::Licence)
            .next()
            .filter(|s| s.from <= date && date < s.until && s.from == s.period.start)
            .map(|s| s.period)
    }

    /// Whether every licence period that a change of segment cut short before `date` would
    /// have ended by `date`: lines keep the whole period (an annual period cut by a move to
    /// monthly billing), so until then the cut period is still open.
    pub fn cut_periods_end_by(&self, date: NaiveDate) -> bool {
        self.segments.iter().all(|seg| {
            let Some(last) = seg.until.filter(|u| *u <= date).and_then(|u| u.pred_opt()) else {
                return true;
            };
            let schedule = Walk::Licence.schedule(seg);
            schedule
                .index_of(last)
                .and_then(|i| schedule.period(i))
                .is_none_or(|p| p.next_start() <= date)
        })
    }

    /// The usage (invoice) period containing `date`, clipped to its segment; `None` before
    /// the first paid day.
    pub fn usage_period_containing(&self, date: NaiveDate) -> Option<Period> {
        self.slices_from(date, Walk::Usage)
            .next()
            .filter(|s| s.from <= date)
            .map(|s| s.days())
    }

    /// Invoice days (usage period starts) strictly after `after`, in order.
    pub fn invoice_days_after(&self, after: NaiveDate) -> impl Iterator<Item = NaiveDate> + '_ {
        self.slices_from(after, Walk::Usage)
            .map(|s| s.from)
            .filter(move |d| *d > after)
    }

    /// The first invoice day on or after `date`.
    pub fn first_invoice_day_on_or_after(&self, date: NaiveDate) -> Option<NaiveDate> {
        self.slices_from(date, Walk::Usage)
            .map(|s| s.from)
            .find(|d| *d >= date)
    }

    /// The last invoice day on or before `date`; `None` before the first paid day.
    pub fn last_invoice_day_on_or_before(&self, date: NaiveDate) -> Option<NaiveDate> {
        self.usage_period_containing(date).map(|p| p.start)
    }

    /// The day the terms of `seg` run from. The first segment's terms run from its first full
    /// period: the first paid day, or the end of the stub when the periods are aligned on the
    /// calendar or a billing day (the stub lengthens the first term, so a commitment is never
    /// shorter than its `term_months` and renewals fall on billing days). A later segment's
    /// run from its anchor (kept, the change's day, or the first of its month).
    fn term_anchor(&self, seg: &Segment) -> NaiveDate {
        if seg.from == self.first_day() {
            seg.schedule
                .first_start_on_or_after(seg.from)
                .unwrap_or(seg.from)
        } else {
            seg.schedule.anchor
        }
    }

    /// The day the terms in force on `date` run from: what a frequency change that keeps the
    /// anchor anchors its new periods on, so that renewals do not move.
    pub fn term_anchor_on(&self, date: NaiveDate) -> NaiveDate {
        self.term_anchor(&self.segment_on(date))
    }

    /// The first renewal strictly after `date` of a contract of `term_months` (0: the contract
    /// renews with every licence period). A term runs from its segment's term anchor
    /// ([`Cadence::term_anchor_on`]): a change that keeps the anchor keeps the renewal dates,
    /// one that restarts the periods restarts the term. A segment's renewals lie after its
    /// first day and up to its last (a change at the end of the term starts on the renewal it
    /// follows); the first paid day is never one.
    pub fn next_renewal_after(&self, date: NaiveDate, term_months: u32) -> Option<NaiveDate> {
        let first = self.first_day();
        if term_months == 0 {
            return self
                .slices_from(date, Walk::Licence)
                .map(|s| s.from)
                .find(|d| *d > date && *d > first);
        }
        for seg in self
            .segments
            .iter()
            .filter(|s| s.until.is_none_or(|u| u > date))
        {
            let after = date.max(seg.from);
            let anchor = self.term_anchor(seg);
            // Estimate the term index from the calendar distance, then step to the first after.
            let estimate = months_between(anchor, after) / i64::from(term_months);
            let mut k = u32::try_from(estimate.saturating_sub(1).max(1)).ok()?;
            let renewal = loop {
                let r = add_months_clamped(anchor, k.checked_mul(term_months)?)?;
                if r > after {
                    break r;
                }
                k = k.checked_add(1)?;
            };
            if seg.until.is_none_or(|u| renewal <= u) {
                return Some(renewal);
            }
        }
        None
    }

    /// Slices of `walk`'s schedules, from the one containing `date` (or the first, before the
    /// first paid day) onwards, for as long as dates can be represented.
    fn slices_from(&self, date: NaiveDate, walk: Walk) -> impl Iterator<Item = Slice> + '_ {
        let start = self
            .segments
            .partition_point(|s| s.from <= date)
            .saturating_sub(1);
        self.segments.iter().skip(start).flat_map(move |seg| {
            let schedule = walk.schedule(seg);
            let at = date.max(seg.from);
            let first = schedule.index_of(at);
            first
                .into_iter()
                .flat_map(move |i| (i..).map_while(move |k| schedule.period(k)))
                .take_while(move |p| seg.until.is_none_or(|u| p.start < u))
                .map(move |period| Slice {
                    period,
                    from: period.start.max(seg.from),
                    until: seg
                        .until
                        .map_or(period.next_start(), |u| u.min(period.next_start())),
                    frequency: walk.frequency(seg),
                })
        })
    }
}

/// The first day of `date`'s month.
pub fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or(NaiveDate::MIN)
    }

    fn starts(c: &Cadence, n: usize) -> Vec<(NaiveDate, NaiveDate, NaiveDate)> {
        c.licence_slices()
            .take(n)
            .map(|s| (s.period.start, s.from, s.until))
            .collect()
    }

    #[test]
    fn without_a_change_the_slices_are_the_schedules_periods() {
        let c = Cadence::new(d(2024, 1, 31), Frequency::Monthly);
        let s = Schedule::new(d(2024, 1, 31), Frequency::Monthly);
        let slices: Vec<Period> = c.licence_slices().take(14).map(|s| s.period).collect();
        let periods: Vec<Period> = s.periods().take(14).collect();
        assert_eq!(slices, periods);
        assert!(c.licence_slices().take(14).all(|s| s.days() == s.period));
        assert_eq!(c.next_renewal_after(d(2024, 3, 1), 0), Some(d(2024, 3, 31)));
        assert_eq!(
            c.next_renewal_after(d(2024, 1, 1), 12),
            Some(d(2025, 1, 31))
        );
    }

    #[test]
    fn a_change_at_once_cuts_the_period_and_starts_the_new_schedule() {
        let mut c = Cadence::new(d(2024, 1, 6), Frequency::Monthly);
        c.change(d(2024, 7, 20), Frequency::Annual, d(2024, 7, 20));
        let s = starts(&c, 9);
        assert_eq!(s[6], (d(2024, 7, 6), d(2024, 7, 6), d(2024, 7, 20)));
        assert_eq!(s[7], (d(2024, 7, 20), d(2024, 7, 20), d(2025, 7, 20)));
        assert_eq!(c.frequency_on(d(2024, 7, 19)), Frequency::Monthly);
        assert_eq!(c.frequency_on(d(2024, 7, 20)), Frequency::Annual);
        // Usage stays monthly, from the new anchor; the cut period is invoiced on the 20th.
        let days: Vec<_> = c.invoice_days_after(d(2024, 7, 6)).take(3).collect();
        assert_eq!(days, vec![d(2024, 7, 20), d(2024, 8, 20), d(2024, 9, 20)]);
        assert_eq!(
            c.usage_period_containing(d(2024, 7, 19)),
            Some(Period {
                start: d(2024, 7, 6),
                end: d(2024, 7, 19)
            })
        );
        // The term restarts with the periods.
        assert_eq!(
            c.next_renewal_after(d(2024, 7, 20), 12),
            Some(d(2025, 7, 20))
        );
    }

    #[test]
    fn keeping_the_anchor_bills_a_stub_and_keeps_the_renewals() {
        let mut c = Cadence::new(d(2024, 1, 6), Frequency::Monthly);
        c.change(d(2024, 7, 20), Frequency::Annual, d(2024, 1, 6));
        let s = starts(&c, 9);
        assert_eq!(s[7], (d(2024, 1, 6), d(2024, 7, 20), d(2025, 1, 6)));
        assert_eq!(s[8], (d(2025, 1, 6), d(2025, 1, 6), d(2026, 1, 6)));
        assert_eq!(
            c.next_renewal_after(d(2024, 7, 20), 12),
            Some(d(2025, 1, 6))
        );
        assert_eq!(
            c.next_licence_start_after(d(2024, 7, 20)),
            Some(d(2025, 1, 6))
        );
    }

    #[test]
    fn a_change_at_the_end_of_the_term_starts_on_the_renewal_it_follows() {
        let mut c = Cadence::new(d(2024, 1, 6), Frequency::Annual);
        c.change(d(2025, 1, 6), Frequency::Monthly, d(2025, 1, 6));
        assert_eq!(c.next_renewal_after(d(2024, 7, 1), 12), Some(d(2025, 1, 6)));
        assert_eq!(c.next_renewal_after(d(2025, 1, 6), 12), Some(d(2026, 1, 6)));
        assert_eq!(c.next_renewal_after(d(2025, 1, 6), 0), Some(d(2025, 2, 6)));
        let s = starts(&c, 3);
        assert_eq!(s[1], (d(2025, 1, 6), d(2025, 1, 6), d(2025, 2, 6)));
    }

    #[test]
    fn changing_back_to_the_same_schedule_merges_the_segments() {
        let mut c = Cadence::new(d(2024, 1, 6), Frequency::Monthly);
        c.change(d(2024, 7, 6), Frequency::Annual, d(2024, 1, 6));
        assert_eq!(c.segments().len(), 2);
        // A second change on the same day replaces the first: back to the schedule sold.
        c.change(d(2024, 7, 6), Frequency::Monthly, d(2024, 1, 6));
        assert_eq!(c.segments().len(), 1);
        // A change before the first paid day replaces the frequency sold from that day; its
        // earlier anchor makes the first period a stub.
        c.change(d(2023, 12, 1), Frequency::Quarterly, d(2023, 12, 1));
        assert_eq!(c.segments().len(), 1);
        assert_eq!(c.frequency_on(d(2024, 1, 6)), Frequency::Quarterly);
        assert_eq!(
            starts(&c, 2),
            vec![
                (d(2023, 12, 1), d(2024, 1, 6), d(2024, 3, 1)),
                (d(2024, 3, 1), d(2024, 3, 1), d(2024, 6, 1))
            ]
        );
    }
}
