//! Every request is logged once with its route template, status and latency, under a request
//! id that the response returns in `X-Request-Id` (a sane incoming one is kept).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::NaiveDate;
use prorata_core::reconcile::Settings;
use prorata_engine::Engine;
use prorata_server::{app, AppState};
use prorata_store::{Store, TenantMode};
use serde_json::Value;
use tower::ServiceExt;
use tracing_subscriber::util::SubscriberInitExt as _;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The JSON lines logged so far whose message is `request`.
    fn request_lines(&self) -> Vec<Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("a JSON log line"))
            .filter(|v| v["message"] == "request")
            .collect()
    }
}

/// The `request_id` of the span a line was logged in.
fn request_id(line: &Value) -> &str {
    line["spans"]
        .as_array()
        .and_then(|s| s.iter().find_map(|s| s["request_id"].as_str()))
        .expect("the line names its request id")
}

#[tokio::test]
async fn each_request_is_logged_once_under_the_id_it_returns() {
    let logs = Captured::default();
    let writer = logs.clone();
    let _guard = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_span_list(true)
        .with_writer(move || writer.clone())
        .finish()
        .set_default();

    let (url, _db) = prorata_testkit::sqlite_url();
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let engine = Engine::new(store);
    let tenant = engine
        .create_tenant(
            "Vendor",
            TenantMode::Sandbox,
            NaiveDate::from_ymd_opt(2024, 6, 6),
            &Settings::default(),
        )
        .await
        .unwrap();
    let key = engine.create_api_key(&tenant).await.unwrap().secret;
    let router = app(AppState::new(engine));
    let call = |path: &str, incoming: Option<&str>| {
        let mut req = Request::get(path).header("authorization", format!("Bearer {key}"));
        if let Some(id) = incoming {
            req = req.header("x-request-id", id);
        }
        router.clone().oneshot(req.body(Body::empty()).unwrap())
    };

    // A proxy's id is kept and returned; the line names the route, not the path.
    let reply = call("/v1/accounts/987654", Some("edge-1f2e.3:a_b"))
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::NOT_FOUND);
    assert_eq!(reply.headers()["x-request-id"], "edge-1f2e.3:a_b");
    // An id that could forge a log line is replaced by a fresh one.
    let reply = call("/v1/accounts", Some("bad id\"")).await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let fresh = reply.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(fresh.len(), 32, "{fresh}");
    assert!(fresh.bytes().all(|b| b.is_ascii_hexdigit()));
    // No id sent, no route matched: still an id and a line.
    let reply = call("/nowhere/42", None).await.unwrap();
    assert_eq!(reply.status(), StatusCode::NOT_FOUND);
    let third = reply.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(third, fresh);

    let lines = logs.request_lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let expect = [
        ("edge-1f2e.3:a_b", "/v1/accounts/{id}", 404),
        (fresh.as_str(), "/v1/accounts", 200),
        (third.as_str(), "unmatched", 404),
    ];
    for (line, (id, route, status)) in lines.iter().zip(expect) {
        assert_eq!(request_id(line), id, "{line}");
        assert_eq!(line["method"], "GET", "{line}");
        assert_eq!(line["route"], route, "{line}");
        assert_eq!(line["status"], status, "{line}");
        assert!(
            line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{line}"
        );
        assert_eq!(line["level"], "INFO");
    }
}
