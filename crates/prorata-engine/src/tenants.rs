//! Tenants (the vendors using Prorata) and their catalog versions.

use chrono::NaiveDate;
use prorata_core::catalog::Catalog;
use prorata_core::reconcile::Settings;
use prorata_core::seller::Seller;
use prorata_store::{CatalogVersion, Tenant, TenantMode};

use crate::{invalid, Engine, EngineError, Result};

/// Lower-case ASCII letters, digits and single dashes, at most 40 characters: "Acme
/// Téléphonie" → "acme-telephonie" (accents dropped, other characters become dashes).
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'ç' => 'c',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ñ' => 'n',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ý' | 'ÿ' => 'y',
            c if c.is_ascii_alphanumeric() => c,
            _ => '-',
        };
        if c != '-' || !(slug.is_empty() || slug.ends_with('-')) {
            slug.push(c);
        }
        if slug.len() >= 40 {
            break;
        }
    }
    slug.trim_end_matches('-').to_string()
}

impl Engine {
    /// Creates a tenant; a sandbox starts its test clock at `clock`.
    pub async fn create_tenant(
        &self,
        name: &str,
        mode: TenantMode,
        clock: Option<NaiveDate>,
        settings: &Settings,
    ) -> Result<Tenant> {
        if name.trim().is_empty() {
            return Err(invalid("name", "cannot be empty"));
        }
        settings
            .tax
            .validate()
            .map_err(|(field, problem)| invalid(field, problem))?;
        settings
            .seller
            .validate(&settings.tax.seller_country)
            .map_err(|(field, problem)| invalid(field, problem))?;
        let clock = match mode {
            TenantMode::Sandbox => Some(clock.unwrap_or_else(crate::calendar_today)),
            TenantMode::Live => None,
        };
        let mut tx = self.store.begin().await?;
        let id = tx.create_tenant(name, mode, clock, settings).await?;
        // The portal's address names the tenant by this slug: its name, else made unique.
        let slug = slugify(name);
        if slug.is_empty() || !tx.set_tenant_slug(id, &slug).await? {
            let unique = if slug.is_empty() {
                format!("t{id}")
            } else {
                format!("{slug}-{id}")
            };
            tx.set_tenant_slug(id, &unique).await?;
        }
        let tenant = tx
            .tenant(id)
            .await?
            .ok_or(EngineError::NotFound("tenant"))?;
        tx.commit().await?;
        Ok(tenant)
    }

    /// Sets the seller printed on the tenant's next documents (issued ones keep theirs).
    pub async fn set_seller(&self, tenant: &Tenant, seller: &Seller) -> Result<()> {
        seller
            .validate(&tenant.settings.tax.seller_country)
            .map_err(|(field, problem)| invalid(field, problem))?;
        // A French seller's documents must print its SIREN (Code de commerce, R123-237).
        if tenant.settings.tax.seller_country == "FR" && seller.siren.trim().is_empty() {
            return Err(invalid(
                "seller.siren",
                "a French seller prints its SIREN on every invoice: 9 digits",
            ));
        }
        if seller.legal_name.trim().is_empty() {
            return Err(invalid("seller.legal_name", "cannot be empty"));
        }
        self.replace_setting(tenant, |s| &mut s.seller, seller, None)
            .await
    }

    /// Replaces one part of the tenant's settings with `value`: the settings are read in the
    /// transaction (another settings change is not overwritten with a stale copy), written
    /// back, and the cached tenant forgotten. With `audit`, the part before and after go to
    /// the tenant's audit trail as that person's action.
    pub(crate) async fn replace_setting<T: Clone + serde::Serialize>(
        &self,
        tenant: &Tenant,
        part: fn(&mut Settings) -> &mut T,
        value: &T,
        audit: Option<(crate::tickets::Actor<'_>, &str)>,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let mut settings = tx
            .tenant(tenant.id)
            .await?
            .ok_or(EngineError::NotFound("tenant"))?
            .settings;
        let slot = part(&mut settings);
        let before = serde_json::to_value(&*slot).ok();
        *slot = value.clone();
        tx.set_settings(tenant.id, &settings).await?;
        if let Some((who, action)) = audit {
            let after = serde_json::to_value(value).ok();
            tx.insert_audit(tenant.id, &who.tenant_audit(action, None, before, after))
                .await?;
        }
        tx.commit().await?;
        self.forget_tenants();
        Ok(())
    }

    pub async fn tenant(&self, id: i64) -> Result<Tenant> {
        let mut tx = self.store.begin().await?;
        tx.tenant(id).await?.ok_or(EngineError::NotFound("tenant"))
    }

    /// Validates and stores a new catalog version. Subscriptions keep the version they were
    /// sold on, so a price change never rewrites history.
    pub async fn import_catalog(&self, tenant: &Tenant, source: &str) -> Result<CatalogVersion> {
        Catalog::from_toml(source).map_err(|e| invalid("catalog", e))?;
        let mut tx = self.store.begin().await?;
        let v = tx.insert_catalog(tenant.id, source).await?;
        tx.commit().await?;
        Ok(v)
    }

    pub async fn catalogs(&self, tenant: &Tenant) -> Result<Vec<CatalogVersion>> {
        let mut tx = self.store.begin().await?;
        Ok(tx.catalogs(tenant.id).await?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_slug_keeps_letters_and_digits_and_folds_the_rest() {
        assert_eq!(super::slugify("Acme Téléphonie SAS"), "acme-telephonie-sas");
        assert_eq!(super::slugify("  --Hello__World!! 2 "), "hello-world-2");
        assert_eq!(super::slugify("日本"), "");
    }
}
