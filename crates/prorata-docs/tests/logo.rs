//! The seller's logo on a document as a reader and a checker see it: `pdfimages` lists the
//! picture and its soft mask, the Factur-X checker still passes, `pdftotext` still reads the
//! seller under it, and the first page is kept as `docs/screenshots/document-invoice-logo-fr.png`.
//! Outside CI, a machine without the tools skips those checks (see `tests/pdf.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;

use prorata_core::account::Address;
use prorata_core::catalog::Catalog;
use prorata_core::document::Document;
use prorata_core::scenario::{self, Entry, Scenario};
use prorata_core::Lang;
use prorata_docs::logo::{self, LogoError};
use prorata_testkit::checks::{facturx_check, have_tool as have};

/// A 240 × 60 logo with a transparent background: a blue disc and a dark-blue bar, their
/// edges half transparent.
fn sample_logo() -> Vec<u8> {
    let (w, h) = (240u32, 60u32);
    let mut pixels = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 - 30.0, y as f32 - 30.0);
            let disc = 27.0 - (dx * dx + dy * dy).sqrt();
            let bar = (70..236).contains(&x) && (18..42).contains(&y);
            let px = if disc > 1.0 {
                [31, 111, 235, 255]
            } else if disc > 0.0 {
                [31, 111, 235, 128]
            } else if bar {
                [20, 40, 90, 255]
            } else {
                [255, 255, 255, 0]
            };
            pixels.extend(px);
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    out
}

/// Seed 001's July invoice in French from a seller whose logo is `logo`'s hash.
fn invoice(logo: &[u8]) -> Document {
    let cat = Catalog::from_toml(include_str!("../../../catalog/default.toml")).unwrap();
    let mut s =
        Scenario::from_toml(include_str!("../../../examples/seed-credit-note.toml")).unwrap();
    s.account.language = Lang::Fr;
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
        logo: Some(sha256_hex(logo)),
        ..Default::default()
    };
    scenario::run(&s, &cat)
        .unwrap()
        .entries
        .into_iter()
        .find_map(|e| match e {
            Entry::Document(d) if d.number == "INV-000002" => Some(*d),
            _ => None,
        })
        .unwrap()
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/documents");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `tool`'s output on `pdf` (to stdout: `-` when the tool wants an output file).
fn run(tool: &str, args: &[&str], pdf: &Path, after: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .arg(pdf)
        .args(after)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn an_invoice_prints_its_sellers_logo_with_its_transparency_and_stays_a_factur_x() {
    let png = sample_logo();
    let prepared = logo::prepare(&png).unwrap();
    let doc = invoice(&png);
    assert_eq!(
        doc.seller.as_ref().and_then(|s| s.logo.clone()),
        Some(sha256_hex(&png)),
        "the document names the logo it was issued with"
    );
    let with = prorata_docs::files::make_with_logo(&doc, Some(&prepared)).unwrap();
    let again = prorata_docs::files::make_with_logo(&doc, Some(&prepared)).unwrap();
    assert_eq!(
        with, again,
        "the same document and logo give the same bytes"
    );
    let without = prorata_docs::files::make(&doc).unwrap();
    assert_ne!(with.pdf, without.pdf);
    assert_eq!(with.xml, without.xml, "the logo is the PDF's only");
    let pdf = write("invoice-logo-fr.pdf", &with.pdf);
    facturx_check(std::slice::from_ref(&pdf));
    if have("pdfimages") {
        let list = run("pdfimages", &["-list"], &pdf, &[]);
        // Type, width, colour space and interpolation (PDF/A forbids it) of each image.
        let kinds: Vec<(&str, &str, &str, &str)> = list
            .lines()
            .skip(2)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() > 9).then(|| (f[2], f[3], f[5], f[9]))
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("image", "240", "rgb", "no"),
                ("smask", "240", "gray", "no")
            ],
            "{list}"
        );
    }
    if have("pdftotext") {
        let text = run("pdftotext", &["-layout"], &pdf, &["-"]);
        assert!(text.contains("Prorata Démo SAS"), "{text}");
        assert!(text.contains("12 rue de la Paix"), "{text}");
    }
    if have("pdftoppm") {
        let shot = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/screenshots/document-invoice-logo-fr");
        let status = Command::new("pdftoppm")
            .args(["-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile"])
            .arg(&pdf)
            .arg(&shot)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

#[test]
fn a_logo_that_is_not_a_png_or_too_big_is_refused_with_the_reason() {
    let err = logo::prepare(b"<svg xmlns='http://www.w3.org/2000/svg'/>").unwrap_err();
    assert!(err.to_string().contains("not a PNG"), "{err}");
    assert_eq!(
        logo::prepare(&vec![0x89; 1024 * 1024 + 1]),
        Err(LogoError::TooLarge)
    );
}

/// The name a logo is known by: the hex SHA-256 of its bytes (`prorata_engine::sha256_hex`).
fn sha256_hex(png: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(png)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
