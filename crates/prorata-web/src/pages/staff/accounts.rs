//! The account search, and the account page: company and users, subscriptions, balance and
//! standing, the payment method (masked), documents, tickets, change requests and the audit
//! trail; with the billing team's change of country, state and VAT number (seed 003).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use prorata_core::access::Action;
use prorata_core::document::DocumentKind;
use prorata_core::Money;
use prorata_engine::back_office::AccountOverview;
use prorata_engine::EngineError;
use serde::Deserialize;

use super::{staff_name, status_label};
use crate::ctx::Staff;
use crate::format::{date, money, timestamp};
use crate::pages::auth::FieldError;
use crate::pages::billing::{method_text, serve_document};
use crate::pages::{engine_error, flash, render, Chrome};

pub struct Found {
    pub id: i64,
    pub name: String,
    pub country: String,
    pub vat: String,
    pub city: String,
}

#[derive(Template)]
#[template(path = "staff_accounts.html")]
pub struct SearchPage {
    pub chrome: Chrome,
    pub q: String,
    pub searched: bool,
    pub found: Vec<Found>,
    pub errors: Vec<FieldError>,
}

pub async fn search(s: Staff, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(r) = s.allow(Action::ViewAccounts) {
        return r;
    }
    let text = q.get("q").map(|t| t.trim().to_string()).unwrap_or_default();
    let (found, errors) = if text.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        match s
            .portal
            .engine()
            .search_accounts(&s.portal.tenant, &text)
            .await
        {
            Ok(rows) => (rows, Vec::new()),
            Err(EngineError::Invalid { .. }) => (
                Vec::new(),
                vec![FieldError {
                    field: "q",
                    message: s.portal.t.get("staff.search_too_long").to_string(),
                }],
            ),
            Err(e) => return engine_error(&s.portal, e),
        }
    };
    let found = found
        .into_iter()
        .map(|r| Found {
            id: r.id,
            name: r.account.name,
            country: r.account.country,
            vat: r.account.vat_number.unwrap_or_default(),
            city: r.account.address.city,
        })
        .collect();
    render(
        StatusCode::OK,
        &SearchPage {
            chrome: Chrome::staff(&s, "staff/accounts", None),
            searched: !text.is_empty(),
            q: text,
            found,
            errors,
        },
    )
}

pub struct Row {
    pub cells: Vec<String>,
    pub href: Option<String>,
}

pub struct DocLine {
    pub id: i64,
    pub number: String,
    pub kind: String,
    pub issued: String,
    pub total: String,
}

pub struct AuditLine {
    pub at: String,
    pub who: String,
    pub address: String,
    pub action: String,
    pub before: String,
    pub after: String,
}

#[derive(Template)]
#[template(path = "staff_account.html")]
pub struct AccountPage {
    pub chrome: Chrome,
    pub id: i64,
    pub name: String,
    pub facts: Vec<(String, String)>,
    pub country: String,
    pub state: String,
    pub vat: String,
    pub may_change_tax: bool,
    pub standing: String,
    pub balance: String,
    pub method: String,
    pub users: Vec<Row>,
    pub subscriptions: Vec<Row>,
    pub documents: Vec<DocLine>,
    pub tickets: Vec<Row>,
    pub change_requests: Vec<Row>,
    pub audit: Vec<AuditLine>,
    pub errors: Vec<FieldError>,
    pub contacts: Vec<String>,
    pub payments: Vec<PaymentLine>,
    pub may_send: bool,
    pub may_edit_contacts: bool,
    pub may_refund: bool,
    /// The tenant's account managers (id, name, current), for a tenant admin to pick from.
    pub managers: Option<Vec<(i64, String, bool)>>,
    /// Each subscription's timeline: what changed, recorded when, effective when.
    pub timelines: Vec<(String, Vec<String>)>,
    pub ledger: Vec<Row>,
    pub emails: Vec<Row>,
}

pub struct PaymentLine {
    pub id: i64,
    pub paid_on: String,
    pub method: String,
    pub amount: String,
    pub refunded: String,
    pub reference: String,
    pub refundable: bool,
}

/// A JSON value of the audit trail, compact and without quotes around plain strings.
fn compact(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "—".to_string(),
        Some(serde_json::Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}: {s}"),
                v => format!("{k}: {v}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(v) => v.to_string(),
    }
}

fn account_page(
    s: &Staff,
    o: AccountOverview,
    flash_key: Option<&str>,
    errors: Vec<FieldError>,
) -> Response {
    let t = &s.portal.t;
    let lang = t.lang;
    let a = &o.account;
    let base = &s.portal.base;
    let facts = vec![
        (t.get("company.name").to_string(), a.name.clone()),
        (
            t.get("staff.address").to_string(),
            [
                a.address.line1.as_str(),
                a.address.line2.as_str(),
                &format!("{} {}", a.address.postcode, a.address.city),
            ]
            .iter()
            .filter(|l| !l.trim().is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(", "),
        ),
        (
            t.get("billing.contacts").to_string(),
            a.billing_contacts.join(", "),
        ),
        (
            t.get("staff.manager").to_string(),
            staff_name(&o.staff, o.manager),
        ),
    ];
    let users = o
        .users
        .iter()
        .map(|u| Row {
            cells: vec![
                u.name.clone(),
                u.email.clone(),
                t.get(&format!("role.{}", u.role.as_str())).to_string(),
                t.get(&format!("status.{}", u.status.as_str())).to_string(),
            ],
            href: None,
        })
        .collect();
    let subscriptions = o
        .subscriptions
        .iter()
        .map(|r| {
            let sub = &r.subscription;
            let quantities = sub
                .quantities
                .iter()
                .map(|(p, q)| format!("{p} × {q}"))
                .collect::<Vec<_>>()
                .join(", ");
            Row {
                cells: vec![
                    format!("#{}", r.id),
                    sub.plan.clone(),
                    t.get(&format!(
                        "frequency.{}",
                        sub.frequency_on(o.today, o.today).as_str()
                    ))
                    .to_string(),
                    date(lang, sub.start),
                    quantities,
                    r.next_due
                        .map_or_else(|| "—".to_string(), |d| date(lang, d)),
                ],
                href: None,
            }
        })
        .collect();
    let documents = o
        .documents
        .iter()
        .map(|d| DocLine {
            id: d.id,
            number: d.document.number.clone(),
            kind: t
                .get(match d.document.kind {
                    DocumentKind::Invoice => "billing.invoice",
                    DocumentKind::CreditNote => "billing.credit_note",
                })
                .to_string(),
            issued: date(lang, d.document.issued_on),
            total: money(lang, d.document.printed(d.document.total)),
        })
        .collect();
    let tickets = o
        .tickets
        .iter()
        .map(|k| Row {
            cells: vec![
                format!("#{} {}", k.id, k.subject),
                status_label(t, k.status),
                timestamp(lang, &k.created_at),
            ],
            href: Some(format!("{base}/staff/tickets/{}", k.id)),
        })
        .collect();
    let change_requests = o
        .change_requests
        .iter()
        .map(|c| Row {
            cells: vec![
                format!("#{}", c.id),
                serde_json::to_string(&c.request).unwrap_or_default(),
                c.status.as_str().to_string(),
            ],
            href: None,
        })
        .collect();
    let audit = o
        .audit
        .iter()
        .map(|e| AuditLine {
            at: timestamp(lang, &e.at),
            who: match e.actor_id {
                Some(id) => {
                    let staff = staff_name(&o.staff, Some(id));
                    if staff == "—" {
                        o.users
                            .iter()
                            .find(|u| u.id == id)
                            .map_or_else(|| format!("#{id}"), |u| u.name.clone())
                    } else {
                        staff
                    }
                }
                None => e.actor.clone(),
            },
            address: e.address.clone().unwrap_or_else(|| "—".into()),
            action: e.action.clone(),
            before: compact(e.before.as_ref()),
            after: compact(e.after.as_ref()),
        })
        .collect();
    let payments = o
        .payments
        .iter()
        .map(|p| PaymentLine {
            id: p.id,
            paid_on: date(lang, p.paid_on),
            method: p.method.clone(),
            amount: money(lang, p.amount),
            refunded: money(lang, p.refunded),
            reference: p.reference.clone(),
            refundable: p.status == prorata_store::PaymentStatus::Succeeded
                && p.refunded.minor() < p.amount.minor(),
        })
        .collect();
    let timelines = o
        .subscriptions
        .iter()
        .map(|r| {
            let lines = r
                .subscription
                .events
                .iter()
                .map(|e| {
                    use prorata_core::timeline::Change;
                    let what = match &e.change {
                        Change::Quantity { product, quantity } => format!("{product} → {quantity}"),
                        Change::Plan { plan, .. } => format!("plan → {plan}"),
                        Change::Frequency { frequency, .. } => t
                            .get(&format!("frequency.{}", frequency.as_str()))
                            .to_string(),
                        Change::CancellationRequested => t.get("staff.will_not_renew").to_string(),
                        Change::Cancelled => t.get("staff.ended").to_string(),
                        Change::Coupon { code } => t.fmt1("staff.coupon", "code", code),
                        Change::CouponRemoved { code } => {
                            t.fmt1("staff.coupon_removed", "code", code)
                        }
                    };
                    t.fmt(
                        "staff.event",
                        &[
                            ("what", &what),
                            ("effective", &date(lang, e.effective.date())),
                            ("recorded", &date(lang, e.recorded_on)),
                        ],
                    )
                })
                .collect();
            (format!("#{}", r.id), lines)
        })
        .filter(|(_, lines): &(String, Vec<String>)| !lines.is_empty())
        .collect();
    let ledger = o
        .ledger
        .iter()
        .map(|e| Row {
            cells: vec![
                date(lang, e.entry_date),
                t.get(&format!("ledger.{}", e.kind.as_str())).to_string(),
                money(lang, e.amount),
                e.reference.clone(),
            ],
            href: None,
        })
        .collect();
    let emails = o
        .emails
        .iter()
        .map(|m| Row {
            cells: vec![
                timestamp(lang, &m.created_at),
                match &m.what {
                    Some(w) => format!("{} · {w}", m.template),
                    None => m.template.clone(),
                },
                m.to.join(", "),
                match (&m.done_at, &m.outcome) {
                    (Some(at), Some(outcome)) => format!("{} — {outcome}", timestamp(lang, at)),
                    (Some(at), None) => timestamp(lang, at),
                    (None, Some(outcome)) => outcome.clone(),
                    (None, None) => t.get("staff.queued").to_string(),
                },
            ],
            href: None,
        })
        .collect();
    let mut facts = facts;
    if let Some(since) = o.standing.since {
        facts.push((t.get("staff.overdue_since").to_string(), date(lang, since)));
        facts.push((
            t.get("staff.dunning_steps").to_string(),
            o.standing.steps_done.to_string(),
        ));
    }
    if let Some(on) = o.standing.suspended_on {
        facts.push((t.get("staff.stopped_on").to_string(), date(lang, on)));
    }
    let mut chrome = Chrome::staff(s, "staff/accounts", flash_key);
    chrome.title = a.name.clone();
    chrome.here = format!("{base}/staff/accounts/{}", o.id);
    let status = crate::pages::form_status(&errors);
    render(
        status,
        &AccountPage {
            chrome,
            id: o.id,
            name: a.name.clone(),
            facts,
            country: a.country.clone(),
            state: a.address.state.clone(),
            vat: a.vat_number.clone().unwrap_or_default(),
            may_change_tax: s.may(Action::ChangeTaxDetails),
            standing: t
                .get(&format!("standing.{}", o.standing.status.as_str()))
                .to_string(),
            balance: money(lang, Money::from_minor(o.balance, a.currency)),
            method: method_text(t, o.method.as_ref()),
            users,
            subscriptions,
            documents,
            tickets,
            change_requests,
            audit,
            errors,
            contacts: a.billing_contacts.clone(),
            payments,
            may_send: s.may(Action::SendDocuments),
            may_edit_contacts: s.may(Action::EditBillingContacts),
            may_refund: s.may(Action::Pay),
            timelines,
            ledger,
            emails,
            managers: s.may(Action::ManageTenant).then(|| {
                o.staff
                    .iter()
                    .filter(|u| u.role == prorata_core::access::Role::AccountManager)
                    .map(|u| (u.id, u.name.clone(), Some(u.id) == o.manager))
                    .collect()
            }),
        },
    )
}

pub async fn show(
    s: Staff,
    Path((_, id)): Path<(String, i64)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = s.allow(Action::ViewAccounts) {
        return r;
    }
    match s
        .portal
        .engine()
        .account_overview(&s.portal.tenant, id)
        .await
    {
        Ok(o) => account_page(&s, o, flash(&q), Vec::new()),
        Err(e) => engine_error(&s.portal, e),
    }
}

#[derive(Deserialize)]
pub struct TaxForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    vat_number: String,
}

pub async fn change_tax(
    s: Staff,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<TaxForm>,
) -> Response {
    if let Err(r) = s.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = s.allow(Action::ChangeTaxDetails) {
        return r;
    }
    let engine = s.portal.engine();
    match engine
        .change_tax_details(
            &s.portal.tenant,
            s.actor(),
            id,
            &form.country,
            &form.state,
            &form.vat_number,
        )
        .await
    {
        Ok(_) => Redirect::to(&format!(
            "{}/staff/accounts/{id}?done=tax_details",
            s.portal.base
        ))
        .into_response(),
        Err(EngineError::Invalid { field, problem }) => {
            match engine.account_overview(&s.portal.tenant, id).await {
                Ok(o) => {
                    let message = crate::pages::vat_refusal(
                        &s.portal.t,
                        &field,
                        &problem,
                        form.vat_number.trim(),
                        form.country.trim(),
                    )
                    .unwrap_or(problem);
                    // This form has no address: a part a VAT number needs is asked for beside it.
                    let field = match field.as_str() {
                        f if f.contains("vat") || f.starts_with("address.") => "vat_number",
                        f if f.contains("state") => "state",
                        _ => "country",
                    };
                    account_page(&s, o, None, vec![FieldError { field, message }])
                }
                Err(e) => engine_error(&s.portal, e),
            }
        }
        Err(e) => engine_error(&s.portal, e),
    }
}

pub async fn document(s: Staff, Path((_, id, file)): Path<(String, i64, String)>) -> Response {
    if let Err(r) = s.allow(Action::ViewAccounts) {
        return r;
    }
    serve_document(&s.portal, id, &file).await
}

/// The account page again, with a form's refusal on the field it names.
async fn refused(s: &Staff, id: i64, field: &'static str, message: String) -> Response {
    match s
        .portal
        .engine()
        .account_overview(&s.portal.tenant, id)
        .await
    {
        Ok(o) => account_page(s, o, None, vec![FieldError { field, message }]),
        Err(e) => engine_error(&s.portal, e),
    }
}

fn back_to_account(s: &Staff, id: i64, done: &str) -> Response {
    Redirect::to(&format!(
        "{}/staff/accounts/{id}?done={done}",
        s.portal.base
    ))
    .into_response()
}

/// An engine's answer to a form of the account page: done, or the refusal shown there.
async fn answer<T>(s: &Staff, id: i64, done: &str, outcome: Result<T, EngineError>) -> Response {
    match outcome {
        Ok(_) => back_to_account(s, id, done),
        Err(EngineError::Invalid { field, problem }) => {
            let field = match field.as_str() {
                "consent" => "consent",
                "email" | "billing_contacts" => "contact",
                "amount" => "payments",
                "manager_id" => "manager",
                _ => "month",
            };
            refused(s, id, field, problem).await
        }
        Err(EngineError::Conflict(m)) => refused(s, id, "payments", m).await,
        Err(e) => engine_error(&s.portal, e),
    }
}

#[derive(Deserialize)]
pub struct SendForm {
    #[serde(default)]
    csrf: String,
    /// A document's id, or empty with `month` (`2024-07`).
    #[serde(default)]
    document: String,
    #[serde(default)]
    month: String,
}

/// Seed 004: a document, or every invoice of a month, sent again to the invoice recipients.
pub async fn send_again(
    s: Staff,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<SendForm>,
) -> Response {
    use prorata_engine::back_office::Resend;
    if let Err(r) = s.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = s.allow(Action::SendDocuments) {
        return r;
    }
    let which = if let Ok(doc) = form.document.trim().parse::<i64>() {
        Resend::Document(doc)
    } else {
        let parsed = form
            .month
            .trim()
            .split_once('-')
            .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)));
        match parsed {
            Some((year, month)) => Resend::Month { year, month },
            None => {
                let message = s.portal.t.get("staff.month_invalid").to_string();
                return refused(&s, id, "month", message).await;
            }
        }
    };
    let outcome = s
        .portal
        .engine()
        .send_documents_again(&s.portal.tenant, s.actor(), id, which)
        .await;
    answer(&s, id, "sent_again", outcome).await
}

#[derive(Deserialize)]
pub struct ContactForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    /// `add` or `remove`.
    #[serde(default)]
    change: String,
    #[serde(default)]
    consent: String,
}

/// Seed 004: an invoice recipient added or removed with the owner's consent, written down.
pub async fn contact(
    s: Staff,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<ContactForm>,
) -> Response {
    use prorata_engine::back_office::ContactChange;
    if let Err(r) = s.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = s.allow(Action::EditBillingContacts) {
        return r;
    }
    let change = if form.change == "remove" {
        ContactChange::Remove(&form.email)
    } else {
        ContactChange::Add(&form.email)
    };
    let outcome = s
        .portal
        .engine()
        .change_billing_contact(&s.portal.tenant, s.actor(), id, change, &form.consent)
        .await;
    answer(&s, id, "contacts", outcome).await
}

#[derive(Deserialize)]
pub struct RefundForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    payment: i64,
    /// Empty: what is left of the payment.
    #[serde(default)]
    amount: String,
}

/// The billing team refunds (part of) a payment.
pub async fn refund(
    s: Staff,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<RefundForm>,
) -> Response {
    if let Err(r) = s.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = s.allow(Action::Pay) {
        return r;
    }
    let outcome = s
        .portal
        .engine()
        .refund_for_account(
            &s.portal.tenant,
            s.actor(),
            id,
            form.payment,
            Some(form.amount.as_str()),
        )
        .await;
    answer(&s, id, "refunded", outcome).await
}

#[derive(Deserialize)]
pub struct ManagerForm {
    #[serde(default)]
    csrf: String,
    /// A staff user's id; empty for none.
    #[serde(default)]
    manager: String,
}

/// A tenant admin gives the account its account manager (subscription tickets go to them).
pub async fn set_manager(
    s: Staff,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<ManagerForm>,
) -> Response {
    if let Err(r) = s.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = s.allow(Action::ManageTenant) {
        return r;
    }
    let manager = form.manager.trim().parse::<i64>().ok();
    let outcome = s
        .portal
        .engine()
        .set_account_manager(&s.portal.tenant, s.actor(), id, manager)
        .await;
    answer(&s, id, "manager", outcome).await
}
