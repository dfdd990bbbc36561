//! Dunning: what happens, day by day, after a payment fails (seed 004), as a pure state
//! machine.
//!
//! An account's [`Standing`] moves on three inputs, each taking the date: a collection failed
//! ([`Standing::payment_failed`]), a day came ([`Standing::due`]), the balance was settled
//! ([`Standing::settled`]). Each returns the [`Effect`]s the engine must carry out — charges to
//! retry, e-mails, webhook events, the purge of personal data — and the engine writes them to
//! its outbox in the same transaction as the new standing. Running a day twice does nothing
//! the second time: every step remembers it was taken.
//!
//! The default [`Schedule`] is seed 004's: day 0 (renewal) the charge fails and an e-mail
//! goes; +2 retry and e-mail; +4 retry, e-mail and a banner for the owner and admins; +21
//! retry, a suspension warning by e-mail and a banner for every agent; +29 the account is
//! cancelled and only its owner may still sign in, only to pay; 90 days after suspension the
//! personal data is purged (invoices, credit notes and the ledger stay, for legal retention).
//! A payment at any step before the purge reactivates the account.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

/// Where an account stands with its payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = DunningStatus))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Active,
    /// A collection failed; the service runs on while the schedule plays out.
    PastDue,
    /// The service is stopped; paying reactivates it.
    Suspended,
    /// Cancelled for non-payment (seed 004, +29): stopped, the owner may sign in only to pay.
    Cancelled,
    /// Personal data deleted; the account can no longer be reactivated.
    Purged,
}

pub use crate::access::Role;

/// The people of a customer's company, as the seeds name them: who banners and sign-in
/// rights speak of.
pub const ROLES: [Role; 3] = [Role::Owner, Role::Admin, Role::Agent];

impl Status {
    /// The name the API and the store use.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::PastDue => "past_due",
            Status::Suspended => "suspended",
            Status::Cancelled => "cancelled",
            Status::Purged => "purged",
        }
    }
}

/// Who sees a dashboard banner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    OwnerAndAdmins,
    Everyone,
}

impl Audience {
    pub fn includes(self, role: Role) -> bool {
        match self {
            Audience::OwnerAndAdmins => matches!(role, Role::Owner | Role::Admin),
            // The customer's people; the vendor's staff see no customer banner.
            Audience::Everyone => role.is_customer(),
        }
    }
}

/// What a message (e-mail or banner) says; its words are in the templates, per language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    PaymentFailed,
    SuspensionWarning,
    Suspended,
    Cancelled,
    Reactivated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Banner {
    pub audience: Audience,
    pub notice: Notice,
}

/// One step of a schedule, taken `day` days after the first failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub day: u32,
    /// Charge the payment method again.
    #[serde(default)]
    pub retry: bool,
    /// E-mail the billing contacts.
    #[serde(default)]
    pub email: Option<Notice>,
    /// Show a banner from this step on (it replaces the previous one).
    #[serde(default)]
    pub banner: Option<Banner>,
    /// Move the account to this status.
    #[serde(default)]
    pub status: Option<Status>,
}

/// A tenant's dunning schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// In day order; the first is day 0, the failed collection itself.
    pub steps: Vec<Step>,
    /// Days from suspension (or cancellation) to the purge of personal data.
    pub purge_after_days: u32,
}

impl Default for Schedule {
    /// Seed 004.
    fn default() -> Self {
        let banner = |audience, notice| Some(Banner { audience, notice });
        Schedule {
            steps: vec![
                Step {
                    day: 0,
                    retry: false,
                    email: Some(Notice::PaymentFailed),
                    banner: None,
                    status: Some(Status::PastDue),
                },
                Step {
                    day: 2,
                    retry: true,
                    email: Some(Notice::PaymentFailed),
                    banner: None,
                    status: None,
                },
                Step {
                    day: 4,
                    retry: true,
                    email: Some(Notice::PaymentFailed),
                    banner: banner(Audience::OwnerAndAdmins, Notice::PaymentFailed),
                    status: None,
                },
                Step {
                    day: 21,
                    retry: true,
                    email: Some(Notice::SuspensionWarning),
                    banner: banner(Audience::Everyone, Notice::SuspensionWarning),
                    status: None,
                },
                Step {
                    day: 29,
                    retry: false,
                    email: Some(Notice::Cancelled),
                    banner: banner(Audience::OwnerAndAdmins, Notice::Cancelled),
                    status: Some(Status::Cancelled),
                },
            ],
            purge_after_days: 90,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dunning schedule: {0}")]
pub struct ScheduleError(String);

impl Schedule {
    /// A schedule starts on day 0 moving the account past due, its days increase, a retry
    /// is never on day 0 (that is the failed collection itself), and `Active` or `Purged` is
    /// never a step's status (payment and time decide those).
    pub fn validate(&self) -> Result<(), ScheduleError> {
        let first = self
            .steps
            .first()
            .ok_or_else(|| ScheduleError("needs at least the day-0 step".into()))?;
        if first.day != 0 || first.retry || first.status != Some(Status::PastDue) {
            return Err(ScheduleError(
                "the first step is day 0, without retry, with status past_due".into(),
            ));
        }
        for pair in self.steps.windows(2) {
            if pair[1].day <= pair[0].day {
                return Err(ScheduleError(format!(
                    "step days must increase ({} then {})",
                    pair[0].day, pair[1].day
                )));
            }
        }
        if self
            .steps
            .iter()
            .any(|s| matches!(s.status, Some(Status::Active | Status::Purged)))
        {
            return Err(ScheduleError(
                "a step may move to past_due, suspended or cancelled only".into(),
            ));
        }
        if self.steps.len() > 50 || self.purge_after_days > 3650 {
            return Err(ScheduleError("at most 50 steps and 3650 days".into()));
        }
        Ok(())
    }
}

/// What the engine must do after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Effect {
    /// Try to collect the balance again.
    Retry,
    /// E-mail the account's billing contacts.
    Email { notice: Notice },
    /// Tell the tenant's webhook endpoints (`account.past_due`, …).
    Event { topic: &'static str },
    /// End the account's subscriptions on this day (cancellation for non-payment): the unused
    /// part of a prepaid period is credited by the usual reconciliation.
    EndSubscriptions,
    /// Delete the account's personal data.
    Purge,
    /// Remind the billing contacts of an account paying by transfer that invoices
    /// are past due, with the amount and the bank details to pay to ([`crate::overdue`]).
    Remind,
}

/// An account's standing. `Active` with no case is where every account starts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Standing {
    pub status: Status,
    /// The day of the failure that opened the current case.
    #[serde(default)]
    pub since: Option<NaiveDate>,
    /// Steps of the schedule already taken in the current case.
    #[serde(default)]
    pub steps_done: usize,
    #[serde(default)]
    pub banner: Option<Banner>,
    /// When the service was stopped (suspension or cancellation).
    #[serde(default)]
    pub suspended_on: Option<NaiveDate>,
    /// Invoices of an account paying by transfer that are not yet past due: the
    /// collection pass looks the day after each due date whether it was paid
    /// ([`crate::overdue`]). Kept when a case closes: they are not paid by closing it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub awaiting: Vec<crate::overdue::Awaited>,
    /// The invoices found past due and unpaid in the current case (their numbers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overdue: Vec<String>,
    /// Overdue reminders already sent in the current case (the tenant's reminder days).
    #[serde(default)]
    pub reminders_sent: usize,
    /// The day the next overdue reminder is due, if one is left.
    #[serde(default)]
    pub next_reminder: Option<NaiveDate>,
}

/// How a person may use the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Full,
    /// Sign in to update the payment method and pay, nothing else.
    PayOnly,
    None,
}

fn event_of(status: Status) -> Option<&'static str> {
    match status {
        Status::PastDue => Some("account.past_due"),
        Status::Suspended => Some("account.suspended"),
        Status::Cancelled => Some("account.cancelled"),
        Status::Active | Status::Purged => None,
    }
}

impl Standing {
    /// Whether the account is in a dunning case that a payment would close.
    pub fn in_dunning(&self) -> bool {
        matches!(
            self.status,
            Status::PastDue | Status::Suspended | Status::Cancelled
        )
    }

    /// The next day [`Standing::due`] (or, for an account paying by transfer,
    /// [`Standing::overdue_day`]) has something to do, if any.
    pub fn next_due(&self, schedule: &Schedule) -> Option<NaiveDate> {
        let watch = self
            .awaiting
            .iter()
            .filter_map(|a| a.due_on.checked_add_days(Days::new(1)))
            .min();
        let reminder = self.next_reminder.filter(|_| self.in_dunning());
        self.case_next_due(schedule)
            .into_iter()
            .chain(watch)
            .chain(reminder)
            .min()
    }

    fn case_next_due(&self, schedule: &Schedule) -> Option<NaiveDate> {
        if let Some(since) = self.since.filter(|_| self.in_dunning()) {
            if let Some(step) = schedule.steps.get(self.steps_done) {
                return since.checked_add_days(Days::new(step.day.into()));
            }
        }
        if self.status != Status::Purged {
            if let Some(s) = self.suspended_on {
                return s.checked_add_days(Days::new(schedule.purge_after_days.into()));
            }
        }
        None
    }

    /// A collection failed on `on`. Opens a case (taking the day-0 step) unless one is open:
    /// a failed retry inside a case changes nothing, the schedule's next step is already set.
    pub fn payment_failed(&mut self, on: NaiveDate, schedule: &Schedule) -> Vec<Effect> {
        if self.in_dunning() || self.status == Status::Purged {
            return Vec::new();
        }
        self.since = Some(on);
        self.steps_done = 0;
        self.banner = None;
        self.due(on, schedule)
    }

    /// Takes every step due on or before `on`. Steps missed (a worker down for days, a
    /// sandbox clock moved far) are taken together: the status and banner of the last, one
    /// retry and one e-mail (the last step's) rather than a burst of stale ones.
    pub fn due(&mut self, on: NaiveDate, schedule: &Schedule) -> Vec<Effect> {
        let mut effects = Vec::new();
        // `since` is set from the failure that opens a case until a payment closes it; a
        // purged account keeps it but takes no more steps.
        if let Some(since) = self.since.filter(|_| self.status != Status::Purged) {
            let mut retry = false;
            let mut email = None;
            while let Some(step) = schedule.steps.get(self.steps_done) {
                if since
                    .checked_add_days(Days::new(step.day.into()))
                    .is_none_or(|d| d > on)
                {
                    break;
                }
                self.steps_done += 1;
                retry |= step.retry;
                email = step.email.or(email);
                if step.banner.is_some() {
                    self.banner = step.banner;
                }
                if let Some(status) = step.status.filter(|s| *s != self.status) {
                    self.status = status;
                    if matches!(status, Status::Suspended | Status::Cancelled) {
                        self.suspended_on.get_or_insert(on);
                    }
                    effects.extend(event_of(status).map(|topic| Effect::Event { topic }));
                    if status == Status::Cancelled {
                        effects.push(Effect::EndSubscriptions);
                    }
                }
            }
            if retry {
                effects.push(Effect::Retry);
            }
            effects.extend(email.map(|notice| Effect::Email { notice }));
        }
        if self.status != Status::Purged {
            if let Some(purge_on) = self
                .suspended_on
                .and_then(|s| s.checked_add_days(Days::new(schedule.purge_after_days.into())))
            {
                if purge_on <= on && matches!(self.status, Status::Suspended | Status::Cancelled) {
                    self.status = Status::Purged;
                    self.banner = None;
                    effects.push(Effect::Purge);
                }
            }
        }
        effects
    }

    /// The balance was settled (a payment brought it to zero or below). Closes the case and
    /// reactivates the account, unless its data was purged (seed 004: it can no longer be
    /// reactivated; the payment is kept in the ledger all the same).
    pub fn settled(&mut self) -> Vec<Effect> {
        if !self.in_dunning() {
            return Vec::new();
        }
        *self = Standing {
            awaiting: std::mem::take(&mut self.awaiting),
            ..Standing::default()
        };
        vec![
            Effect::Event {
                topic: "account.reactivated",
            },
            Effect::Email {
                notice: Notice::Reactivated,
            },
        ]
    }

    /// The payment method changed: seed 004 retries it in the next batch.
    pub fn method_updated(&self) -> Vec<Effect> {
        if self.in_dunning() {
            vec![Effect::Retry]
        } else {
            Vec::new()
        }
    }

    /// May `role` sign in, and to do what.
    pub fn access(&self, role: Role) -> Access {
        match self.status {
            Status::Active | Status::PastDue => Access::Full,
            Status::Suspended | Status::Cancelled if role == Role::Owner => Access::PayOnly,
            Status::Suspended | Status::Cancelled | Status::Purged => Access::None,
        }
    }

    /// The banner `role` sees on the dashboard, if any.
    pub fn banner_for(&self, role: Role) -> Option<Notice> {
        self.banner
            .filter(|b| b.audience.includes(role))
            .map(|b| b.notice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default() + Days::new(day.into())
    }

    fn emails(effects: &[Effect]) -> Vec<Notice> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Email { notice } => Some(*notice),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_seed_schedule_day_by_day() {
        let schedule = Schedule::default();
        assert_eq!(schedule.validate(), Ok(()));
        let mut s = Standing::default();
        let e = s.payment_failed(d(0), &schedule);
        assert_eq!(s.status, Status::PastDue);
        assert_eq!(emails(&e), [Notice::PaymentFailed]);
        assert!(e.contains(&Effect::Event {
            topic: "account.past_due"
        }));
        assert!(
            !e.contains(&Effect::Retry),
            "day 0 is the failed charge itself"
        );
        assert_eq!(s.next_due(&schedule), Some(d(2)));
        // A failed retry inside the case does not restart it.
        assert!(s.payment_failed(d(1), &schedule).is_empty());
        assert!(s.due(d(1), &schedule).is_empty());
        let e = s.due(d(2), &schedule);
        assert_eq!(
            e,
            [
                Effect::Retry,
                Effect::Email {
                    notice: Notice::PaymentFailed
                }
            ]
        );
        assert!(
            s.due(d(2), &schedule).is_empty(),
            "a day taken twice does nothing"
        );
        s.due(d(4), &schedule);
        assert_eq!(s.banner_for(Role::Admin), Some(Notice::PaymentFailed));
        assert_eq!(s.banner_for(Role::Agent), None);
        let e = s.due(d(21), &schedule);
        assert_eq!(emails(&e), [Notice::SuspensionWarning]);
        assert_eq!(s.banner_for(Role::Agent), Some(Notice::SuspensionWarning));
        assert_eq!(s.access(Role::Agent), Access::Full);
        let e = s.due(d(29), &schedule);
        assert_eq!(s.status, Status::Cancelled);
        assert!(e.contains(&Effect::Event {
            topic: "account.cancelled"
        }));
        assert!(e.contains(&Effect::EndSubscriptions));
        assert_eq!(s.access(Role::Owner), Access::PayOnly);
        assert_eq!(s.access(Role::Admin), Access::None);
        assert_eq!(s.suspended_on, Some(d(29)));
        assert_eq!(s.next_due(&schedule), Some(d(119)));
        assert!(s.due(d(118), &schedule).is_empty());
        assert_eq!(s.due(d(119), &schedule), [Effect::Purge]);
        assert_eq!(s.status, Status::Purged);
        assert_eq!(s.access(Role::Owner), Access::None);
        assert!(s.settled().is_empty(), "a purged account cannot come back");
        assert_eq!(s.next_due(&schedule), None);
    }

    #[test]
    fn missed_steps_are_taken_together_with_one_retry_and_the_last_email() {
        let schedule = Schedule::default();
        let mut s = Standing::default();
        s.payment_failed(d(0), &schedule);
        let e = s.due(d(25), &schedule);
        assert_eq!(
            e,
            [
                Effect::Retry,
                Effect::Email {
                    notice: Notice::SuspensionWarning
                }
            ]
        );
        assert_eq!(s.steps_done, 4);
    }

    #[test]
    fn payment_reactivates_at_any_step_and_a_new_failure_starts_over() {
        let schedule = Schedule::default();
        for day in [0, 10, 25, 60] {
            let mut s = Standing::default();
            s.payment_failed(d(0), &schedule);
            s.due(d(day), &schedule);
            let e = s.settled();
            assert_eq!(s, Standing::default(), "day {day}");
            assert!(emails(&e).contains(&Notice::Reactivated));
            assert!(s.settled().is_empty());
            s.payment_failed(d(day + 40), &schedule);
            assert_eq!(s.since, Some(d(day + 40)));
            assert_eq!(s.next_due(&schedule), Some(d(day + 42)));
        }
        let mut s = Standing::default();
        assert!(s.method_updated().is_empty());
        s.payment_failed(d(0), &schedule);
        assert_eq!(s.method_updated(), [Effect::Retry]);
    }

    #[test]
    fn names_are_serde_names() {
        for s in [
            Status::Active,
            Status::PastDue,
            Status::Suspended,
            Status::Cancelled,
            Status::Purged,
        ] {
            assert_eq!(
                serde_json::to_value(s).ok(),
                Some(serde_json::Value::from(s.as_str()))
            );
        }
        for r in ROLES {
            assert_eq!(
                serde_json::to_value(r).ok(),
                Some(serde_json::Value::from(r.as_str()))
            );
        }
    }

    #[test]
    fn schedules_are_checked() {
        let mut bad = Schedule::default();
        bad.steps[2].day = 1;
        assert!(bad.validate().is_err());
        let mut bad = Schedule::default();
        bad.steps[0].retry = true;
        assert!(bad.validate().is_err());
        let mut bad = Schedule::default();
        bad.steps[3].status = Some(Status::Active);
        assert!(bad.validate().is_err());
        // A tenant that suspends at +21 before cancelling at +29.
        let mut s2 = Schedule::default();
        s2.steps[3].status = Some(Status::Suspended);
        assert_eq!(s2.validate(), Ok(()));
        let mut s = Standing::default();
        s.payment_failed(d(0), &s2);
        let e = s.due(d(21), &s2);
        assert!(e.contains(&Effect::Event {
            topic: "account.suspended"
        }));
        assert!(e.contains(&Effect::Retry));
        s.due(d(29), &s2);
        assert_eq!(s.status, Status::Cancelled);
        assert_eq!(
            s.suspended_on,
            Some(d(21)),
            "the purge counts from the suspension"
        );
    }
}
