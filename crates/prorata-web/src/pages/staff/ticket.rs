//! A ticket as the staff work it: the whole thread with internal notes, the reply form (a
//! reply to the customer or an internal note, with files), the status, the assignment.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Multipart, Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use prorata_core::access::Action;
use prorata_core::tickets::{Author, Queue, Status};
use prorata_engine::tickets::TicketView;
use prorata_engine::EngineError;
use prorata_store::ChangeRequestStatus;
use serde::Deserialize;

use super::{queue_label, staff_name, status_label};
use crate::ctx::Staff;
use crate::format::timestamp;
use crate::pages::auth::FieldError;
use crate::pages::support::{files_of, problem_error, read_form, MessageLine};
use crate::pages::{attachment, engine_error, error_page, flash, render, Chrome};

pub struct Pick {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "staff_ticket.html")]
pub struct StaffTicketPage {
    pub chrome: Chrome,
    pub id: i64,
    pub subject: String,
    pub account_id: i64,
    pub account: String,
    pub reason: String,
    pub status: String,
    pub status_code: &'static str,
    pub queue: String,
    pub assignee: String,
    pub opened: String,
    pub messages: Vec<MessageLine>,
    pub may_answer: bool,
    pub statuses: Vec<Pick>,
    pub queues: Vec<Pick>,
    pub assignees: Vec<Pick>,
    pub body: String,
    pub errors: Vec<FieldError>,
    /// The billing team may record a transfer the customer proved here (seed 004).
    pub may_record_transfer: bool,
    /// A pending change request this ticket carries, for its decider (its id; the ticket's
    /// first message says what it changes).
    pub change_request: Option<i64>,
    /// A tenant admin may apply it past the notice deadline, with a written reason.
    pub may_override: bool,
}

async fn page(
    s: &Staff,
    view: TicketView,
    flash_key: Option<&str>,
    body: String,
    errors: Vec<FieldError>,
) -> Response {
    let t = &s.portal.t;
    let engine = s.portal.engine();
    let tenant = &s.portal.tenant;
    let row = &view.ticket;
    let (account, customers, staff) = match (
        engine.account(tenant, row.account_id).await,
        engine.account_users(tenant, row.account_id).await,
        engine.staff_users(tenant).await,
    ) {
        (Ok(a), Ok(c), Ok(st)) => (a, c, st),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return engine_error(&s.portal, e),
    };
    let base = format!("{}/staff/tickets/{}", s.portal.base, row.id);
    let messages = view
        .messages
        .iter()
        .map(|m| MessageLine {
            who: match m.author {
                Author::Staff if m.author_id.is_none() => t.get("staff.api").to_string(),
                Author::Staff => staff_name(&staff, m.author_id),
                Author::Customer => customers
                    .iter()
                    .find(|u| Some(u.id) == m.author_id)
                    .map_or_else(|| account.name.clone(), |u| u.name.clone()),
            },
            from_staff: m.author == Author::Staff,
            internal: m.internal,
            when: timestamp(t.lang, &m.created_at),
            body: m.body.clone(),
            files: files_of(&view, m.id, &base),
        })
        .collect();
    let statuses = [
        Status::Open,
        Status::PendingCustomer,
        Status::Solved,
        Status::Closed,
    ]
    .into_iter()
    .map(|st| Pick {
        value: st.as_str().to_string(),
        label: status_label(t, st),
        selected: st == row.status,
    })
    .collect();
    let queues = Queue::ALL
        .into_iter()
        .map(|q| Pick {
            value: q.as_str().to_string(),
            label: queue_label(t, q),
            selected: q == row.queue,
        })
        .collect();
    let assignees = std::iter::once(Pick {
        value: String::new(),
        label: t.get("staff.nobody").to_string(),
        selected: row.assignee_id.is_none(),
    })
    .chain(staff.iter().map(|u| Pick {
        value: u.id.to_string(),
        label: format!(
            "{} ({})",
            u.name,
            t.get(&format!("role.{}", u.role.as_str()))
        ),
        selected: Some(u.id) == row.assignee_id,
    }))
    .collect();
    // The change request it carries, while it waits for a decision.
    let change_request = match row.change_request_id {
        Some(cr) if s.may(Action::DecideChangeRequest) => {
            match engine
                .change_requests(
                    tenant,
                    Some(ChangeRequestStatus::Pending),
                    Some(row.account_id),
                )
                .await
            {
                Ok(list) => list.into_iter().find(|c| c.id == cr).map(|c| c.id),
                Err(e) => return engine_error(&s.portal, e),
            }
        }
        _ => None,
    };
    let reason = s
        .portal
        .tenant
        .settings
        .tickets
        .reason(&row.reason)
        .map_or_else(|| row.reason.clone(), |r| r.label.get(t.lang).to_string());
    let mut chrome = Chrome::staff(s, "staff", flash_key);
    chrome.title = row.subject.clone();
    chrome.here = base;
    let status = crate::pages::form_status(&errors);
    render(
        status,
        &StaffTicketPage {
            chrome,
            id: row.id,
            subject: row.subject.clone(),
            account_id: row.account_id,
            account: account.name,
            reason,
            status: status_label(t, row.status),
            status_code: row.status.as_str(),
            queue: queue_label(t, row.queue),
            assignee: staff_name(&staff, row.assignee_id),
            opened: timestamp(t.lang, &row.created_at),
            messages,
            may_answer: s.may(Action::AnswerTicket),
            statuses,
            queues,
            assignees,
            body,
            errors,
            may_record_transfer: s.may(Action::Pay),
            change_request,
            may_override: s.user.role == prorata_core::access::Role::TenantAdmin,
        },
    )
}

async fn load(s: &Staff, id: i64) -> Result<TicketView, Response> {
    s.portal
        .engine()
        .ticket(&s.portal.tenant, id, true)
        .await
        .map_err(|e| engine_error(&s.portal, e))
}

pub async fn show(
    s: Staff,
    Path((_, id)): Path<(String, i64)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = s.allow(Action::ViewTickets) {
        return r;
    }
    match load(&s, id).await {
        Ok(view) => page(&s, view, flash(&q), String::new(), Vec::new()).await,
        Err(r) => r,
    }
}

fn back_to(s: &Staff, id: i64, done: &str) -> Response {
    Redirect::to(&format!(
        "{}/staff/tickets/{id}?done={done}#latest",
        s.portal.base
    ))
    .into_response()
}

pub async fn reply(s: Staff, Path((_, id)): Path<(String, i64)>, form: Multipart) -> Response {
    let Some(posted) = read_form(form).await else {
        return error_page(&s.portal, StatusCode::BAD_REQUEST, "error.bad_form");
    };
    if let Err(r) = s.portal.check_csrf(posted.get("csrf")) {
        return r;
    }
    if let Err(r) = s.allow(Action::AnswerTicket) {
        return r;
    }
    let view = match load(&s, id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = posted.get("body").to_string();
    let internal = posted.get("internal") == "on";
    if let Err(p) = posted.check(None) {
        let errors = vec![problem_error(&s.portal.t, p, &posted.names())];
        return page(&s, view, None, body, errors).await;
    }
    match s
        .portal
        .engine()
        .reply_to_ticket(
            &s.portal.tenant,
            s.actor(),
            id,
            &body,
            internal,
            &posted.files,
        )
        .await
    {
        Ok(_) => back_to(&s, id, if internal { "noted" } else { "answered" }),
        Err(EngineError::Invalid { field, problem }) => {
            match crate::pages::support::scanned_out(&s.portal.t, &field, &posted.names()) {
                Some(error) => page(&s, view, None, body, vec![error]).await,
                None => engine_error(&s.portal, EngineError::Invalid { field, problem }),
            }
        }
        Err(EngineError::Conflict(_)) => {
            let errors = vec![FieldError {
                field: "body",
                message: s.portal.t.get("staff.closed").to_string(),
            }];
            page(&s, view, None, body, errors).await
        }
        Err(e) => engine_error(&s.portal, e),
    }
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
}

pub async fn set_status(
    s: Staff,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<StatusForm>,
) -> Response {
    if let Err(r) = s.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = s.allow(Action::AnswerTicket) {
        return r;
    }
    let Some(to) = Status::parse(&form.status) else {
        return error_page(
            &s.portal,
            StatusCode::UNPROCESSABLE_ENTITY,
            "error.bad_form",
        );
    };
    match s
        .portal
        .engine()
        .set_ticket_status(&s.portal.tenant, s.actor(), id, to)
        .await
    {
        Ok(_) => back_to(&s, id, "status"),
        Err(e) => engine_error(&s.portal, e),
    }
}

#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    queue: String,
    #[serde(default)]
    assignee: String,
}

pub async fn assign(
    s: Staff,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<AssignForm>,
) -> Response {
    if let Err(r) = s.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = s.allow(Action::AnswerTicket) {
        return r;
    }
    let (Some(queue), Ok(assignee)) = (
        Queue::parse(&form.queue),
        match form.assignee.as_str() {
            "" => Ok(None),
            a => a.parse::<i64>().map(Some),
        },
    ) else {
        return error_page(
            &s.portal,
            StatusCode::UNPROCESSABLE_ENTITY,
            "error.bad_form",
        );
    };
    match s
        .portal
        .engine()
        .assign_ticket(&s.portal.tenant, s.actor(), id, queue, assignee)
        .await
    {
        Ok(_) => back_to(&s, id, "assigned"),
        Err(e) => engine_error(&s.portal, e),
    }
}

pub async fn download(s: Staff, Path((_, id, file)): Path<(String, i64, i64)>) -> Response {
    if let Err(r) = s.allow(Action::ViewTickets) {
        return r;
    }
    match s
        .portal
        .engine()
        .ticket_file(&s.portal.tenant, id, file, true)
        .await
    {
        Ok((meta, bytes)) => attachment(bytes, &meta.media_type, &meta.name),
        Err(e) => engine_error(&s.portal, e),
    }
}

/// A form's refusal shown on the ticket's page, on the field it names.
async fn refused_on(s: &Staff, id: i64, field: &'static str, message: String) -> Response {
    match load(s, id).await {
        Ok(view) => {
            page(
                s,
                view,
                None,
                String::new(),
                vec![FieldError { field, message }],
            )
            .await
        }
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct TransferForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reference: String,
}

/// The billing team records the transfer a customer proved in this ticket.
pub async fn record_transfer(
    s: Staff,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<TransferForm>,
) -> Response {
    if let Err(r) = s.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = s.allow(Action::Pay) {
        return r;
    }
    match s
        .portal
        .engine()
        .record_transfer_from_ticket(
            &s.portal.tenant,
            s.actor(),
            id,
            &form.amount,
            &form.reference,
        )
        .await
    {
        Ok(_) => back_to(&s, id, "transfer"),
        Err(EngineError::Invalid { field, problem }) => {
            let field = if field == "amount" {
                "amount"
            } else {
                "reference"
            };
            refused_on(&s, id, field, problem).await
        }
        Err(e) => engine_error(&s.portal, e),
    }
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    change_request: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    override_reason: String,
}

/// The account manager applies the change request the ticket carries (a tenant admin may,
/// past the deadline, with a reason).
pub async fn apply_change(
    s: Staff,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<DecisionForm>,
) -> Response {
    if let Err(r) = s.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = s.allow(Action::DecideChangeRequest) {
        return r;
    }
    let reason = Some(form.override_reason.as_str()).filter(|r| !r.trim().is_empty());
    match s
        .portal
        .engine()
        .apply_change_request(&s.portal.tenant, s.actor(), form.change_request, reason)
        .await
    {
        Ok(_) => back_to(&s, id, "change_applied"),
        Err(EngineError::Refused(r)) => refused_on(&s, id, "override_reason", r.to_string()).await,
        Err(
            EngineError::Forbidden(m)
            | EngineError::Conflict(m)
            | EngineError::Invalid { problem: m, .. },
        ) => refused_on(&s, id, "override_reason", m).await,
        Err(e) => engine_error(&s.portal, e),
    }
}

/// The account manager declines the change request the ticket carries, saying why.
pub async fn decline_change(
    s: Staff,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<DecisionForm>,
) -> Response {
    if let Err(r) = s.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = s.allow(Action::DecideChangeRequest) {
        return r;
    }
    let message = Some(form.message.as_str()).filter(|m| !m.trim().is_empty());
    match s
        .portal
        .engine()
        .refuse_change_request(&s.portal.tenant, s.actor(), form.change_request, message)
        .await
    {
        Ok(()) => back_to(&s, id, "change_declined"),
        Err(EngineError::Conflict(m) | EngineError::Invalid { problem: m, .. }) => {
            refused_on(&s, id, "message", m).await
        }
        Err(e) => engine_error(&s.portal, e),
    }
}
