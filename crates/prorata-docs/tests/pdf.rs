//! The PDFs as a person checks them: turned into text by `pdftotext` (poppler) and asserted
//! on amounts, dates and mentions; the first page turned into a PNG by `pdftoppm`, kept under
//! `target/documents/` to be looked at; the embedded XML checked by the Factur-X checker.
//!
//! Outside CI, a machine without poppler-utils or python3's factur-x skips those checks with a
//! message; in CI (CI=true) a missing tool fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use prorata_core::account::{Address, BuyerSnapshot};
use prorata_core::catalog::Catalog;
use prorata_core::document::Document;
use prorata_core::scenario::{self, Entry, Scenario};
use prorata_core::Lang;

use prorata_testkit::checks::{facturx_check, have_tool as have};

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/documents");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Seed 001's documents: June and July invoices, then the credit note of 10 July 2024.
fn seed_documents(lang: Lang) -> Vec<Document> {
    example_documents(
        include_str!("../../../examples/seed-credit-note.toml"),
        lang,
    )
}

/// The documents of an example scenario on the default catalog, in `lang`, from a seller with
/// its full identity.
fn example_documents(scenario: &str, lang: Lang) -> Vec<Document> {
    let cat = Catalog::from_toml(include_str!("../../../catalog/default.toml")).unwrap();
    let mut s = Scenario::from_toml(scenario).unwrap();
    s.account.language = lang;
    s.settings.seller = prorata_core::seller::Seller {
        legal_name: "Prorata Démo SAS".into(),
        siren: "552100554".into(),
        vat_number: "FR96552100554".into(),
        address: Address {
            line1: "12 rue de la Paix".into(),
            postcode: "75002".into(),
            city: "Paris".into(),
            ..Address::default()
        },
        ..Default::default()
    };
    scenario::run(&s, &cat)
        .unwrap()
        .entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Document(d) => Some(*d),
            _ => None,
        })
        .collect()
}

fn find(docs: &[Document], number: &str) -> Document {
    docs.iter().find(|d| d.number == number).unwrap().clone()
}

/// Writes `doc`'s files as `target/documents/<name>.{pdf,xml}`; returns the PDF's path.
fn write(doc: &Document, name: &str) -> PathBuf {
    let files = prorata_docs::files::make(doc).unwrap();
    let dir = out_dir();
    std::fs::write(dir.join(format!("{name}.xml")), &files.xml).unwrap();
    let path = dir.join(format!("{name}.pdf"));
    std::fs::write(&path, &files.pdf).unwrap();
    path
}

fn text_of(pdf: &Path) -> String {
    let out = Command::new("pdftotext")
        .arg("-layout")
        .arg(pdf)
        .arg("-")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One space between words: the layout's column padding is not what is asserted.
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn prepaid_credit_shows_above_the_amount_due_and_in_the_xml() {
    // examples/prepaid-credit.toml, July: 360.00, 140.00 of prepaid credit, 220.00 due.
    let docs = example_documents(
        include_str!("../../../examples/prepaid-credit.toml"),
        Lang::Fr,
    );
    let inv = find(&docs, "INV-000002");
    let files = prorata_docs::files::make(&inv).unwrap();
    let xml = String::from_utf8(files.xml.clone()).unwrap();
    // EN 16931 BT-113 (paid amount) and BT-115 = BT-112 − BT-113 (BR-CO-16).
    assert!(
        xml.contains("<ram:GrandTotalAmount>360.00</ram:GrandTotalAmount>"),
        "{xml}"
    );
    assert!(
        xml.contains("<ram:TotalPrepaidAmount>140.00</ram:TotalPrepaidAmount>"),
        "{xml}"
    );
    assert!(
        xml.contains("<ram:DuePayableAmount>220.00</ram:DuePayableAmount>"),
        "{xml}"
    );
    let pdf = write(&inv, "prepaid-credit-fr");
    facturx_check(std::slice::from_ref(&pdf));
    if !have("pdftotext") {
        return;
    }
    let text = text_of(&pdf);
    for expected in [
        "Total TTC 360,00 EUR",
        "Crédit prépayé utilisé -140,00 EUR",
        "Montant dû 220,00 EUR",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}

#[test]
fn the_seed_credit_note_reads_as_the_seed_in_french() {
    let cn = find(&seed_documents(Lang::Fr), "CN-000001");
    let pdf = write(&cn, "seed-credit-note-fr");
    facturx_check(std::slice::from_ref(&pdf));
    if !have("pdftotext") {
        return;
    }
    let text = text_of(&pdf);
    for expected in [
        "NOTE DE CRÉDIT",
        "Numéro : CN-000001",
        "Date d'émission : 10/07/2024",
        "Cette note de crédit corrige la facture INV-000002",
        "Prorata – période écoulée",
        "Licence utilisateur – Essentiel 10/07/2024 – 05/08/2024 4 30,00 20 % 104,52 EUR",
        "4 × 30,00 EUR × 27/31 (87%) = 104,52 EUR · 27 jours sur 31",
        "Total HT 104,52 EUR",
        "TVA 20 % (sur 104,52 EUR) 20,90 EUR",
        "Total TTC 125,42 EUR",
        "Prorata Démo SAS",
        "SIREN 552100554 · TVA FR96552100554",
        "Lumen Conseil SAS",
        "N° TVA FR40303265045",
        "NOTE DE CRÉDIT CN-000001 · page 1/1",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    // A credit note owes nothing: no due date, no amount due, no late-payment terms, no
    // negative figure.
    for absent in [
        "Échéance",
        "Montant dû",
        "pénalités",
        "recouvrement",
        "-104",
    ] {
        assert!(
            !text.contains(absent),
            "{absent:?} on a credit note:\n{text}"
        );
    }
    if have("pdftoppm") {
        let png = out_dir().join("seed-credit-note-fr");
        let status = Command::new("pdftoppm")
            .args(["-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile"])
            .arg(&pdf)
            .arg(&png)
            .status()
            .unwrap();
        assert!(status.success());
        let bytes = std::fs::read(png.with_extension("png")).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.len() > 10_000, "a page with text, not a blank one");
    }
}

#[test]
fn the_seed_documents_read_in_english_with_due_dates() {
    let docs = seed_documents(Lang::En);
    let cn = write(&find(&docs, "CN-000001"), "seed-credit-note-en");
    let inv = write(&find(&docs, "INV-000002"), "seed-invoice-en");
    facturx_check(&[cn.clone(), inv.clone()]);
    if !have("pdftotext") {
        return;
    }
    let text = text_of(&cn);
    for expected in [
        "CREDIT NOTE",
        "Number: CN-000001",
        "Issue date: 2024-07-10",
        "This credit note corrects invoice INV-000002",
        "Prorata – past period",
        "4 × 30.00 EUR × 27/31 (87%) = 104.52 EUR · 27 of 31 days",
        "Total incl. VAT 125.42 EUR",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    let text = text_of(&inv);
    for expected in [
        "INVOICE",
        "Number: INV-000002",
        "Due date: 2024-07-06",
        "Recurring items – upcoming period",
        "Total excl. VAT 300.00 EUR",
        "VAT 20 % (on 300.00 EUR) 60.00 EUR",
        "Total incl. VAT 360.00 EUR",
        "Previous unpaid balance 0.00 EUR",
        "Amount due 360.00 EUR",
        // A business buyer of a French seller: penalties and the fixed indemnity.
        "Late payment: penalties at the annual rate of 12.15 %",
        "recovery costs owed by a business customer paying late: 40 €",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}

/// Reverse charge and out-of-scope buyers get their mentions; a consumer gets no business
/// penalties.
#[test]
fn vat_mentions_follow_the_buyer() {
    let mut doc = find(&seed_documents(Lang::Fr), "INV-000002");
    let german = {
        let mut d = doc.clone();
        d.taxes[0].category = prorata_core::tax::TaxCategory::ReverseCharge;
        d.taxes[0].rate = prorata_core::Decimal::from_int(0);
        d.taxes[0].tax = prorata_core::Money::zero(d.currency);
        for l in &mut d.lines {
            l.tax = prorata_core::tax::TaxTreatment {
                category: prorata_core::tax::TaxCategory::ReverseCharge,
                rate: prorata_core::Decimal::from_int(0),
            };
        }
        d.total = d.net_total;
        d.balance_after = d.net_total;
        d.buyer = Some(BuyerSnapshot {
            name: "Kestrel Mobility GmbH".into(),
            address: Address::default(),
            country: "DE".into(),
            vat_number: Some("DE136695976".into()),
            language: Some(Lang::Fr),
            siren: None,
            siret: None,
            delivery_address: None,
        });
        d
    };
    let pdf = write(&german, "reverse-charge-fr");
    doc.buyer.as_mut().unwrap().vat_number = None;
    let consumer = write(&doc, "consumer-fr");
    facturx_check(&[pdf.clone(), consumer.clone()]);
    if !have("pdftotext") {
        return;
    }
    let text = text_of(&pdf);
    assert!(text.contains("TVA 0 % – autoliquidation"), "{text}");
    assert!(
        text.contains("Autoliquidation : TVA due par le preneur"),
        "{text}"
    );
    let text = text_of(&consumer);
    assert!(!text.contains("recouvrement"), "{text}");
    assert!(!text.contains("pénalités"), "{text}");
}

/// The 2026 reform's mentions, read back from both languages' invoice and credit note: the
/// buyer's SIREN and SIRET and its delivery address in the buyer block, the category of the
/// operation and the option for VAT on debits among the mentions; and the XML of each passes
/// the schematron without a warning.
#[test]
fn the_2026_mentions_read_back_in_both_languages() {
    let mut pdfs = Vec::new();
    for lang in [Lang::Fr, Lang::En] {
        for mut doc in seed_documents(lang) {
            if let Some(s) = doc.seller.as_mut() {
                s.operation_category = Some(prorata_core::seller::OperationCategory::Services);
                s.vat_on_debits = true;
            }
            if let Some(b) = doc.buyer.as_mut() {
                b.address = Address {
                    line1: "1 rue de Rivoli".into(),
                    postcode: "75001".into(),
                    city: "Paris".into(),
                    ..Address::default()
                };
                b.siren = Some("303265045".into());
                b.siret = Some("30326504500011".into());
                b.delivery_address = Some(prorata_core::account::DeliveryAddress {
                    line1: "8 quai Saint-Vincent".into(),
                    postcode: "69001".into(),
                    city: "Lyon".into(),
                    country: "FR".into(),
                    ..Default::default()
                });
            }
            let name = format!("reform-{}-{lang:?}", doc.number).to_lowercase();
            pdfs.push((lang, write(&doc, &name)));
        }
    }
    let files: Vec<PathBuf> = pdfs.iter().map(|(_, p)| p.clone()).collect();
    facturx_check(&files);
    if !have("pdftotext") {
        return;
    }
    for (lang, pdf) in &pdfs {
        let text = text_of(pdf);
        let expected: &[&str] = match lang {
            Lang::Fr => &[
                "SIREN 303265045 · SIRET 30326504500011",
                "ADRESSE DE LIVRAISON",
                "8 quai Saint-Vincent",
                "69001 Lyon",
                "Catégorie de l'opération : prestation de services.",
                "Option pour le paiement de la taxe d'après les débits.",
            ],
            Lang::En => &[
                "SIREN 303265045 · SIRET 30326504500011",
                "DELIVERY ADDRESS",
                "8 quai Saint-Vincent",
                "Category of the operation: supply of services.",
                "Option for payment of VAT on debits (VAT due on invoicing).",
            ],
        };
        for e in expected {
            assert!(
                text.contains(e),
                "{e:?} missing from {}:\n{text}",
                pdf.display()
            );
        }
    }
}

/// A long invoice flows onto more pages, each numbered, the totals after the last line.
#[test]
fn long_documents_break_pages() {
    let mut doc = find(&seed_documents(Lang::En), "INV-000002");
    let line = doc.lines[0].clone();
    doc.lines = (0..90)
        .map(|i| {
            let mut l = line.clone();
            l.description = format!("Line {i:02}");
            l
        })
        .collect();
    let pdf = write(&doc, "long-en");
    if !have("pdftotext") {
        return;
    }
    let text = text_of(&pdf);
    let pages: usize = text
        .split("page 1/")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(pages >= 2, "{text}");
    for page in 2..=pages {
        assert!(text.contains(&format!("page {page}/{pages}")), "{text}");
    }
    // The table's column titles head every page it runs on.
    assert_eq!(text.matches("Unit price").count(), pages, "{text}");
    let last_line = text.find("Line 89").unwrap();
    assert!(text.find("Total excl. VAT").unwrap() > last_line);
}

/// Rendering is a function of the document: the same bytes every time (no clock, no random
/// identifiers), which is what makes a stored file's SHA-256 checkable.
#[test]
fn rendering_is_deterministic() {
    let cn = find(&seed_documents(Lang::Fr), "CN-000001");
    let a = prorata_docs::files::make(&cn).unwrap();
    let b = prorata_docs::files::make(&cn).unwrap();
    assert_eq!(a, b);
    assert!(a.pdf.starts_with(b"%PDF-1.7"));
    // PDF/A-3 with the XML attached, as Factur-X requires.
    let pdf = String::from_utf8_lossy(&a.pdf);
    assert!(pdf.contains("/AFRelationship /Data"));
    assert!(pdf.contains("/GTS_PDFA1"));
}
