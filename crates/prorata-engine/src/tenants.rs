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

/// A seller fit to issue real invoices in `country`: valid, named, and French sellers with
/// their SIREN (Code de commerce, R123-237).
fn issuing_seller(country: &str, seller: &Seller) -> Result<()> {
    seller
        .validate(country)
        .map_err(|(field, problem)| invalid(field, problem))?;
    if country == "FR" && seller.siren.trim().is_empty() {
        return Err(invalid(
            "seller.siren",
            "a French seller prints its SIREN on every invoice: 9 digits",
        ));
    }
    if seller.legal_name.trim().is_empty() {
        return Err(invalid("seller.legal_name", "cannot be empty"));
    }
    Ok(())
}

impl Engine {
    /// Creates a tenant on an operator's word (CLI, admin API). A live tenant issues real
    /// invoices from its first day, so its seller must be complete now; a sandbox starts its
    /// clock today and may fill its seller in later.
    pub async fn create_tenant_as_operator(
        &self,
        name: &str,
        mode: TenantMode,
        settings: &Settings,
    ) -> Result<Tenant> {
        if mode == TenantMode::Live {
            issuing_seller(&settings.tax.seller_country, &settings.seller)?;
        }
        self.create_tenant(name, mode, None, settings).await
    }

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
        if settings.seller.logo.is_some() {
            // A hash alone names no picture: the logo is stored by its own call.
            return Err(invalid(
                "seller.logo",
                "is set after creation, from the PNG (`prorata tenant logo`)",
            ));
        }
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

    /// Sets the seller printed on the tenant's next documents (issued ones keep theirs). The
    /// logo is not part of it: the tenant keeps its logo ([`Engine::set_seller_logo`] changes
    /// it), whatever `seller.logo` says.
    pub async fn set_seller(&self, tenant: &Tenant, seller: &Seller) -> Result<()> {
        issuing_seller(&tenant.settings.tax.seller_country, seller)?;
        let mut tx = self.store.begin().await?;
        let mut settings = tx
            .tenant(tenant.id)
            .await?
            .ok_or(EngineError::NotFound("tenant"))?
            .settings;
        let logo = settings.seller.logo.take();
        settings.seller = Seller {
            logo,
            ..seller.clone()
        };
        tx.set_settings(tenant.id, &settings).await?;
        tx.commit().await?;
        self.forget_tenants();
        Ok(())
    }

    /// Sets the logo printed top left on the tenant's next documents, from a PNG (at most
    /// 1 MB and 2048 px a side), or removes it (`None`); issued documents keep the logo they
    /// were issued with, which is why every logo is kept. Returns the new logo's SHA-256.
    pub async fn set_seller_logo(
        &self,
        tenant: &Tenant,
        png: Option<&[u8]>,
    ) -> Result<Option<String>> {
        let hash = match png {
            Some(png) => {
                prorata_docs::logo::prepare(png).map_err(|e| invalid("logo", e))?;
                let hash = crate::sha256_hex(png);
                let mut tx = self.store.begin().await?;
                tx.put_seller_logo(tenant.id, &hash, png).await?;
                tx.commit().await?;
                Some(hash)
            }
            None => None,
        };
        self.replace_setting(tenant, |s| &mut s.seller.logo, &hash, None)
            .await?;
        Ok(hash)
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

    /// A tenant named the way an operator names it: its id (digits) or its slug.
    pub async fn tenant_by_reference(&self, reference: &str) -> Result<Tenant> {
        let mut tx = self.store.begin().await?;
        let found = match reference.parse::<i64>() {
            Ok(id) => tx.tenant(id).await?,
            Err(_) => tx.tenant_by_slug(reference).await?,
        };
        found.ok_or(EngineError::NotFound("tenant"))
    }

    /// Every tenant, in creation order (an operator's list: there are few).
    pub async fn tenants(&self) -> Result<Vec<Tenant>> {
        let mut tx = self.store.begin().await?;
        let mut out = Vec::new();
        for id in tx.tenant_ids().await? {
            if let Some(t) = tx.tenant(id).await? {
                out.push(t);
            }
        }
        Ok(out)
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
