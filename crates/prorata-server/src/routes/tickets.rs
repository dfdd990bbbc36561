//! Billing support tickets for vendors who run their own help desk: file a ticket for an
//! account (as its customer would), answer it as staff, move and assign it, read its files;
//! each account's manager and audit trail. The API acts for the vendor: it sees internal
//! notes, and its replies are the staff's.
//!
//! Files travel in the JSON body, base64-encoded (`{"name", "content_base64"}`); their type is
//! told from their content (PDF, PNG, JPEG), at most 10 MB each and 5 a message.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use base64::Engine as _;
use prorata_core::tickets::{Queue, Status};
use prorata_engine::tickets::{Actor, TicketInput, TicketView, Upload};
use prorata_store::{AuditEntry, QueueFilter, TicketRow};
use serde::Deserialize;

use super::{ListResponse, PageQuery};
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;

/// The layer that lets the ticket routes take their files.
pub fn body_limit() -> DefaultBodyLimit {
    DefaultBodyLimit::max(prorata_core::tickets::MAX_REQUEST_BYTES)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileIn {
    pub name: String,
    pub content_base64: String,
}

fn uploads(files: Vec<FileIn>) -> Result<Vec<Upload>, ApiError> {
    files
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(f.content_base64.as_bytes())
                .map_err(|_| {
                    ApiError::invalid(format!("files[{i}].content_base64"), "not base64")
                })?;
            Ok(Upload {
                name: f.name,
                bytes,
            })
        })
        .collect()
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketIn {
    pub account_id: i64,
    /// A contact reason's code (`billing`, `subscription`, `tax_details` by default).
    pub reason: String,
    pub subject: String,
    pub body: String,
    pub document_id: Option<i64>,
    #[serde(default)]
    pub files: Vec<FileIn>,
}

#[utoipa::path(post, path = "/v1/tickets", tag = "tickets", request_body = NewTicketIn,
    description = "Files a ticket for an account, as its customer would: routed by its reason to the billing team or to the account's manager. Files are base64 in the body (PDF, PNG or JPEG, told from their content; 10 MB each, 5 at most).",
    responses((status = 201, description = "The ticket and its thread", body = TicketView),
              (status = 404, description = "No such account for this tenant"),
              (status = 422, description = "A field is invalid (`field` names it); nothing was stored")))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewTicketIn>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let input = TicketInput {
        account_id: body.account_id,
        reason: body.reason,
        subject: body.subject,
        body: body.body,
        document_id: body.document_id,
        files: uploads(body.files)?,
    };
    let view = s
        .engine
        .file_ticket(&caller.tenant, Actor::API, &input)
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// billing_team or account_management.
    pub queue: Option<String>,
    /// new, open, pending_customer, solved or closed.
    pub status: Option<String>,
    pub account_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/tickets", tag = "tickets", params(TicketQuery),
    responses((status = 200, description = "Tickets, oldest first: a queue is worked from its oldest", body = ListResponse<TicketRow>)))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TicketQuery>,
) -> Result<Json<ListResponse<TicketRow>>, ApiError> {
    let (after, limit) = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .bounds()?;
    let queue = q
        .queue
        .map(|v| {
            Queue::parse(&v)
                .ok_or_else(|| ApiError::invalid("queue", "billing_team or account_management"))
        })
        .transpose()?;
    let status = q
        .status
        .map(|v| Status::parse(&v).ok_or_else(|| ApiError::invalid("status", "not a status")))
        .transpose()?;
    let filter = QueueFilter {
        queue,
        assignee_id: q.assignee_id,
        statuses: status.into_iter().collect(),
        account_id: q.account_id,
        ..QueueFilter::default()
    };
    let page = s
        .engine
        .tickets(&caller.tenant, &filter, after, limit)
        .await?;
    Ok(Json(ListResponse::new(page.items, page.next)))
}

#[utoipa::path(get, path = "/v1/tickets/{id}", tag = "tickets", params(("id" = i64, Path)),
    responses((status = 200, description = "The ticket, its messages (internal notes included) and files", body = TicketView)))]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TicketView>, ApiError> {
    Ok(Json(s.engine.ticket(&caller.tenant, id, true).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageIn {
    pub body: String,
    /// A note the customer never sees.
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub files: Vec<FileIn>,
}

#[utoipa::path(post, path = "/v1/tickets/{id}/messages", tag = "tickets", params(("id" = i64, Path)),
    request_body = MessageIn,
    responses((status = 200, description = "The ticket after the staff's message", body = TicketView),
              (status = 409, description = "The ticket is closed")))]
pub async fn reply(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MessageIn>,
) -> Result<Json<TicketView>, ApiError> {
    let files = uploads(body.files)?;
    let view = s
        .engine
        .reply_to_ticket(
            &caller.tenant,
            Actor::API,
            id,
            &body.body,
            body.internal,
            &files,
        )
        .await?;
    Ok(Json(view))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusIn {
    pub status: Status,
}

#[utoipa::path(post, path = "/v1/tickets/{id}/status", tag = "tickets", params(("id" = i64, Path)),
    request_body = StatusIn,
    responses((status = 200, description = "The ticket with its new status", body = TicketRow),
              (status = 409, description = "Not a move the ticket can make (a closed ticket stays closed)")))]
pub async fn set_status(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<StatusIn>,
) -> Result<Json<TicketRow>, ApiError> {
    let row = s
        .engine
        .set_ticket_status(&caller.tenant, Actor::API, id, body.status)
        .await?;
    Ok(Json(row))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentIn {
    pub queue: Queue,
    pub assignee_id: Option<i64>,
}

#[utoipa::path(post, path = "/v1/tickets/{id}/assignment", tag = "tickets", params(("id" = i64, Path)),
    request_body = AssignmentIn,
    responses((status = 200, description = "The ticket in its queue, with its assignee", body = TicketRow)))]
pub async fn assign(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AssignmentIn>,
) -> Result<Json<TicketRow>, ApiError> {
    let row = s
        .engine
        .assign_ticket(&caller.tenant, Actor::API, id, body.queue, body.assignee_id)
        .await?;
    Ok(Json(row))
}

#[utoipa::path(get, path = "/v1/tickets/{id}/files/{file}", tag = "tickets",
    params(("id" = i64, Path), ("file" = i64, Path)),
    responses((status = 200, description = "The file as sent, as an attachment", content_type = "application/octet-stream")))]
pub async fn file(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath((id, file)): ApiPath<(i64, i64)>,
) -> Result<Response, ApiError> {
    let (meta, body) = s.engine.ticket_file(&caller.tenant, id, file, true).await?;
    Ok(prorata_web::attachment(body, &meta.media_type, &meta.name))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManagerIn {
    /// A staff user with the account_manager role, or null.
    pub manager_id: Option<i64>,
}

#[utoipa::path(put, path = "/v1/accounts/{id}/manager", tag = "tickets", params(("id" = i64, Path)),
    request_body = ManagerIn,
    responses((status = 204, description = "The account's manager is set: its subscription matters go to them")))]
pub async fn set_manager(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ManagerIn>,
) -> Result<StatusCode, ApiError> {
    s.engine
        .set_account_manager(&caller.tenant, Actor::API, id, body.manager_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/accounts/{id}/audit", tag = "tickets", params(("id" = i64, Path), PageQuery),
    responses((status = 200, description = "The account's audit trail, newest first: who, when, from where, what, before and after. Read-only: nothing can change it.", body = ListResponse<AuditEntry>)))]
pub async fn audit(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<ListResponse<AuditEntry>>, ApiError> {
    let (before, limit) = q.bounds()?;
    let page = s
        .engine
        .audit_trail(&caller.tenant, id, before, limit)
        .await?;
    Ok(Json(ListResponse::new(page.items, page.next)))
}

#[utoipa::path(get, path = "/v1/ticket-settings", tag = "tickets",
    responses((status = 200, description = "The contact reasons, where each is routed and what the form says of it, and the reopening window", body = prorata_core::tickets::TicketRules)))]
pub async fn get_settings(caller: Caller) -> Json<prorata_core::tickets::TicketRules> {
    Json(caller.tenant.settings.tickets.clone())
}

#[utoipa::path(put, path = "/v1/ticket-settings", tag = "tickets", request_body = prorata_core::tickets::TicketRules,
    responses((status = 204, description = "Saved: new tickets follow these rules")))]
pub async fn put_settings(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(rules): ApiJson<prorata_core::tickets::TicketRules>,
) -> Result<StatusCode, ApiError> {
    s.engine
        .set_ticket_rules(&caller.tenant, Actor::API, &rules)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
