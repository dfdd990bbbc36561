//! The people of a customer account, portal sessions for vendors that sign their users in
//! themselves, and the change requests customers send from the portal.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use prorata_core::access::Role;
use prorata_core::Lang;
use prorata_engine::people::{PersonSpec, PORTAL_SESSION_VALID};
use prorata_engine::tickets::Actor;
use prorata_engine::{ChangeOutcome, MAX_MESSAGE};
use prorata_store::{ChangeRequestRow, ChangeRequestStatus, User};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserIn {
    pub email: String,
    pub name: String,
    /// owner, admin or agent.
    pub role: Role,
    #[serde(default)]
    pub language: Lang,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsersOut {
    pub data: Vec<User>,
}

#[utoipa::path(get, path = "/v1/accounts/{id}/users", tag = "people", params(("id" = i64, Path)),
    responses((status = 200, description = "The account's users, their roles and status", body = UsersOut)))]
pub async fn list_users(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<UsersOut>, ApiError> {
    s.engine.account(&caller.tenant, id).await?;
    let data = s.engine.account_users(&caller.tenant, id).await?;
    Ok(Json(UsersOut { data }))
}

#[utoipa::path(post, path = "/v1/accounts/{id}/users", tag = "people", params(("id" = i64, Path)),
    request_body = NewUserIn,
    responses((status = 201, description = "The user, invited: an e-mail with a single-use link to set a password is on its way", body = User),
              (status = 409, description = "The e-mail is taken in this tenant, or the account has an owner already"),
              (status = 422, description = "A field is invalid")))]
pub async fn invite_user(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewUserIn>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    if !body.role.is_customer() {
        return Err(ApiError::invalid("role", "use owner, admin or agent"));
    }
    let spec = PersonSpec {
        account_id: Some(id),
        role: body.role,
        email: body.email,
        name: body.name,
        language: body.language,
    };
    let user = s.engine.invite_user(&caller.tenant, &spec, None).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalSessionIn {
    pub user_id: i64,
    /// Where the portal's "back" link goes (the vendor's application).
    #[serde(default)]
    pub return_url: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PortalSessionOut {
    /// Opens a portal session for the user: once, within `expires_in` seconds.
    pub url: String,
    pub expires_in: u64,
}

/// The address the caller reached this server at, for links it hands out.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1:8080");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{proto}://{host}")
}

#[utoipa::path(post, path = "/v1/portal-sessions", tag = "people", request_body = PortalSessionIn,
    responses((status = 201, description = "A single-use URL that signs the user in to the portal (valid 5 minutes)", body = PortalSessionOut),
              (status = 404, description = "No such user for this tenant"),
              (status = 422, description = "Not an active customer user, or a bad return URL")))]
pub async fn create_portal_session(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PortalSessionIn>,
) -> Result<(StatusCode, Json<PortalSessionOut>), ApiError> {
    let token = s
        .engine
        .create_portal_session(&caller.tenant, body.user_id, body.return_url.as_deref())
        .await?;
    let url = format!(
        "{}/portal/{}/enter/{token}",
        origin(&headers),
        caller.tenant.slug
    );
    Ok((
        StatusCode::CREATED,
        Json(PortalSessionOut {
            url,
            expires_in: PORTAL_SESSION_VALID.as_secs(),
        }),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangeRequestQuery {
    /// pending, applied or refused.
    pub status: Option<String>,
    pub account_id: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChangeRequestsOut {
    pub data: Vec<ChangeRequestRow>,
}

#[utoipa::path(get, path = "/v1/change-requests", tag = "people", params(ChangeRequestQuery),
    responses((status = 200, description = "Downgrades, cancellations and shorter billing frequencies customers asked in the portal, newest first; each has a ticket for the account manager", body = ChangeRequestsOut)))]
pub async fn list_change_requests(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ChangeRequestQuery>,
) -> Result<Json<ChangeRequestsOut>, ApiError> {
    let status = match q.status.as_deref() {
        None => None,
        Some(text) => Some(
            ChangeRequestStatus::parse(text)
                .ok_or_else(|| ApiError::invalid("status", "use pending, applied or refused"))?,
        ),
    };
    let data = s
        .engine
        .change_requests(&caller.tenant, status, q.account_id)
        .await?;
    Ok(Json(ChangeRequestsOut { data }))
}

#[utoipa::path(post, path = "/v1/change-requests/{id}/apply", tag = "people", params(("id" = i64, Path)),
    responses((status = 200, description = "Applied as of the day it was asked; the documents it caused. Its ticket gets a reply with each document's number and totals and is solved; the customer who asked is e-mailed", body = ChangeOutcome),
              (status = 403, description = "Even its submission day is past the notice deadline: only a tenant admin may apply it, in the back office, with a reason"),
              (status = 409, description = "Not pending"),
              (status = 422, description = "Refused by the contract's rules now (`refusal` says why), e.g. the subscription has ended")))]
pub async fn apply_change_request(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ChangeOutcome>, ApiError> {
    Ok(Json(
        s.engine
            .apply_change_request(&caller.tenant, Actor::API, id, None)
            .await?,
    ))
}

#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefuseIn {
    /// Why, for the customer: posted on the request's ticket.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = RefusedChangeRequest)]
pub struct Refused {
    pub id: i64,
    pub status: ChangeRequestStatus,
}

#[utoipa::path(post, path = "/v1/change-requests/{id}/refuse", tag = "people", params(("id" = i64, Path)),
    request_body = RefuseIn,
    responses((status = 200, description = "Refused: the note (or a plain sentence) is posted on its ticket, which is solved; the customer who asked is e-mailed", body = Refused),
              (status = 409, description = "Not pending")))]
pub async fn refuse_change_request(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<RefuseIn>,
) -> Result<Json<Refused>, ApiError> {
    if body
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_MESSAGE)
    {
        return Err(ApiError::invalid(
            "note",
            format!("at most {MAX_MESSAGE} characters"),
        ));
    }
    s.engine
        .refuse_change_request(&caller.tenant, Actor::API, id, body.note.as_deref())
        .await?;
    Ok(Json(Refused {
        id,
        status: ChangeRequestStatus::Refused,
    }))
}
