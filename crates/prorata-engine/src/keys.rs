//! API keys: random secrets shown once; only their SHA-256 is stored. A key is 32 random
//! bytes, so a fast hash is enough (there is nothing to brute-force, unlike a password).

use prorata_store::{ApiKey, Tenant};

use crate::{Engine, EngineError, Result};

/// A new key: its id and the secret, which is never shown again.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewKey {
    pub id: i64,
    pub secret: String,
}

pub fn hash_secret(secret: &str) -> String {
    crate::sha256_hex(secret.as_bytes())
}

fn new_secret(tenant: &Tenant) -> Result<String> {
    let body = crate::random_hex(32)?;
    let mode = match tenant.mode {
        prorata_store::TenantMode::Live => "live",
        prorata_store::TenantMode::Sandbox => "test",
    };
    Ok(format!("pk_{mode}_{body}"))
}

impl Engine {
    pub async fn create_api_key(&self, tenant: &Tenant) -> Result<NewKey> {
        let secret = new_secret(tenant)?;
        let prefix: String = secret.chars().take(16).collect();
        let mut tx = self.store.begin().await?;
        let id = tx
            .insert_api_key(tenant.id, &prefix, &hash_secret(&secret))
            .await?;
        tx.commit().await?;
        Ok(NewKey { id, secret })
    }

    /// The tenant a secret belongs to, if the key exists and is not revoked.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<Tenant>> {
        let mut tx = self.store.begin().await?;
        Ok(tx
            .tenant_by_key_hash(&hash_secret(secret))
            .await?
            .map(|(t, _)| t))
    }

    pub async fn api_keys(&self, tenant: &Tenant) -> Result<Vec<ApiKey>> {
        let mut tx = self.store.begin().await?;
        Ok(tx.api_keys(tenant.id).await?)
    }

    /// Revokes a key. The tenant's last live key cannot be revoked: nothing else could mint
    /// another.
    pub async fn revoke_api_key(&self, tenant: &Tenant, id: i64) -> Result<()> {
        self.revoke_key(tenant, id, false).await
    }

    /// Revokes a key on the operator's word (CLI, admin API): even the tenant's last one, since
    /// the operator can mint another — that is how a leaked last key is shut off.
    pub async fn revoke_api_key_as_operator(&self, tenant: &Tenant, id: i64) -> Result<()> {
        self.revoke_key(tenant, id, true).await
    }

    async fn revoke_key(&self, tenant: &Tenant, id: i64, operator: bool) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let live: Vec<i64> = tx
            .api_keys(tenant.id)
            .await?
            .into_iter()
            .filter(|k| k.revoked_at.is_none())
            .map(|k| k.id)
            .collect();
        if live == [id] && !operator {
            return Err(EngineError::Conflict(
                "this is the tenant's last live key: create another before revoking it".into(),
            ));
        }
        if !tx.revoke_api_key(tenant.id, id).await? {
            return Err(EngineError::NotFound("api key"));
        }
        tx.commit().await?;
        Ok(())
    }
}
