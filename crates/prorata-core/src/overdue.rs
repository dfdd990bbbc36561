//! Overdue is overdue, whatever the payment method: an invoice unpaid at its due date
//! (`Document::due_on`, the seller's payment terms) is past due, and an account paying by
//! bank transfer is reminded and then dunned on the same schedule as a failed card (seed
//! 004). An account with no method is not: it has not said how it pays (docs/payments.md).
//!
//! A card, SEPA or ACH account enters dunning when its charge fails; a transfer payer has no
//! charge to fail, so its case opens on the invoice's **due date**: that is the day the money
//! should have arrived, as the failed charge is the day it should have been collected. The
//! schedule's days therefore count from the due date, and a transfer payer gets the same
//! number of days as a card payer between "should have paid" and suspension or cancellation.
//!
//! What differs from a card: there is nothing to retry, so the schedule's retries are
//! dropped; and instead of the schedule's "your payment failed" e-mails the account gets the
//! tenant's reminders ([`crate::payment::CollectionSettings::reminder_days`], days after the
//! due date), which name the invoices, the amount and the bank details to pay to. The other
//! notices (suspension warning, suspension, cancellation, reactivation) are the card's.
//!
//! Which invoices are unpaid: an account has one balance, and a payment settles the oldest
//! invoices first, so what is owed is owed on the newest ones. The amount past due is the
//! balance less what is owed on invoices not yet due.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::dunning::{Effect, Notice, Schedule, Standing, Status};

/// An invoice of an account paying by transfer, waiting for its due date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AwaitedInvoice))]
pub struct Awaited {
    pub number: String,
    /// What the invoice asked for, in minor units.
    pub total: i64,
    pub due_on: NaiveDate,
}

impl Standing {
    /// An invoice was issued to an account paying by transfer: look on the day
    /// after `due_on` whether it was paid. Invoices of nothing or less are not awaited.
    pub fn invoice_awaited(&mut self, number: &str, total: i64, due_on: NaiveDate) {
        if total <= 0 || self.awaiting.iter().any(|a| a.number == number) {
            return;
        }
        self.awaiting.push(Awaited {
            number: number.to_string(),
            total,
            due_on,
        });
        self.awaiting.sort_by_key(|a| a.due_on);
    }

    /// Of `balance`, what is past due: the rest is owed on invoices not yet due.
    pub fn past_due_amount(&self, balance: i64) -> i64 {
        let not_yet_due: i64 = self.awaiting.iter().map(|a| a.total).sum();
        balance.saturating_sub(not_yet_due).max(0)
    }

    /// The day `on` of an account paying by transfer, which owes `balance` (minor
    /// units, its ledger's sum). Invoices past due while the balance still owes on them open
    /// a case from the oldest one's due date (or join the case open); then the schedule's
    /// steps due are taken, without its retries and its "payment failed" e-mails, and the
    /// tenant's reminder due, if any. Taking the same day twice does nothing the second time.
    pub fn overdue_day(
        &mut self,
        on: NaiveDate,
        balance: i64,
        schedule: &Schedule,
        reminder_days: &[u32],
    ) -> Vec<Effect> {
        if self.status == Status::Purged {
            self.awaiting.clear();
            return self.due(on, schedule);
        }
        let (past, waiting): (Vec<Awaited>, Vec<Awaited>) = std::mem::take(&mut self.awaiting)
            .into_iter()
            .partition(|a| a.due_on < on);
        self.awaiting = waiting;
        let unpaid = unpaid_newest_first(&past, self.past_due_amount(balance));
        if let Some(oldest) = unpaid.last() {
            if !self.in_dunning() {
                self.since = Some(oldest.due_on);
                self.steps_done = 0;
                self.banner = None;
                self.overdue.clear();
                self.reminders_sent = 0;
            }
            for a in unpaid.iter().rev() {
                if !self.overdue.contains(&a.number) {
                    self.overdue.push(a.number.clone());
                }
            }
        }
        let mut effects = self.due(on, schedule);
        effects.retain(|e| {
            !matches!(
                e,
                Effect::Retry
                    | Effect::Email {
                        notice: Notice::PaymentFailed
                    }
            )
        });
        if let Some(since) = self.since.filter(|_| self.in_dunning()) {
            let day = |d: &u32| since.checked_add_days(Days::new((*d).into()));
            let reached = reminder_days
                .iter()
                .filter(|d| day(d).is_some_and(|r| r <= on))
                .count();
            // Reminders missed (a clock moved far) are one reminder, as missed steps are.
            if reached > self.reminders_sent {
                self.reminders_sent = reached;
                effects.push(Effect::Remind);
            }
            self.next_reminder = reminder_days.get(self.reminders_sent).and_then(day);
        } else {
            self.next_reminder = None;
        }
        effects
    }
}

/// The past-due invoices (oldest first) on which `owed` is still owed, newest first: payments
/// settle the oldest invoices first.
fn unpaid_newest_first(past: &[Awaited], owed: i64) -> Vec<&Awaited> {
    let mut left = owed;
    let mut unpaid = Vec::new();
    for a in past.iter().rev() {
        if left <= 0 {
            break;
        }
        unpaid.push(a);
        left = left.saturating_sub(a.total);
    }
    unpaid
}

/// The reminder days a tenant starts with: the day after the due date, a week and two weeks
/// after, all before seed 004's suspension warning at +21.
pub fn default_reminder_days() -> Vec<u32> {
    vec![1, 7, 14]
}

/// Reminder days are increasing, at least one day after the due date and within a year.
pub fn check_reminder_days(days: &[u32]) -> Result<(), String> {
    if days.len() > 10 {
        return Err("at most 10 reminders".into());
    }
    if days.first().is_some_and(|d| *d == 0) {
        return Err("a reminder comes at least one day after the due date".into());
    }
    if days.windows(2).any(|w| w[1] <= w[0]) || days.last().is_some_and(|d| *d > 365) {
        return Err("days must increase, up to 365".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dunning::Banner;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default() + Days::new(day.into())
    }

    /// Seed 004 with a suspension at +21, as a tenant may set it.
    fn suspending() -> Schedule {
        let mut s = Schedule::default();
        s.steps[3].status = Some(Status::Suspended);
        s
    }

    fn awaiting(number: &str, total: i64, due: u32) -> Standing {
        let mut s = Standing::default();
        s.invoice_awaited(number, total, d(due));
        s
    }

    #[test]
    fn an_invoice_unpaid_at_its_due_date_is_reminded_then_dunned_from_that_date() {
        let (schedule, days) = (suspending(), default_reminder_days());
        let mut s = awaiting("F-1", 10_000, 0);
        assert_eq!(s.next_due(&schedule), Some(d(1)), "looked at the day after");
        assert!(s.overdue_day(d(0), 10_000, &schedule, &days).is_empty());
        assert_eq!(s.status, Status::Active, "not past due on its due date");
        let e = s.overdue_day(d(1), 10_000, &schedule, &days);
        assert_eq!(s.status, Status::PastDue);
        assert_eq!(s.since, Some(d(0)), "the case counts from the due date");
        assert_eq!(s.overdue, ["F-1"]);
        assert_eq!(
            e,
            [
                Effect::Event {
                    topic: "account.past_due"
                },
                Effect::Remind
            ],
            "the reminder, not the card's e-mail"
        );
        assert!(s.awaiting.is_empty());
        assert_eq!(s.next_due(&schedule), Some(d(2)));
        assert!(
            s.overdue_day(d(1), 10_000, &schedule, &days).is_empty(),
            "a day taken twice does nothing"
        );
        assert!(
            s.overdue_day(d(2), 10_000, &schedule, &days).is_empty(),
            "no retry, no e-mail: nothing to charge"
        );
        let e = s.overdue_day(d(4), 10_000, &schedule, &days);
        assert!(e.is_empty());
        assert_eq!(
            s.banner,
            Some(Banner {
                audience: crate::dunning::Audience::OwnerAndAdmins,
                notice: Notice::PaymentFailed
            })
        );
        assert_eq!(s.next_due(&schedule), Some(d(7)), "the second reminder");
        assert_eq!(
            s.overdue_day(d(7), 10_000, &schedule, &days),
            [Effect::Remind]
        );
        assert_eq!(
            s.overdue_day(d(14), 10_000, &schedule, &days),
            [Effect::Remind]
        );
        assert_eq!(s.next_due(&schedule), Some(d(21)));
        let e = s.overdue_day(d(21), 10_000, &schedule, &days);
        assert!(e.contains(&Effect::Event {
            topic: "account.suspended"
        }));
        assert!(e.contains(&Effect::Email {
            notice: Notice::SuspensionWarning
        }));
        assert!(!e.contains(&Effect::Retry));
        assert_eq!(s.status, Status::Suspended);
        s.overdue_day(d(29), 10_000, &schedule, &days);
        assert_eq!(s.status, Status::Cancelled);
        assert_eq!(s.reminders_sent, 3);
        // Paying closes the case as for a card.
        assert!(!s.settled().is_empty());
        assert_eq!(s, Standing::default());
    }

    #[test]
    fn an_invoice_paid_in_time_is_never_reminded() {
        let (schedule, days) = (suspending(), default_reminder_days());
        let mut s = awaiting("F-1", 10_000, 0);
        assert!(s.overdue_day(d(1), 0, &schedule, &days).is_empty());
        assert_eq!(s, Standing::default());
        assert_eq!(s.next_due(&schedule), None, "nothing more to look at");
        // Overpaid (a credit) is paid too.
        let mut s = awaiting("F-1", 10_000, 0);
        assert!(s.overdue_day(d(1), -500, &schedule, &days).is_empty());
        assert_eq!(s.status, Status::Active);
    }

    #[test]
    fn what_is_owed_is_owed_on_the_newest_invoices() {
        let (schedule, days) = (suspending(), default_reminder_days());
        // F-1 (due day 0) paid, F-2 (due day 30) not yet due: the balance is F-2's.
        let mut s = awaiting("F-1", 10_000, 0);
        s.invoice_awaited("F-2", 4_000, d(30));
        assert!(s.overdue_day(d(1), 4_000, &schedule, &days).is_empty());
        assert_eq!(s.status, Status::Active);
        assert_eq!(s.next_due(&schedule), Some(d(31)));
        // Part of F-1 paid: F-1 is past due, F-2 not yet.
        let mut s = awaiting("F-1", 10_000, 0);
        s.invoice_awaited("F-2", 4_000, d(30));
        s.overdue_day(d(1), 7_000, &schedule, &days);
        assert_eq!(s.status, Status::PastDue);
        assert_eq!(s.overdue, ["F-1"]);
        assert_eq!(
            s.past_due_amount(7_000),
            3_000,
            "F-2's 4,000 is not yet due"
        );
        // F-2 unpaid at its date joins the open case, which keeps its start.
        s.overdue_day(d(31), 7_000, &schedule, &days);
        assert_eq!(s.overdue, ["F-1", "F-2"]);
        assert_eq!(s.since, Some(d(0)));
        // The same invoice issued twice (a replayed event) is awaited once.
        let mut s = awaiting("F-1", 10_000, 0);
        s.invoice_awaited("F-1", 10_000, d(0));
        s.invoice_awaited("F-0", 0, d(0));
        assert_eq!(s.awaiting.len(), 1);
    }

    #[test]
    fn missed_days_are_one_reminder_and_the_case_keeps_its_start() {
        let (schedule, days) = (suspending(), default_reminder_days());
        let mut s = awaiting("F-1", 10_000, 0);
        let e = s.overdue_day(d(15), 10_000, &schedule, &days);
        assert_eq!(e.iter().filter(|e| **e == Effect::Remind).count(), 1);
        assert_eq!(s.reminders_sent, 3);
        assert_eq!(s.next_reminder, None);
        assert_eq!(s.since, Some(d(0)));
        assert_eq!(s.next_due(&schedule), Some(d(21)));
    }

    #[test]
    fn a_closed_case_keeps_the_invoices_still_awaited() {
        let (schedule, days) = (suspending(), default_reminder_days());
        let mut s = awaiting("F-1", 10_000, 0);
        s.overdue_day(d(1), 10_000, &schedule, &days);
        s.invoice_awaited("F-2", 3_000, d(30));
        s.settled();
        assert_eq!(s.status, Status::Active);
        assert_eq!(s.awaiting.len(), 1);
        assert_eq!(s.next_due(&schedule), Some(d(31)));
        // A new case after a payment sends the reminders again, from the new date.
        s.overdue_day(d(31), 3_000, &schedule, &days);
        assert_eq!(s.since, Some(d(30)));
        assert_eq!(s.overdue, ["F-2"]);
        assert_eq!(s.reminders_sent, 1);
    }

    #[test]
    fn reminder_days_are_checked() {
        assert_eq!(check_reminder_days(&default_reminder_days()), Ok(()));
        assert_eq!(check_reminder_days(&[]), Ok(()));
        assert!(check_reminder_days(&[0, 3]).is_err());
        assert!(check_reminder_days(&[3, 3]).is_err());
        assert!(check_reminder_days(&[400]).is_err());
    }
}
