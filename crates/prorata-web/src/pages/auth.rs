//! Signing in and out, invitations and password resets, portal-session links, language.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Path};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use axum::Form;
use prorata_engine::people::{SignInError, SignedIn, MIN_PASSWORD_CHARS};
use serde::Deserialize;

use super::{engine_error, render, Chrome, CsrfForm};
use crate::ctx::{cookie, Portal, SESSION_COOKIE};

/// A field's error, shown in the summary at the top (linking to the field) and beside it.
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub chrome: Chrome,
    pub email: String,
    pub errors: Vec<FieldError>,
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn home(portal: Portal) -> Response {
    Redirect::to(&format!("{}/company", portal.base)).into_response()
}

pub async fn sign_in_form(portal: Portal) -> Response {
    render(
        StatusCode::OK,
        &SignInPage {
            chrome: Chrome::public(&portal, "signin.title"),
            email: String::new(),
            errors: Vec::new(),
        },
    )
}

/// The client's address, for throttling (absent in tests that call the router directly).
fn address(connect: Option<Extension<ConnectInfo<SocketAddr>>>) -> String {
    connect.map_or_else(|| "unknown".into(), |c| c.0 .0.ip().to_string())
}

/// Where a person lands after sign-in: the customer's "My company", the staff's back office.
fn landing(portal: &Portal, s: &SignedIn) -> String {
    if s.user.role.is_customer() {
        format!("{}/company", portal.base)
    } else {
        format!("{}/staff", portal.base)
    }
}

/// Sets the session cookie of a fresh session and goes to `to`.
fn signed_in(portal: &Portal, s: &SignedIn, to: &str) -> Response {
    (
        [
            (header::SET_COOKIE, portal.session_cookie(&s.session_id)),
            (header::LOCATION, to.to_string()),
        ],
        StatusCode::SEE_OTHER,
    )
        .into_response()
}

pub async fn sign_in(
    portal: Portal,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: axum::http::HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if let Err(r) = portal.check_csrf(&form.csrf) {
        return r;
    }
    let engine = portal.engine();
    // A session the browser already holds is ended: sign-in always makes a new id.
    if let Some(old) = cookie(&headers, SESSION_COOKIE) {
        let _ = engine.sign_out(&portal.tenant, &old).await;
    }
    let outcome = engine
        .sign_in(
            &portal.tenant,
            &form.email,
            &form.password,
            &address(connect),
        )
        .await;
    let (status, key) = match outcome {
        Ok(Ok(s)) => return signed_in(&portal, &s, &landing(&portal, &s)),
        Ok(Err(SignInError::BadCredentials)) => (StatusCode::UNAUTHORIZED, "signin.bad"),
        Ok(Err(SignInError::Throttled)) => (StatusCode::TOO_MANY_REQUESTS, "signin.throttled"),
        Ok(Err(SignInError::Denied(_))) => (StatusCode::FORBIDDEN, "signin.denied"),
        Err(e) => return engine_error(&portal, e),
    };
    render(
        status,
        &SignInPage {
            errors: vec![FieldError {
                field: "email",
                message: portal.t.get(key).to_string(),
            }],
            chrome: Chrome::public(&portal, "signin.title"),
            email: form.email.chars().take(254).collect(),
        },
    )
}

pub async fn sign_out(
    portal: Portal,
    headers: axum::http::HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        if let Err(e) = portal.engine().sign_out(&portal.tenant, &id).await {
            return engine_error(&portal, e);
        }
    }
    (
        [
            (header::SET_COOKIE, portal.clear_session_cookie()),
            (header::LOCATION, format!("{}/sign-in", portal.base)),
        ],
        StatusCode::SEE_OTHER,
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LanguageForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    back: String,
}

/// Switches the language: a cookie for everyone, and the user's own setting when signed in.
pub async fn set_language(
    portal: Portal,
    headers: axum::http::HeaderMap,
    Form(form): Form<LanguageForm>,
) -> Response {
    if let Err(r) = portal.check_csrf(&form.csrf) {
        return r;
    }
    let Some(lang) = prorata_core::Lang::parse(&form.lang) else {
        return super::error_page(&portal, StatusCode::BAD_REQUEST, "error.not_found");
    };
    let engine = portal.engine();
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        if let Ok(Some(user)) = engine.session_user(&portal.tenant, &id).await {
            if let Err(e) = engine
                .set_user_language(&portal.tenant, user.id, lang)
                .await
            {
                return engine_error(&portal, e);
            }
        }
    }
    // Only a path of this portal: never an open redirect.
    let back = if form.back.starts_with(&format!("{}/", portal.base))
        && !form.back.contains("//")
        && !form.back.contains('\\')
    {
        form.back
    } else {
        format!("{}/sign-in", portal.base)
    };
    (
        [
            (header::SET_COOKIE, portal.lang_cookie(lang)),
            (header::LOCATION, back),
        ],
        StatusCode::SEE_OTHER,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "password.html")]
pub struct PasswordPage {
    pub chrome: Chrome,
    pub token: String,
    pub name: String,
    pub min: usize,
    pub errors: Vec<FieldError>,
}

pub async fn password_form(portal: Portal, Path((_, token)): Path<(String, String)>) -> Response {
    match portal.engine().link_user(&portal.tenant, &token).await {
        Ok(user) => render(
            StatusCode::OK,
            &PasswordPage {
                chrome: Chrome::public(&portal, "password.title"),
                token,
                name: user.name,
                min: MIN_PASSWORD_CHARS,
                errors: Vec::new(),
            },
        ),
        Err(_) => super::error_page(&portal, StatusCode::GONE, "password.link_invalid"),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn set_password(
    portal: Portal,
    Path((_, token)): Path<(String, String)>,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Err(r) = portal.check_csrf(&form.csrf) {
        return r;
    }
    let engine = portal.engine();
    let again = |key: &str, name: String| {
        render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &PasswordPage {
                chrome: Chrome::public(&portal, "password.title"),
                token: token.clone(),
                name,
                min: MIN_PASSWORD_CHARS,
                errors: vec![FieldError {
                    field: "password",
                    message: portal
                        .t
                        .fmt(key, &[("min", &MIN_PASSWORD_CHARS.to_string())]),
                }],
            },
        )
    };
    let user = match engine.link_user(&portal.tenant, &token).await {
        Ok(u) => u,
        Err(_) => return super::error_page(&portal, StatusCode::GONE, "password.link_invalid"),
    };
    if form.password != form.confirm {
        return again("password.mismatch", user.name);
    }
    if prorata_engine::people::check_password(&form.password).is_err() {
        return again("password.too_short", user.name);
    }
    match engine
        .set_password_with_link(&portal.tenant, &token, &form.password)
        .await
    {
        Ok(s) => signed_in(&portal, &s, &landing(&portal, &s)),
        Err(_) => super::error_page(&portal, StatusCode::GONE, "password.link_invalid"),
    }
}

#[derive(Template)]
#[template(path = "reset.html")]
pub struct ResetPage {
    pub chrome: Chrome,
    pub sent: bool,
}

pub async fn reset_form(portal: Portal) -> Response {
    render(
        StatusCode::OK,
        &ResetPage {
            chrome: Chrome::public(&portal, "reset.title"),
            sent: false,
        },
    )
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

pub async fn request_reset(portal: Portal, Form(form): Form<ResetForm>) -> Response {
    if let Err(r) = portal.check_csrf(&form.csrf) {
        return r;
    }
    if let Err(e) = portal
        .engine()
        .request_password_reset(&portal.tenant, &form.email)
        .await
    {
        return engine_error(&portal, e);
    }
    // The same answer whether the address is known or not.
    render(
        StatusCode::OK,
        &ResetPage {
            chrome: Chrome::public(&portal, "reset.title"),
            sent: true,
        },
    )
}

/// A portal-session link from the vendor: opens a session once, and remembers the vendor's
/// return URL for the "back to" link.
pub async fn enter(portal: Portal, Path((_, token)): Path<(String, String)>) -> Response {
    match portal
        .engine()
        .redeem_portal_session(&portal.tenant, &token)
        .await
    {
        Ok((s, return_url)) => {
            let mut res = signed_in(&portal, &s, &format!("{}/company", portal.base));
            if let Some(url) = return_url {
                let c = crate::ctx::cookie_header(
                    crate::ctx::RETURN_COOKIE,
                    &crate::ctx::encode_cookie(&url),
                    &portal.base,
                    portal.secure,
                    None,
                );
                if let Ok(v) = axum::http::HeaderValue::from_str(&c) {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            res
        }
        Err(_) => super::error_page(&portal, StatusCode::GONE, "password.link_invalid"),
    }
}
