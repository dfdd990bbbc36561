//! Users: the account's people and their roles; invite, remove, transfer ownership.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use prorata_core::access::{self, Action, Role, UserStatus};
use prorata_core::Lang;
use prorata_engine::people::PersonSpec;
use serde::Deserialize;

use super::auth::FieldError;
use super::{done, engine_error, flash, render, Chrome, CsrfForm};
use crate::ctx::Viewer;

pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: String,
    pub status: String,
    pub may_remove: bool,
    pub may_make_owner: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
pub struct UsersPage {
    pub chrome: Chrome,
    pub users: Vec<UserRow>,
    pub may_invite: bool,
    pub errors: Vec<FieldError>,
    pub email: String,
    pub name: String,
}

async fn page(
    v: &Viewer,
    flash_key: Option<&str>,
    errors: Vec<FieldError>,
    form: Option<&InviteForm>,
) -> Response {
    let t = &v.portal.t;
    let users = match v
        .portal
        .engine()
        .account_users(&v.portal.tenant, v.account_id)
        .await
    {
        Ok(u) => u,
        Err(e) => return engine_error(&v.portal, e),
    };
    let rows = users
        .into_iter()
        .filter(|u| u.status != UserStatus::Disabled)
        .map(|u| {
            let on = |action| {
                u.id != v.user.id
                    && access::decide_on_user(v.person(), action, v.target(), u.role).is_ok()
            };
            UserRow {
                may_remove: on(Action::ManageUsers),
                may_make_owner: on(Action::TransferOwnership) && u.status == UserStatus::Active,
                id: u.id,
                role: t.get(&format!("role.{}", u.role.as_str())).to_string(),
                status: t.get(&format!("status.{}", u.status.as_str())).to_string(),
                name: u.name,
                email: u.email,
            }
        })
        .collect();
    let status = super::form_status(&errors);
    render(
        status,
        &UsersPage {
            chrome: Chrome::signed_in(v, "users", flash_key),
            users: rows,
            may_invite: v.may(Action::ManageUsers),
            errors,
            email: form.map(|f| f.email.clone()).unwrap_or_default(),
            name: form.map(|f| f.name.clone()).unwrap_or_default(),
        },
    )
}

pub async fn show(v: Viewer, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Err(r) = v.allow(Action::ViewUsers) {
        return r;
    }
    page(&v, flash(&q), Vec::new(), None).await
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    language: String,
}

pub async fn invite(v: Viewer, Form(form): Form<InviteForm>) -> Response {
    if let Err(r) = v.portal.check_csrf(&form.csrf) {
        return r;
    }
    let role = match form.role.as_str() {
        "admin" => Role::Admin,
        _ => Role::Agent,
    };
    if let Err(d) = access::decide_on_user(v.person(), Action::ManageUsers, v.target(), role) {
        return v.denied(d);
    }
    let spec = PersonSpec {
        account_id: Some(v.account_id),
        role,
        email: form.email.clone(),
        name: form.name.clone(),
        language: Lang::parse(&form.language).unwrap_or(Lang::En),
    };
    match v
        .portal
        .engine()
        .invite_user(&v.portal.tenant, &spec, Some(&v.user.name))
        .await
    {
        Ok(_) => done(&v.portal, "users", "invited"),
        Err(prorata_engine::EngineError::Invalid { field, .. }) => {
            let (field, key) = if field == "email" {
                ("email", "users.email_invalid")
            } else {
                ("name", "users.name_invalid")
            };
            let errors = vec![FieldError {
                field,
                message: v.portal.t.get(key).to_string(),
            }];
            page(&v, None, errors, Some(&form)).await
        }
        Err(prorata_engine::EngineError::Conflict(_)) => {
            let errors = vec![FieldError {
                field: "email",
                message: v.portal.t.get("users.email_taken").to_string(),
            }];
            page(&v, None, errors, Some(&form)).await
        }
        Err(e) => engine_error(&v.portal, e),
    }
}

/// The subject of a user action: a user of the viewer's own account, else not found.
async fn subject(v: &Viewer, id: i64) -> Result<prorata_store::User, Response> {
    match v.portal.engine().user(&v.portal.tenant, id).await {
        Ok(u) if u.account_id == Some(v.account_id) => Ok(u),
        Ok(_) | Err(prorata_engine::EngineError::NotFound(_)) => Err(super::error_page(
            &v.portal,
            StatusCode::NOT_FOUND,
            "error.not_found",
        )),
        Err(e) => Err(engine_error(&v.portal, e)),
    }
}

pub async fn remove(
    v: Viewer,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = v.portal.check_csrf(&form.csrf) {
        return r;
    }
    let u = match subject(&v, id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(d) = access::decide_on_user(v.person(), Action::ManageUsers, v.target(), u.role) {
        return v.denied(d);
    }
    match v
        .portal
        .engine()
        .remove_user(&v.portal.tenant, v.account_id, u.id)
        .await
    {
        Ok(()) => done(&v.portal, "users", "removed"),
        Err(e) => engine_error(&v.portal, e),
    }
}

pub async fn make_owner(
    v: Viewer,
    Path((_, id)): Path<(String, i64)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = v.portal.check_csrf(&form.csrf) {
        return r;
    }
    let u = match subject(&v, id).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(d) =
        access::decide_on_user(v.person(), Action::TransferOwnership, v.target(), u.role)
    {
        return v.denied(d);
    }
    match v
        .portal
        .engine()
        .transfer_ownership(&v.portal.tenant, v.account_id, u.id)
        .await
    {
        Ok(()) => done(&v.portal, "users", "owner"),
        Err(e) => engine_error(&v.portal, e),
    }
}
