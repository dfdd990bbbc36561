//! Invoices and credit notes: immutable once issued, listed in issue order.

use axum::extract::State;
use axum::Json;
use prorata_core::document::{Document, DocumentKind};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::ListResponse;
use crate::auth::Caller;
use crate::error::{ApiError, ApiPath, ApiQuery};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
pub struct DocumentQuery {
    pub account_id: Option<i64>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DocumentOut {
    pub id: i64,
    pub account_id: i64,
    pub subscription_id: i64,
    #[serde(flatten)]
    pub document: Document,
}

async fn list(
    s: AppState,
    caller: Caller,
    kind: DocumentKind,
    q: DocumentQuery,
) -> Result<Json<ListResponse<DocumentOut>>, ApiError> {
    let (after, limit) = super::PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .bounds()?;
    let mut tx = s
        .engine
        .store
        .begin()
        .await
        .map_err(prorata_engine::EngineError::from)?;
    let page = tx
        .list_documents(caller.tenant.id, Some(kind), q.account_id, after, limit)
        .await
        .map_err(prorata_engine::EngineError::from)?;
    let data = page
        .items
        .into_iter()
        .map(|r| DocumentOut {
            id: r.id,
            account_id: r.account_id,
            subscription_id: r.subscription_id,
            document: r.document,
        })
        .collect();
    Ok(Json(ListResponse::new(data, page.next)))
}

async fn one(
    s: AppState,
    caller: Caller,
    kind: DocumentKind,
    id: i64,
) -> Result<Json<DocumentOut>, ApiError> {
    let mut tx = s
        .engine
        .store
        .begin()
        .await
        .map_err(prorata_engine::EngineError::from)?;
    let row = tx
        .document(caller.tenant.id, id)
        .await
        .map_err(prorata_engine::EngineError::from)?
        .filter(|r| r.document.kind == kind)
        .ok_or(prorata_engine::EngineError::NotFound(match kind {
            DocumentKind::Invoice => "invoice",
            DocumentKind::CreditNote => "credit note",
        }))?;
    Ok(Json(DocumentOut {
        id: row.id,
        account_id: row.account_id,
        subscription_id: row.subscription_id,
        document: row.document,
    }))
}

#[utoipa::path(get, path = "/v1/invoices", tag = "documents", params(DocumentQuery),
    responses((status = 200, description = "Invoices, in issue order", body = Value)))]
pub async fn list_invoices(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DocumentQuery>,
) -> Result<Json<ListResponse<DocumentOut>>, ApiError> {
    list(s, caller, DocumentKind::Invoice, q).await
}

#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "documents", params(("id" = i64, Path)),
    responses((status = 200, description = "An invoice with its lines, taxes and totals", body = Value),
              (status = 404, description = "No such invoice for this tenant")))]
pub async fn get_invoice(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<DocumentOut>, ApiError> {
    one(s, caller, DocumentKind::Invoice, id).await
}

#[utoipa::path(get, path = "/v1/credit-notes", tag = "documents", params(DocumentQuery),
    responses((status = 200, description = "Credit notes, in issue order", body = Value)))]
pub async fn list_credit_notes(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DocumentQuery>,
) -> Result<Json<ListResponse<DocumentOut>>, ApiError> {
    list(s, caller, DocumentKind::CreditNote, q).await
}

#[utoipa::path(get, path = "/v1/credit-notes/{id}", tag = "documents", params(("id" = i64, Path)),
    responses((status = 200, description = "A credit note with the invoices it corrects", body = Value),
              (status = 404, description = "No such credit note for this tenant")))]
pub async fn get_credit_note(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<DocumentOut>, ApiError> {
    one(s, caller, DocumentKind::CreditNote, id).await
}
