//! Billing (seed 003, the owner only — seed 004): payment status and balance, invoices and
//! credit notes with their PDF and XML, the e-mail recipients, the payment method, the
//! billing address under the trial rule, and paying the balance now.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use prorata_core::access::Action;
use prorata_core::account::{AccountPatch, Actor};
use prorata_core::document::DocumentKind;
use prorata_core::dunning::Status;
use prorata_core::payment::PaymentMethod;
use prorata_core::Money;
use prorata_engine::gateway::SandboxGateway;
use prorata_engine::{EngineError, NewPaymentMethod};
use prorata_store::{FileFormat, TenantMode};
use serde::Deserialize;

use super::auth::FieldError;
use super::{attachment, done, engine_error, flash, render, Chrome};
use crate::ctx::Viewer;
use crate::format::{date, money};

pub struct DocRow {
    pub id: i64,
    pub number: String,
    pub kind: String,
    pub issued: String,
    pub total: String,
}

pub struct Field {
    pub name: &'static str,
    pub label: String,
    pub value: String,
    pub editable: bool,
}

#[derive(Template)]
#[template(path = "billing.html")]
pub struct BillingPage {
    pub chrome: Chrome,
    pub status: String,
    pub status_level: &'static str,
    pub balance: String,
    /// Prepaid credit left, when there is some.
    pub prepaid: Option<String>,
    pub owes: bool,
    /// A balance is due but nothing on file can be charged.
    pub due_without_method: bool,
    pub documents: Vec<DocRow>,
    pub contacts: String,
    pub method: String,
    pub sandbox: bool,
    pub address: Vec<Field>,
    pub in_trial: bool,
    pub errors: Vec<FieldError>,
    /// The account may only pay (suspended or cancelled): the rest is hidden.
    pub pay_only: bool,
}

pub(crate) fn method_text(t: &crate::i18n::Messages, m: Option<&PaymentMethod>) -> String {
    match m {
        None => t.get("billing.no_method").to_string(),
        Some(PaymentMethod::Card {
            brand,
            last4,
            exp_month,
            exp_year,
            ..
        }) => t.fmt(
            "billing.card",
            &[
                ("brand", brand),
                ("last4", last4),
                ("exp", &format!("{exp_month:02}/{exp_year}")),
            ],
        ),
        Some(PaymentMethod::SepaDebit { iban, .. }) => t.fmt("billing.sepa", &[("iban", iban)]),
        Some(PaymentMethod::AchDebit { account_number, .. }) => {
            t.fmt("billing.ach", &[("account", account_number)])
        }
        Some(PaymentMethod::BankTransfer) => t.get("billing.transfer").to_string(),
    }
}

async fn page(v: &Viewer, flash_key: Option<&str>, errors: Vec<FieldError>) -> Response {
    let p = &v.portal;
    let t = &p.t;
    let lang = t.lang;
    let engine = p.engine();
    let prorata_engine::BillingView {
        documents,
        method,
        balance,
        prepaid,
        in_trial,
    } = match engine.billing_view(&p.tenant, v.account_id).await {
        Ok(x) => x,
        Err(e) => return engine_error(p, e),
    };
    let currency = v.account.currency;
    let balance = Money::from_minor(balance, currency);
    let status = v.standing.status;
    let a = &v.account;
    // Seed 003: during the trial every field; afterwards address, postcode and city only.
    let field = |name, key: &str, value: &str, always: bool| Field {
        name,
        label: t.get(key).to_string(),
        value: value.to_string(),
        editable: always || in_trial,
    };
    let address = vec![
        field("line1", "address.line1", &a.address.line1, true),
        field("line2", "address.line2", &a.address.line2, true),
        field("postcode", "address.postcode", &a.address.postcode, true),
        field("city", "address.city", &a.address.city, true),
        field("state", "address.state", &a.address.state, false),
        field("country", "address.country", &a.country, false),
        field(
            "vat_number",
            "address.vat_number",
            a.vat_number.as_deref().unwrap_or(""),
            false,
        ),
    ];
    let documents = documents
        .into_iter()
        .rev()
        .map(|d| DocRow {
            id: d.id,
            kind: t
                .get(match d.document.kind {
                    DocumentKind::Invoice => "billing.invoice",
                    DocumentKind::CreditNote => "billing.credit_note",
                })
                .to_string(),
            issued: date(lang, d.document.issued_on),
            total: money(lang, d.document.printed(d.document.total)),
            number: d.document.number,
        })
        .collect();
    let status_errors = !errors.is_empty();
    render(
        if status_errors {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        &BillingPage {
            chrome: Chrome::signed_in(v, "billing", flash_key),
            status: t.get(&format!("standing.{}", status.as_str())).to_string(),
            status_level: match status {
                Status::Active => "ok",
                Status::PastDue => "warning",
                _ => "danger",
            },
            // "Pay now" charges the method on file: a card or a debit, not a transfer.
            owes: balance.minor() > 0 && method.as_ref().and_then(PaymentMethod::token).is_some(),
            due_without_method: balance.minor() > 0
                && method.as_ref().and_then(PaymentMethod::token).is_none(),
            balance: money(lang, balance),
            prepaid: (prepaid != 0).then(|| money(lang, Money::from_minor(prepaid, currency))),
            documents,
            contacts: a.billing_contacts.join("\n"),
            method: method_text(t, method.as_ref()),
            sandbox: p.tenant.mode == TenantMode::Sandbox,
            address,
            in_trial,
            errors,
            pay_only: !v.may(Action::ViewCompany),
        },
    )
}

pub async fn show(v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(r) = v.allow(Action::ViewBilling) {
        return r;
    }
    page(&v, flash(&q), Vec::new()).await
}

/// `INV-000001.pdf`-style names are not used in the path: `{id}.pdf` or `{id}.xml`.
pub async fn document(v: Viewer, Path((_, file)): Path<(String, String)>) -> Response {
    if let Err(r) = v.allow(Action::DownloadDocument) {
        return r;
    }
    serve_document(&v.portal, v.account_id, &file).await
}

/// The PDF or XML `file` (`{id}.pdf`, `{id}.xml`) of a document of account `account_id`, as
/// an attachment named after its number; not found when it is another account's, whatever
/// id is asked. The caller has asked the policy.
pub(crate) async fn serve_document(
    p: &crate::ctx::Portal,
    account_id: i64,
    file: &str,
) -> Response {
    let not_found = || super::error_page(p, StatusCode::NOT_FOUND, "error.not_found");
    let Some((id, format)) = file.split_once('.').and_then(|(id, ext)| {
        let format = match ext {
            "pdf" => FileFormat::Pdf,
            "xml" => FileFormat::Xml,
            _ => return None,
        };
        Some((id.parse::<i64>().ok()?, format))
    }) else {
        return not_found();
    };
    let row = match p.engine().account_document(&p.tenant, account_id, id).await {
        Ok(r) => r,
        Err(EngineError::NotFound(_)) => return not_found(),
        Err(e) => return engine_error(p, e),
    };
    match p
        .engine()
        .document_file(&p.tenant, row.id, row.document.kind, format)
        .await
    {
        Ok(Some((row, file))) => {
            let (ct, ext) = match format {
                FileFormat::Pdf => ("application/pdf", "pdf"),
                FileFormat::Xml => ("application/xml", "xml"),
            };
            attachment(file.body, ct, &format!("{}.{ext}", row.document.number))
        }
        Ok(None) => not_found(),
        Err(e) => engine_error(p, e),
    }
}

#[derive(Deserialize)]
pub struct AddressForm {
    #[serde(default)]
    csrf: String,
    line1: Option<String>,
    line2: Option<String>,
    postcode: Option<String>,
    city: Option<String>,
    state: Option<String>,
    country: Option<String>,
    vat_number: Option<String>,
}

pub async fn address(v: Viewer, Form(form): Form<AddressForm>) -> Response {
    if let Err(r) = v.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = v.allow(Action::EditBillingAddress) {
        return r;
    }
    let a = &v.account;
    // Only fields that changed are sent: a read-only field posted back as it was is no
    // attempt to change it.
    let changed =
        |new: Option<String>, old: &str| new.map(|n| n.trim().to_string()).filter(|n| n != old);
    let patch = AccountPatch {
        line1: changed(form.line1, &a.address.line1),
        line2: changed(form.line2, &a.address.line2),
        postcode: changed(form.postcode, &a.address.postcode),
        city: changed(form.city, &a.address.city),
        state: changed(form.state, &a.address.state),
        country: changed(form.country, &a.country),
        vat_number: changed(form.vat_number, a.vat_number.as_deref().unwrap_or("")),
        ..AccountPatch::default()
    };
    match v
        .portal
        .engine()
        .update_account_by(
            &v.portal.tenant,
            v.account_id,
            &patch,
            Actor::Owner,
            v.actor(),
            None,
        )
        .await
    {
        Ok(_) => done(&v.portal, "billing", "address"),
        Err(EngineError::Invalid { field, problem }) => {
            // The number and country the account would have had, to word a VAT refusal.
            let number = patch
                .vat_number
                .as_deref()
                .unwrap_or(a.vat_number.as_deref().unwrap_or(""));
            let country = patch.country.as_deref().unwrap_or(&a.country);
            let message = super::vat_refusal(&v.portal.t, &field, &problem, number, country)
                .unwrap_or(problem);
            let errors = vec![FieldError {
                field: field_name(&field),
                message,
            }];
            page(&v, None, errors).await
        }
        Err(EngineError::Forbidden(_)) => {
            let errors = vec![FieldError {
                field: "country",
                message: v.portal.t.get("address.billing_team_only").to_string(),
            }];
            page(&v, None, errors).await
        }
        Err(e) => engine_error(&v.portal, e),
    }
}

fn field_name(field: &str) -> &'static str {
    [
        "line1",
        "line2",
        "postcode",
        "city",
        "state",
        "country",
        "vat_number",
        "billing_contacts",
        "card",
    ]
    .into_iter()
    .find(|f| field.contains(f))
    .unwrap_or("line1")
}

#[derive(Deserialize)]
pub struct ContactsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    contacts: String,
}

pub async fn contacts(v: Viewer, Form(form): Form<ContactsForm>) -> Response {
    if let Err(r) = v.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = v.allow(Action::EditBillingContacts) {
        return r;
    }
    let list: Vec<String> = form
        .contacts
        .split(['\n', ',', ';'])
        .map(|c| c.trim().to_lowercase())
        .filter(|c| !c.is_empty())
        .collect();
    let patch = AccountPatch {
        billing_contacts: Some(list),
        ..AccountPatch::default()
    };
    match v
        .portal
        .engine()
        .update_account_by(
            &v.portal.tenant,
            v.account_id,
            &patch,
            Actor::Owner,
            v.actor(),
            None,
        )
        .await
    {
        Ok(_) => done(&v.portal, "billing", "contacts"),
        Err(EngineError::Invalid { .. }) => {
            let errors = vec![FieldError {
                field: "contacts",
                message: v.portal.t.get("billing.contacts_invalid").to_string(),
            }];
            page(&v, None, errors).await
        }
        Err(e) => engine_error(&v.portal, e),
    }
}

/// A test card typed in a sandbox tenant's form (its number, and `MM/YYYY` or `MM/YY`) as
/// the sandbox gateway's token; otherwise the message key of what is wrong. A live tenant's
/// card never reaches this server (the gateway's own form tokenizes it in the browser).
pub(crate) fn sandbox_card(
    tenant: &prorata_store::Tenant,
    number: &str,
    expiry: &str,
) -> Result<String, &'static str> {
    if tenant.mode != TenantMode::Sandbox {
        return Err("billing.card_live");
    }
    let (month, year) = expiry
        .trim()
        .split_once('/')
        .and_then(|(m, y)| Some((m.trim().parse::<u32>().ok()?, y.trim().parse::<i32>().ok()?)))
        .map(|(m, y)| (m, if y < 100 { y + 2000 } else { y }))
        .ok_or("billing.expiry_invalid")?;
    SandboxGateway::tokenize_card(tenant.id, number, month, year)
        .map_err(|_| "billing.card_invalid")
}

#[derive(Deserialize)]
pub struct CardForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    expiry: String,
}

/// Sandbox tenants type a test card here, which the sandbox gateway turns into a token (in
/// production the gateway's own form makes the token in the browser: the number never
/// reaches this server, and this form is not shown).
pub async fn card(v: Viewer, Form(form): Form<CardForm>) -> Response {
    if let Err(r) = v.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = v.allow(Action::ManagePaymentMethod) {
        return r;
    }
    let p = &v.portal;
    let card_error = |key: &str| FieldError {
        field: "card",
        message: p.t.get(key).to_string(),
    };
    let token = match sandbox_card(&p.tenant, &form.number, &form.expiry) {
        Ok(t) => t,
        Err(key) => return page(&v, None, vec![card_error(key)]).await,
    };
    match p
        .engine()
        .add_payment_method(&p.tenant, v.account_id, &NewPaymentMethod::Card { token })
        .await
    {
        Ok(_) => done(p, "billing", "card"),
        Err(EngineError::PaymentRefused(m)) => {
            let e = FieldError {
                field: "card",
                message: p.t.fmt("billing.card_refused", &[("reason", &m)]),
            };
            page(&v, None, vec![e]).await
        }
        Err(EngineError::Invalid { .. }) => {
            page(&v, None, vec![card_error("billing.card_invalid")]).await
        }
        Err(e) => engine_error(p, e),
    }
}

pub async fn pay(v: Viewer, Form(form): Form<super::CsrfForm>) -> Response {
    if let Err(r) = v.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = v.allow(Action::Pay) {
        return r;
    }
    let p = &v.portal;
    match p.engine().pay_now(&p.tenant, v.account_id).await {
        Ok(s) if s.failed > 0 => {
            let e = FieldError {
                field: "card",
                message: p.t.get("billing.pay_failed").to_string(),
            };
            page(&v, None, vec![e]).await
        }
        Ok(_) => done(p, "billing", "paid"),
        Err(e) => engine_error(p, e),
    }
}
