//! Invoices and credit notes: immutable once issued, listed in issue order.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use prorata_core::document::{Document, DocumentKind};
use prorata_core::money::Money;
use prorata_core::seller::Seller;
use prorata_core::settlement::InvoiceStatus;
use prorata_engine::{InvoiceFilter, InvoiceView};
use prorata_store::{FileFormat, InvoiceRange};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use super::export::{self, ExportRow, Format};
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

/// `GET /v1/invoices`: a page (or, asked with `Accept: application/x-ndjson` or
/// `text/csv`, an export of every matching invoice from `cursor` on).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceQuery {
    pub account_id: Option<i64>,
    /// What is due on it at the tenant's today: `open`, `partly_paid`, `paid` or `overdue`.
    #[param(value_type = Option<InvoiceStatus>, inline)]
    pub status: Option<String>,
    /// Issued on or after this day (YYYY-MM-DD).
    #[param(value_type = Option<NaiveDate>)]
    pub issued_from: Option<String>,
    /// Issued on or before this day (YYYY-MM-DD).
    #[param(value_type = Option<NaiveDate>)]
    pub issued_to: Option<String>,
    /// `true`: only invoices with something due after their due date; `false`: the others.
    #[param(value_type = Option<bool>)]
    pub overdue: Option<String>,
    /// At most 100 a page, 50 by default (an export ignores it).
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn date(field: &str, text: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    text.map(|t| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map_err(|_| ApiError::invalid(field, format!("{t:?} is not a date (YYYY-MM-DD)")))
    })
    .transpose()
}

impl InvoiceQuery {
    fn filter(&self) -> Result<InvoiceFilter, ApiError> {
        let status = self
            .status
            .as_deref()
            .map(|t| {
                InvoiceStatus::parse(t).ok_or_else(|| {
                    ApiError::invalid(
                        "status",
                        format!(
                            "{t:?} is not an invoice status: open, partly_paid, paid or overdue"
                        ),
                    )
                })
            })
            .transpose()?;
        let overdue = match self.overdue.as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(t) => {
                return Err(ApiError::invalid(
                    "overdue",
                    format!("{t:?} is not true or false"),
                ))
            }
        };
        let issued_from = date("issued_from", self.issued_from.as_deref())?;
        let issued_to = date("issued_to", self.issued_to.as_deref())?;
        Ok(InvoiceFilter {
            range: InvoiceRange {
                account: self.account_id,
                issued_from,
                issued_to,
            },
            status,
            overdue,
        })
    }
}

/// An invoice or a credit note: its ids, on an invoice where it stands, and the document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = IssuedDocument)]
pub struct DocumentOut {
    pub id: i64,
    pub account_id: i64,
    pub subscription_id: i64,
    /// Invoices only: what is due on it at the tenant's today, derived from the account's
    /// ledger (payments and credit settle the oldest invoices first: docs/payments.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<InvoiceStatus>,
    /// Invoices only: what is left to pay on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_due: Option<Money>,
    #[serde(flatten)]
    pub document: Document,
}

impl From<InvoiceView> for DocumentOut {
    fn from(v: InvoiceView) -> DocumentOut {
        DocumentOut {
            id: v.row.id,
            account_id: v.row.account_id,
            subscription_id: v.row.subscription_id,
            status: Some(v.status),
            amount_due: Some(v.amount_due),
            document: v.row.document,
        }
    }
}

impl ExportRow for DocumentOut {
    const CSV_HEADER: &'static str = "id,number,account_id,subscription_id,issued_on,due_on,currency,net_total,tax_total,total,amount_due,status";

    fn csv_fields(&self) -> Vec<String> {
        let d = &self.document;
        let tax = d.total.checked_sub(d.net_total).unwrap_or(d.total);
        vec![
            self.id.to_string(),
            d.number.clone(),
            self.account_id.to_string(),
            self.subscription_id.to_string(),
            d.issued_on.to_string(),
            d.due_on.map(|x| x.to_string()).unwrap_or_default(),
            d.currency.code().to_string(),
            d.net_total.amount_text(),
            tax.amount_text(),
            d.total.amount_text(),
            self.amount_due.map(Money::amount_text).unwrap_or_default(),
            self.status
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
        ]
    }
}

async fn list_credit(
    s: AppState,
    caller: Caller,
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
        .list_documents(
            caller.tenant.id,
            Some(DocumentKind::CreditNote),
            q.account_id,
            after,
            limit,
        )
        .await
        .map_err(prorata_engine::EngineError::from)?;
    let data = page
        .items
        .into_iter()
        .map(|r| DocumentOut {
            id: r.id,
            account_id: r.account_id,
            subscription_id: r.subscription_id,
            status: None,
            amount_due: None,
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
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let (id, format) = parse_target(target)?;
    if let Some(format) = format {
        return file(s, caller, (kind, id, format), headers).await;
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
    tx.rollback()
        .await
        .map_err(prorata_engine::EngineError::from)?;
    let out = match kind {
        DocumentKind::Invoice => s
            .engine
            .invoice_views(&caller.tenant, vec![row])
            .await?
            .into_iter()
            .next()
            .map(DocumentOut::from)
            .ok_or(not_found(kind))?,
        DocumentKind::CreditNote => DocumentOut {
            id: row.id,
            account_id: row.account_id,
            subscription_id: row.subscription_id,
            status: None,
            amount_due: None,
            document: row.document,
        },
    };
    Ok(Json(out).into_response())
}

/// Whether `If-None-Match` (its values, comma-separated) matches `etag` (quoted): `*`, or the
/// same tag, weak or strong (RFC 9110's weak comparison, which `If-None-Match` uses).
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || bare(t) == bare(etag))
}

/// The stored file (the engine checks it against its recorded SHA-256).
async fn file(
    s: AppState,
    caller: Caller,
    (kind, id, format): (DocumentKind, i64, FileFormat),
    headers: &HeaderMap,
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
    let etag = format!("\"{}\"", file.sha256);
    if none_match(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::ETAG, etag),
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

/// The `If-None-Match` a document download honours.
const IF_NONE_MATCH: &str = "An ETag of an earlier download (or `*`): when it still matches, the answer is 304 with no body";

#[utoipa::path(get, path = "/v1/invoices", tag = "documents", params(InvoiceQuery),
    responses((status = 200, description = "Invoices in issue order, each with its `status` and `amount_due` at the tenant's today (derived from the account's ledger: docs/payments.md). A filter by `status` or `overdue` reads at most 2,000 invoices a request: a page may then hold fewer than `limit`, with `next_cursor` to go on. With `Accept: application/x-ndjson` or `Accept: text/csv`, every matching invoice from `cursor` on, streamed: one JSON object a line, or CSV with a header row and amounts as decimal strings beside a currency column",
                  content((ListResponse<DocumentOut> = "application/json"), (String = "application/x-ndjson"), (String = "text/csv")))))]
pub async fn list_invoices(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<InvoiceQuery>,
) -> Result<Response, ApiError> {
    let filter = q.filter()?;
    let (after, limit) = super::PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    }
    .bounds()?;
    let (engine, tenant) = (s.engine.clone(), caller.tenant.clone());
    export::answer(Format::of(&headers), after, limit, move |after, limit| {
        let (engine, tenant) = (engine.clone(), tenant.clone());
        async move {
            let page = engine.list_invoices(&tenant, &filter, after, limit).await?;
            Ok(prorata_store::Page {
                items: page.items.into_iter().map(DocumentOut::from).collect(),
                next: page.next,
            })
        }
    })
    .await
}

#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "documents",
    params(("id" = String, Path, description = "The invoice's id; `42.pdf` for its Factur-X PDF, `42.xml` for its EN 16931 CII XML"),
           ("If-None-Match" = Option<String>, Header, description = IF_NONE_MATCH)),
    responses((status = 200, description = "An invoice with its lines, taxes and totals, its `status` and `amount_due` (JSON), or its PDF or XML; ETag is the file's SHA-256",
                  content((DocumentOut = "application/json"), (FileBytes = "application/pdf"), (FileBytes = "application/xml")),
                  headers(("ETag" = String, description = "The PDF's or XML's SHA-256, quoted"))),
              (status = 304, description = "The PDF or XML has not changed since the download whose ETag `If-None-Match` gave: no body",
                  headers(("ETag" = String, description = "The PDF's or XML's SHA-256, quoted"))),
              (status = 404, description = "No such invoice for this tenant"),
              (status = 422, description = "Not an id, or an unknown format")))]
pub async fn get_invoice(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    one(s, caller, DocumentKind::Invoice, &id, &headers).await
}

#[utoipa::path(get, path = "/v1/credit-notes", tag = "documents", params(DocumentQuery),
    responses((status = 200, description = "Credit notes, in issue order", body = ListResponse<DocumentOut>)))]
pub async fn list_credit_notes(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DocumentQuery>,
) -> Result<Json<ListResponse<DocumentOut>>, ApiError> {
    list_credit(s, caller, q).await
}

#[utoipa::path(get, path = "/v1/credit-notes/{id}", tag = "documents",
    params(("id" = String, Path, description = "The credit note's id; `42.pdf` for its Factur-X PDF, `42.xml` for its EN 16931 CII XML"),
           ("If-None-Match" = Option<String>, Header, description = IF_NONE_MATCH)),
    responses((status = 200, description = "A credit note with the invoices it corrects (JSON), or its PDF or XML; ETag is the file's SHA-256",
                  content((DocumentOut = "application/json"), (FileBytes = "application/pdf"), (FileBytes = "application/xml")),
                  headers(("ETag" = String, description = "The PDF's or XML's SHA-256, quoted"))),
              (status = 304, description = "The PDF or XML has not changed since the download whose ETag `If-None-Match` gave: no body",
                  headers(("ETag" = String, description = "The PDF's or XML's SHA-256, quoted"))),
              (status = 404, description = "No such credit note for this tenant"),
              (status = 422, description = "Not an id, or an unknown format")))]
pub async fn get_credit_note(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    one(s, caller, DocumentKind::CreditNote, &id, &headers).await
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
    // What is kept: the seller sent, with the tenant's logo (set by its own route).
    let kept = s.engine.tenant(caller.tenant.id).await?.settings.seller;
    Ok(Json(kept))
}

#[utoipa::path(put, path = "/v1/seller/logo", tag = "documents",
    request_body(content = FileBytes, content_type = "application/octet-stream", description = "The logo's bytes, a PNG of at most 1 MB and 2048 px a side, sent as `image/png` or `application/octet-stream` (the document names the latter: client generators take it)"),
    responses((status = 200, description = "Saved: documents issued from now on print it top left (issued ones keep theirs); the seller with `logo`, the PNG's SHA-256", body = Seller),
              (status = 415, description = "The body is not sent as `image/png` or `application/octet-stream`"),
              (status = 422, description = "Not a PNG, over 1 MB, or over 2048 px a side (field `logo`)")))]
pub async fn put_seller_logo(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Seller>, ApiError> {
    // The bytes' own signature decides whether they are a PNG; the type only says they are
    // bytes, not JSON or a form.
    let bytes = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("image/png")
                || v.eq_ignore_ascii_case("application/octet-stream")
        });
    if !bytes {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the logo as its PNG bytes with Content-Type: image/png",
        ));
    }
    s.engine
        .set_seller_logo(&caller.tenant, Some(&body))
        .await?;
    Ok(Json(
        s.engine.tenant(caller.tenant.id).await?.settings.seller,
    ))
}

#[utoipa::path(delete, path = "/v1/seller/logo", tag = "documents",
    responses((status = 200, description = "Removed: documents issued from now on print no logo (issued ones keep theirs); the seller", body = Seller)))]
pub async fn delete_seller_logo(
    State(s): State<AppState>,
    caller: Caller,
) -> Result<Json<Seller>, ApiError> {
    s.engine.set_seller_logo(&caller.tenant, None).await?;
    Ok(Json(
        s.engine.tenant(caller.tenant.id).await?.settings.seller,
    ))
}
