//! The operator's admin API (`/admin/v1`), on SQLite and PostgreSQL: off without an operator
//! token, closed to a missing or wrong token and to tenant keys, and with the right one it
//! creates tenants and keys that work on the tenant API — a live tenant's refusing the
//! sandbox-only calls.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt as _;
use prorata_engine::Engine;
use prorata_server::AppState;
use prorata_store::Store;
use serde_json::{json, Value};
use tower::ServiceExt as _;

use prorata_testkit::on_both_stores;

const TOKEN: &str = "operator-secret-for-tests";

async fn engine(url: &str) -> Engine {
    let store = Store::connect(url).await.expect("store");
    store.migrate().await.expect("migrations");
    Engine::new(store)
}

async fn call(
    app: &Router,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(b) = bearer {
        req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
    }
    let req = match body {
        Some(b) => req
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let res = app.clone().oneshot(req).await.expect("a response");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn seller_settings() -> Value {
    json!({"seller": {"legal_name": "Acme Télécom SAS", "siren": "552100554"}})
}

async fn without_an_operator_token_the_admin_api_does_not_exist(url: &str) {
    let app = prorata_server::app(AppState::new(engine(url).await));
    for token in [None, Some(""), Some(TOKEN)] {
        let (status, body) = call(&app, Method::GET, "/admin/v1/tenants", token, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    assert!(
        AppState::new(engine(url).await)
            .with_operator_token("  ")
            .is_none(),
        "an empty operator token would open the admin API to anyone"
    );
}

async fn a_missing_or_wrong_token_or_a_tenant_key_is_refused(url: &str) {
    let engine = engine(url).await;
    let state = AppState::new(engine.clone())
        .with_operator_token(TOKEN)
        .expect("a token");
    let app = prorata_server::app(state);
    // A tenant's own key is no operator token.
    let (_, tenant) = call(
        &app,
        Method::POST,
        "/admin/v1/tenants",
        Some(TOKEN),
        Some(json!({"name": "Sandbox Co", "mode": "sandbox"})),
    )
    .await;
    let id = tenant["id"].as_i64().expect("an id");
    let (_, key) = call(
        &app,
        Method::POST,
        &format!("/admin/v1/tenants/{id}/keys"),
        Some(TOKEN),
        None,
    )
    .await;
    let tenant_key = key["secret"].as_str().expect("a secret").to_string();
    let wrong = format!("{TOKEN}x");
    for bearer in [None, Some(wrong.as_str()), Some(tenant_key.as_str())] {
        for (method, path) in [
            (Method::GET, "/admin/v1/tenants".to_string()),
            (Method::POST, "/admin/v1/tenants".to_string()),
            (Method::GET, format!("/admin/v1/tenants/{id}/keys")),
            (Method::POST, format!("/admin/v1/tenants/{id}/keys")),
            (Method::DELETE, format!("/admin/v1/tenants/{id}/keys/1")),
        ] {
            let (status, body) = call(
                &app,
                method.clone(),
                &path,
                bearer,
                Some(json!({"name": "Intruder", "mode": "live"})),
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            assert_eq!(body["code"], "unauthorized", "{body}");
        }
    }
    assert_eq!(engine.tenants().await.expect("tenants").len(), 1);
    // And the admin API is no part of the tenant API's document.
    let (_, doc) = call(&app, Method::GET, "/openapi.json", None, None).await;
    assert!(
        !doc.to_string().contains("/admin/"),
        "admin routes documented"
    );
}

async fn the_operator_creates_a_live_tenant_and_its_keys(url: &str) {
    let app = prorata_server::app(
        AppState::new(engine(url).await)
            .with_operator_token(TOKEN)
            .expect("a token"),
    );
    let admin = |method: Method, path: &str, body: Option<Value>| {
        let app = app.clone();
        let path = path.to_string();
        async move { call(&app, method, &path, Some(TOKEN), body).await }
    };
    // A live French seller issues real invoices: its SIREN is asked for by name.
    let (status, body) = admin(
        Method::POST,
        "/admin/v1/tenants",
        Some(json!({"name": "Acme", "mode": "live"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("seller.siren"), "{body}");
    let (status, body) = admin(
        Method::POST,
        "/admin/v1/tenants",
        Some(json!({"name": "Acme", "mode": "demo"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("mode"), "{body}");

    let (status, tenant) = admin(
        Method::POST,
        "/admin/v1/tenants",
        Some(json!({"name": "Acme", "mode": "live", "settings": seller_settings()})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{tenant}");
    assert_eq!(tenant["mode"], "live");
    assert_eq!(tenant["clock"], Value::Null, "a live tenant has no clock");
    assert_eq!(
        tenant["settings"]["seller"]["legal_name"],
        "Acme Télécom SAS"
    );
    let slug = tenant["slug"].as_str().expect("a slug").to_string();
    let (_, list) = admin(Method::GET, "/admin/v1/tenants", None).await;
    assert_eq!(list["data"][0]["slug"], slug.as_str(), "{list}");

    // Keys by slug: a live key says so.
    let (status, key) = admin(
        Method::POST,
        &format!("/admin/v1/tenants/{slug}/keys"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let secret = key["secret"].as_str().expect("a secret").to_string();
    assert!(secret.starts_with("pk_live_"), "{secret}");
    let (_, keys) = admin(Method::GET, &format!("/admin/v1/tenants/{slug}/keys"), None).await;
    assert!(
        !keys.to_string().contains(&secret),
        "a key's secret is never listed"
    );
    assert_eq!(keys["data"].as_array().map(Vec::len), Some(1), "{keys}");

    // The key works on the tenant API, and the live tenant refuses what only a sandbox does.
    let (status, body) = call(&app, Method::GET, "/v1/accounts", Some(&secret), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        &app,
        Method::POST,
        "/v1/clock/advance",
        Some(&secret),
        Some(json!({"to": "2099-01-01"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("sandbox"), "{body}");
    let (status, body) = call(
        &app,
        Method::POST,
        "/v1/sandbox/card-tokens",
        Some(&secret),
        Some(json!({"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The operator may revoke even the last key (a leaked one), and it stops working at once.
    let key_id = key["id"].as_i64().expect("an id");
    let (status, body) = admin(
        Method::DELETE,
        &format!("/admin/v1/tenants/{slug}/keys/{key_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = call(&app, Method::GET, "/v1/accounts", Some(&secret), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = admin(Method::GET, "/admin/v1/tenants/nobody/keys", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

on_both_stores!(
    without_an_operator_token_the_admin_api_does_not_exist,
    a_missing_or_wrong_token_or_a_tenant_key_is_refused,
    the_operator_creates_a_live_tenant_and_its_keys,
);
