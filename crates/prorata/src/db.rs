//! Commands on a database: `migrate`, `bill`, `clock advance`.

use anyhow::{bail, Result};
use chrono::NaiveDate;
use prorata_engine::Engine;
use prorata_store::Store;

/// Opens the store at `url` and applies pending migrations.
pub async fn open(url: &str) -> Result<Engine> {
    let store = Store::connect(url).await?;
    store.migrate().await?;
    Ok(Engine::new(store))
}

pub async fn migrate(url: &str) -> Result<()> {
    let engine = open(url).await?;
    println!("{}: migrations applied ({})", url, engine.store.backend());
    Ok(())
}

async fn tenants(engine: &Engine, tenant: Option<i64>) -> Result<Vec<prorata_store::Tenant>> {
    let ids = match tenant {
        Some(id) => vec![id],
        None => engine.store.begin().await?.tenant_ids().await?,
    };
    let mut out = Vec::new();
    for id in ids {
        out.push(engine.tenant(id).await?);
    }
    Ok(out)
}

pub async fn bill(url: &str, as_of: NaiveDate, tenant: Option<i64>) -> Result<()> {
    let engine = open(url).await?;
    let tenants = tenants(&engine, tenant).await?;
    // A sandbox lives at its clock's date: billing it later would issue documents from a
    // future it has not reached. Checked for all before any is billed.
    for t in &tenants {
        if let Some(clock) = t.clock.filter(|c| *c < as_of) {
            bail!(
                "--as-of {as_of} is after the test clock of sandbox tenant {} ({}), at {clock}: \
                 move the clock instead (prorata clock advance --tenant {} --to {as_of}){}",
                t.id,
                t.name,
                t.id,
                if tenant.is_none() {
                    ", or bill the live tenants one by one with --tenant"
                } else {
                    ""
                }
            );
        }
    }
    for t in tenants {
        let label = format!("tenant {} ({})", t.id, t.name);
        let total =
            u64::try_from(engine.store.begin().await?.count_due(t.id, as_of).await?).unwrap_or(0);
        let started = std::time::Instant::now();
        let bar = crate::progress::bar(&label, total);
        let s = engine
            .run_billing(&t, as_of, &mut |n| crate::progress::set(&bar, n))
            .await?;
        bar.finish_and_clear();
        println!(
            "{label}: {} due, {} invoices, {} credit notes as of {as_of} in {:.2} s",
            s.subscriptions,
            s.invoices,
            s.credit_notes,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

pub async fn advance(url: &str, tenant: i64, to: NaiveDate) -> Result<()> {
    let engine = open(url).await?;
    let t = engine.tenant(tenant).await?;
    if t.mode != prorata_store::TenantMode::Sandbox {
        bail!("tenant {tenant} is live: only sandbox tenants have a test clock");
    }
    let bar = crate::progress::counter("");
    let (t, s) = engine
        .advance_clock(&t, to, &mut |day, n| {
            bar.set_message(day.to_string());
            bar.set_position(n);
        })
        .await?;
    bar.finish_and_clear();
    println!(
        "tenant {}: clock at {}; {} invoices, {} credit notes issued on the way",
        t.id,
        t.clock.map(|c| c.to_string()).unwrap_or_default(),
        s.invoices,
        s.credit_notes
    );
    Ok(())
}
