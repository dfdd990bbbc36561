//! `prorata demo` on both stores: the same companies and changes give the same documents and
//! totals, payments and dunning outcomes on SQLite and on PostgreSQL (the demo works on
//! either store).

use std::path::Path;
use std::process::Command;

fn demo(url: &str, documents: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_prorata"))
        .args([
            "--database-url",
            url,
            "demo",
            "--companies",
            "12",
            "--no-serve",
            "--documents-dir",
        ])
        .arg(documents)
        .output()
        .expect("run prorata demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "demo failed on {url}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Everything but the lines that name the store, its folder or carry the random API key.
    stdout
        .lines()
        .filter(|l| {
            !l.starts_with("store:") && !l.starts_with("API key") && !l.starts_with("documents:")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_demo_bills_the_same_documents_on_sqlite_and_postgres() {
    let (sqlite, guard) = prorata_testkit::sqlite_url();
    let postgres = prorata_testkit::fresh_database().await;
    let (docs_a, docs_b) = (guard.path().join("docs-a"), guard.path().join("docs-b"));
    let a = demo(&sqlite, &docs_a);
    let b = demo(&postgres, &docs_b);
    every_document_has_valid_files_in_both_languages(&docs_a);
    // The same documents, byte for byte, on either store.
    for entry in std::fs::read_dir(&docs_a).unwrap().flatten() {
        let name = entry.file_name();
        assert_eq!(
            std::fs::read(entry.path()).unwrap(),
            std::fs::read(docs_b.join(&name)).unwrap(),
            "{name:?} differs between the stores"
        );
    }
    assert!(a.contains("invoice in EUR:"), "{a}");
    assert!(a.contains("changes refused:"), "{a}");
    // Cards, SEPA and ACH are collected; the two declining cards go through dunning.
    assert!(a.contains("payments in EUR:"), "{a}");
    assert!(a.contains("failed charges: 7;"), "{a}");
    assert_eq!(a, b);
}

/// The bar: every document of the demo has a PDF and an XML, each passing the
/// Factur-X / EN 16931 check, and the demo's customers read them in French and in English.
fn every_document_has_valid_files_in_both_languages(dir: &Path) {
    let mut pdfs = Vec::new();
    let mut xmls = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("pdf") => pdfs.push(path),
            Some("xml") => xmls.push(path),
            _ => {}
        }
    }
    pdfs.sort();
    xmls.sort();
    assert!(pdfs.len() > 100, "{} PDFs", pdfs.len());
    assert_eq!(
        pdfs.iter()
            .map(|p| p.with_extension(""))
            .collect::<Vec<_>>(),
        xmls.iter()
            .map(|p| p.with_extension(""))
            .collect::<Vec<_>>(),
        "each document has both files"
    );
    let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(
        index.contains(&format!(": {} documents", pdfs.len())),
        "{index}"
    );

    let mut all = pdfs.clone();
    all.extend(xmls.iter().cloned());
    prorata_testkit::checks::facturx_check(&all);
    if !prorata_testkit::checks::have_tool("pdftotext") {
        return;
    }

    let (mut french, mut english) = (0, 0);
    for pdf in &pdfs {
        let out = Command::new("pdftotext")
            .arg(pdf)
            .arg("-")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("FACTURE") || text.contains("AVOIR") {
            french += 1;
        } else if text.contains("INVOICE") || text.contains("CREDIT NOTE") {
            english += 1;
        } else {
            panic!("{pdf:?} reads as neither language:\n{text}");
        }
    }
    assert!(
        french > 0 && english > 0,
        "{french} French, {english} English"
    );
}
