//! The queues: the billing team's, account management's, one's own, or all; the oldest
//! waiting first, with the first-response and resolution times.

use std::collections::HashMap;

use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use prorata_core::access::{Action, Role};
use prorata_core::tickets::{Queue, Status};
use prorata_store::QueueFilter;

use super::{elapsed, queue_label, staff_name, status_label};
use crate::ctx::Staff;
use crate::format::timestamp;
use crate::pages::{engine_error, flash, render, Chrome};

/// Tickets on one page of a queue.
const PAGE: i64 = 50;

pub struct Choice {
    pub value: &'static str,
    pub label: String,
    pub current: bool,
}

pub struct Line {
    pub id: i64,
    pub subject: String,
    pub account_id: i64,
    pub account: String,
    pub reason: String,
    pub status: String,
    pub status_code: &'static str,
    pub waiting_since: String,
    pub first_response: String,
    pub resolution: String,
    pub assignee: String,
}

#[derive(Template)]
#[template(path = "staff_queue.html")]
pub struct QueuePage {
    pub chrome: Chrome,
    pub queues: Vec<Choice>,
    pub statuses: Vec<Choice>,
    pub lines: Vec<Line>,
    /// The link to the next page, with the same filters.
    pub next: Option<String>,
}

/// Which tickets a queue holds: `billing_team`, `account_management`, `mine` (assigned to
/// the viewer) or `all`.
fn queue_filter(queue: &str, me: i64) -> QueueFilter {
    let mut f = QueueFilter::default();
    match queue {
        "billing_team" => f.queue = Some(Queue::BillingTeam),
        "account_management" => f.queue = Some(Queue::AccountManagement),
        "mine" => f.assignee_id = Some(me),
        _ => {}
    }
    f
}

/// The statuses a filter shows: those still waiting on someone (the default), or one.
fn statuses(filter: &str) -> Vec<Status> {
    match filter {
        "all" => Vec::new(),
        other => Status::parse(other).map_or_else(
            || vec![Status::New, Status::Open, Status::PendingCustomer],
            |s| vec![s],
        ),
    }
}

/// The queue one sees first: the billing team theirs, an account manager their own.
fn default_queue(role: Role) -> &'static str {
    match role {
        Role::BillingTeam => "billing_team",
        Role::AccountManager => "mine",
        _ => "all",
    }
}

pub async fn show(s: Staff, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(r) = s.allow(Action::ViewTickets) {
        return r;
    }
    let t = &s.portal.t;
    let queue = q
        .get("queue")
        .map(String::as_str)
        .filter(|v| ["billing_team", "account_management", "mine", "all"].contains(v))
        .unwrap_or(default_queue(s.user.role));
    let status = q
        .get("status")
        .map(String::as_str)
        .filter(|v| *v == "all" || Status::parse(v).is_some())
        .unwrap_or("waiting");
    let mut filter = queue_filter(queue, s.user.id);
    filter.statuses = statuses(status);
    let after = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
    let view = match s
        .portal
        .engine()
        .queue_view(&s.portal.tenant, &filter, after, PAGE)
        .await
    {
        Ok(v) => v,
        Err(e) => return engine_error(&s.portal, e),
    };
    let reasons = &s.portal.tenant.settings.tickets;
    let lines = view
        .page
        .items
        .iter()
        .map(|r| Line {
            id: r.id,
            subject: r.subject.clone(),
            account_id: r.account_id,
            account: view
                .accounts
                .get(&r.account_id)
                .cloned()
                .unwrap_or_default(),
            reason: reasons
                .reason(&r.reason)
                .map_or_else(|| r.reason.clone(), |x| x.label.get(t.lang).to_string()),
            status: status_label(t, r.status),
            status_code: r.status.as_str(),
            waiting_since: timestamp(t.lang, &r.created_at),
            first_response: elapsed(t, &r.created_at, r.first_response_at.as_deref()),
            resolution: elapsed(t, &r.created_at, r.solved_at.as_deref()),
            assignee: staff_name(&view.staff, r.assignee_id),
        })
        .collect();
    let queues = [
        ("billing_team", queue_label(t, Queue::BillingTeam)),
        (
            "account_management",
            queue_label(t, Queue::AccountManagement),
        ),
        ("mine", t.get("queue_name.mine").to_string()),
        ("all", t.get("queue_name.all").to_string()),
    ]
    .into_iter()
    .map(|(value, label)| Choice {
        value,
        label,
        current: value == queue,
    })
    .collect();
    let statuses = [
        ("waiting", t.get("staff.waiting").to_string()),
        ("solved", status_label(t, Status::Solved)),
        ("closed", status_label(t, Status::Closed)),
        ("all", t.get("staff.all_statuses").to_string()),
    ]
    .into_iter()
    .map(|(value, label)| Choice {
        value,
        label,
        current: value == status,
    })
    .collect();
    let next = view.page.next.map(|n| {
        format!(
            "{}/staff?queue={queue}&status={status}&after={n}",
            s.portal.base
        )
    });
    render(
        StatusCode::OK,
        &QueuePage {
            chrome: Chrome::staff(&s, "staff", flash(&q)),
            queues,
            statuses,
            lines,
            next,
        },
    )
}
