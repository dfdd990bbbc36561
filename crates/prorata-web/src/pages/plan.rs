//! Plan: the plan, its dates and seed 003's licence table (A–E), special features and calling
//! options; upgrades made at once after a preview, downgrades and cancellations previewed and
//! sent to the account manager, or refused after the notice deadline (seed 001).

use std::collections::HashMap;

use askama::Template;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use prorata_core::access::Action;
use prorata_core::change::{Direction, FrequencyTiming, Refusal, Request};
use prorata_core::document::DocumentKind;
use prorata_core::{Lang, Money};
use prorata_engine::{EngineError, Submitted};
use serde::Deserialize;

use super::{engine_error, flash, render, Chrome};
use crate::ctx::Viewer;
use crate::format::{date, money};

pub struct Row {
    pub product: String,
    pub name: String,
    pub active: i64,
    pub included: i64,
    pub price: String,
    pub extras: i64,
    pub extras_cost: String,
    pub total: String,
    pub limit: Option<String>,
}

pub struct Rate {
    pub name: String,
    pub price: String,
}

pub struct Offer {
    pub code: String,
    pub name: String,
    pub held: bool,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "plan.html")]
pub struct PlanPage {
    pub chrome: Chrome,
    pub has_plan: bool,
    pub plan_name: String,
    pub frequency: String,
    pub dates: Vec<(String, String)>,
    pub rows: Vec<Row>,
    pub addons: Vec<Row>,
    pub total: String,
    pub features: Vec<(String, bool)>,
    pub rates: Vec<Rate>,
    pub bundles: Vec<Offer>,
    pub offers: Vec<Offer>,
    pub may_change: bool,
    pub reasons: Vec<String>,
    /// The frequencies a frequency change may ask for: (value, label).
    pub frequencies: Vec<(String, String)>,
}

fn decimal(lang: Lang, d: prorata_core::Decimal) -> String {
    let s = d.to_string();
    match lang {
        Lang::Fr => s.replace('.', ","),
        Lang::En => s,
    }
}

fn row(lang: Lang, t: &crate::i18n::Messages, r: &prorata_core::licences::LicenceRow) -> Row {
    Row {
        product: r.product.clone(),
        name: r.name.clone(),
        active: r.active,
        included: r.included,
        price: money(lang, r.included_price),
        extras: r.extras,
        extras_cost: money(lang, r.extras_cost),
        total: money(lang, r.total),
        limit: r
            .maximum
            .map(|m| t.fmt("plan.limit", &[("max", &m.to_string())])),
    }
}

pub async fn show(v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(r) = v.allow(Action::ViewPlan) {
        return r;
    }
    let p = &v.portal;
    let t = &p.t;
    let lang = t.lang;
    let view = match p.engine().plan_view(&p.tenant, v.account_id, lang).await {
        Ok(view) => view,
        Err(e) => return engine_error(p, e),
    };
    let mut page = PlanPage {
        chrome: Chrome::signed_in(&v, "plan", flash(&q)),
        has_plan: view.is_some(),
        plan_name: String::new(),
        frequency: String::new(),
        dates: Vec::new(),
        rows: Vec::new(),
        addons: Vec::new(),
        total: String::new(),
        features: Vec::new(),
        rates: Vec::new(),
        bundles: Vec::new(),
        offers: Vec::new(),
        may_change: v.may(Action::RequestChange),
        reasons: p
            .tenant
            .settings
            .terms
            .cancellation_reasons
            .iter()
            .map(|r| r.get(lang).to_string())
            .collect(),
        frequencies: Vec::new(),
    };
    let Some(view) = view else {
        return render(StatusCode::OK, &page);
    };
    page.plan_name = view.table.plan_name.clone();
    page.frequencies = view
        .other_frequencies
        .iter()
        .map(|f| {
            let code = f.as_str();
            (
                code.to_string(),
                t.get(&format!("frequency.{code}")).to_string(),
            )
        })
        .collect();
    page.frequency = t
        .get(&format!("frequency.{}", view.frequency.as_str()))
        .to_string();
    let mut dates = Vec::new();
    if let Some(d) = view.trial_ends {
        dates.push((t.get("plan.trial_ends").to_string(), date(lang, d)));
    }
    if let Some(d) = view.next_invoice {
        dates.push((t.get("plan.next_invoice").to_string(), date(lang, d)));
    }
    if let Some(d) = view.ends {
        dates.push((t.get("plan.ends").to_string(), date(lang, d)));
    } else if let Some(d) = view.renewal {
        dates.push((t.get("plan.renewal").to_string(), date(lang, d)));
    }
    if let (Some(d), None) = (view.deadline, view.ends) {
        dates.push((
            t.get("plan.deadline_label").to_string(),
            t.fmt(
                "plan.deadline",
                &[
                    ("date", &date(lang, d)),
                    ("days", &view.notice_days.to_string()),
                ],
            ),
        ));
    }
    page.dates = dates;
    page.rows = view.table.rows.iter().map(|r| row(lang, t, r)).collect();
    page.addons = view.table.addons.iter().map(|r| row(lang, t, r)).collect();
    page.total = money(lang, view.table.total);
    page.features = view
        .table
        .features
        .iter()
        .map(|f| (f.name.clone(), f.held))
        .collect();
    page.rates = view
        .calling
        .iter()
        .map(|c| Rate {
            name: c.name.clone(),
            price: match c.per_minute {
                Some(d) => {
                    let unit = view.table.currency.code();
                    let key = if c.tiered {
                        "plan.rate_tiered"
                    } else {
                        "plan.rate"
                    };
                    t.fmt(key, &[("price", &decimal(lang, d)), ("currency", unit)])
                }
                None => t.get("plan.rate_other").to_string(),
            },
        })
        .collect();
    page.bundles = view
        .bundles
        .iter()
        .map(|b| Offer {
            code: b.code.clone(),
            name: b.name.clone(),
            held: b.held,
            detail: t.fmt(
                "plan.bundle_minutes",
                &[("minutes", &b.included_minutes.to_string())],
            ),
        })
        .collect();
    // What can be added or removed: the add-ons, then the call bundles.
    page.offers = view
        .addons
        .iter()
        .map(|(code, name, held)| Offer {
            code: code.clone(),
            name: name.clone(),
            held: *held,
            detail: String::new(),
        })
        .chain(page.bundles.iter().map(|b| Offer {
            code: b.code.clone(),
            name: b.name.clone(),
            held: b.held,
            detail: b.detail.clone(),
        }))
        .collect();
    render(StatusCode::OK, &page)
}

/// A change as the forms post it.
#[derive(Deserialize, Clone)]
pub struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub product: String,
    #[serde(default)]
    pub quantity: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub frequency: String,
    #[serde(default)]
    pub when: String,
    /// `on`: send a change the notice rule refuses to the account manager anyway.
    #[serde(default)]
    late: String,
}

impl ChangeForm {
    fn request(&self) -> Option<Request> {
        let product = self.product.clone();
        Some(match self.kind.as_str() {
            "quantity" => Request::SetQuantity {
                product,
                quantity: self.quantity.trim().parse().ok()?,
            },
            "add" => Request::AddAddon { product },
            "remove" => Request::RemoveAddon { product },
            "cancel" => Request::Cancel,
            // Seed 000: monthly ↔ annual; the anchor follows the tenant's policy.
            "frequency" => Request::ChangeFrequency {
                frequency: prorata_core::Frequency::ALL
                    .into_iter()
                    .find(|f| f.as_str() == self.frequency)?,
                when: Some(match self.when.as_str() {
                    "at_once" => FrequencyTiming::AtOnce,
                    "end_of_term" => FrequencyTiming::EndOfTerm,
                    _ => FrequencyTiming::EndOfPeriod,
                }),
                anchor: None,
            },
            _ => return None,
        })
    }
}

pub struct DocView {
    pub title: String,
    pub lines: Vec<(String, String, String)>,
    pub total: String,
}

#[derive(Template)]
#[template(path = "preview.html")]
pub struct PreviewPage {
    pub chrome: Chrome,
    pub heading: String,
    pub explain: String,
    pub documents: Vec<DocView>,
    pub deadline: Option<String>,
    pub confirm: String,
    pub form_kind: String,
    pub form_product: String,
    pub form_quantity: String,
    pub form_reason: String,
    pub form_frequency: String,
    pub form_when: String,
}

#[derive(Template)]
#[template(path = "refused.html")]
pub struct RefusedPage {
    pub chrome: Chrome,
    pub reason: String,
    pub clause: Option<String>,
    /// A change refused by the notice rule alone may still be sent to the account manager,
    /// marked late (only a tenant admin may then apply it): the form to send it.
    pub late: Option<ChangeForm>,
}

/// A refusal in the customer's words: the deadline, the renewal and the tenant's clause.
fn refused(v: &Viewer, r: &Refusal, form: &ChangeForm) -> Response {
    let t = &v.portal.t;
    let lang = t.lang;
    let (reason, clause) = match r {
        Refusal::NoticePeriodMissed {
            notice_days,
            renewal,
            deadline,
            next_deadline,
        } => (
            t.fmt(
                "change.too_late",
                &[
                    ("days", &notice_days.to_string()),
                    ("deadline", &date(lang, *deadline)),
                    ("renewal", &date(lang, *renewal)),
                    ("next", &date(lang, *next_deadline)),
                ],
            ),
            Some(
                v.portal
                    .tenant
                    .settings
                    .terms
                    .notice_clause
                    .get(lang)
                    .to_string(),
            ),
        ),
        other => (other.to_string(), None),
    };
    render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &RefusedPage {
            chrome: Chrome::signed_in(v, "plan", None),
            reason,
            clause,
            late: matches!(r, Refusal::NoticePeriodMissed { .. })
                .then(|| form.clone())
                .filter(|f| f.late.is_empty()),
        },
    )
}

fn doc_view(
    t: &crate::i18n::Messages,
    kind: DocumentKind,
    lines: Vec<(String, String, String)>,
    total: Money,
) -> DocView {
    DocView {
        title: t
            .get(match kind {
                DocumentKind::Invoice => "change.doc_invoice",
                DocumentKind::CreditNote => "change.doc_credit_note",
            })
            .to_string(),
        lines,
        total: money(t.lang, total),
    }
}

pub async fn preview(v: Viewer, Form(form): Form<ChangeForm>) -> Response {
    if let Err(r) = v.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = v.allow(Action::RequestChange) {
        return r;
    }
    let p = &v.portal;
    let t = &p.t;
    let Some(request) = form.request() else {
        return super::error_page(p, StatusCode::UNPROCESSABLE_ENTITY, "change.bad_request");
    };
    let preview = match p
        .engine()
        .preview_account_change(&p.tenant, v.account_id, &request)
        .await
    {
        Ok(pv) => pv,
        Err(EngineError::Refused(r)) => return refused(&v, &r, &form),
        Err(e) => return engine_error(p, e),
    };
    let mut documents = Vec::new();
    for d in &preview.drafts {
        let total = match d.net_total() {
            Ok(t) => t,
            Err(e) => return engine_error(p, e.into()),
        };
        let lines = d
            .lines
            .iter()
            .map(|l| {
                (
                    l.description.clone(),
                    l.explanation.clone(),
                    money(t.lang, l.amount),
                )
            })
            .collect();
        documents.push(doc_view(t, d.kind, lines, total));
    }
    let (heading, explain, confirm) = match preview.direction {
        Direction::Upgrade => (
            "change.upgrade",
            "change.upgrade_explain",
            "change.confirm_upgrade",
        ),
        Direction::Downgrade => (
            "change.downgrade",
            "change.request_explain",
            "change.confirm_request",
        ),
        Direction::Cancellation => (
            "change.cancel",
            "change.request_explain",
            "change.confirm_request",
        ),
    };
    render(
        StatusCode::OK,
        &PreviewPage {
            chrome: Chrome::signed_in(&v, "plan", None),
            heading: t.get(heading).to_string(),
            explain: t.get(explain).to_string(),
            documents,
            deadline: preview
                .deadline
                .map(|d| t.fmt("change.deadline", &[("date", &date(t.lang, d))])),
            confirm: t.get(confirm).to_string(),
            form_kind: form.kind.clone(),
            form_product: form.product.clone(),
            form_quantity: form.quantity.clone(),
            form_reason: form.reason.clone(),
            form_frequency: form.frequency.clone(),
            form_when: form.when.clone(),
        },
    )
}

#[derive(Template)]
#[template(path = "submitted.html")]
pub struct SubmittedPage {
    pub chrome: Chrome,
    pub message: String,
    pub documents: Vec<DocView>,
}

pub async fn submit(v: Viewer, Form(form): Form<ChangeForm>) -> Response {
    if let Err(r) = v.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = v.allow(Action::RequestChange) {
        return r;
    }
    let p = &v.portal;
    let t = &p.t;
    let Some(request) = form.request() else {
        return super::error_page(p, StatusCode::UNPROCESSABLE_ENTITY, "change.bad_request");
    };
    let reason = Some(form.reason.as_str()).filter(|r| !r.trim().is_empty());
    let engine = p.engine();
    let outcome = if form.late == "on" {
        engine
            .submit_late_account_change_by(&p.tenant, v.actor(), v.account_id, &request, reason)
            .await
    } else {
        engine
            .submit_account_change_by(&p.tenant, v.actor(), v.account_id, &request, reason)
            .await
    };
    let (message, documents) = match outcome {
        Ok(Submitted::Applied(o)) => (
            t.get("change.applied").to_string(),
            o.documents
                .iter()
                .map(|d| {
                    let lines = d
                        .lines
                        .iter()
                        .map(|l| {
                            (
                                l.description.clone(),
                                l.explanation.clone(),
                                money(t.lang, d.printed(l.amount)),
                            )
                        })
                        .collect();
                    let mut view = doc_view(t, d.kind, lines, d.printed(d.total));
                    view.title = format!("{} {}", view.title, d.number);
                    view
                })
                .collect(),
        ),
        Ok(Submitted::Requested { id, .. }) => (
            t.fmt("change.requested", &[("id", &id.to_string())]),
            Vec::new(),
        ),
        Err(EngineError::Refused(r)) => return refused(&v, &r, &form),
        Err(e) => return engine_error(p, e),
    };
    render(
        StatusCode::OK,
        &SubmittedPage {
            chrome: Chrome::signed_in(&v, "plan", None),
            message,
            documents,
        },
    )
}
