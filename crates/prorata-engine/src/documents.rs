//! Documents' files: the Factur-X PDF and the CII XML of each invoice and credit note, made
//! once after issue and kept with their SHA-256.
//!
//! Issuing queues the document (same transaction); the render pass takes the queue in chunks,
//! renders off the async threads on every core, and stores the files while taking their
//! documents off the queue. A file read before the pass reached its document is rendered then
//! and stored the same way: rendering is a pure function of the immutable document, and the
//! store keeps the first copy, so every reader gets the same bytes.

use prorata_docs::files::Files;
use prorata_store::{DocumentRow, FileFormat, NewFile, StoredFile, Tenant};

use crate::{sha256_hex, Engine, EngineError, Result};

/// Documents rendered per transaction.
const RENDER_CHUNK: i64 = 200;

/// What the render pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RenderSummary {
    pub documents: u64,
    pub bytes: u64,
}

/// Documents issued before seller snapshots existed print the tenant's seller of today.
fn with_seller(mut row: DocumentRow, tenant: &Tenant) -> DocumentRow {
    if row.document.seller.is_none() {
        let s = &tenant.settings;
        row.document.seller = Some(s.seller.snapshot(&tenant.name, &s.tax.seller_country));
    }
    row
}

/// Both files of each document, rendered on every core.
pub fn render_rows(rows: &[DocumentRow]) -> Result<Vec<NewFile>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = rows.len().div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<[NewFile; 2]>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .chunks(per)
            .map(|part| {
                scope.spawn(move || part.iter().map(render_one).collect::<Result<Vec<_>>>())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(EngineError::Conflict("a renderer panicked".into())))
            })
            .collect()
    });
    let mut out = Vec::with_capacity(rows.len() * 2);
    for part in parts {
        for files in part? {
            out.extend(files);
        }
    }
    Ok(out)
}

fn render_one(row: &DocumentRow) -> Result<[NewFile; 2]> {
    let Files { xml, pdf } = prorata_docs::files::make(&row.document)
        .map_err(|e| EngineError::Conflict(format!("document {}: {e}", row.document.number)))?;
    let file = |format, body: Vec<u8>| NewFile {
        document_id: row.id,
        format,
        sha256: sha256_hex(&body),
        body,
    };
    Ok([file(FileFormat::Xml, xml), file(FileFormat::Pdf, pdf)])
}

impl Engine {
    /// Makes the files of every document of `tenant` still without them.
    pub async fn render_documents(&self, tenant: &Tenant) -> Result<RenderSummary> {
        let mut summary = RenderSummary::default();
        loop {
            let mut tx = self.store.begin().await?;
            let rows = tx.pending_renders(tenant.id, RENDER_CHUNK).await?;
            tx.rollback().await?;
            if rows.is_empty() {
                return Ok(summary);
            }
            let rows: Vec<DocumentRow> = rows.into_iter().map(|r| with_seller(r, tenant)).collect();
            let files = tokio::task::spawn_blocking(move || render_rows(&rows))
                .await
                .map_err(|e| EngineError::Conflict(format!("renderer: {e}")))??;
            summary.documents += files.len() as u64 / 2;
            summary.bytes += files.iter().map(|f| f.body.len() as u64).sum::<u64>();
            let mut tx = self.store.begin().await?;
            tx.store_files(tenant.id, &files).await?;
            tx.commit().await?;
        }
    }

    /// A document's file: the stored one, or made and stored now if the render pass has not
    /// reached it. `None` when `tenant` has no such document.
    pub async fn document_file(
        &self,
        tenant: &Tenant,
        document_id: i64,
        format: FileFormat,
    ) -> Result<Option<(DocumentRow, StoredFile)>> {
        let mut tx = self.store.begin().await?;
        let Some(row) = tx.document(tenant.id, document_id).await? else {
            return Ok(None);
        };
        if let Some(file) = tx.document_file(tenant.id, document_id, format).await? {
            return Ok(Some((row, file)));
        }
        tx.rollback().await?;
        let row = with_seller(row, tenant);
        let files = {
            let row = row.clone();
            tokio::task::spawn_blocking(move || render_rows(std::slice::from_ref(&row)))
                .await
                .map_err(|e| EngineError::Conflict(format!("renderer: {e}")))??
        };
        let mut tx = self.store.begin().await?;
        tx.store_files(tenant.id, &files).await?;
        // Another writer may have stored first: read back what is kept.
        let file = tx
            .document_file(tenant.id, document_id, format)
            .await?
            .ok_or(EngineError::NotFound("document file"))?;
        tx.commit().await?;
        Ok(Some((row, file)))
    }
}
