//! `prorata bench documents`: N accounts billed once (invoices of three recurring lines, as in
//! the billing-run benchmark, with seller and buyer blocks and payment details), then their files made twice over:
//!
//! - on one thread, in memory: the CII XML and the Factur-X PDF of each invoice (documents per
//!   second per core, the measure);
//! - by the render pass as the worker runs it: read from the store in chunks, rendered on every
//!   core, written back with their SHA-256.

use std::time::Instant;

use anyhow::Result;
use chrono::NaiveDate;
use prorata_core::reconcile::Settings;

use prorata_store::TenantMode;

use crate::bench::{drop_fresh, fresh_url};
use crate::db::open;
use prorata_testkit::bulk;

pub async fn documents(store: &str, accounts: usize, database_url: Option<String>) -> Result<()> {
    let (url, cleanup) = fresh_url(store, database_url).await?;
    let result = run(&url, store, accounts).await;
    drop_fresh(&url, cleanup).await?;
    result
}

async fn run(url: &str, store: &str, n: usize) -> Result<()> {
    let engine = open(url).await?;
    let as_of = NaiveDate::from_ymd_opt(2025, 1, 6).unwrap_or_default();
    let settings = Settings {
        seller: prorata_core::seller::Seller {
            legal_name: "Bench SAS".into(),
            siren: "552100554".into(),
            vat_number: "FR96552100554".into(),
            ..Default::default()
        },
        ..Settings::default()
    };
    let (tenant, catalog) =
        bulk::tenant_with_catalog(&engine, "bench", TenantMode::Live, None, &settings).await?;
    // The billing-run benchmark's invoice: 5 users, 1 extra number, Analytics+.
    let sub = bulk::professional(as_of);
    bulk::subscriptions(&engine, tenant.id, catalog, n, &sub).await?;
    let billed = engine.run_billing(&tenant, as_of, &mut |_| {}).await?;

    // Every document, in memory, for the single-thread measure.
    let mut docs = Vec::with_capacity(n);
    let mut after = 0;
    loop {
        let mut tx = engine.store.begin().await?;
        let page = tx
            .list_documents(tenant.id, None, None, after, 1000)
            .await?;
        tx.rollback().await?;
        docs.extend(page.items.into_iter().map(|r| r.document));
        match page.next {
            Some(next) => after = next,
            None => break,
        }
    }
    let started = Instant::now();
    let (mut pdf_bytes, mut xml_bytes) = (0usize, 0usize);
    for d in &docs {
        let files = prorata_docs::files::make(d).map_err(anyhow::Error::msg)?;
        pdf_bytes += files.pdf.len();
        xml_bytes += files.xml.len();
    }
    let one = started.elapsed().as_secs_f64();
    let count = docs.len().max(1);
    println!(
        "documents on one thread: {} invoices in {one:.2} s = {:.0} documents/s per core \
         (PDF {:.1} kB, XML {:.1} kB on average)",
        docs.len(),
        docs.len() as f64 / one,
        pdf_bytes as f64 / count as f64 / 1000.0,
        xml_bytes as f64 / count as f64 / 1000.0,
    );
    drop(docs);

    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let started = Instant::now();
    let pass = engine.render_documents(&tenant).await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "render pass on {store} ({cores} cores, read + render + store with SHA-256): {} of {} \
         invoices in {secs:.2} s = {:.0} documents/s, {:.1} MB stored",
        pass.documents,
        billed.invoices,
        pass.documents as f64 / secs,
        pass.bytes as f64 / 1e6
    );
    Ok(())
}
