//! # prorata-web: the pages people use
//!
//! The customer portal (`/portal/{tenant}/…`): sign-in, invitations and password resets, the
//! pay page of e-mails' signed pay links (no sign-in),
//! seed 003's "My company" — General, Plan (with upgrades, downgrades and cancellations),
//! Billing (owner only) and Users — and seed 000's Support (billing tickets with files). Pages are rendered on the server from compile-time
//! checked templates (askama); there is no script at all, inline or not, and no CDN: the one
//! stylesheet is served from the binary.
//!
//! A handler reads like an API handler: extract (session → user, then the core's access
//! policy, [`prorata_core::access::decide`]) → one engine use case → a template struct. No
//! SQL, no arithmetic and no permission logic here or in a template: amounts come from the
//! engine and are only formatted ([`format`]).
//!
//! The tenant is named by a slug in the path (`/portal/acme/…`), so one server and one
//! cookie domain serve every tenant; each tenant's cookies are scoped to its path.
//!
//! Security, by the book: server-side sessions (see `prorata_engine::people`), a new session
//! id at every sign-in, cookies `HttpOnly` + `SameSite=Lax` (+ `Secure` behind https), a
//! signed double-submit CSRF token on every form plus an `Origin` check on every POST, and on
//! every response a Content-Security-Policy without inline script, `frame-ancestors 'none'`,
//! `nosniff` and `Referrer-Policy: same-origin` (links carry single-use tokens in their path).

// A refused request is a `Response` returned at once (`if let Err(page) = … { return page }`);
// boxing it would only add noise on the path where it is built.
#![allow(clippy::result_large_err)]

mod ctx;
pub mod format;
pub mod i18n;
mod logo;
mod pages;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use prorata_engine::Engine;

pub use ctx::{CSRF_COOKIE, SESSION_COOKIE};
pub use pages::attachment;

/// How the portal is served.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Cookies are marked `Secure` (the portal is served over https).
    pub secure_cookies: bool,
}

#[derive(Clone)]
pub struct WebState {
    pub engine: Engine,
    pub config: WebConfig,
    pub messages: Arc<i18n::Catalogue>,
}

const CSS: &str = include_str!("../static/portal.css");

/// The portal's routes, under `/portal`.
pub fn router(engine: Engine, config: WebConfig) -> Router {
    let state = WebState {
        engine,
        config,
        messages: Arc::new(i18n::Catalogue::load()),
    };
    let tenant = Router::new()
        .route("/", get(pages::auth::home))
        .route(
            "/sign-in",
            get(pages::auth::sign_in_form).post(pages::auth::sign_in),
        )
        .route("/sign-out", post(pages::auth::sign_out))
        .route("/language", post(pages::auth::set_language))
        .route(
            "/password/{token}",
            get(pages::auth::password_form).post(pages::auth::set_password),
        )
        .route(
            "/reset",
            get(pages::auth::reset_form).post(pages::auth::request_reset),
        )
        .route("/enter/{token}", get(pages::auth::enter))
        .route("/pay/{token}", get(pages::pay::show).post(pages::pay::pay))
        .route(
            "/company",
            get(pages::company::show).post(pages::company::update),
        )
        .route(
            "/company/logo",
            get(pages::company::logo).post(pages::company::upload_logo),
        )
        .route("/plan", get(pages::plan::show))
        .route("/plan/preview", post(pages::plan::preview))
        .route("/plan/submit", post(pages::plan::submit))
        .route("/billing", get(pages::billing::show))
        .route("/billing/documents/{file}", get(pages::billing::document))
        .route("/billing/address", post(pages::billing::address))
        .route("/billing/contacts", post(pages::billing::contacts))
        .route("/billing/card", post(pages::billing::card))
        .route("/billing/pay", post(pages::billing::pay))
        .route("/users", get(pages::users::show).post(pages::users::invite))
        .route("/users/{id}/remove", post(pages::users::remove))
        .route("/users/{id}/owner", post(pages::users::make_owner))
        .route("/support", get(pages::support::list))
        .route(
            "/support/new",
            get(pages::support::form)
                .post(pages::support::file)
                .layer(files_limit()),
        )
        .route("/support/{id}", get(pages::support::show))
        .route(
            "/support/{id}/reply",
            post(pages::support::reply).layer(files_limit()),
        )
        .route("/support/{id}/files/{file}", get(pages::support::download))
        .route("/staff", get(pages::staff::queue::show))
        .route(
            "/staff/second-factor",
            get(pages::staff::second_factor::show).post(pages::staff::second_factor::verify),
        )
        .route("/staff/tickets/{id}", get(pages::staff::ticket::show))
        .route(
            "/staff/tickets/{id}/reply",
            post(pages::staff::ticket::reply).layer(files_limit()),
        )
        .route(
            "/staff/tickets/{id}/status",
            post(pages::staff::ticket::set_status),
        )
        .route(
            "/staff/tickets/{id}/assignment",
            post(pages::staff::ticket::assign),
        )
        .route(
            "/staff/tickets/{id}/transfer",
            post(pages::staff::ticket::record_transfer),
        )
        .route(
            "/staff/tickets/{id}/apply",
            post(pages::staff::ticket::apply_change),
        )
        .route(
            "/staff/tickets/{id}/decline",
            post(pages::staff::ticket::decline_change),
        )
        .route(
            "/staff/tickets/{id}/files/{file}",
            get(pages::staff::ticket::download),
        )
        .route("/staff/settings", get(pages::staff::settings::show))
        .route(
            "/staff/settings/staff",
            post(pages::staff::settings::invite),
        )
        .route(
            "/staff/settings/staff/{id}/{action}",
            post(pages::staff::settings::manage_staff),
        )
        .route(
            "/staff/settings/reasons",
            post(pages::staff::settings::save_reasons),
        )
        .route(
            "/staff/settings/terms",
            post(pages::staff::settings::save_terms),
        )
        .route("/staff/accounts", get(pages::staff::accounts::search))
        .route("/staff/accounts/{id}", get(pages::staff::accounts::show))
        .route(
            "/staff/accounts/{id}/tax",
            post(pages::staff::accounts::change_tax),
        )
        .route(
            "/staff/accounts/{id}/manager",
            post(pages::staff::accounts::set_manager),
        )
        .route(
            "/staff/accounts/{id}/send",
            post(pages::staff::accounts::send_again),
        )
        .route(
            "/staff/accounts/{id}/contacts",
            post(pages::staff::accounts::contact),
        )
        .route(
            "/staff/accounts/{id}/refund",
            post(pages::staff::accounts::refund),
        )
        .route(
            "/staff/accounts/{id}/documents/{file}",
            get(pages::staff::accounts::document),
        );
    // The CSRF cookie is made by pages only: the stylesheet, fetched alongside a visitor's
    // first page, would otherwise answer with a second cookie that replaces the first.
    let tenant = tenant.layer(middleware::from_fn_with_state(
        state.clone(),
        ctx::csrf_cookie,
    ));
    Router::new()
        .route("/portal/static/portal.css", get(css))
        .nest("/portal/{tenant}", tenant)
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// The body limit of the forms that carry files (a message's attachments).
fn files_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(prorata_core::tickets::MAX_REQUEST_BYTES)
}

/// Whether `path` is a portal form that carries files: the server's buffering layer takes
/// their bodies up to [`prorata_core::tickets::MAX_REQUEST_BYTES`] (the routes say so too).
pub fn takes_files(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["", "portal", _, "support", "new"] => true,
        ["", "portal", _, "support", id, "reply"]
        | ["", "portal", _, "staff", "tickets", id, "reply"] => {
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

/// Headers every portal response carries, and the `Origin` check of every POST: a form
/// posted from another site is refused before any handler runs (the CSRF token is checked
/// by the handler as well).
async fn security_headers(req: Request, next: Next) -> Response {
    if req.method() == Method::POST && !same_origin(&req) {
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Never sent to another site (links carry tokens in their path); kept within the
        // portal, where `no-referrer` would make browsers post `Origin: null`.
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// A POST whose `Origin` names another host than the one it was sent to is cross-site.
/// Without `Origin` (older clients, tools) the CSRF token alone decides.
fn same_origin(req: &Request) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin = origin.to_str().unwrap_or_default();
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or("\u{0}");
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}
