//! Documents' files (Factur-X PDF, CII XML) and the queue of documents still without them.
//! Files are written once: a second writer's copy is ignored, so whoever reads a file reads
//! the first one made, whose SHA-256 is stored beside it.

use sqlx::QueryBuilder;

use super::{doc_row, push_ids, Inner, Tx, ROWS_PER_INSERT};
use crate::model::*;
use crate::{Result, StoreError};

impl Tx {
    /// Queues the documents `ids` (just inserted) for their files.
    pub(crate) async fn queue_renders(&mut self, tenant: i64, ids: &[i64]) -> Result<()> {
        on_tx!(self, conn => {
            let mut q =
                QueryBuilder::new("INSERT INTO document_renders (tenant_id, document_id) ");
            q.push_values(ids, |mut b, id| {
                b.push_bind(tenant).push_bind(*id);
            });
            q.build().execute(&mut *conn).await?;
        });
        Ok(())
    }

    /// Up to `limit` documents of `tenant` after `after` (a document id) waiting for their
    /// files, oldest first.
    pub async fn pending_renders(
        &mut self,
        tenant: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<DocumentRow>> {
        let rows: Vec<(i64, i64, i64, String)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT d.id, d.account_id, d.subscription_id, d.body \
                 FROM document_renders r JOIN documents d \
                   ON d.tenant_id = r.tenant_id AND d.id = r.document_id \
                 WHERE r.tenant_id = $1 AND r.document_id > $2 ORDER BY r.document_id LIMIT $3",
            )
            .bind(tenant)
            .bind(after)
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?
        });
        rows.into_iter().map(doc_row).collect()
    }

    /// Stores files (keeping any already stored) and takes their documents off the queue.
    pub async fn store_files(&mut self, tenant: i64, files: &[NewFile]) -> Result<()> {
        for chunk in files.chunks(ROWS_PER_INSERT) {
            on_tx!(self, conn => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO document_files (tenant_id, document_id, format, sha256, body) ",
                );
                q.push_values(chunk, |mut b, f| {
                    b.push_bind(tenant)
                        .push_bind(f.document_id)
                        .push_bind(f.format.as_str())
                        .push_bind(f.sha256.as_str())
                        .push_bind(f.body.as_slice());
                });
                q.push(" ON CONFLICT (tenant_id, document_id, format) DO NOTHING");
                q.build().execute(&mut *conn).await?;
            });
            let ids: Vec<i64> = chunk.iter().map(|f| f.document_id).collect();
            on_tx!(self, conn => {
                let mut q = QueryBuilder::new("DELETE FROM document_renders WHERE tenant_id = ");
                q.push_bind(tenant).push(" AND document_id IN");
                push_ids(&mut q, &ids);
                q.build().execute(&mut *conn).await?;
            });
        }
        Ok(())
    }

    /// A document's stored file.
    pub async fn document_file(
        &mut self,
        tenant: i64,
        document: i64,
        format: FileFormat,
    ) -> Result<Option<StoredFile>> {
        let row: Option<(String, Vec<u8>)> = on_tx!(self, conn => {
            sqlx::query_as(
                "SELECT sha256, body FROM document_files \
                 WHERE tenant_id = $1 AND document_id = $2 AND format = $3",
            )
            .bind(tenant)
            .bind(document)
            .bind(format.as_str())
            .fetch_optional(&mut *conn)
            .await?
        });
        Ok(row.map(|(sha256, body)| StoredFile { sha256, body }))
    }
}

impl Tx {
    /// The stored files of the documents `ids` of `tenant`, by document id.
    pub async fn files_of(
        &mut self,
        tenant: i64,
        ids: &[i64],
    ) -> Result<Vec<(i64, FileFormat, StoredFile)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, String, String, Vec<u8>)> = on_tx!(self, conn => {
            let mut q = QueryBuilder::new(
                "SELECT document_id, format, sha256, body FROM document_files WHERE tenant_id = ",
            );
            q.push_bind(tenant).push(" AND document_id IN");
            push_ids(&mut q, ids);
            q.push(" ORDER BY document_id, format");
            q.build_query_as().fetch_all(&mut *conn).await?
        });
        rows.into_iter()
            .map(|(id, format, sha256, body)| {
                Ok((id, FileFormat::parse(&format)?, StoredFile { sha256, body }))
            })
            .collect()
    }
}

impl FileFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Pdf => "pdf",
            FileFormat::Xml => "xml",
        }
    }

    pub fn parse(s: &str) -> Result<FileFormat> {
        match s {
            "pdf" => Ok(FileFormat::Pdf),
            "xml" => Ok(FileFormat::Xml),
            other => Err(StoreError::Corrupt(format!("file format {other:?}"))),
        }
    }
}
