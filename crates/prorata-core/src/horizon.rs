//! The settled-through horizon: the day up to which a subscription's billing is final, so a
//! billing run reads only what came after it and its cost does not grow with the
//! subscription's age.
//!
//! Reconciliation compares what is owed with what was billed period by period: a key's
//! profile, a usage period's rating, a coupon's or a minimum commitment's share of a licence
//! period. Once a run has issued everything it found, every period that ended by the start
//! of the current licence period agrees with what was billed for it, and stays so until
//! something is learnt about it. A [`Horizon`] records that day (`through`), what the run
//! knew (`known_on`), the last document it covered, and the lines of covered documents whose
//! periods are still open (an annual add-on's line on a monthly plan, this period's advance
//! invoice). The next run reconciles from it: the carried lines and the documents issued
//! since, the usage from `through` on, the periods ending after it.
//!
//! A back-dated change never meets a settled period unseen. [`Horizon::holds`] fails when a
//! timeline event recorded after `known_on` takes effect before `through`, or when usage
//! dated before `through` is read (the usage store also voids the horizon when it folds such
//! usage); the caller then reconciles the whole history, exactly as without a horizon, and the
//! next horizon is found from it. Nothing is refused: a late change before the horizon is
//! billed as it always was, at the price of one full read.
//!
//! `tests/properties.rs` plays random scenarios both ways and finds the same documents.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::document::Document;
use crate::reconcile::{knowledge_date, reconcile_from, Context, ReconcileError, UsageRecord};
use crate::timeline::{start_of, Subscription};

/// Everything billed for a subscription up to a day, as far as later runs need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Horizon {
    /// Every period ending on or before this day is billed and final.
    pub through: NaiveDate,
    /// The knowledge date of the run that found it: a change recorded later and taking
    /// effect before `through` voids it.
    pub known_on: NaiveDate,
    /// The last document it covers (the store's id): later ones are read.
    pub after_document: i64,
    /// The covered documents' lines whose periods end after `through`, each document with
    /// only those lines (and without its buyer, seller and payment blocks).
    pub carried: Vec<Document>,
}

/// What reconciling from a horizon found: the drafts to issue and the next horizon (`None`:
/// the whole history is to be read next time).
#[derive(Debug)]
pub struct Settled {
    pub drafts: Vec<crate::document::Draft>,
    pub horizon: Option<Horizon>,
}

impl Horizon {
    /// Whether the horizon still stands for `sub`, given the usage read from `through` on
    /// (with whatever is not folded yet): no event recorded after `known_on` takes effect
    /// before `through`, and no usage read is dated before it.
    pub fn holds(&self, sub: &Subscription, usage: &[UsageRecord]) -> bool {
        !changed_behind(sub, self.known_on, self.through)
            && usage.iter().all(|u| u.date >= self.through)
    }
}

/// Whether a timeline event of `sub` recorded after `known_on` takes effect before `through`:
/// a change a run knowing up to `known_on` did not see, in a period it would settle.
fn changed_behind(sub: &Subscription, known_on: NaiveDate, through: NaiveDate) -> bool {
    let from = start_of(through);
    sub.events
        .iter()
        .any(|e| e.recorded_on > known_on && e.effective < from)
}

/// Reconciles `sub` at `as_of` from `horizon` — one that [`Horizon::holds`], with `read` the
/// documents issued after it and `usage` what was used from its `through` on — or, with
/// `None`, from its whole history (`read` then holds every document and `usage` all of it).
/// `read` pairs each document with its id in the store.
pub fn reconcile_settled(
    ctx: &Context<'_>,
    sub: &Subscription,
    usage: &[UsageRecord],
    horizon: Option<&Horizon>,
    read: Vec<(i64, Document)>,
    as_of: NaiveDate,
) -> Result<Settled, ReconcileError> {
    let through = horizon.map(|h| h.through);
    let last_read = read.iter().map(|(id, _)| *id).max();
    let mut billed: Vec<Document> = horizon.map_or_else(Vec::new, |h| h.carried.clone());
    billed.extend(read.into_iter().map(|(_, d)| d));
    let found = reconcile_from(ctx, sub, usage, &billed, as_of, through)?;
    let next = if found.held_back {
        // Lines wait to be issued: the periods they belong to are not settled.
        horizon.cloned()
    } else {
        next_horizon(ctx, sub, usage, horizon, billed, last_read, as_of)
    };
    Ok(Settled {
        drafts: found.drafts,
        horizon: next,
    })
}

/// The horizon after a run at `as_of` that issued everything it found, given what it
/// compared with (`billed`: the carried lines and the documents read, the last of them
/// `last_read`): the start of the licence period the run's knowledge date falls in, when that
/// day also starts a usage period and no earlier period cut short by a frequency change
/// still runs past it (usage and coupons count within whole licence periods). Otherwise, or when usage learnt after the knowledge date
/// (unseen by this run) is dated before it, the current horizon stays.
fn next_horizon(
    ctx: &Context<'_>,
    sub: &Subscription,
    usage: &[UsageRecord],
    current: Option<&Horizon>,
    billed: Vec<Document>,
    last_read: Option<i64>,
    as_of: NaiveDate,
) -> Option<Horizon> {
    let knowledge = knowledge_date(ctx.settings, sub, as_of);
    let cadence = sub.cadence(knowledge);
    let through = cadence
        .licence_period_containing(knowledge)
        .map(|p| p.start)
        .filter(|t| cadence.usage_period_containing(*t).map(|u| u.start) == Some(*t))
        .filter(|t| cadence.cut_periods_end_by(*t));
    let stays = || current.cloned();
    let Some(through) = through else {
        return stays();
    };
    if current.is_some_and(|h| through < h.through) {
        return stays();
    }
    if usage
        .iter()
        .any(|u| u.recorded_on > knowledge && u.date < through)
        || changed_behind(sub, knowledge, through)
    {
        return stays();
    }
    let after_document = current
        .map(|h| h.after_document)
        .into_iter()
        .chain(last_read)
        .max()
        .unwrap_or(0);
    Some(Horizon {
        through,
        known_on: knowledge,
        after_document,
        carried: billed
            .iter()
            .filter_map(|d| open_part(d, through))
            .map(|mut d| {
                d.buyer = None;
                d.seller = None;
                d.payment = None;
                d
            })
            .collect(),
    })
}

/// `doc` with only its lines of periods ending after `through`; `None` when it has none.
pub(crate) fn open_part(doc: &Document, through: NaiveDate) -> Option<Document> {
    let lines: Vec<_> = doc
        .lines
        .iter()
        .filter(|l| l.key.period().next_start() > through)
        .cloned()
        .collect();
    if lines.is_empty() {
        return None;
    }
    Some(Document {
        lines,
        ..doc.clone()
    })
}
