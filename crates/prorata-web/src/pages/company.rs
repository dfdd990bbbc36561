//! General: logo, company name, website (seed 003).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Multipart, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use prorata_core::access::{self, Action, Denial};
use prorata_core::account::{AccountPatch, Actor};
use serde::Deserialize;

use super::auth::FieldError;
use super::{attachment, done, engine_error, flash, render, Chrome};
use crate::ctx::Viewer;

#[derive(Template)]
#[template(path = "company.html")]
pub struct CompanyPage {
    pub chrome: Chrome,
    pub name: String,
    pub website: String,
    pub has_logo: bool,
    pub may_edit: bool,
    pub errors: Vec<FieldError>,
}

async fn page(v: &Viewer, flash_key: Option<&str>, errors: Vec<FieldError>) -> Response {
    let has_logo = match v.portal.engine().logo(&v.portal.tenant, v.account_id).await {
        Ok(l) => l.is_some(),
        Err(e) => return engine_error(&v.portal, e),
    };
    let status = super::form_status(&errors);
    render(
        status,
        &CompanyPage {
            chrome: Chrome::signed_in(v, "company", flash_key),
            name: v.account.name.clone(),
            website: v.account.website.clone(),
            has_logo,
            may_edit: v.may(Action::EditCompany),
            errors,
        },
    )
}

pub async fn show(v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    // The home page after sign-in: an owner whose account may only pay goes to pay.
    if access::decide(v.person(), Action::ViewCompany, v.target()) == Err(Denial::PayOnly) {
        return Redirect::to(&format!("{}/billing", v.portal.base)).into_response();
    }
    if let Err(r) = v.allow(Action::ViewCompany) {
        return r;
    }
    page(&v, flash(&q), Vec::new()).await
}

#[derive(Deserialize)]
pub struct CompanyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    website: String,
}

pub async fn update(v: Viewer, Form(form): Form<CompanyForm>) -> Response {
    if let Err(r) = v.portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(r) = v.allow(Action::EditCompany) {
        return r;
    }
    let website = form.website.trim();
    if !(website.is_empty() || website.starts_with("https://") || website.starts_with("http://")) {
        let errors = vec![FieldError {
            field: "website",
            message: v.portal.t.get("company.website_invalid").to_string(),
        }];
        return page(&v, None, errors).await;
    }
    let patch = AccountPatch {
        name: Some(form.name.trim().to_string()),
        website: Some(website.to_string()),
        ..AccountPatch::default()
    };
    // Name and website are no billing detail: the owner's rule of seed 003 applies to the
    // address fields only, so the change is made as the billing team would.
    match v
        .portal
        .engine()
        .update_account_by(
            &v.portal.tenant,
            v.account_id,
            &patch,
            Actor::BillingTeam,
            v.actor(),
            None,
        )
        .await
    {
        Ok(_) => done(&v.portal, "company", "company"),
        Err(prorata_engine::EngineError::Invalid { field, problem }) => {
            let errors = vec![FieldError {
                field: if field.contains("website") {
                    "website"
                } else {
                    "name"
                },
                message: problem,
            }];
            page(&v, None, errors).await
        }
        Err(e) => engine_error(&v.portal, e),
    }
}

pub async fn logo(v: Viewer) -> Response {
    if let Err(r) = v.allow(Action::ViewCompany) {
        return r;
    }
    match v.portal.engine().logo(&v.portal.tenant, v.account_id).await {
        Ok(Some((png, _))) => {
            let mut r = attachment(png, "image/png", "logo.png");
            // Shown inline in the page; still never sniffed.
            r.headers_mut().insert(
                axum::http::header::CONTENT_DISPOSITION,
                axum::http::HeaderValue::from_static("inline; filename=\"logo.png\""),
            );
            r
        }
        Ok(None) => super::error_page(&v.portal, StatusCode::NOT_FOUND, "error.not_found"),
        Err(e) => engine_error(&v.portal, e),
    }
}

/// The logo form posts `multipart/form-data`: the CSRF token first, then the file.
pub async fn upload_logo(v: Viewer, mut form: Multipart) -> Response {
    let mut csrf = String::new();
    let mut file: Option<Vec<u8>> = None;
    let mut too_large = false;
    while let Ok(Some(mut field)) = form.next_field().await {
        match field.name() {
            Some("csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("logo") => {
                let mut bytes = Vec::new();
                while let Ok(Some(chunk)) = field.chunk().await {
                    if bytes.len() + chunk.len() > crate::logo::MAX_BYTES {
                        too_large = true;
                        break;
                    }
                    bytes.extend_from_slice(&chunk);
                }
                file = Some(bytes);
            }
            _ => {}
        }
    }
    if let Err(r) = v.portal.check_csrf(&csrf) {
        return r;
    }
    if let Err(r) = v.allow(Action::EditCompany) {
        return r;
    }
    let cleaned = match (too_large, file) {
        (true, _) => Err(crate::logo::LogoError::TooLarge),
        (false, Some(bytes)) => tokio::task::spawn_blocking(move || crate::logo::clean(&bytes))
            .await
            .unwrap_or(Err(crate::logo::LogoError::NotAnImage)),
        (false, None) => Err(crate::logo::LogoError::NotAnImage),
    };
    match cleaned {
        Ok(png) => match v
            .portal
            .engine()
            .set_logo(&v.portal.tenant, v.account_id, &png)
            .await
        {
            Ok(()) => done(&v.portal, "company", "logo"),
            Err(e) => engine_error(&v.portal, e),
        },
        Err(e) => {
            let errors = vec![FieldError {
                field: "logo",
                message: v.portal.t.get(e.key()).to_string(),
            }];
            page(&v, None, errors).await
        }
    }
}
