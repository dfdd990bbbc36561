//! `/metrics` in the Prometheus text format: requests by route and status with latencies,
//! the workers' billing runs, and the open jobs read from the database.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use prorata_core::reconcile::Settings;
use prorata_engine::Engine;
use prorata_server::{app, AppState};
use prorata_store::{JobKind, NewJob, Store, TenantMode};
use tower::ServiceExt;

use prorata_testkit::both_stores;

/// The value of the sample named exactly `series` (name and labels).
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn get(router: &axum::Router, path: &str, key: &str) -> (StatusCode, String, String) {
    let reply = router
        .clone()
        .oneshot(
            Request::get(path)
                .header("authorization", format!("Bearer {key}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = reply.status();
    let kind = reply
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = reply.into_body().collect().await.unwrap().to_bytes();
    (status, kind, String::from_utf8(body.to_vec()).unwrap())
}

both_stores!(metrics_count_requests_runs_and_open_jobs, counts);
async fn counts(url: &str) {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let engine = Engine::new(store.clone());
    let tenant = engine
        .create_tenant("Vendor", TenantMode::Live, None, &Settings::default())
        .await
        .unwrap();
    let key = engine.create_api_key(&tenant).await.unwrap().secret;
    // Two e-mails waiting, one done: the depth is 2.
    let mut tx = store.begin().await.unwrap();
    let job = |n: i64| NewJob {
        account_id: None,
        kind: JobKind::Email,
        payload: serde_json::json!({ "n": n }),
    };
    tx.insert_jobs(tenant.id, &[job(1), job(2), job(3)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let first = &engine
        .claim_jobs(JobKind::Email, 1, std::time::Duration::from_secs(60))
        .await
        .unwrap()[0];
    engine.job_done(first, "sent").await.unwrap();

    let router = app(AppState::new(engine.clone()));
    for _ in 0..2 {
        assert_eq!(get(&router, "/v1/accounts", &key).await.0, StatusCode::OK);
    }
    assert_eq!(
        get(&router, "/v1/accounts/424242", &key).await.0,
        StatusCode::NOT_FOUND
    );
    prorata_server::worker::run_once(&engine).await.unwrap();

    let (status, kind, page) = get(&router, "/metrics", "").await;
    assert_eq!(status, StatusCode::OK, "no credential needed");
    assert!(kind.starts_with("text/plain; version=0.0.4"), "{kind}");
    let at_least = |series: &str, n: f64| {
        let v = sample(&page, series).unwrap_or_else(|| panic!("{series} missing:\n{page}"));
        assert!(v >= n, "{series} = {v}, expected at least {n}");
    };
    at_least(
        r#"prorata_http_requests_total{route="/v1/accounts",method="GET",status="200"}"#,
        2.0,
    );
    at_least(
        r#"prorata_http_requests_total{route="/v1/accounts/{id}",method="GET",status="404"}"#,
        1.0,
    );
    at_least(
        r#"prorata_http_request_duration_seconds_count{route="/v1/accounts"}"#,
        2.0,
    );
    at_least(
        r#"prorata_http_request_duration_seconds_bucket{route="/v1/accounts",le="+Inf"}"#,
        2.0,
    );
    // The live tenant was billed once by the worker pass.
    at_least("prorata_billing_run_duration_seconds_count", 1.0);
    at_least(r#"prorata_documents_issued_total{kind="invoice"}"#, 0.0);
    at_least(r#"prorata_charges_total{outcome="failed"}"#, 0.0);
    assert_eq!(sample(&page, "prorata_queue_depth_up"), Some(1.0));
    assert_eq!(
        sample(&page, r#"prorata_jobs_open{kind="email"}"#),
        Some(2.0)
    );
    assert_eq!(
        sample(&page, r#"prorata_jobs_open{kind="webhook"}"#),
        Some(0.0)
    );
    // The scrape itself is not a tenant's request, but it is counted like any route.
    let (_, _, again) = get(&router, "/metrics", "").await;
    assert!(
        again.contains(
            r#"prorata_http_requests_total{route="/metrics",method="GET",status="200"} "#
        ),
        "{again}"
    );
}
