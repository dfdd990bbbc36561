//! The staff's second step of sign-in: enrolling an authenticator app (its key shown once,
//! confirmed by a first code, then ten recovery codes shown once), or giving a code.

use askama::Template;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use prorata_engine::second_factor::{Enrolment, Verified};
use prorata_engine::EngineError;
use serde::Deserialize;

use crate::ctx::{cookie, Portal, SESSION_COOKIE};
use crate::pages::auth::FieldError;
use crate::pages::{engine_error, render, Chrome};

#[derive(Template)]
#[template(path = "staff_second_factor.html")]
pub struct SecondFactorPage {
    pub chrome: Chrome,
    pub name: String,
    /// Enrolling: the key in groups of four, and the same as an `otpauth://` link.
    pub key: Option<String>,
    pub uri: Option<String>,
    pub recovery_left: i64,
    pub errors: Vec<FieldError>,
}

#[derive(Template)]
#[template(path = "staff_recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub chrome: Chrome,
    pub codes: Vec<String>,
}

fn grouped(key: &str) -> String {
    key.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn page(
    portal: &Portal,
    session: &str,
    status: StatusCode,
    errors: Vec<FieldError>,
) -> Response {
    match portal.engine().second_factor(&portal.tenant, session).await {
        Ok((user, enrolment)) => {
            let (key, uri, recovery_left) = match enrolment {
                Enrolment::Enrolling { key, uri } => (Some(grouped(&key)), Some(uri), 0),
                Enrolment::Enrolled { recovery_left } => (None, None, recovery_left),
            };
            let mut t = portal.t.clone();
            t.lang = user.language;
            let mut chrome = Chrome::public(portal, "second_factor.title");
            chrome.t = t;
            chrome.title = chrome.t.get("second_factor.title").to_string();
            render(
                status,
                &SecondFactorPage {
                    chrome,
                    name: user.name,
                    key,
                    uri,
                    recovery_left,
                    errors,
                },
            )
        }
        // No sign-in waits here (signed out, a customer, or done already): start over.
        Err(EngineError::Forbidden(_)) => {
            Redirect::to(&format!("{}/sign-in", portal.base)).into_response()
        }
        Err(e) => engine_error(portal, e),
    }
}

pub async fn show(portal: Portal, headers: HeaderMap) -> Response {
    let session = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    page(&portal, &session, StatusCode::OK, Vec::new()).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

pub async fn verify(portal: Portal, headers: HeaderMap, Form(form): Form<CodeForm>) -> Response {
    if let Err(r) = portal.check_csrf(&form.csrf) {
        return r;
    }
    let session = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
    let now = prorata_engine::people::unix_now();
    let outcome = portal
        .engine()
        .verify_second_factor(&portal.tenant, &session, &form.code, now)
        .await;
    let (status, key) = match outcome {
        Ok(Verified::Accepted {
            session_id,
            recovery_codes,
        }) => {
            let set_cookie = (header::SET_COOKIE, portal.session_cookie(&session_id));
            if recovery_codes.is_empty() {
                let to = format!("{}/staff", portal.base);
                return ([set_cookie, (header::LOCATION, to)], StatusCode::SEE_OTHER)
                    .into_response();
            }
            let chrome = Chrome::public(&portal, "second_factor.recovery_title");
            let mut res = render(
                StatusCode::OK,
                &RecoveryCodesPage {
                    chrome,
                    codes: recovery_codes,
                },
            );
            if let Ok(v) = set_cookie.1.parse() {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
            return res;
        }
        Ok(Verified::Wrong) => (StatusCode::UNAUTHORIZED, "second_factor.wrong"),
        Ok(Verified::Throttled) => (StatusCode::TOO_MANY_REQUESTS, "second_factor.throttled"),
        Err(EngineError::Forbidden(_)) => {
            return Redirect::to(&format!("{}/sign-in", portal.base)).into_response()
        }
        Err(e) => return engine_error(&portal, e),
    };
    let errors = vec![FieldError {
        field: "code",
        message: portal.t.get(key).to_string(),
    }];
    page(&portal, &session, status, errors).await
}
