//! `prorata tenant …` and `prorata keys …`: the operator's way in. Tenants are created live or
//! sandbox with their settings (seller identity included) from a TOML file, and given the logo
//! their documents print from a PNG file; keys are minted,
//! listed and revoked for a tenant named by id or slug. A key's secret is printed once: the
//! store keeps only its hash (prorata_engine::keys).

use std::path::Path;

use anyhow::{Context as _, Result};
use prorata_core::reconcile::Settings;
use prorata_engine::Engine;
use prorata_store::{Tenant, TenantMode};

use crate::db::open;

/// The settings in a TOML file shaped like a tenant's settings (`[seller]`, `[tax]`, …);
/// anything left out keeps its default. A mistake names the field it is in.
pub fn load_settings(path: &Path) -> Result<Settings> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read settings {}", path.display()))?;
    parse_settings(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn parse_settings(text: &str) -> Result<Settings, String> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let problem = e.into_inner().message().to_string();
        if field == "." || field.is_empty() {
            problem
        } else {
            format!("{field}: {problem}")
        }
    })
}

fn mode_name(mode: TenantMode) -> &'static str {
    match mode {
        TenantMode::Live => "live",
        TenantMode::Sandbox => "sandbox",
    }
}

pub async fn create(
    url: &str,
    name: &str,
    mode: TenantMode,
    settings: Option<&Path>,
) -> Result<()> {
    let settings = match settings {
        Some(path) => load_settings(path)?,
        None => Settings::default(),
    };
    let engine = open(url).await?;
    let tenant = engine
        .create_tenant_as_operator(name, mode, &settings)
        .await?;
    println!(
        "tenant {} created: {} ({}), slug {}{}",
        tenant.id,
        tenant.name,
        mode_name(tenant.mode),
        tenant.slug,
        tenant
            .clock
            .map(|c| format!(", test clock at {c}"))
            .unwrap_or_default()
    );
    println!("next: prorata keys create --tenant {}", tenant.slug);
    Ok(())
}

pub async fn list(url: &str) -> Result<()> {
    let engine = open(url).await?;
    let tenants = engine.tenants().await?;
    if tenants.is_empty() {
        println!("no tenants yet: prorata tenant create --name NAME --live|--sandbox");
    }
    for t in tenants {
        println!(
            "{:>5}  {:<8} {:<30} {}{}",
            t.id,
            mode_name(t.mode),
            t.slug,
            t.name,
            t.clock.map(|c| format!(" (clock {c})")).unwrap_or_default()
        );
    }
    Ok(())
}

async fn tenant(url: &str, reference: &str) -> Result<(Engine, Tenant)> {
    let engine = open(url).await?;
    let tenant = engine
        .tenant_by_reference(reference)
        .await
        .with_context(|| format!("--tenant {reference}"))?;
    Ok((engine, tenant))
}

/// Sets the tenant's logo from the PNG at `file`, or removes it (`None`).
pub async fn set_logo(url: &str, reference: &str, file: Option<&Path>) -> Result<()> {
    let png = match file {
        Some(path) => {
            Some(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?)
        }
        None => None,
    };
    let (engine, tenant) = tenant(url, reference).await?;
    let shown = file.map(|p| p.display().to_string());
    match engine.set_seller_logo(&tenant, png.as_deref()).await {
        Ok(Some(hash)) => println!(
            "logo of tenant {} set (sha256 {hash}): documents issued from now on print it",
            tenant.slug
        ),
        Ok(None) => println!(
            "logo of tenant {} removed: documents issued from now on print none",
            tenant.slug
        ),
        Err(e) => anyhow::bail!("{}: {e}", shown.unwrap_or_default()),
    }
    Ok(())
}

pub async fn create_key(url: &str, reference: &str) -> Result<()> {
    let (engine, tenant) = tenant(url, reference).await?;
    let key = engine.create_api_key(&tenant).await?;
    println!(
        "key {} for tenant {} ({}); the secret is shown this once, only its hash is kept:",
        key.id, tenant.id, tenant.slug
    );
    println!("{}", key.secret);
    Ok(())
}

pub async fn list_keys(url: &str, reference: &str) -> Result<()> {
    let (engine, tenant) = tenant(url, reference).await?;
    for k in engine.api_keys(&tenant).await? {
        println!(
            "{:>5}  {}…  created {}{}",
            k.id,
            k.prefix,
            k.created_at,
            k.revoked_at
                .map(|r| format!(", revoked {r}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

pub async fn revoke_key(url: &str, reference: &str, id: i64) -> Result<()> {
    let (engine, tenant) = tenant(url, reference).await?;
    engine.revoke_api_key_as_operator(&tenant, id).await?;
    println!("key {id} of tenant {} revoked", tenant.slug);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_settings;

    #[test]
    fn a_settings_file_overrides_only_what_it_names() {
        let s = parse_settings(
            "[seller]\nlegal_name = \"Acme SAS\"\nsiren = \"552100554\"\n[tax]\nseller_country = \"FR\"\n",
        )
        .unwrap();
        assert_eq!(s.seller.legal_name, "Acme SAS");
        assert_eq!(s.seller.payment_terms_days, 0);
        assert!(!s.tax.rates.is_empty(), "the default rates stay");
    }

    #[test]
    fn a_mistake_names_its_field() {
        let e = parse_settings("[seller]\npayment_terms_days = \"thirty\"\n").unwrap_err();
        assert!(e.starts_with("seller.payment_terms_days: "), "{e}");
        let e = parse_settings("[seller]\nlegl_name = \"x\"\n").unwrap_err();
        assert!(e.contains("legl_name"), "{e}");
    }
}
