//! Issue 14 through the API: with a ClamAV daemon configured (a real `clamd`, started by
//! `prorata_testkit::clamd` with a one-signature EICAR database), `POST /v1/tickets` refuses
//! an infected file with a 422 naming the file and the signature, and a 503 while the daemon
//! is down; neither stores a ticket.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use base64::Engine as _;
use chrono::NaiveDate;
use http_body_util::BodyExt;
use prorata_core::reconcile::Settings;
use prorata_engine::scan::Scanner;
use prorata_engine::Engine;
use prorata_server::{app, AppState};
use prorata_store::{Store, TenantMode};
use prorata_testkit::clamd::{Clamd, EICAR};
use serde_json::{json, Value};
use tower::ServiceExt;

const CLEAN_PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

async fn call(
    router: &Router,
    key: &str,
    method: Method,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri("/v1/tickets")
        .header("authorization", format!("Bearer {key}"));
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let res = router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn an_infected_upload_is_a_422_naming_the_signature_and_a_scanner_down_a_503() {
    let mut clamd = Clamd::start();
    let (url, _guard) = prorata_testkit::sqlite_url();
    let store = Store::connect(&url).await.expect("store");
    store.migrate().await.expect("migrate");
    let engine = Engine::new(store).with_scanner(Scanner::new(&clamd.address()));
    let tenant = engine
        .create_tenant(
            "Vendor",
            TenantMode::Sandbox,
            NaiveDate::from_ymd_opt(2025, 7, 1),
            &Settings::default(),
        )
        .await
        .expect("tenant");
    let key = engine.create_api_key(&tenant).await.expect("key").secret;
    let router = app(AppState::new(engine.clone()));
    let (status, account) = {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/v1/accounts")
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"name": "Lumen", "country": "FR", "currency": "EUR", "language": "fr",
                       "billing_contacts": ["compta@example.com"]})
                .to_string(),
            ))
            .expect("request");
        let res = router.clone().oneshot(req).await.expect("response");
        let status = res.status();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        (
            status,
            serde_json::from_slice::<Value>(&bytes).expect("json"),
        )
    };
    assert_eq!(status, StatusCode::CREATED, "{account}");
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let new = |name: &str, bytes: &[u8]| {
        json!({"account_id": account["id"], "reason": "billing", "subject": "Virement",
               "body": "Voici la preuve.",
               "files": [{"name": name, "content_base64": b64(bytes)}]})
    };

    let (status, problem) = call(&router, &key, Method::POST, Some(new("proof.pdf", EICAR))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "files[0]", "{problem}");
    assert_eq!(
        problem["detail"],
        "the file \"proof.pdf\" contains a virus (Eicar-Test-Signature) and was refused",
        "{problem}"
    );

    clamd.stop();
    let (status, problem) = call(
        &router,
        &key,
        Method::POST,
        Some(new("receipt.pdf", CLEAN_PDF)),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    assert_eq!(problem["code"], "unavailable", "{problem}");

    let (status, list) = call(&router, &key, Method::GET, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"], json!([]), "nothing stored");
}
