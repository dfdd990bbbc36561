//! Documents' files: the Factur-X PDF and the CII XML of each invoice and credit note, made
//! once after issue and kept with their SHA-256.
//!
//! Issuing queues the document (same transaction); the render pass takes the queue in chunks,
//! renders off the async threads on every core, and stores the files while taking their
//! documents off the queue. A file read before the pass reached its document is rendered then
//! and stored the same way: rendering is a pure function of the immutable document, and the
//! store keeps the first copy, so every reader gets the same bytes.
//!
//! A document prints the seller logo it was issued with, named by its SHA-256 in its seller
//! snapshot: logos are kept forever, and the pass loads those a chunk names in one query
//! (keeping them for the next chunks), never one per document.

use std::collections::HashMap;
use std::sync::Arc;

use prorata_core::account::Account;
use prorata_core::document::{Document, DocumentKind};
use prorata_docs::files::Files;
use prorata_docs::logo::PreparedLogo;
use prorata_store::{DocumentRow, FileFormat, NewFile, StoreError, StoredFile, Tenant};

use crate::{sha256_hex, Engine, EngineError, Result};

/// Documents rendered per transaction.
const RENDER_CHUNK: i64 = 200;

/// What the render pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RenderSummary {
    pub documents: u64,
    pub bytes: u64,
    /// Documents that could not be rendered, with why: they stay queued (retried by the next
    /// pass) and do not hold up the others.
    pub failed: Vec<(String, String)>,
}

/// Documents issued before snapshots carried everything printed get what they lack from
/// today's tenant and account (the seller, the buyer, its language); their files, once made,
/// are kept like any other.
fn completed(mut row: DocumentRow, tenant: &Tenant, account: Option<&Account>) -> DocumentRow {
    let doc = &mut row.document;
    if doc.seller.is_none() {
        let s = &tenant.settings;
        doc.seller = Some(s.seller.snapshot(&tenant.name, &s.tax.seller_country));
    }
    if let Some(account) = account {
        let buyer = doc.buyer.get_or_insert_with(|| account.buyer_snapshot());
        buyer.language.get_or_insert(account.language);
    }
    row
}

/// Whether a document lacks what [`completed`] fills from its account.
fn needs_account(row: &DocumentRow) -> bool {
    row.document
        .buyer
        .as_ref()
        .is_none_or(|b| b.language.is_none())
}

/// Sellers' logos ready to draw, by SHA-256: what a render pass has loaded so far.
pub type Logos = HashMap<String, Arc<PreparedLogo>>;

/// The logo `doc` names, if any; an error when it names one that was not loaded.
fn logo_of<'l>(
    doc: &Document,
    logos: &'l Logos,
) -> std::result::Result<Option<&'l PreparedLogo>, String> {
    match doc.seller.as_ref().and_then(|s| s.logo.as_ref()) {
        None => Ok(None),
        Some(hash) => logos
            .get(hash)
            .map(|l| Some(&**l))
            .ok_or_else(|| format!("its seller logo {hash} is not stored")),
    }
}

/// One document's files, or why they cannot be made.
type Rendered = Result<[NewFile; 2], String>;

/// Both files of each document, rendered on every core; each document's own outcome.
fn render_rows(rows: &[DocumentRow], logos: &Logos) -> Vec<Rendered> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = rows.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = rows
            .chunks(per)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|row| render_one(row, logos))
                        .collect::<Vec<Rendered>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(rows.chunks(per))
            .flat_map(|(h, part)| {
                h.join().unwrap_or_else(|_| {
                    part.iter()
                        .map(|_| Err("the renderer panicked".to_string()))
                        .collect::<Vec<Rendered>>()
                })
            })
            .collect()
    })
}

fn render_one(row: &DocumentRow, logos: &Logos) -> Rendered {
    let logo = logo_of(&row.document, logos)?;
    let Files { xml, pdf } = prorata_docs::files::make_with_logo(&row.document, logo)?;
    let file = |format, body: Vec<u8>| NewFile {
        document_id: row.id,
        format,
        sha256: sha256_hex(&body),
        body,
    };
    Ok([file(FileFormat::Xml, xml), file(FileFormat::Pdf, pdf)])
}

/// `file` if its bytes still hash to the SHA-256 recorded when it was made.
fn checked(row: &DocumentRow, file: StoredFile) -> Result<StoredFile> {
    if sha256_hex(&file.body) == file.sha256 {
        Ok(file)
    } else {
        Err(StoreError::Corrupt(format!(
            "the stored file of {} does not match its SHA-256",
            row.document.number
        ))
        .into())
    }
}

async fn join_write(w: tokio::task::JoinHandle<Result<()>>) -> Result<()> {
    w.await
        .map_err(|e| EngineError::Conflict(format!("file writer: {e}")))?
}

impl Engine {
    /// Adds to `logos` the sellers' logos `docs` name that it lacks, in one query. A stored
    /// logo was checked when set; one that no longer prepares is left out (its documents then
    /// fail to render and say why).
    pub async fn load_logos<'d>(
        &self,
        tenant: &Tenant,
        docs: impl IntoIterator<Item = &'d Document>,
        logos: &mut Logos,
    ) -> Result<()> {
        let mut missing: Vec<String> = docs
            .into_iter()
            .filter_map(|d| d.seller.as_ref().and_then(|s| s.logo.clone()))
            .filter(|h| !logos.contains_key(h))
            .collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let mut tx = self.store.begin().await?;
        let found = tx.seller_logos(tenant.id, &missing).await?;
        tx.rollback().await?;
        for (hash, png) in found {
            if let Ok(logo) = prorata_docs::logo::prepare(&png) {
                logos.insert(hash, Arc::new(logo));
            }
        }
        Ok(())
    }

    /// Makes the files of every document of `tenant` still without them.
    ///
    /// A two-stage pipeline: chunk k+1 is read and rendered while chunk k is written (the
    /// write is the slower half). A failed write stops the pass; its documents stay queued.
    pub async fn render_documents(&self, tenant: &Tenant) -> Result<RenderSummary> {
        let mut summary = RenderSummary::default();
        let mut after = 0;
        let mut writing: Option<tokio::task::JoinHandle<Result<()>>> = None;
        // Logos loaded by earlier chunks: a tenant has one or a few.
        let mut logos = Logos::new();
        loop {
            let mut tx = self.store.begin().await?;
            let rows = tx.pending_renders(tenant.id, after, RENDER_CHUNK).await?;
            tx.rollback().await?;
            let Some(last) = rows.last() else {
                if let Some(w) = writing.take() {
                    join_write(w).await?;
                }
                return Ok(summary);
            };
            after = last.id;
            let old: Vec<i64> = crate::distinct(
                rows.iter()
                    .filter(|r| needs_account(r))
                    .map(|r| r.account_id),
            );
            let accounts = if old.is_empty() {
                Default::default()
            } else {
                let mut tx = self.store.begin().await?;
                let found = tx.accounts(tenant.id, &old).await?;
                tx.rollback().await?;
                found
            };
            let rows: Vec<DocumentRow> = rows
                .into_iter()
                .map(|r| {
                    let account = accounts.get(&r.account_id);
                    completed(r, tenant, account)
                })
                .collect();
            self.load_logos(tenant, rows.iter().map(|r| &r.document), &mut logos)
                .await?;
            let chunk_logos = logos.clone();
            let (rows, outcomes) = tokio::task::spawn_blocking(move || {
                let outcomes = render_rows(&rows, &chunk_logos);
                (rows, outcomes)
            })
            .await
            .map_err(|e| EngineError::Conflict(format!("renderer: {e}")))?;
            let mut files = Vec::with_capacity(rows.len() * 2);
            for (row, outcome) in rows.iter().zip(outcomes) {
                match outcome {
                    Ok(pair) => files.extend(pair),
                    Err(why) => summary.failed.push((row.document.number.clone(), why)),
                }
            }
            summary.documents += files.len() as u64 / 2;
            summary.bytes += files.iter().map(|f| f.body.len() as u64).sum::<u64>();
            if let Some(w) = writing.take() {
                join_write(w).await?;
            }
            let store = self.store.clone();
            let tenant_id = tenant.id;
            writing = Some(tokio::spawn(async move {
                let mut tx = store.begin().await?;
                tx.store_files(tenant_id, &files).await?;
                tx.commit().await?;
                Ok(())
            }));
        }
    }

    /// A document's file: the stored one, or made and stored now if the render pass has not
    /// reached it; checked against its recorded SHA-256 either way. `None` when `tenant` has
    /// no document `document_id` of this kind (and then nothing is made).
    pub async fn document_file(
        &self,
        tenant: &Tenant,
        document_id: i64,
        kind: DocumentKind,
        format: FileFormat,
    ) -> Result<Option<(DocumentRow, StoredFile)>> {
        let mut tx = self.store.begin().await?;
        let Some(row) = tx
            .document(tenant.id, document_id)
            .await?
            .filter(|r| r.document.kind == kind)
        else {
            return Ok(None);
        };
        if let Some(file) = tx.document_file(tenant.id, document_id, format).await? {
            return Ok(Some((row.clone(), checked(&row, file)?)));
        }
        let account = if needs_account(&row) {
            tx.account(tenant.id, row.account_id).await?
        } else {
            None
        };
        tx.rollback().await?;
        let row = completed(row, tenant, account.as_ref());
        let mut logos = Logos::new();
        self.load_logos(tenant, [&row.document], &mut logos).await?;
        let files = {
            let row = row.clone();
            let number = row.document.number.clone();
            tokio::task::spawn_blocking(move || render_one(&row, &logos))
                .await
                .map_err(|e| EngineError::Conflict(format!("renderer: {e}")))?
                // A document the renderer refuses is a defect of stored data, not the caller's.
                .map_err(|why| StoreError::Corrupt(format!("document {number}: {why}")))?
        };
        let mut tx = self.store.begin().await?;
        tx.store_files(tenant.id, &files).await?;
        // Another writer may have stored first: read back what is kept.
        let file = tx
            .document_file(tenant.id, document_id, format)
            .await?
            .ok_or(EngineError::NotFound("document file"))?;
        tx.commit().await?;
        let file = checked(&row, file)?;
        Ok(Some((row, file)))
    }
}
