//! Authentication (API keys, one tenant each) and idempotency keys.
//!
//! Every `/v1` request carries `Authorization: Bearer <key>`; the key's hash finds the tenant,
//! and every query after that is scoped to it. A POST may carry `Idempotency-Key`:
//!
//! 1. the key is reserved (committed) before the request runs; a concurrent twin finds it
//!    reserved and gets a 409 instead of running too;
//! 2. the response is stored with the key and replayed for the same key and the same request;
//!    the same key with another request is a 409;
//! 3. a request interrupted between its own commit and step 2 (a crash) leaves the key pending:
//!    a retry gets a 409 saying the outcome is unknown, never a second execution. A request
//!    that fails with a server error frees its key, since it committed nothing.

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prorata_store::{IdempotentResponse, Tenant};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::{AppState, BODY_LIMIT};

/// Marks a response that carries a secret shown once (an API key, a webhook signing
/// secret): its idempotent replay is saved with these JSON fields withheld, so the
/// idempotency table never holds the secret. A replay answers the same status and body with
/// each of them set to [`WITHHELD`].
#[derive(Debug, Clone, Copy)]
pub struct ShownOnce(pub &'static [&'static str]);

/// What a replayed response says in place of a secret shown once.
pub const WITHHELD: &str = "(shown once, not kept: see the first response)";

/// `body` with the top-level `fields` replaced by [`WITHHELD`] (the body as it was when it is
/// not a JSON object).
fn withheld(body: &[u8], fields: &[&str]) -> Vec<u8> {
    let Ok(serde_json::Value::Object(mut map)) = serde_json::from_slice(body) else {
        // Not a JSON object: nothing of it is kept.
        return b"{}".to_vec();
    };
    for f in fields {
        if map.contains_key(*f) {
            map.insert((*f).to_string(), serde_json::Value::String(WITHHELD.into()));
        }
    }
    serde_json::to_vec(&map).unwrap_or_default()
}

/// The authenticated caller: a tenant's API key.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: Tenant,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

/// How long a request that lost a race for the database keeps trying before it answers 503.
const BUSY_BUDGET: std::time::Duration = std::time::Duration::from_secs(15);

/// Requests that lost a race run again one at a time: SQLite has one writer, and a
/// transaction that read before another wrote is refused at once rather than queued. Queued
/// here, a retried request competes only with first attempts, so it gets through.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs the request, and runs it again while it answers [`crate::error::Busy`] (it committed
/// nothing): concurrent writers take turns instead of failing.
async fn run_retrying(
    next: Next,
    parts: axum::http::request::Parts,
    body: axum::body::Bytes,
) -> Response {
    let run = || {
        next.clone()
            .run(Request::from_parts(parts.clone(), Body::from(body.clone())))
    };
    let response = run().await;
    if response.extensions().get::<crate::error::Busy>().is_none() {
        return response;
    }
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(2);
    loop {
        let turn = TURN.lock().await;
        let response = run().await;
        drop(turn);
        if response.extensions().get::<crate::error::Busy>().is_none()
            || started.elapsed() > BUSY_BUDGET
        {
            return response;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
    }
}

/// Buffers the body (so the request can be run again) and runs it with [`run_retrying`]: the
/// API's requests after authentication, and every request of the portal.
pub async fn run_buffered(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, body_limit(&parts)).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is over the limit",
        )
        .into_response();
    };
    run_retrying(next, parts, bytes).await
}

/// The largest body the route takes: the API's and the portal's ticket routes carry files.
fn body_limit(parts: &axum::http::request::Parts) -> usize {
    let path = parts.uri.path();
    if path.starts_with("/v1/tickets") || prorata_web::takes_files(path) {
        prorata_core::tickets::MAX_REQUEST_BYTES
    } else {
        BODY_LIMIT
    }
}

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let secret = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(secret) = secret.filter(|s| !s.is_empty() && s.len() <= 200) else {
        return ApiError::unauthorized().into_response();
    };
    let tenant = match state.engine.authenticate(secret).await {
        Ok(Some(t)) => t,
        Ok(None) => return ApiError::unauthorized().into_response(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let admitted = match state.limits.admit(tenant.id).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused.into_response(),
    };
    req.extensions_mut().insert(Caller {
        tenant: tenant.clone(),
    });
    let limit = state.limits.config().timeout;
    let response = tokio::time::timeout(limit, admitted_request(state, tenant, req, next)).await;
    drop(admitted);
    response.unwrap_or_else(|_| crate::limits::timed_out(limit))
}

/// An authenticated request within its tenant's limits: idempotent when it carries a key.
async fn admitted_request(state: AppState, tenant: Tenant, req: Request, next: Next) -> Response {
    let key = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_string));
    match (req.method() == Method::POST, key) {
        (true, Some(Ok(key))) if !key.is_empty() && key.len() <= 255 => {
            idempotent(state, tenant, key, req, next).await
        }
        (true, Some(_)) => ApiError {
            field: Some("Idempotency-Key".into()),
            ..ApiError::bad_request("Idempotency-Key must be 1 to 255 visible ASCII characters")
        }
        .into_response(),
        _ => run_buffered(req, next).await,
    }
}

fn request_hash(parts: &axum::http::request::Parts, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(parts.method.as_str().as_bytes());
    h.update(b" ");
    h.update(parts.uri.to_string().as_bytes());
    h.update(b"\n");
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn stored_response(r: &IdempotentResponse) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    let content_type = if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    };
    let mut response = (status, r.body.clone()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

fn problem(status: StatusCode, code: &'static str, detail: &str) -> Response {
    ApiError {
        field: Some("Idempotency-Key".into()),
        ..ApiError::new(status, code, detail)
    }
    .into_response()
}

fn in_progress() -> Response {
    problem(
        StatusCode::CONFLICT,
        "idempotency_key_in_progress",
        "a request with this Idempotency-Key is running, or was interrupted and its outcome is \
         unknown: check its effect before retrying with a new key",
    )
}

async fn idempotent(
    state: AppState,
    tenant: Tenant,
    key: String,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, body_limit(&parts)).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is over the limit",
        )
        .into_response();
    };
    let hash = request_hash(&parts, &bytes);
    let store = &state.engine.store;
    let reserved = async {
        let mut tx = store.begin().await?;
        let reserved = tx.reserve_idempotency_key(tenant.id, &key, &hash).await?;
        let earlier = if reserved {
            None
        } else {
            tx.idempotent_response(tenant.id, &key).await?
        };
        tx.commit().await?;
        Ok::<_, prorata_store::StoreError>((reserved, earlier))
    }
    .await;
    match reserved {
        Ok((true, _)) => {}
        // While the first request is pending nothing else can be said, whatever the body.
        Ok((false, None)) => return in_progress(),
        Ok((false, Some(r))) if r.status == 0 => return in_progress(),
        Ok((false, Some(r))) if r.request_hash != hash => {
            return problem(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            )
        }
        Ok((false, Some(r))) => return stored_response(&r),
        Err(e) => return ApiError::from(prorata_engine::EngineError::from(e)).into_response(),
    }
    let response = run_retrying(next, parts, bytes).await;
    let status = response.status();
    if status.is_server_error() {
        // Nothing was committed: free the key so a retry can run.
        if let Ok(mut tx) = store.begin().await {
            if tx.release_idempotency_key(tenant.id, &key).await.is_ok() {
                let _ = tx.commit().await;
            }
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let shown_once = parts.extensions.get::<ShownOnce>().copied();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        return ApiError::from(prorata_engine::EngineError::Conflict(
            "response body".into(),
        ))
        .into_response();
    };
    let kept = match shown_once {
        Some(ShownOnce(fields)) => withheld(&body, fields),
        None => body.to_vec(),
    };
    let text = String::from_utf8_lossy(&kept).into_owned();
    let saved = async {
        let mut tx = store.begin().await?;
        tx.complete_idempotency_key(tenant.id, &key, status.as_u16(), &text)
            .await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = saved {
        // The request's effect stands; the key stays pending, so a retry is refused rather
        // than run twice.
        eprintln!("idempotency key {key}: response not stored: {e}");
    }
    Response::from_parts(parts, Body::from(body))
}
