//! Support (seed 000): the account's billing tickets, the form to file one — its contact
//! reason saying who will answer and why, the files that prove a payment or show a problem —
//! and a ticket's thread with the reply form.
//!
//! The policy decides who reaches what ([`access::decide_on_ticket`]): the owner every ticket
//! of the account, an admin the tickets they filed; staff answer in the back office. Files
//! are checked by the core's rules before the engine is asked, so the form can say in the
//! reader's language what is wrong with which file; the engine checks them again and stores
//! nothing of a refused message.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Multipart, Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use prorata_core::access::{self, Action};
use prorata_core::tickets::{self, Author, Problem, Queue, Status};
use prorata_engine::tickets::{TicketInput, TicketView, Upload};
use prorata_engine::EngineError;
use prorata_store::{QueueFilter, TicketRow};

use super::auth::FieldError;
use super::{attachment, engine_error, error_page, flash, render, Chrome};
use crate::ctx::Viewer;
use crate::format::{date, timestamp};
use crate::i18n::Messages;

/// Tickets shown on one page of the list.
const PAGE: i64 = 50;

pub struct TicketLine {
    pub id: i64,
    pub subject: String,
    pub reason: String,
    pub status: String,
    pub status_code: &'static str,
    pub opened: String,
}

#[derive(Template)]
#[template(path = "support.html")]
pub struct SupportPage {
    pub chrome: Chrome,
    pub tickets: Vec<TicketLine>,
    pub may_file: bool,
    /// The next page's cursor.
    pub next: Option<i64>,
}

pub struct ReasonChoice {
    pub code: String,
    pub label: String,
    pub handled_by: String,
    pub checked: bool,
}

pub struct DocumentChoice {
    pub id: i64,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "ticket_form.html")]
pub struct TicketForm {
    pub chrome: Chrome,
    pub reasons: Vec<ReasonChoice>,
    pub subject: String,
    pub body: String,
    pub documents: Vec<DocumentChoice>,
    pub errors: Vec<FieldError>,
}

pub struct FileLink {
    pub href: String,
    pub name: String,
    pub size: String,
}

/// A message of a ticket's thread as both the customer's and the staff's pages show it.
pub struct MessageLine {
    pub who: String,
    pub from_staff: bool,
    /// A staff note the customer never sees (the customer's page is never given one).
    pub internal: bool,
    pub when: String,
    pub body: String,
    pub files: Vec<FileLink>,
}

#[derive(Template)]
#[template(path = "ticket.html")]
pub struct TicketPage {
    pub chrome: Chrome,
    pub id: i64,
    pub subject: String,
    pub reason: String,
    pub status: String,
    pub status_code: &'static str,
    pub handled_by: String,
    pub document: Option<String>,
    pub messages: Vec<MessageLine>,
    /// The reply form is shown (the policy allows it and the ticket is not closed).
    pub may_reply: bool,
    pub closed: bool,
    pub body: String,
    pub errors: Vec<FieldError>,
}

fn status_key(s: Status) -> &'static str {
    match s {
        Status::New => "ticket_status.new",
        Status::Open => "ticket_status.open",
        Status::PendingCustomer => "ticket_status.pending_customer",
        Status::Solved => "ticket_status.solved",
        Status::Closed => "ticket_status.closed",
    }
}

fn reason_label(v: &Viewer, code: &str) -> String {
    v.portal.tenant.settings.tickets.reason(code).map_or_else(
        || code.to_string(),
        |r| r.label.get(v.portal.t.lang).to_string(),
    )
}

/// The sentence a problem of the form shows, naming the file it is about.
pub(crate) fn problem_error(t: &Messages, p: Problem, names: &[String]) -> FieldError {
    let key = format!("support.problem.{}", p.code());
    let message = match p.file() {
        Some(i) => t.fmt(&key, &[("name", names.get(i).map_or("", String::as_str))]),
        None => t.fmt(&key, &[("max", &tickets::MAX_FILES.to_string())]),
    };
    let field = match p {
        Problem::SubjectMissing | Problem::SubjectTooLong => "subject",
        Problem::BodyMissing | Problem::BodyTooLong => "body",
        _ => "files",
    };
    FieldError { field, message }
}

/// The engine's refusal of a file the core's rules accepted: the virus scanner found one.
pub(crate) fn scanned_out(t: &Messages, field: &str, names: &[String]) -> Option<FieldError> {
    let i: usize = field
        .strip_prefix("files[")?
        .strip_suffix(']')?
        .parse()
        .ok()?;
    let name = names.get(i).map_or("", String::as_str);
    Some(FieldError {
        field: "files",
        message: t.fmt("support.problem.virus", &[("name", name)]),
    })
}

/// What a form posted: its text fields and files. A file part is read up to one byte past
/// the limit (enough for the core to say it is too large), and at most one file past the
/// number allowed (enough to say there are too many).
pub(crate) struct Posted {
    fields: HashMap<String, String>,
    pub files: Vec<Upload>,
}

impl Posted {
    pub fn get(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }

    pub fn names(&self) -> Vec<String> {
        self.files.iter().map(|f| f.name.clone()).collect()
    }

    pub fn check(&self, subject: Option<&str>) -> Result<(), Problem> {
        let bytes: Vec<&[u8]> = self.files.iter().map(|f| f.bytes.as_slice()).collect();
        tickets::check_message(subject, self.get("body"), &bytes).map(|_| ())
    }
}

pub(crate) async fn read_form(mut form: Multipart) -> Option<Posted> {
    let mut posted = Posted {
        fields: HashMap::new(),
        files: Vec::new(),
    };
    loop {
        let mut field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => return Some(posted),
            Err(_) => return None,
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "files" {
            let file_name = field.file_name().unwrap_or_default().to_string();
            let mut bytes = Vec::new();
            while let Ok(Some(chunk)) = field.chunk().await {
                let room = (tickets::MAX_FILE_BYTES + 1).saturating_sub(bytes.len());
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            // A file input left empty still sends a part, nameless and empty.
            if (file_name.is_empty() && bytes.is_empty()) || posted.files.len() > tickets::MAX_FILES
            {
                continue;
            }
            posted.files.push(Upload {
                name: file_name,
                bytes,
            });
        } else if posted.fields.len() < 16 {
            let text = field.text().await.ok()?;
            posted.fields.insert(name, text);
        }
    }
}

fn bad_form(v: &Viewer) -> Response {
    error_page(&v.portal, StatusCode::BAD_REQUEST, "error.bad_form")
}

/// The ticket, when this person may do `action` on it; else the page that says no (another
/// account's or another person's ticket is not found, as if it did not exist).
async fn reach(v: &Viewer, id: i64, action: Action) -> Result<TicketView, Response> {
    let view = v
        .portal
        .engine()
        .ticket(&v.portal.tenant, id, false)
        .await
        .map_err(|e| engine_error(&v.portal, e))?;
    let of_account = view.ticket.account_id == v.account_id;
    let allowed = of_account
        && access::decide_on_ticket(
            v.person(),
            v.user.id,
            action,
            v.target(),
            view.ticket.requester_id,
        )
        .is_ok();
    if !allowed {
        // Said apart only when the person could not see any ticket at all (the role).
        return Err(match v.allow(action) {
            Err(page) => page,
            Ok(()) => error_page(&v.portal, StatusCode::NOT_FOUND, "error.not_found"),
        });
    }
    Ok(view)
}

pub async fn list(v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(r) = v.allow(Action::ViewTickets) {
        return r;
    }
    let t = &v.portal.t;
    // The owner sees the account's tickets; anyone else, their own (the policy's rule).
    let everyone =
        access::decide_on_ticket(v.person(), v.user.id, Action::ViewTickets, v.target(), None)
            .is_ok();
    let filter = QueueFilter {
        account_id: Some(v.account_id),
        requester_id: (!everyone).then_some(v.user.id),
        newest_first: true,
        ..QueueFilter::default()
    };
    let after = q.get("before").and_then(|c| c.parse().ok()).unwrap_or(0);
    let page = match v
        .portal
        .engine()
        .tickets(&v.portal.tenant, &filter, after, PAGE)
        .await
    {
        Ok(p) => p,
        Err(e) => return engine_error(&v.portal, e),
    };
    let tickets = page
        .items
        .iter()
        .map(|r: &TicketRow| TicketLine {
            id: r.id,
            subject: r.subject.clone(),
            reason: reason_label(&v, &r.reason),
            status: t.get(status_key(r.status)).to_string(),
            status_code: r.status.as_str(),
            opened: timestamp(t.lang, &r.created_at),
        })
        .collect();
    render(
        StatusCode::OK,
        &SupportPage {
            chrome: Chrome::signed_in(&v, "support", flash(&q)),
            tickets,
            may_file: v.may(Action::FileTicket),
            next: page.next,
        },
    )
}

/// What the form starts with: a reason, subject and text asked for in the query (the
/// portal's "ask the billing team" links), or written from the account's current details.
struct Prefill {
    reason: String,
    subject: String,
    body: String,
    document: Option<i64>,
}

fn prefill(v: &Viewer, q: &HashMap<String, String>) -> Prefill {
    let t = &v.portal.t;
    let a = &v.account;
    let about = q.get("about").map_or("", String::as_str);
    let (reason, subject, body) = match about {
        // Seed 003: country, state and VAT number are the billing team's to change.
        "tax_details" => (
            "tax_details",
            t.get("support.prefill.tax_subject").to_string(),
            t.fmt(
                "support.prefill.tax_body",
                &[
                    ("country", &a.country),
                    ("state", &a.address.state),
                    ("vat", a.vat_number.as_deref().unwrap_or("—")),
                ],
            ),
        ),
        // Seed 003: payment details other than a card go through the billing team.
        "payment_details" => (
            "billing",
            t.get("support.prefill.payment_subject").to_string(),
            t.get("support.prefill.payment_body").to_string(),
        ),
        _ => (
            q.get("reason").map_or("billing", String::as_str),
            String::new(),
            String::new(),
        ),
    };
    Prefill {
        reason: reason.to_string(),
        subject,
        body,
        document: q.get("document").and_then(|d| d.parse().ok()),
    }
}

async fn form_page(v: &Viewer, fill: Prefill, errors: Vec<FieldError>) -> Response {
    let lang = v.portal.t.lang;
    let reasons = v
        .portal
        .tenant
        .settings
        .tickets
        .reasons
        .iter()
        .map(|r| ReasonChoice {
            code: r.code.clone(),
            label: r.label.get(lang).to_string(),
            handled_by: r.handled_by.get(lang).to_string(),
            checked: r.code == fill.reason,
        })
        .collect();
    // Only who may see the account's documents may pick one.
    let documents = if v.may(Action::DownloadDocument) {
        match v
            .portal
            .engine()
            .account_documents(&v.portal.tenant, v.account_id, None)
            .await
        {
            Ok(docs) => docs
                .into_iter()
                .rev()
                .map(|d| DocumentChoice {
                    id: d.id,
                    label: format!(
                        "{} · {}",
                        d.document.number,
                        date(lang, d.document.issued_on)
                    ),
                    selected: fill.document == Some(d.id),
                })
                .collect(),
            Err(e) => return engine_error(&v.portal, e),
        }
    } else {
        Vec::new()
    };
    let status = super::form_status(&errors);
    let mut chrome = Chrome::signed_in(v, "support", None);
    chrome.title = v.portal.t.get("support.new").to_string();
    render(
        status,
        &TicketForm {
            chrome,
            reasons,
            subject: fill.subject,
            body: fill.body,
            documents,
            errors,
        },
    )
}

pub async fn form(v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(r) = v.allow(Action::FileTicket) {
        return r;
    }
    let fill = prefill(&v, &q);
    form_page(&v, fill, Vec::new()).await
}

pub async fn file(v: Viewer, form: Multipart) -> Response {
    let Some(posted) = read_form(form).await else {
        return bad_form(&v);
    };
    if let Err(r) = v.portal.check_csrf(posted.get("csrf")) {
        return r;
    }
    if let Err(r) = v.allow(Action::FileTicket) {
        return r;
    }
    let fill = Prefill {
        reason: posted.get("reason").to_string(),
        subject: posted.get("subject").to_string(),
        body: posted.get("body").to_string(),
        document: posted.get("document").parse().ok(),
    };
    let mut errors = Vec::new();
    if v.portal
        .tenant
        .settings
        .tickets
        .reason(&fill.reason)
        .is_none()
    {
        errors.push(FieldError {
            field: "reason",
            message: v.portal.t.get("support.problem.reason").to_string(),
        });
    }
    if let Err(p) = posted.check(Some(&fill.subject)) {
        errors.push(problem_error(&v.portal.t, p, &posted.names()));
    }
    if !errors.is_empty() {
        return form_page(&v, fill, errors).await;
    }
    let names = posted.names();
    let input = TicketInput {
        account_id: v.account_id,
        reason: fill.reason.clone(),
        subject: fill.subject.clone(),
        body: fill.body.clone(),
        // A document is offered only to who may see them; another account's is refused.
        document_id: fill.document.filter(|_| v.may(Action::DownloadDocument)),
        files: posted.files,
    };
    match v
        .portal
        .engine()
        .file_ticket(&v.portal.tenant, v.actor(), &input)
        .await
    {
        Ok(view) => Redirect::to(&format!(
            "{}/support/{}?done=ticket_filed",
            v.portal.base, view.ticket.id
        ))
        .into_response(),
        Err(EngineError::Invalid { field, .. }) if field == "document_id" => {
            let errors = vec![FieldError {
                field: "document",
                message: v.portal.t.get("support.problem.document").to_string(),
            }];
            form_page(&v, fill, errors).await
        }
        Err(EngineError::Invalid { field, problem }) => {
            match scanned_out(&v.portal.t, &field, &names) {
                Some(error) => form_page(&v, fill, vec![error]).await,
                None => engine_error(&v.portal, EngineError::Invalid { field, problem }),
            }
        }
        Err(e) => engine_error(&v.portal, e),
    }
}

/// The links to the files of message `message` of a ticket whose page is at `base`.
pub(crate) fn files_of(view: &TicketView, message: i64, base: &str) -> Vec<FileLink> {
    view.files
        .iter()
        .filter(|f| f.message_id == message)
        .map(|f| FileLink {
            href: format!("{base}/files/{}", f.id),
            name: f.name.clone(),
            size: size_text(f.size),
        })
        .collect()
}

fn size_text(bytes: i64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MB", (bytes + 512 * 1024) / (1024 * 1024))
    } else {
        format!("{} kB", (bytes + 1023) / 1024)
    }
}

async fn ticket_page(
    v: &Viewer,
    view: TicketView,
    flash_key: Option<&str>,
    body: String,
    errors: Vec<FieldError>,
) -> Response {
    let t = &v.portal.t;
    let lang = t.lang;
    let row = &view.ticket;
    let staff_name = t
        .get(match row.queue {
            Queue::BillingTeam => "support.billing_team",
            Queue::AccountManagement => "support.account_manager",
        })
        .to_string();
    let base = format!("{}/support/{}", v.portal.base, row.id);
    let messages = view
        .messages
        .iter()
        .map(|m| MessageLine {
            who: match m.author {
                Author::Staff => staff_name.clone(),
                Author::Customer if m.author_id == Some(v.user.id) => {
                    t.get("support.you").to_string()
                }
                Author::Customer => v.account.name.clone(),
            },
            from_staff: m.author == Author::Staff,
            internal: m.internal,
            when: timestamp(lang, &m.created_at),
            body: m.body.clone(),
            files: files_of(&view, m.id, &base),
        })
        .collect();
    let document = match row.document_id {
        Some(id) if v.may(Action::DownloadDocument) => v
            .portal
            .engine()
            .account_document(&v.portal.tenant, v.account_id, id)
            .await
            .ok()
            .map(|d| d.document.number),
        _ => None,
    };
    let handled_by = v
        .portal
        .tenant
        .settings
        .tickets
        .reason(&row.reason)
        .map(|r| r.handled_by.get(lang).to_string())
        .unwrap_or_default();
    let closed = row.status == Status::Closed;
    let status = super::form_status(&errors);
    let mut chrome = Chrome::signed_in(v, "support", flash_key);
    chrome.title = row.subject.clone();
    chrome.here = base;
    render(
        status,
        &TicketPage {
            chrome,
            id: row.id,
            subject: row.subject.clone(),
            reason: reason_label(v, &row.reason),
            status: t.get(status_key(row.status)).to_string(),
            status_code: row.status.as_str(),
            handled_by,
            document,
            messages,
            may_reply: !closed && v.may(Action::FileTicket),
            closed,
            body,
            errors,
        },
    )
}

pub async fn show(
    v: Viewer,
    Path((_, id)): Path<(String, i64)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match reach(&v, id, Action::ViewTickets).await {
        Ok(view) => ticket_page(&v, view, flash(&q), String::new(), Vec::new()).await,
        Err(page) => page,
    }
}

pub async fn reply(v: Viewer, Path((_, id)): Path<(String, i64)>, form: Multipart) -> Response {
    let Some(posted) = read_form(form).await else {
        return bad_form(&v);
    };
    if let Err(r) = v.portal.check_csrf(posted.get("csrf")) {
        return r;
    }
    let view = match reach(&v, id, Action::FileTicket).await {
        Ok(view) => view,
        Err(page) => return page,
    };
    if let Err(p) = posted.check(None) {
        let errors = vec![problem_error(&v.portal.t, p, &posted.names())];
        let body = posted.get("body").to_string();
        return ticket_page(&v, view, None, body, errors).await;
    }
    let body = posted.get("body").to_string();
    match v
        .portal
        .engine()
        .reply_to_ticket(&v.portal.tenant, v.actor(), id, &body, false, &posted.files)
        .await
    {
        Ok(_) => Redirect::to(&format!(
            "{}/support/{id}?done=ticket_replied#latest",
            v.portal.base
        ))
        .into_response(),
        Err(EngineError::Invalid { field, problem }) => {
            match scanned_out(&v.portal.t, &field, &posted.names()) {
                Some(error) => ticket_page(&v, view, None, body, vec![error]).await,
                None => engine_error(&v.portal, EngineError::Invalid { field, problem }),
            }
        }
        // Solved too long ago to reopen, or closed: the page says so.
        Err(EngineError::Conflict(_)) => {
            let errors = vec![FieldError {
                field: "body",
                message: v.portal.t.get("support.problem.closed").to_string(),
            }];
            ticket_page(&v, view, None, body, errors).await
        }
        Err(e) => engine_error(&v.portal, e),
    }
}

pub async fn download(v: Viewer, Path((_, id, file)): Path<(String, i64, i64)>) -> Response {
    if let Err(page) = reach(&v, id, Action::ViewTickets).await {
        return page;
    }
    match v
        .portal
        .engine()
        .ticket_file(&v.portal.tenant, id, file, false)
        .await
    {
        Ok((meta, bytes)) => attachment(bytes, &meta.media_type, &meta.name),
        Err(e) => engine_error(&v.portal, e),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use prorata_core::tickets::Problem;
    use prorata_core::Lang;

    use crate::i18n::{Catalogue, Messages};

    #[test]
    fn every_problem_of_a_message_has_its_sentence_in_both_languages() {
        let catalogue = Arc::new(Catalogue::load());
        for lang in [Lang::En, Lang::Fr] {
            let t = Messages::new(catalogue.clone(), lang);
            for p in [
                Problem::SubjectMissing,
                Problem::SubjectTooLong,
                Problem::BodyMissing,
                Problem::BodyTooLong,
                Problem::TooManyFiles(6),
                Problem::FileEmpty(0),
                Problem::FileTooLarge(0),
                Problem::FileType(0),
            ] {
                let key = format!("support.problem.{}", p.code());
                assert_ne!(t.get(&key), key, "{lang:?}: no sentence for {key}");
            }
        }
    }

    #[test]
    fn only_the_forms_that_carry_files_take_large_bodies() {
        assert!(crate::takes_files("/portal/acme/support/new"));
        assert!(crate::takes_files("/portal/acme/support/12/reply"));
        assert!(!crate::takes_files("/portal/acme/support/x/reply"));
        assert!(!crate::takes_files("/portal/acme/company/logo"));
        assert!(!crate::takes_files("/portal/acme/support/new/extra"));
    }
}
