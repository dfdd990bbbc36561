//! The portal's test world, shared by the router tests (`portal.rs`) and the browser tests
//! (`browser.rs`): a sandbox tenant on the seed's dates, two customer accounts with their
//! owner, admin and agent, a staff user, a second tenant, and a client that keeps cookies
//! and forms' CSRF tokens the way a browser does.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use chrono::NaiveDate;
use http_body_util::BodyExt;
use prorata_core::access::Role;
use prorata_core::account::{Account, Address};
use prorata_core::reconcile::Settings;
use prorata_core::scenario::SubscriptionSpec;
use prorata_core::{Currency, Frequency, Lang};
use prorata_engine::people::PersonSpec;
use prorata_engine::Engine;
use prorata_server::{app, AppState};
use prorata_store::{Store, Tenant, TenantMode};
use tower::ServiceExt;

pub const CATALOG: &str = include_str!("../../../../catalog/default.toml");
pub const PASSWORD: &str = "correct horse battery staple";

/// For each `name`, `sqlite::name` and `postgres::name` run the body `name(url)`.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (url, _guard) = prorata_testkit::sqlite_url();
                    super::$name(&url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let url = prorata_testkit::fresh_database().await;
                    super::$name(&url).await;
                }
            )*
        }
    };
}

pub fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("a valid date")
}

pub fn account(name: &str, lang: Lang) -> Account {
    Account {
        name: name.into(),
        website: String::new(),
        address: Address {
            line1: "1 rue de la Paix".into(),
            postcode: "75002".into(),
            city: "Paris".into(),
            ..Address::default()
        },
        country: "FR".into(),
        vat_number: Some("FR40303265045".into()),
        currency: Currency::EUR,
        language: lang,
        time_zone: "Europe/Paris".into(),
        billing_contacts: vec!["billing@example.com".into()],
        siren: None,
        siret: None,
        delivery_address: None,
    }
}

/// Seed 001's customer: Essentials, monthly, from 6 July 2024, 10 users, 2 numbers, 2 teams.
pub fn seed_subscription() -> SubscriptionSpec {
    SubscriptionSpec {
        plan: "essentials".into(),
        frequency: Frequency::Monthly,
        currency: Currency::EUR,
        start: d(2024, 7, 6),
        trial_days: Some(0),
        term_months: 12,
        notice_days: 30,
        quantities: BTreeMap::from([
            ("user".to_string(), 10),
            ("number".to_string(), 2),
            ("team".to_string(), 2),
        ]),
        billing_day: None,
    }
}

pub struct World {
    pub engine: Engine,
    pub router: Router,
    pub tenant: Tenant,
    pub other_tenant: Tenant,
    /// Account A (French) and B (English) of the tenant, C of the other tenant.
    pub a: i64,
    pub b: i64,
    pub c: i64,
    /// A's first invoice, and its number.
    pub a_invoice: i64,
    pub a_invoice_number: String,
    pub api_key: String,
}

/// E-mails of the world's people.
pub const OWNER_A: &str = "owner@lumen.example";
pub const ADMIN_A: &str = "admin@lumen.example";
pub const AGENT_A: &str = "agent@lumen.example";
pub const OWNER_B: &str = "owner@harbour.example";
pub const OWNER_C: &str = "owner@elsewhere.example";
pub const STAFF: &str = "billing-team@vendor.example";
pub const MANAGER: &str = "manager@vendor.example";
pub const TENANT_ADMIN: &str = "admin@vendor.example";

async fn person(
    engine: &Engine,
    tenant: &Tenant,
    account: Option<i64>,
    role: Role,
    email: &str,
    lang: Lang,
) {
    engine
        .create_user_with_password(
            tenant,
            &PersonSpec {
                account_id: account,
                role,
                email: email.into(),
                name: format!(
                    "{} {}",
                    role.as_str(),
                    email.split('@').next().unwrap_or("")
                ),
                language: lang,
            },
            PASSWORD,
        )
        .await
        .expect("user created");
}

pub async fn world(url: &str) -> World {
    let store = Store::connect(url).await.expect("store");
    store.migrate().await.expect("migrations");
    let engine = Engine::new(store);
    let tenant = engine
        .create_tenant(
            "Acme Telecom",
            TenantMode::Sandbox,
            Some(d(2024, 7, 6)),
            &Settings::default(),
        )
        .await
        .expect("tenant");
    let catalog = engine
        .import_catalog(&tenant, CATALOG)
        .await
        .expect("catalog");
    let a = engine
        .create_account(&tenant, &account("Lumen Conseil SAS", Lang::Fr))
        .await
        .expect("account A");
    let b = engine
        .create_account(&tenant, &account("Harbour Lights Ltd", Lang::En))
        .await
        .expect("account B");
    let (_, docs) = engine
        .create_subscription(&tenant, a, catalog.id, &seed_subscription())
        .await
        .expect("subscription A");
    engine
        .create_subscription(&tenant, b, catalog.id, &seed_subscription())
        .await
        .expect("subscription B");
    assert_eq!(
        docs.len(),
        1,
        "A's first invoice is issued on its first day"
    );
    let first = engine
        .account_documents(&tenant, a, None)
        .await
        .expect("documents")[0]
        .clone();
    let (a_invoice, a_invoice_number) = (first.id, first.document.number);
    let other_tenant = engine
        .create_tenant(
            "Elsewhere",
            TenantMode::Sandbox,
            Some(d(2024, 7, 6)),
            &Settings::default(),
        )
        .await
        .expect("other tenant");
    let c = engine
        .create_account(&other_tenant, &account("Elsewhere SARL", Lang::Fr))
        .await
        .expect("account C");
    person(&engine, &tenant, Some(a), Role::Owner, OWNER_A, Lang::Fr).await;
    person(&engine, &tenant, Some(a), Role::Admin, ADMIN_A, Lang::Fr).await;
    person(&engine, &tenant, Some(a), Role::Agent, AGENT_A, Lang::En).await;
    person(&engine, &tenant, Some(b), Role::Owner, OWNER_B, Lang::En).await;
    person(&engine, &tenant, None, Role::BillingTeam, STAFF, Lang::Fr).await;
    person(
        &engine,
        &tenant,
        None,
        Role::AccountManager,
        MANAGER,
        Lang::En,
    )
    .await;
    person(
        &engine,
        &tenant,
        None,
        Role::TenantAdmin,
        TENANT_ADMIN,
        Lang::En,
    )
    .await;
    person(
        &engine,
        &other_tenant,
        Some(c),
        Role::Owner,
        OWNER_C,
        Lang::Fr,
    )
    .await;
    let api_key = engine.create_api_key(&tenant).await.expect("key").secret;
    let router = app(AppState::new(engine.clone()));
    World {
        engine,
        router,
        tenant,
        other_tenant,
        a,
        b,
        c,
        a_invoice,
        a_invoice_number,
        api_key,
    }
}

/// What came back.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
    }
}

/// A browser without a screen: keeps cookies, reads the CSRF token from the pages it gets.
#[derive(Clone)]
pub struct Client {
    pub router: Router,
    pub cookies: HashMap<String, String>,
    pub csrf: String,
    pub base: String,
}

/// The value of `name="csrf"` in a page.
pub fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

impl Client {
    pub fn new(router: &Router, slug: &str) -> Client {
        Client {
            router: router.clone(),
            cookies: HashMap::new(),
            csrf: String::new(),
            base: format!("/portal/{slug}"),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn send(&mut self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.expect("a response");
        let status = res.status();
        let headers = res.headers().clone();
        for c in headers.get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap_or_default();
            if let Some((k, rest)) = c.split_once('=') {
                let v = rest.split(';').next().unwrap_or_default();
                if c.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
        let body = res
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        let reply = Reply {
            status,
            headers,
            body,
        };
        if let Some(t) = csrf_of(&reply.text()) {
            self.csrf = t;
        }
        reply
    }

    /// GET `path` (relative to the portal unless it starts with `/`).
    pub async fn get(&mut self, path: &str) -> Reply {
        let uri = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{}/{path}", self.base)
        };
        let req = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(header::COOKIE, self.cookie_header())
            .body(Body::empty())
            .expect("request");
        self.send(req).await
    }

    /// POSTs a form with this client's CSRF token (fetching a page first if it has none).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        if self.csrf.is_empty() {
            self.get("sign-in").await;
        }
        let csrf = self.csrf.clone();
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all, None).await
    }

    /// POSTs exactly `fields`, with an `Origin` header when given.
    pub async fn post_raw(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Reply {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/{path}", self.base))
            .header(header::HOST, "portal.test")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, self.cookie_header());
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        self.send(req.body(Body::from(body)).expect("request"))
            .await
    }

    /// POSTs a `multipart/form-data` form (as a browser sends one with files) with this
    /// client's CSRF token first, then `fields`, then each file as a `files` part.
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &[u8])],
    ) -> Reply {
        if self.csrf.is_empty() {
            self.get("sign-in").await;
        }
        const BOUNDARY: &str = "----prorata-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        let csrf = self.csrf.clone();
        for (name, value) in std::iter::once(&("csrf", csrf.as_str())).chain(fields) {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        for (file_name, bytes) in files {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; \
                     filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/{path}", self.base))
            .header(header::HOST, "portal.test")
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header(header::COOKIE, self.cookie_header())
            .body(Body::from(body))
            .expect("request");
        self.send(req).await
    }

    /// Signs in; returns the sign-in reply (303 on success).
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Reply {
        self.get("sign-in").await;
        self.post("sign-in", &[("email", email), ("password", password)])
            .await
    }

    /// Signs a staff member in, second factor included: enrols them on their first sign-in
    /// (the key read from the page, the code computed as an authenticator app does) and
    /// keeps their recovery codes, one of which each later sign-in spends (a code of the app
    /// is taken once per 30 seconds, and tests sign in faster than that).
    pub async fn sign_in_staff(&mut self, email: &str) -> Reply {
        let r = self.sign_in(email, PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{email} signs in");
        let page = self.get("staff/second-factor").await.text();
        let remembered = format!("{}:{email}", self.base);
        if let Some(key) = between(&page, "id=\"totp-key\">", "</code>") {
            let code = current_code(&key);
            let r = self.post("staff/second-factor", &[("code", &code)]).await;
            assert_eq!(r.status, StatusCode::OK, "{email} enrols: {}", r.text());
            let codes = recovery_codes(&r.text());
            assert_eq!(codes.len(), 10, "ten recovery codes are shown");
            SECOND_FACTORS
                .lock()
                .expect("codes")
                .insert(remembered, codes);
            r
        } else {
            let code = SECOND_FACTORS
                .lock()
                .expect("codes")
                .get_mut(&remembered)
                .and_then(Vec::pop)
                .expect("a recovery code left");
            let r = self.post("staff/second-factor", &[("code", &code)]).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{email}'s recovery code");
            r
        }
    }

    pub fn session(&self) -> Option<String> {
        self.cookies.get(prorata_web::SESSION_COOKIE).cloned()
    }
}

/// Staff members' unused recovery codes, by portal and e-mail.
static SECOND_FACTORS: std::sync::Mutex<BTreeMap<String, Vec<String>>> =
    std::sync::Mutex::new(BTreeMap::new());

/// The text between `start` and `end` in `html`.
pub fn between(html: &str, start: &str, end: &str) -> Option<String> {
    let at = html.find(start)? + start.len();
    Some(html[at..].split(end).next()?.to_string())
}

/// The code an authenticator app shows now for a key as the page prints it.
pub fn current_code(key: &str) -> String {
    use prorata_engine::second_factor::{base32_decode, step_of, totp};
    let secret = base32_decode(key).expect("a base32 key");
    let now = prorata_engine::people::unix_now();
    format!("{:06}", totp(&secret, step_of(now)))
}

/// The recovery codes a page shows.
pub fn recovery_codes(html: &str) -> Vec<String> {
    html.split("<li><code>")
        .skip(1)
        .filter_map(|p| p.split("</code>").next())
        .map(str::to_string)
        .collect()
}

/// Percent-encoding for form bodies.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
