//! API errors as RFC 9457 `application/problem+json`, each with a stable `code`, the field
//! concerned when there is one, and a status derived from the kind of error — never a blanket
//! 400, never an internal cause sent to the caller (those are logged once, here).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prorata_engine::EngineError;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub field: Option<String>,
    /// Machine-readable details (a refusal's deadline, for instance).
    pub extra: Option<Value>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<&'a Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        // The OpenAPI document lists each status's codes: a new one goes in that table.
        debug_assert!(
            crate::openapi::declared(status.as_u16(), code),
            "problem code {code:?} with status {status} is not in openapi::CODES"
        );
        ApiError {
            status,
            code,
            detail: detail.into(),
            field: None,
            extra: None,
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send a valid API key as `Authorization: Bearer <key>`",
        )
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.into()),
            ..ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail)
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        // A message may quote what the caller sent (serde does); a card number never leaves.
        let detail = prorata_core::payment::redact_card_numbers(&self.detail);
        let body = Problem {
            kind: format!("https://prorata.dev/problems/{}", self.code),
            title,
            status: self.status.as_u16(),
            detail: &detail,
            code: self.code,
            field: self.field.as_deref(),
            refusal: self.extra.as_ref(),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            json,
        )
            .into_response();
        if self.code == BUSY {
            // Marked for the retrying layer (crate::auth), and told to a caller it reaches.
            response.extensions_mut().insert(Busy);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

/// The code of a request that lost a race for the database (SQLite's single writer) and
/// committed nothing: it is run again before anyone sees it.
pub const BUSY: &str = "busy";

pub use prorata_engine::Busy;

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            EngineError::Invalid { field, problem } => ApiError::invalid(field, problem),
            EngineError::Refused(refusal) => ApiError {
                extra: serde_json::to_value(&refusal).ok(),
                ..ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "change_refused",
                    refusal.to_string(),
                )
            },
            EngineError::CouponRefused(refusal) => {
                use prorata_core::coupon::CouponRefusal as R;
                // The coupon's state or the subscription's stands in the way: a conflict; the
                // request itself names what cannot be redeemed: unprocessable.
                let status = match refusal {
                    R::UsedUp { .. } | R::AlreadyApplied { .. } | R::NotApplied { .. } => {
                        StatusCode::CONFLICT
                    }
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                ApiError {
                    field: Some("code".to_string()),
                    extra: serde_json::to_value(&refusal).ok(),
                    ..ApiError::new(status, refusal.code(), refusal.to_string())
                }
            }
            EngineError::Forbidden(detail) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail)
            }
            EngineError::Conflict(detail) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", detail)
            }
            EngineError::PaymentRefused(detail) => {
                ApiError::new(StatusCode::PAYMENT_REQUIRED, "payment_refused", detail)
            }
            EngineError::Unavailable(detail) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
            }
            EngineError::Store(e) if e.is_busy() => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                BUSY,
                "the database was busy with other writes; nothing was changed: try again",
            ),
            other => {
                // The cause is for the operator's log, not for the caller.
                eprintln!(
                    "internal error: {}",
                    prorata_core::payment::redact_card_numbers(&other.to_string())
                );
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the server failed to handle this request; it has been logged",
                )
            }
        }
    }
}

/// JSON body whose errors are problems: a syntax error is a 400, a well-formed body with a
/// wrong or missing field a 422 naming it, a wrong content type a 415, a body over the limit a
/// 413. Every string in the body is checked for card numbers first: none may enter the
/// system through a free-text field (a 422 names the first such field), whatever the route
/// (a valid SIRET in a `siret` field excepted: it has the shape of a card number).
/// The one route that takes a card number on purpose (the sandbox's test cards) reads its
/// body with [`CardJson`].
pub struct ApiJson<T>(pub T);

/// The JSON path of the first string in `v` holding a card number, if any.
fn card_number_at(v: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            prorata_core::payment::contains_card_number(s).then(|| path.to_string())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| card_number_at(item, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            let here = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            // A key is free text too.
            if prorata_core::payment::contains_card_number(k) {
                return Some(here);
            }
            // A SIRET is 14 digits with a Luhn key, as a card number may be: in the field
            // made for it, and nothing but a SIRET, it is one.
            if k == "siret" && item.as_str().is_some_and(prorata_core::seller::siret_valid) {
                return None;
            }
            card_number_at(item, &here)
        }),
        _ => None,
    }
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let CardJson(value) = CardJson::<serde_json::Value>::from_request(req, state).await?;
        if let Some(field) = card_number_at(&value, "") {
            return Err(ApiError::invalid(
                field,
                "a card number is never accepted: send the gateway's token, never the card number",
            ));
        }
        serde_path_to_error::deserialize(value)
            .map(ApiJson)
            .map_err(|e| {
                // Worded as axum words it, so the field is read the same way.
                let path = e.path().to_string();
                let text = if path == "." {
                    format!(
                        "Failed to deserialize the JSON body into the target type: {}",
                        e.inner()
                    )
                } else {
                    format!(
                        "Failed to deserialize the JSON body into the target type: {path}: {}",
                        e.inner()
                    )
                };
                ApiError::invalid(field_of(&text), text)
            })
    }
}

/// [`ApiJson`] without the card-number check: for the sandbox's test-card tokenization only.
pub struct CardJson<T>(pub T);

impl<S, T> FromRequest<S> for CardJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(CardJson(v)),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::invalid(field_of(&e.body_text()), e.body_text()))
            }
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::bad_request(e.body_text())),
            Err(JsonRejection::MissingJsonContentType(e)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                e.body_text(),
            )),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is over the limit",
            )),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

/// The field serde names in "Failed to deserialize the JSON body into the target type:
/// quantities.user: invalid type …".
fn field_of(message: &str) -> String {
    let tail = message.rsplit("target type: ").next().unwrap_or(message);
    match tail.split_once(": ") {
        Some((path, _)) if !path.contains(' ') => path.to_string(),
        _ => tail
            .split('`')
            .nth(1)
            .filter(|_| tail.starts_with("missing field"))
            .unwrap_or("body")
            .to_string(),
    }
}

/// Path parameters whose errors are problems (a non-numeric id is a 400, not a panic).
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| ApiError::bad_request(e.body_text()))
    }
}

/// Query strings whose errors are problems.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::bad_request(e.body_text()))
    }
}
