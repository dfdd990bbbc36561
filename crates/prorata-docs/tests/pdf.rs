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

/// The first page of `pdf` as `docs/screenshots/document-<name>.png`, to be looked at (the
/// documents' pictures in the project's docs are these).
fn screenshot(pdf: &Path, name: &str) {
    if !have("pdftoppm") {
        return;
    }
    let png = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/screenshots")
        .join(format!("document-{name}"));
    let status = Command::new("pdftoppm")
        .args(["-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile"])
        .arg(pdf)
        .arg(&png)
        .status()
        .unwrap();
    assert!(status.success());
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
        "Total TTC 360,00 €",
        "Crédit prépayé utilisé −140,00 €",
        "Montant dû 220,00 €",
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
    screenshot(&pdf, "credit-note-fr");
    if !have("pdftotext") {
        return;
    }
    let text = text_of(&pdf);
    for expected in [
        "AVOIR",
        "Numéro : CN-000001",
        "Date d'émission : 10 juillet 2024",
        "AVOIR EN FAVEUR DE",
        "Cet avoir corrige la facture INV-000002",
        "Prorata – période écoulée",
        "Licence utilisateur – Essentiel 10 juil. – 5 août 2024 4 30,00 20 % 104,52 €",
        "4 × 30,00 € × 27/31 (87%) = 104,52 € · 27 jours sur 31",
        "Total HT 104,52 €",
        "TVA 20 % (sur 104,52 €) 20,90 €",
        "Total TTC 125,42 €",
        "Prorata Démo SAS",
        "SIREN 552100554 · TVA FR96552100554",
        "Lumen Conseil SAS",
        "33000 Bordeaux\nFrance",
        "N° TVA FR40303265045",
        "AVOIR CN-000001 · page 1/1",
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
        "−104",
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
    screenshot(&cn, "credit-note-en");
    screenshot(&inv, "invoice-en");
    if !have("pdftotext") {
        return;
    }
    let text = text_of(&cn);
    for expected in [
        "CREDIT NOTE",
        "Number: CN-000001",
        "Issue date: 10 July 2024",
        "CREDITED TO",
        "This credit note corrects invoice INV-000002",
        "Prorata – past period",
        "4 × €30.00 × 27/31 (87%) = €104.52 · 27 of 31 days",
        "Total incl. VAT €125.42",
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
        "Due date: 6 July 2024",
        "BILL TO",
        "Recurring items – upcoming period",
        "Total excl. VAT €300.00",
        "VAT 20 % (on €300.00) €60.00",
        "Total incl. VAT €360.00",
        "Previous unpaid balance €0.00",
        "Amount due €360.00",
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
    // Countries by name in the reader's language.
    assert!(text.contains("Allemagne"), "{text}");
    assert!(
        text.contains("Autoliquidation : TVA due par le preneur"),
        "{text}"
    );
    let text = text_of(&consumer);
    assert!(!text.contains("recouvrement"), "{text}");
    assert!(!text.contains("pénalités"), "{text}");
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

/// Buyers are named in their own alphabets: every character prints, and reads back as written
/// (issue #17: "Łódź Spółka" printed as "?ód? Spó?ka" when the fonts held Latin-1 only).
#[test]
fn names_in_polish_czech_german_greek_and_turkish_print_as_written() {
    let names = [
        "Łódź Spółka z o.o.",
        "Žluťoučký kůň s.r.o.",
        "Müller & Söhne Straßenbau GmbH",
        "Αθηναϊκή Λογισμική Α.Ε.",
        "İzmir Yazılım Ağı Şirketi",
    ];
    let base = find(&seed_documents(Lang::Fr), "INV-000002");
    let mut pdfs = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut doc = base.clone();
        let buyer = doc.buyer.as_mut().unwrap();
        buyer.name = (*name).into();
        buyer.address.city = "Ğüşİöç Θεσσαλονίκη Brno-Líšeň".into();
        pdfs.push((*name, write(&doc, &format!("unicode-{i}-fr"))));
    }
    screenshot(&pdfs[0].1, "invoice-polish-buyer-fr");
    let paths: Vec<PathBuf> = pdfs.iter().map(|(_, p)| p.clone()).collect();
    facturx_check(&paths);
    if !have("pdftotext") {
        return;
    }
    for (name, pdf) in &pdfs {
        let text = text_of(pdf);
        assert!(text.contains(name), "{name:?} missing from:\n{text}");
        assert!(text.contains("Ğüşİöç Θεσσαλονίκη Brno-Líšeň"), "{text}");
        assert!(!text.contains('?'), "a character did not print:\n{text}");
        // Each font embedded as a subset with its ToUnicode map (pdffonts: emb, sub, uni).
        let fonts = Command::new("pdffonts").arg(pdf).output().unwrap();
        let fonts = String::from_utf8(fonts.stdout).unwrap();
        let rows: Vec<&str> = fonts.lines().skip(2).collect();
        assert_eq!(rows.len(), 2, "{fonts}");
        for row in rows {
            let cols: Vec<&str> = row.split_whitespace().collect();
            assert!(cols[0].contains("+DejaVuSansCondensed"), "{fonts}");
            assert_eq!(
                cols[cols.len() - 5..cols.len() - 2],
                ["yes", "yes", "yes"],
                "{fonts}"
            );
        }
    }
}

/// A document in the common alphabet embeds the common subset; one that needs more embeds a
/// subset of its own, and both stay small (PDF/A embeds every font).
#[test]
fn a_document_embeds_only_the_glyphs_it_needs() {
    let doc = find(&seed_documents(Lang::Fr), "INV-000002");
    let common = prorata_docs::files::make(&doc).unwrap().pdf;
    let mut greek = doc.clone();
    greek.buyer.as_mut().unwrap().name = "Αθηναϊκή Λογισμική Α.Ε.".into();
    let own = prorata_docs::files::make(&greek).unwrap().pdf;
    // The full fonts are 1.3 MB; the subsets a few kB.
    assert!(common.len() < 60_000, "{}", common.len());
    assert!(own.len() < 60_000, "{}", own.len());
    let base_fonts = |pdf: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(pdf)
            .split("/BaseFont /")
            .skip(1)
            .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
            .collect()
    };
    assert_ne!(base_fonts(&common), base_fonts(&own));
}

/// A transfer payer reads the seller's IBAN in groups of four and amounts with their
/// thousands grouped, in both languages.
#[test]
fn transfer_details_and_large_amounts_read_as_people_write_them() {
    use prorata_core::payment::{BankDetails, PaymentDetails};
    for lang in [Lang::Fr, Lang::En] {
        let mut doc = find(&seed_documents(lang), "INV-000002");
        doc.payment = Some(PaymentDetails::BankTransfer {
            bank: Some(BankDetails {
                holder: "Prorata Démo SAS".into(),
                iban: "FR7630006000011234567890189".into(),
                bic: "AGRIFRPP".into(),
            }),
        });
        let cur = doc.currency;
        let big = prorata_core::Money::from_minor(1_022_400, cur);
        doc.balance_after = big;
        let pdf = write(&doc, &format!("transfer-{}", lang.as_str()));
        facturx_check(std::slice::from_ref(&pdf));
        screenshot(&pdf, &format!("invoice-transfer-{}", lang.as_str()));
        if !have("pdftotext") {
            return;
        }
        let text = text_of(&pdf);
        assert!(
            text.contains("IBAN FR76 3000 6000 0112 3456 7890 189"),
            "{text}"
        );
        let due = match lang {
            Lang::Fr => "Montant dû 10 224,00 €",
            Lang::En => "Amount due €10,224.00",
        };
        assert!(text.contains(due), "{due:?} missing from:\n{text}");
    }
}

/// Usage lines say how many minutes they bill and at what price a minute (issue #17: the
/// quantity column was empty).
#[test]
fn usage_lines_show_their_minutes_and_the_minute_price() {
    let docs = example_documents(
        include_str!("../../../examples/annual-with-usage.toml"),
        Lang::Fr,
    );
    let with_usage: Vec<&Document> = docs
        .iter()
        .filter(|d| {
            d.lines
                .iter()
                .any(|l| l.section == prorata_core::document::Section::Usage)
        })
        .collect();
    assert!(!with_usage.is_empty());
    let doc = with_usage[0];
    let pdf = write(doc, "usage-fr");
    facturx_check(std::slice::from_ref(&pdf));
    screenshot(&pdf, "invoice-usage-reverse-charge-fr");
    if !have("pdftotext") {
        return;
    }
    let text = text_of(&pdf);
    // 1,500 minutes, 1,000 of them included: 500 billed at 0.0150 a minute.
    for expected in [
        "Appels sortants – France fixe 1–31 mars 2024 500 min",
        "0,0150 AE 7,50 €",
        "1500 min − 1000 min inclus = 500 min × 0,0150 = 7,50 €",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}
