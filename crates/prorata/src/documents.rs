//! `prorata documents export`: every document of a tenant as its stored files (Factur-X PDF,
//! CII XML) in a folder, with an `index.html` to browse them. The files are the stored ones,
//! byte for byte; documents not rendered yet are rendered (and stored) first.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use prorata_core::document::DocumentKind;
use prorata_docs::cii::escape;
use prorata_engine::Engine;
use prorata_store::{FileFormat, Tenant};

/// Documents read per page.
const PAGE: i64 = 500;

pub struct Exported {
    pub documents: usize,
    pub bytes: u64,
    /// Documents whose files could not be made (number, why): listed, not linked.
    pub failed: Vec<(String, String)>,
}

pub async fn export(engine: &Engine, tenant: &Tenant, dir: &Path) -> Result<Exported> {
    let failed = engine.render_documents(tenant).await?.failed;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rows = String::new();
    let mut exported = Exported {
        documents: 0,
        bytes: 0,
        failed,
    };
    let mut after = 0;
    loop {
        let mut tx = engine.store.begin().await?;
        let page = tx
            .list_documents(tenant.id, None, None, after, PAGE)
            .await?;
        let ids: Vec<i64> = page.items.iter().map(|d| d.id).collect();
        let files = tx.files_of(tenant.id, &ids).await?;
        tx.rollback().await?;
        for d in &page.items {
            let doc = &d.document;
            if exported.failed.iter().any(|(n, _)| *n == doc.number) {
                continue;
            }
            let mut sha = String::new();
            for (_, format, file) in files.iter().filter(|(id, _, _)| *id == d.id) {
                let ext = match format {
                    FileFormat::Pdf => {
                        sha = file.sha256.clone();
                        "pdf"
                    }
                    FileFormat::Xml => "xml",
                };
                let path = dir.join(format!("{}.{ext}", doc.number));
                std::fs::write(&path, &file.body)
                    .with_context(|| format!("writing {}", path.display()))?;
                exported.bytes += file.body.len() as u64;
            }
            exported.documents += 1;
            let buyer = doc.buyer.as_ref().map_or("", |b| b.name.as_str());
            let lang = prorata_docs::files::language(doc);
            let _ = writeln!(
                rows,
                "<tr><td><a href=\"{n}.pdf\">{n}</a></td><td>{kind}</td><td>{date}</td><td>{buyer}</td>\
                 <td>{lang:?}</td><td class=\"num\">{total}</td><td><a href=\"{n}.xml\">XML</a></td>\
                 <td><code>{sha}</code></td></tr>",
                n = escape(&doc.number),
                kind = match doc.kind {
                    DocumentKind::Invoice => "invoice",
                    DocumentKind::CreditNote => "credit note",
                },
                date = doc.issued_on,
                buyer = escape(buyer),
                total = doc.total,
                sha = &sha.get(..16).unwrap_or(""),
            );
        }
        match page.next {
            Some(next) => after = next,
            None => break,
        }
    }
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title} – documents</title><style>\
         body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}}\
         .num{{text-align:right}}</style></head><body>\
         <h1>{title}: {n} documents</h1>\
         <p>Each PDF is Factur-X (PDF/A-3 with its EN 16931 XML embedded); the SHA-256 is the \
         stored file's.</p>\
         <table><tr><th>Number</th><th>Kind</th><th>Issued</th><th>Customer</th>\
         <th>Language</th><th class=\"num\">Total</th><th>XML</th><th>SHA-256</th></tr>\n\
         {rows}</table></body></html>\n",
        title = escape(&tenant.name),
        n = exported.documents,
    );
    std::fs::write(dir.join("index.html"), html)?;
    Ok(exported)
}
