//! The page a pay link opens (`/portal/{tenant}/pay/{token}`), without sign-in: what the
//! account owes (the invoices the e-mail named, the amount due — figures from the engine),
//! and a form to pay it with the card on file or, in a sandbox, a test card typed here, as
//! the Billing tab takes one. The link is signed and expires (`prorata_engine::pay_links`);
//! an altered or expired link gets a page saying so, never an error. Paying twice charges
//! once: once the account owes nothing, the page says it is paid and the form is gone.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use prorata_engine::pay_links::{PayLink, PayLinkRefusal, PayOutcome};
use prorata_engine::people::unix_now;
use prorata_engine::{EngineError, NewPaymentMethod};
use prorata_store::TenantMode;
use serde::Deserialize;

use super::auth::FieldError;
use super::billing::method_text;
use super::{engine_error, render, Chrome, MessagePage};
use crate::ctx::Portal;
use crate::format::{date, money};

pub struct InvoiceRow {
    pub number: String,
    pub issued: String,
    pub due: String,
    pub total: String,
}

#[derive(Template)]
#[template(path = "pay.html")]
pub struct PayPage {
    pub chrome: Chrome,
    /// Where the forms post (the link itself, with the page's language).
    pub action: String,
    pub account_name: String,
    pub invoices: Vec<InvoiceRow>,
    pub balance: String,
    /// The account owes something: the forms are shown.
    pub owes: bool,
    pub method: String,
    /// A card on file the gateway can charge.
    pub chargeable: bool,
    pub sandbox: bool,
    pub expires: String,
    pub errors: Vec<FieldError>,
}

/// The link of `token`, or the page saying why it does not open.
fn open(p: &Portal, token: &str) -> Result<PayLink, Response> {
    p.engine()
        .pay_link(p.tenant.id, token, unix_now())
        .map_err(|why| match why {
            PayLinkRefusal::Expired => refused(p, StatusCode::GONE, "pay.expired"),
            PayLinkRefusal::Invalid => refused(p, StatusCode::NOT_FOUND, "pay.invalid"),
        })
}

/// A link that does not open: a short title, what to do instead, and the way to sign in.
fn refused(p: &Portal, status: StatusCode, key: &str) -> Response {
    let title = format!("{key}_title");
    let chrome = Chrome::public(p, &title);
    render(
        status,
        &MessagePage {
            message: p.t.get(&title).to_string(),
            chrome,
            detail: Some(p.t.get(key).to_string()),
        },
    )
}

async fn page(
    p: &Portal,
    token: &str,
    link: &PayLink,
    flash: Option<&str>,
    errors: Vec<FieldError>,
    status: StatusCode,
) -> Response {
    let t = &p.t;
    let lang = t.lang;
    let view = match p.engine().pay_link_view(&p.tenant, link).await {
        Ok(v) => v,
        // The account is gone (purged, or never this tenant's): the link pays nothing.
        Err(EngineError::NotFound(_)) => return refused(p, StatusCode::NOT_FOUND, "pay.invalid"),
        Err(e) => return engine_error(p, e),
    };
    let owes = view.balance.minor() > 0;
    let mut chrome = Chrome::public(p, "pay.title");
    chrome.company = Some(view.account_name.clone());
    chrome.here = format!("{}/pay/{token}", p.base);
    chrome.flash = flash.map(|k| t.get(k).to_string());
    let expires = prorata_engine::pay_links::last_day(link.expires_at)
        .map(|d| date(lang, d))
        .unwrap_or_default();
    render(
        status,
        &PayPage {
            chrome,
            action: format!("{}/pay/{token}?lang={}", p.base, lang.as_str()),
            account_name: view.account_name,
            invoices: view
                .invoices
                .into_iter()
                .map(|i| InvoiceRow {
                    number: i.number,
                    issued: date(lang, i.issued_on),
                    due: i.due_on.map(|d| date(lang, d)).unwrap_or_default(),
                    total: money(lang, i.total),
                })
                .collect(),
            balance: money(lang, view.balance),
            owes,
            method: method_text(t, view.method.as_ref()),
            chargeable: view
                .method
                .as_ref()
                .and_then(prorata_core::payment::PaymentMethod::token)
                .is_some(),
            sandbox: p.tenant.mode == TenantMode::Sandbox,
            expires,
            errors,
        },
    )
}

pub async fn show(
    portal: Portal,
    Path((_, token)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let link = match open(&portal, &token) {
        Ok(l) => l,
        Err(r) => return r,
    };
    // After a POST the page comes back saying what happened; the figures are read again.
    let flash = if q.contains_key("paid") {
        Some("pay.thanks")
    } else if q.contains_key("seen") {
        Some("pay.already_paid")
    } else {
        None
    };
    page(&portal, &token, &link, flash, Vec::new(), StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct PayForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    number: String,
    #[serde(default)]
    expiry: String,
}

pub async fn pay(
    portal: Portal,
    Path((_, token)): Path<(String, String)>,
    Form(form): Form<PayForm>,
) -> Response {
    if let Err(r) = portal.check_csrf(&form.csrf) {
        return r;
    }
    let link = match open(&portal, &token) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let p = &portal;
    let again = |key: &str, detail: Option<&str>| {
        let message = match detail {
            Some(d) => p.t.fmt1(key, "reason", d),
            None => p.t.get(key).to_string(),
        };
        vec![FieldError {
            field: "card",
            message,
        }]
    };
    // A card typed here (sandbox only, as on the Billing tab) replaces the one on file.
    let card = if form.number.trim().is_empty() {
        None
    } else {
        match super::billing::sandbox_card(&p.tenant, &form.number, &form.expiry) {
            Ok(token) => Some(NewPaymentMethod::Card { token }),
            Err(key) => {
                let e = again(key, None);
                return page(p, &token, &link, None, e, StatusCode::UNPROCESSABLE_ENTITY).await;
            }
        }
    };
    let back = |key: &str| {
        Redirect::to(&format!(
            "{}/pay/{token}?lang={}&{key}=1",
            p.base,
            p.t.lang.as_str()
        ))
        .into_response()
    };
    match p.engine().pay_by_link(&p.tenant, &link, card).await {
        Ok(PayOutcome::Paid(_)) => back("paid"),
        // Paid already (a second submit, another tab): nothing charged, the page says paid.
        Ok(PayOutcome::NothingOwed) => back("seen"),
        Ok(PayOutcome::Declined(code)) => {
            let e = again("pay.declined", Some(p.t.get(reason_key(code.as_deref()))));
            page(p, &token, &link, None, e, StatusCode::PAYMENT_REQUIRED).await
        }
        Err(EngineError::PaymentRefused(m)) => {
            let e = again("billing.card_refused", Some(&m));
            page(p, &token, &link, None, e, StatusCode::PAYMENT_REQUIRED).await
        }
        Err(EngineError::Invalid { .. }) => {
            let e = again("pay.no_card", None);
            page(p, &token, &link, None, e, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => engine_error(p, e),
    }
}

/// The message saying why the bank refused, from the gateway's decline code (the e-mails
/// say the same, `prorata_docs::mail::decline_reason`).
fn reason_key(code: Option<&str>) -> &'static str {
    match code {
        Some("insufficient_funds") => "pay.reason_insufficient_funds",
        Some("expired_card") => "pay.reason_expired_card",
        Some("stolen_card" | "lost_card") => "pay.reason_stolen_card",
        Some("processing_error") => "pay.reason_processing_error",
        _ => "pay.reason_other",
    }
}
