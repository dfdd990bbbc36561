//! The back office (seed 000's billing team and account managers, the tenant's admins):
//! the queues of tickets and a ticket's work ([`queue`], [`ticket`]), the account search and
//! the account page with the billing team's actions ([`accounts`]).
//!
//! Served by the same application as the portal, under `/portal/{tenant}/staff`, with the
//! same sessions, CSRF and headers; a customer's session is refused here
//! ([`crate::ctx::Staff`]) and every action asks the core's policy
//! ([`prorata_core::access::staff_may`]).

pub mod accounts;
pub mod queue;
pub mod second_factor;
pub mod settings;
pub mod ticket;

use prorata_core::tickets::{Queue, Status};
use prorata_store::User;

use crate::i18n::Messages;

pub fn status_label(t: &Messages, s: Status) -> String {
    t.get(match s {
        Status::New => "ticket_status.new",
        Status::Open => "ticket_status.open",
        Status::PendingCustomer => "ticket_status.pending_customer",
        Status::Solved => "ticket_status.solved",
        Status::Closed => "ticket_status.closed",
    })
    .to_string()
}

pub fn queue_label(t: &Messages, q: Queue) -> String {
    t.get(match q {
        Queue::BillingTeam => "queue_name.billing_team",
        Queue::AccountManagement => "queue_name.account_management",
    })
    .to_string()
}

/// A staff member's name, or "—" when none (or no longer found).
pub fn staff_name(staff: &[User], id: Option<i64>) -> String {
    id.and_then(|id| staff.iter().find(|u| u.id == id))
        .map_or_else(|| "—".to_string(), |u| u.name.clone())
}

/// The time from one stored timestamp to another, in whole minutes, hours or days.
pub fn elapsed(t: &Messages, from: &str, to: Option<&str>) -> String {
    let (Some(to), Ok(from)) = (to, chrono::DateTime::parse_from_rfc3339(from)) else {
        return "—".to_string();
    };
    let Ok(to) = chrono::DateTime::parse_from_rfc3339(to) else {
        return "—".to_string();
    };
    let minutes = (to - from).num_minutes().max(0);
    if minutes < 60 {
        t.fmt1("staff.minutes", "n", minutes)
    } else if minutes < 48 * 60 {
        t.fmt1("staff.hours", "n", minutes / 60)
    } else {
        t.fmt1("staff.days", "n", minutes / (24 * 60))
    }
}
