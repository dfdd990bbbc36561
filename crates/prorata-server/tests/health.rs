//! The probes: `/livez` (and `/health`) answer while the process runs; `/readyz` answers 503
//! naming the check when the database is gone or its migrations are behind the binary.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use prorata_engine::Engine;
use prorata_server::{app, AppState};
use prorata_store::Store;
use serde_json::Value;
use tower::ServiceExt;

async fn probe(router: &axum::Router, path: &str) -> (StatusCode, Vec<u8>) {
    let reply = router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = reply.status();
    let body = reply.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

async fn readyz(router: &axum::Router) -> (StatusCode, Value) {
    let (status, body) = probe(router, "/readyz").await;
    (status, serde_json::from_slice(&body).unwrap())
}

async fn ready_app(url: &str) -> (axum::Router, Store) {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let router = app(AppState::new(Engine::new(store.clone())));
    for path in ["/livez", "/health"] {
        assert_eq!(probe(&router, path).await, (StatusCode::OK, b"ok".to_vec()));
    }
    let (status, body) = readyz(&router).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["migrations"], "ok");
    (router, store)
}

#[tokio::test]
async fn readyz_fails_when_the_postgres_database_is_dropped() {
    let url = prorata_testkit::fresh_database().await;
    let (router, store) = ready_app(&url).await;
    let base = tokio::task::spawn_blocking(prorata_testkit::postgres_url)
        .await
        .unwrap();
    let (name,): (String,) = {
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query_as("SELECT current_database()")
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
        .await
        .unwrap();
    // FORCE ends the server's open connections, as a database restart or failover would.
    sqlx::query(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let (status, body) = readyz(&router).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_ne!(body["checks"]["database"], "ok", "{body}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the probe waited {:?}",
        started.elapsed()
    );
    // Alive all the same: a database outage is no reason to restart the process.
    assert_eq!(probe(&router, "/livez").await.0, StatusCode::OK);
    store.close().await;
}

use prorata_testkit::both_stores;

both_stores!(
    readyz_names_migrations_the_database_lacks,
    migrations_behind
);
async fn migrations_behind(url: &str) {
    let (router, store) = ready_app(url).await;
    // A database left one migration behind this binary (a deploy that skipped `migrate`).
    const FORGET: &str = "DELETE FROM _sqlx_migrations \
         WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)";
    let forgotten: i64 = if url.starts_with("sqlite:") {
        let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(url)
            .await
            .unwrap();
        let (v,) = sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&mut c)
            .await
            .unwrap();
        sqlx::query(FORGET).execute(&mut c).await.unwrap();
        v
    } else {
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(url)
            .await
            .unwrap();
        let (v,) = sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&mut c)
            .await
            .unwrap();
        sqlx::query(FORGET).execute(&mut c).await.unwrap();
        v
    };
    let (status, body) = readyz(&router).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(
        body["checks"]["migrations"],
        format!("not applied: [{forgotten}] (run `prorata migrate`)"),
    );
    store.close().await;
}
