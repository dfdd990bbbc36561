//! Invoices and credit notes: immutable once issued, listed in issue order.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use prorata_core::document::{Document, DocumentKind};
use prorata_core::seller::Seller;
use prorata_store::FileFormat;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::ListResponse;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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

/// What a document path asks for: `42` (JSON), `42.pdf` (Factur-X) or `42.xml` (CII).
fn parse_target(text: &str) -> Result<(i64, Option<FileFormat>), ApiError> {
    let (id, format) = match text.rsplit_once('.') {
        Some((id, "pdf")) => (id, Some(FileFormat::Pdf)),
        Some((id, "xml")) => (id, Some(FileFormat::Xml)),
        Some((_, ext)) => {
            return Err(ApiError::invalid(
                "id",
                format!("unknown format .{ext}: ask for .pdf (Factur-X) or .xml (EN 16931 CII)"),
            ))
        }
        None => (text, None),
    };
    let id = id
        .parse::<i64>()
        .map_err(|_| ApiError::invalid("id", format!("{id:?} is not a document id")))?;
    Ok((id, format))
}

fn not_found(kind: DocumentKind) -> prorata_engine::EngineError {
    prorata_engine::EngineError::NotFound(match kind {
        DocumentKind::Invoice => "invoice",
        DocumentKind::CreditNote => "credit note",
    })
}

async fn one(
    s: AppState,
    caller: Caller,
    kind: DocumentKind,
    target: &str,
) -> Result<Response, ApiError> {
    let (id, format) = parse_target(target)?;
    if let Some(format) = format {
        return file(s, caller, kind, id, format).await;
    }
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
        .ok_or(not_found(kind))?;
    Ok(Json(DocumentOut {
        id: row.id,
        account_id: row.account_id,
        subscription_id: row.subscription_id,
        document: row.document,
    })
    .into_response())
}

/// The stored file (the engine checks it against its recorded SHA-256).
async fn file(
    s: AppState,
    caller: Caller,
    kind: DocumentKind,
    id: i64,
    format: FileFormat,
) -> Result<Response, ApiError> {
    let (row, file) = s
        .engine
        .document_file(&caller.tenant, id, kind, format)
        .await?
        .ok_or(not_found(kind))?;
    let (content_type, ext) = match format {
        FileFormat::Pdf => ("application/pdf", "pdf"),
        FileFormat::Xml => ("application/xml", "xml"),
    };
    let disposition = format!("inline; filename=\"{}.{ext}\"", row.document.number);
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::ETAG, format!("\"{}\"", file.sha256)),
        ],
        file.body,
    )
        .into_response())
}

/// A downloaded PDF or XML, as bytes (the schema of the `.pdf` and `.xml` downloads).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)] // never built: it only names the downloads' schema
pub struct FileBytes(Vec<u8>);

#[utoipa::path(get, path = "/v1/invoices", tag = "documents", params(DocumentQuery),
    responses((status = 200, description = "Invoices, in issue order", body = Value)))]
pub async fn list_invoices(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DocumentQuery>,
) -> Result<Json<ListResponse<DocumentOut>>, ApiError> {
    list(s, caller, DocumentKind::Invoice, q).await
}

#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "documents",
    params(("id" = String, Path, description = "The invoice's id; `42.pdf` for its Factur-X PDF, `42.xml` for its EN 16931 CII XML")),
    responses((status = 200, description = "An invoice with its lines, taxes and totals (JSON), or its PDF or XML; ETag is the file's SHA-256",
                  content((Value = "application/json"), (FileBytes = "application/pdf"), (FileBytes = "application/xml")),
                  headers(("ETag" = String, description = "The PDF's or XML's SHA-256, quoted"))),
              (status = 404, description = "No such invoice for this tenant"),
              (status = 422, description = "Not an id, or an unknown format")))]
pub async fn get_invoice(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    one(s, caller, DocumentKind::Invoice, &id).await
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

#[utoipa::path(get, path = "/v1/credit-notes/{id}", tag = "documents",
    params(("id" = String, Path, description = "The credit note's id; `42.pdf` for its Factur-X PDF, `42.xml` for its EN 16931 CII XML")),
    responses((status = 200, description = "A credit note with the invoices it corrects (JSON), or its PDF or XML; ETag is the file's SHA-256",
                  content((Value = "application/json"), (FileBytes = "application/pdf"), (FileBytes = "application/xml")),
                  headers(("ETag" = String, description = "The PDF's or XML's SHA-256, quoted"))),
              (status = 404, description = "No such credit note for this tenant"),
              (status = 422, description = "Not an id, or an unknown format")))]
pub async fn get_credit_note(
    State(s): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    one(s, caller, DocumentKind::CreditNote, &id).await
}

#[utoipa::path(get, path = "/v1/seller", tag = "documents",
    responses((status = 200, description = "The seller printed on the tenant's documents: legal name and form, address, SIREN, VAT number, payment terms, late-payment penalty rate", body = Seller)))]
pub async fn get_seller(caller: Caller) -> Json<Seller> {
    Json(caller.tenant.settings.seller)
}

#[utoipa::path(put, path = "/v1/seller", tag = "documents", request_body = Seller,
    responses((status = 200, description = "Saved: documents issued from now on print it; issued ones keep theirs", body = Seller),
              (status = 422, description = "An invalid SIREN, VAT number, payment terms or rate (the field is named)")))]
pub async fn put_seller(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(seller): ApiJson<Seller>,
) -> Result<Json<Seller>, ApiError> {
    s.engine.set_seller(&caller.tenant, &seller).await?;
    Ok(Json(seller))
}
