//! Sellers' logos, kept forever by their SHA-256: a document names the logo it was issued
//! with, and a re-render must find that one even after the tenant changed its logo.

use sqlx::QueryBuilder;

use super::{push_texts, Inner, Tx};
use crate::Result;

impl Tx {
    /// Stores a tenant's logo under its SHA-256 (hex); storing the same logo again does
    /// nothing (same hash, same bytes).
    pub async fn put_seller_logo(&mut self, tenant: i64, sha256: &str, png: &[u8]) -> Result<()> {
        on_tx!(self, conn => {
            sqlx::query(
                "INSERT INTO seller_logos (tenant_id, sha256, png) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id, sha256) DO NOTHING",
            )
            .bind(tenant)
            .bind(sha256)
            .bind(png)
            .execute(&mut *conn)
            .await?;
        });
        Ok(())
    }

    /// The tenant's logos named by `hashes` (one query), as (SHA-256, PNG); unknown hashes
    /// and other tenants' logos are left out.
    pub async fn seller_logos(
        &mut self,
        tenant: i64,
        hashes: &[String],
    ) -> Result<Vec<(String, Vec<u8>)>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        on_tx!(self, conn => {
            let mut q = QueryBuilder::new("SELECT sha256, png FROM seller_logos WHERE tenant_id = ");
            q.push_bind(tenant).push(" AND sha256 IN");
            push_texts(&mut q, hashes);
            q.push(" ORDER BY sha256");
            Ok(q.build_query_as().fetch_all(&mut *conn).await?)
        })
    }
}
