//! What every portal request starts from: the tenant named in the path, the visitor's
//! language, the CSRF cookie and, for pages behind sign-in, the user, their account and its
//! standing — and the one way a handler asks the access policy.

use axum::extract::{FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use prorata_core::access::{self, Action, Denial, Person, Target};
use prorata_core::account::Account;
use prorata_core::dunning::{Notice, Standing};
use prorata_core::Lang;
use prorata_engine::people::{AsPerson, CustomerAccount, Visit};
use prorata_engine::EngineError;
use prorata_store::{Tenant, User};

use crate::i18n::{negotiate, Messages};
use crate::pages::{error_page, render, MessagePage};
use crate::WebState;

pub const SESSION_COOKIE: &str = "prorata_session";
pub const CSRF_COOKIE: &str = "prorata_csrf";
const LANG_COOKIE: &str = "prorata_lang";
/// The vendor's return URL of a portal session ("back to …").
pub const RETURN_COOKIE: &str = "prorata_return";

/// A cookie value holding any text: hex, so no character can break the header.
pub fn encode_cookie(text: &str) -> String {
    prorata_engine::hex(text.as_bytes())
}

pub fn decode_cookie(hex: &str) -> Option<String> {
    if hex.len() > 4000 {
        return None;
    }
    String::from_utf8(prorata_engine::unhex(hex)?).ok()
}

/// The value of cookie `name` in `headers`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The CSRF cookie, made on the first visit: a random value the browser sends back, and
/// which only this server can turn into the token forms carry (an HMAC under its key).
#[derive(Debug, Clone)]
pub struct CsrfCookie(pub String);

pub async fn csrf_cookie(
    axum::extract::State(state): axum::extract::State<WebState>,
    mut req: Request,
    next: Next,
) -> Response {
    let existing = cookie(req.headers(), CSRF_COOKIE).filter(|c| c.len() == 32);
    let fresh = match existing {
        Some(c) => {
            req.extensions_mut().insert(CsrfCookie(c));
            None
        }
        None => prorata_engine::random_hex(16).ok().inspect(|c| {
            req.extensions_mut().insert(CsrfCookie(c.clone()));
        }),
    };
    let secure = state.config.secure_cookies;
    let mut res = next.run(req).await;
    if let Some(c) = fresh {
        if let Ok(v) =
            HeaderValue::from_str(&cookie_header(CSRF_COOKIE, &c, "/portal", secure, None))
        {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

pub fn cookie_header(
    name: &str,
    value: &str,
    path: &str,
    secure: bool,
    max_age: Option<i64>,
) -> String {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

/// The portal of one tenant, as a visitor sees it.
#[derive(Clone)]
pub struct Portal {
    pub tenant: Tenant,
    pub t: Messages,
    pub csrf_cookie: String,
    pub base: String,
    pub secure: bool,
    state: WebState,
}

impl Portal {
    /// The token this visitor's forms carry.
    pub fn csrf_token(&self) -> String {
        let mac = self
            .state
            .engine
            .secret
            .mac(&format!("csrf:{}", self.csrf_cookie));
        mac.chars().take(32).collect()
    }

    /// Checks a posted form's token: a forged or missing one is a 403.
    pub fn check_csrf(&self, token: &str) -> Result<(), Response> {
        if !self.csrf_cookie.is_empty()
            && prorata_engine::constant_time_eq(token, &self.csrf_token())
        {
            return Ok(());
        }
        Err(error_page(self, StatusCode::FORBIDDEN, "error.csrf"))
    }

    pub fn engine(&self) -> &prorata_engine::Engine {
        &self.state.engine
    }

    /// A `Set-Cookie` for this tenant's session.
    pub fn session_cookie(&self, id: &str) -> String {
        cookie_header(SESSION_COOKIE, id, &self.base, self.secure, None)
    }

    pub fn clear_session_cookie(&self) -> String {
        cookie_header(SESSION_COOKIE, "", &self.base, self.secure, Some(0))
    }

    pub fn lang_cookie(&self, lang: Lang) -> String {
        cookie_header(
            LANG_COOKIE,
            lang.as_str(),
            "/portal",
            self.secure,
            Some(365 * 86400),
        )
    }
}

fn query_lang(parts: &Parts) -> Option<Lang> {
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("lang="))
        .and_then(Lang::parse)
}

/// The portal's slug in the path.
async fn slug(parts: &mut Parts, state: &WebState) -> String {
    RawPathParams::from_request_parts(parts, state)
        .await
        .ok()
        .and_then(|p| {
            p.iter()
                .find(|(k, _)| *k == "tenant")
                .map(|(_, v)| v.to_string())
        })
        .unwrap_or_default()
}

/// The visitor's language: asked in the query, else remembered, else `Accept-Language`.
fn visitor_lang(parts: &Parts) -> Lang {
    query_lang(parts)
        .or_else(|| cookie(&parts.headers, LANG_COOKIE).and_then(|c| Lang::parse(&c)))
        .or_else(|| {
            parts
                .headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(negotiate)
        })
        .unwrap_or(Lang::En)
}

impl Portal {
    fn new(parts: &Parts, state: &WebState, tenant: Tenant, t: Messages) -> Portal {
        let csrf_cookie = parts
            .extensions
            .get::<CsrfCookie>()
            .map(|c| c.0.clone())
            .unwrap_or_default();
        Portal {
            base: format!("/portal/{}", tenant.slug),
            tenant,
            t,
            csrf_cookie,
            secure: state.config.secure_cookies,
            state: state.clone(),
        }
    }
}

/// The engine's reading of the request: the tenant, and who is signed in.
async fn visit(
    parts: &mut Parts,
    state: &WebState,
    session: Option<&str>,
) -> Result<(Visit, Messages), Response> {
    let slug = slug(parts, state).await;
    let t = Messages::new(state.messages.clone(), visitor_lang(parts));
    match state.engine.visit(&slug, session).await {
        Ok(Visit::NoTenant) => Err(render(
            StatusCode::NOT_FOUND,
            &MessagePage::bare(t, "error.no_portal"),
        )),
        Ok(v) => Ok((v, t)),
        Err(e) => Err(internal(&t, e)),
    }
}

impl FromRequestParts<WebState> for Portal {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        let (v, t) = visit(parts, state, None).await?;
        let tenant = match v {
            Visit::Anonymous(tenant) | Visit::SignedIn { tenant, .. } => tenant,
            Visit::NoTenant => return Err(internal(&t, EngineError::NotFound("tenant"))),
        };
        Ok(Portal::new(parts, state, tenant, t))
    }
}

/// A server fault: logged once here, never shown.
pub fn internal(t: &Messages, e: EngineError) -> Response {
    eprintln!("portal: {e}");
    render(
        StatusCode::INTERNAL_SERVER_ERROR,
        &MessagePage::bare(t.clone(), "error.internal"),
    )
}

/// The client's address, for the audit trail (absent when the router is called without a
/// socket, as in tests).
fn client_address(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

/// The request's signed-in person, read once: their portal, their user, a customer's account
/// (`None` for staff) and whether every factor was given; a visitor not signed in is sent to
/// sign in.
async fn signed_in(
    parts: &mut Parts,
    state: &WebState,
) -> Result<(Portal, User, Option<Box<CustomerAccount>>, bool), Response> {
    let session_id = cookie(&parts.headers, SESSION_COOKIE);
    let (visit, t) = visit(parts, state, session_id.as_deref()).await?;
    match visit {
        Visit::SignedIn {
            tenant,
            user,
            account,
            verified,
        } => Ok((
            Portal::new(parts, state, tenant, t),
            user,
            account,
            verified,
        )),
        Visit::Anonymous(tenant) => {
            let to = format!("/portal/{}/sign-in", tenant.slug);
            Err(Redirect::to(&to).into_response())
        }
        Visit::NoTenant => Err(internal(&t, EngineError::NotFound("tenant"))),
    }
}

/// A signed-in customer user, their account and its standing.
#[derive(Clone)]
pub struct Viewer {
    pub portal: Portal,
    pub user: User,
    pub account_id: i64,
    pub account: Account,
    pub standing: Standing,
    /// Where the vendor's "back to" link goes, for a portal session.
    pub return_url: Option<String>,
    /// The client's address, for the audit trail (absent in tests that call the router
    /// directly, without a socket).
    pub address: Option<String>,
}

impl FromRequestParts<WebState> for Viewer {
    type Rejection = Response;

    /// One read of the store for the whole request: tenant, session, user, account, standing.
    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        let (mut portal, user, account, _) = signed_in(parts, state).await?;
        // Staff have their own screens (the back office); the portal is the customer's.
        let Some(customer) = account else {
            return Err(error_page(&portal, StatusCode::FORBIDDEN, "error.staff"));
        };
        let CustomerAccount {
            id: account_id,
            account,
            standing,
        } = *customer;
        if query_lang(parts).is_none() {
            portal.t.lang = user.language;
        }
        let viewer = Viewer {
            portal,
            user,
            account_id,
            account,
            standing,
            return_url: cookie(&parts.headers, RETURN_COOKIE).and_then(|c| decode_cookie(&c)),
            address: client_address(parts),
        };
        // Enforced on every request, not only at sign-in: an account suspended since loses
        // its agents' and admins' sessions at once.
        viewer.allow(Action::SignIn)?;
        Ok(viewer)
    }
}

/// A signed-in member of the tenant's staff (billing team, account manager, tenant admin):
/// the back office's visitor. A customer's session is refused here, as staff are refused in
/// the portal.
#[derive(Clone)]
pub struct Staff {
    pub portal: Portal,
    pub user: User,
    /// The client's address, for the audit trail.
    pub address: Option<String>,
}

impl FromRequestParts<WebState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        let (mut portal, user, account, verified) = signed_in(parts, state).await?;
        if query_lang(parts).is_none() {
            portal.t.lang = user.language;
        }
        if account.is_some() || user.role.is_customer() {
            return Err(error_page(
                &portal,
                StatusCode::FORBIDDEN,
                "error.not_staff",
            ));
        }
        // The password alone reaches nothing but the second factor's page.
        if !verified {
            let to = format!("{}/staff/second-factor", portal.base);
            return Err(Redirect::to(&to).into_response());
        }
        Ok(Staff {
            portal,
            user,
            address: client_address(parts),
        })
    }
}

impl Staff {
    /// Whether this person's role may do `action` (staff act on any account of the tenant).
    pub fn may(&self, action: Action) -> bool {
        access::staff_may(self.user.role, action)
    }

    /// The policy's answer as a page: 403 when the role may not.
    pub fn allow(&self, action: Action) -> Result<(), Response> {
        if self.may(action) {
            Ok(())
        } else {
            Err(error_page(
                &self.portal,
                StatusCode::FORBIDDEN,
                "denied.staff_role",
            ))
        }
    }

    /// This person, as the engine's use cases record them.
    pub fn actor(&self) -> prorata_engine::tickets::Actor<'_> {
        prorata_engine::tickets::Actor {
            user_id: Some(self.user.id),
            role: Some(self.user.role),
            address: self.address.as_deref(),
        }
    }
}

impl Viewer {
    /// This person, as the engine's use cases record them in the audit trail.
    pub fn actor(&self) -> prorata_engine::tickets::Actor<'_> {
        prorata_engine::tickets::Actor {
            user_id: Some(self.user.id),
            role: Some(self.user.role),
            address: self.address.as_deref(),
        }
    }

    pub fn person(&self) -> Person {
        self.user.person()
    }

    pub fn target(&self) -> Target {
        Target {
            account_id: self.account_id,
            standing: self.standing.status,
        }
    }

    pub fn may(&self, action: Action) -> bool {
        access::decide(self.person(), action, self.target()).is_ok()
    }

    /// The policy's answer as a page: 403 with the reason.
    pub fn allow(&self, action: Action) -> Result<(), Response> {
        access::decide(self.person(), action, self.target()).map_err(|d| self.denied(d))
    }

    pub fn denied(&self, d: Denial) -> Response {
        let key = match d {
            Denial::PayOnly => "denied.pay_only",
            Denial::NoAccess => "denied.no_access",
            Denial::OtherAccount | Denial::Role { .. } => "denied.role",
        };
        error_page(&self.portal, StatusCode::FORBIDDEN, key)
    }

    /// The banner this user sees (seed 004: owner and admins from +4, everyone from +21).
    pub fn banner(&self) -> Option<Notice> {
        self.standing.banner_for(self.user.role)
    }
}
