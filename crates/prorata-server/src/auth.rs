//! Authentication (API keys, one tenant each) and idempotency keys.
//!
//! Every `/v1` request carries `Authorization: Bearer <key>`; the key's hash finds the tenant,
//! and every query after that is scoped to it. A POST may carry `Idempotency-Key`: the first
//! response to a key is stored (status and body) and replayed for the same key and the same
//! request; the same key with another request is a 409. The response is stored after the
//! handler's own transaction commits, so a crash between the two lets a retry run the request
//! again — the billing it causes is reconciliation, so a repeat issues nothing twice.

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
    req.extensions_mut().insert(Caller {
        tenant: tenant.clone(),
    });
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
        _ => next.run(req).await,
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

async fn idempotent(
    state: AppState,
    tenant: Tenant,
    key: String,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is over the limit",
        )
        .into_response();
    };
    let hash = request_hash(&parts, &bytes);
    let earlier = async {
        let mut tx = state.engine.store.begin().await?;
        tx.idempotent_response(tenant.id, &key).await
    }
    .await;
    match earlier {
        Ok(Some(r)) if r.request_hash == hash => return stored_response(&r),
        Ok(Some(_)) => {
            return ApiError {
                field: Some("Idempotency-Key".into()),
                ..ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with a different request",
                )
            }
            .into_response()
        }
        Ok(None) => {}
        Err(e) => return ApiError::from(prorata_engine::EngineError::from(e)).into_response(),
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = response.status();
    if status.is_server_error() {
        return response; // not stored: a retry may succeed
    }
    let (parts, body) = response.into_parts();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        return ApiError::from(prorata_engine::EngineError::Conflict(
            "response body".into(),
        ))
        .into_response();
    };
    let stored = IdempotentResponse {
        request_hash: hash,
        status: status.as_u16(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let saved = async {
        let mut tx = state.engine.store.begin().await?;
        tx.save_idempotent_response(tenant.id, &key, &stored)
            .await?;
        tx.commit().await
    }
    .await;
    // When saving fails, a concurrent twin stored its response first; ours stands as it is.
    drop(saved);
    Response::from_parts(parts, Body::from(body))
}
