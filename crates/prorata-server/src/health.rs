//! Health probes, outside `/v1` and the OpenAPI document.
//!
//! - `/livez` (and its old name `/health`): the process answers. An orchestrator restarts a
//!   process that does not; it looks at nothing else, so a database outage does not turn into
//!   a restart loop of every server.
//! - `/readyz`: the process can do its work — the database answers a query within
//!   [`DB_DEADLINE`], its migrations are the ones this binary expects, and every worker the
//!   process started still runs. A load balancer stops sending requests to a process that is
//!   not ready; the JSON body says which check failed.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::AppState;

/// Longest wait for the database: past it the process is not ready (a pool waiting for a
/// connection would otherwise hold the probe for its whole acquire timeout).
pub const DB_DEADLINE: Duration = Duration::from_secs(2);

/// `GET /livez`, `GET /health`.
pub async fn livez() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when every check is `ok`, else 503; the body lists each check.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut ready = true;
    let mut checks = Map::new();
    match tokio::time::timeout(DB_DEADLINE, state.engine.store.pending_migrations()).await {
        Ok(Ok(pending)) => {
            checks.insert("database".into(), "ok".into());
            let migrations = if pending.is_empty() {
                "ok".to_string()
            } else {
                ready = false;
                format!("not applied: {pending:?} (run `prorata migrate`)")
            };
            checks.insert("migrations".into(), migrations.into());
        }
        Ok(Err(e)) => {
            ready = false;
            checks.insert("database".into(), format!("{e}").into());
        }
        Err(_) => {
            ready = false;
            checks.insert(
                "database".into(),
                format!("no answer within {} s", DB_DEADLINE.as_secs()).into(),
            );
        }
    }
    let mut workers = Map::new();
    for (name, alive) in crate::worker::workers() {
        ready &= alive;
        workers.insert(name.into(), if alive { "ok" } else { "stopped" }.into());
    }
    checks.insert("workers".into(), Value::Object(workers));
    if !ready {
        let failed = Value::Object(checks.clone()).to_string();
        tracing::warn!(checks = %failed, "not ready");
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({ "status": if ready { "ready" } else { "not_ready" }, "checks": checks });
    (status, Json(body)).into_response()
}
