//! `/readyz` answers 503 once a worker this process started has stopped. Its own test binary:
//! the worker registry is process-wide, and a stopped worker would fail every other readiness
//! test running in the same process.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use prorata_engine::Engine;
use prorata_server::{app, AppState};
use prorata_store::Store;
use serde_json::Value;
use tower::ServiceExt;

async fn readyz(router: &axum::Router) -> (StatusCode, Value) {
    let reply = router
        .clone()
        .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = reply.status();
    let body = reply.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn readyz_fails_when_a_worker_has_stopped() {
    let (url, _guard) = prorata_testkit::sqlite_url();
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let engine = Engine::new(store);
    let worker = prorata_server::worker::spawn_billing(
        engine.clone(),
        std::time::Duration::from_secs(3600),
        prorata_server::shutdown::Stop::never(),
    );
    let router = app(AppState::new(engine));

    let (status, body) = readyz(&router).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["workers"]["billing"], "ok");

    // A task that ends — panicked, returned or aborted — drops its liveness guard.
    worker.abort();
    assert!(worker.await.unwrap_err().is_cancelled());
    let (status, body) = readyz(&router).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["checks"]["workers"]["billing"], "stopped");
    assert_eq!(body["checks"]["database"], "ok");
}
