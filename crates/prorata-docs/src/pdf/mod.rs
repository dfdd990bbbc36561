//! Invoices and credit notes as Factur-X PDFs: PDF/A-3b with the EN 16931 CII XML embedded
//! as `factur-x.xml`, laid out in seed 002's sections in the document's language.
//!
//! Rendering is a pure function of the issued document (its seller, buyer and payment
//! snapshots included) and the XML: the same input gives the same bytes, with no clock and no
//! random identifiers (the dates in the metadata are the issue date; the file identifier is a
//! hash of the number). That is what lets the store keep one PDF per document with its SHA-256
//! and a re-render be checked against it. The seller's logo is an input too: the one the
//! document names ([`prorata_core::seller::SellerSnapshot::logo`]), drawn top left above the
//! seller's name as an image with a soft mask for its transparency.

mod fonts;
mod layout;

use std::borrow::Cow;
use std::sync::OnceLock;

use pdf_writer::types::{AssociationKind, CidFontType, FontFlags, OutputIntentSubtype, SystemInfo};
use pdf_writer::{Content, Date, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use prorata_core::document::{Document, DocumentKind, Line};
use prorata_core::Lang;
use sha2::{Digest, Sha256};

use crate::countries::country;
use crate::logo::PreparedLogo;
use crate::text::{payment_text, section_title, tax_label};
use crate::words::{colon, date, decimal, kind_title, money, period, t};
use layout::{Pages, Style, Weight, HEIGHT, LEFT, RIGHT, WIDTH};

const SRGB: &[u8] = include_bytes!("../../assets/sRGB.icc");

/// The embedded XML's name, as Factur-X requires.
pub const XML_NAME: &str = "factur-x.xml";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PDF rendering: {0}")]
pub struct PdfError(pub String);

// Columns of the lines table.
const COL_PERIOD: f32 = 262.0;
const COL_QTY: f32 = 385.0;
const COL_PRICE: f32 = 440.0;
const COL_VAT: f32 = 468.0;
const DESC_WIDTH: f32 = COL_PERIOD - LEFT - 8.0;
/// Room for the period before the widest quantity (`1 500 min 30 s`).
const PERIOD_WIDTH: f32 = 80.0;

const TITLE: Style = Style::new(Weight::Bold, 20.0);
const NAME: Style = Style::new(Weight::Bold, 12.0);
const BODY: Style = Style::new(Weight::Regular, 9.0);
const STRONG: Style = Style::new(Weight::Bold, 9.0);
const SMALL: Style = Style::new(Weight::Regular, 8.0);
const NOTE: Style = Style::new(Weight::Regular, 7.5).grey(0.35);
const LABEL: Style = Style::new(Weight::Regular, 7.5).grey(0.45);

/// The logo's box, top left: at most this wide and high, in points.
const LOGO_WIDTH: f32 = 160.0;
const LOGO_HEIGHT: f32 = 40.0;
/// The logo's resource name on the first page.
const LOGO_NAME: &[u8] = b"Logo";

/// The Factur-X PDF of `doc`, with `xml` (its CII form) embedded and `logo` (the seller's, as
/// the document names it) above the seller.
pub fn render(
    doc: &Document,
    lang: Lang,
    xml: &[u8],
    logo: Option<&PreparedLogo>,
) -> Result<Vec<u8>, PdfError> {
    let fonts = fonts::fonts().map_err(PdfError)?;
    let mut pages = Pages::new(fonts);
    draw(&mut pages, doc, lang, logo);
    let (contents, used) = pages.finish(|page, pages| {
        format!(
            "{} {} · {} {page}/{pages}",
            kind_title(lang, doc.kind),
            doc.number,
            t(lang, "page", "page"),
        )
    });
    let [regular, bold] = &used;
    let regular = (
        &fonts.regular,
        fonts.regular.embedding(regular).map_err(PdfError)?,
    );
    let bold = (&fonts.bold, fonts.bold.embedding(bold).map_err(PdfError)?);
    Ok(assemble(doc, lang, xml, [regular, bold], contents, logo))
}

fn draw(p: &mut Pages, doc: &Document, lang: Lang, logo: Option<&PreparedLogo>) {
    let top = HEIGHT - 50.0;
    // Seller, top left, under its logo: the logo's top a little above the title's baseline.
    let mut y = top;
    if let (Some(logo), Some(_)) = (logo, &doc.seller) {
        let (w, h) = logo.fit(LOGO_WIDTH, LOGO_HEIGHT);
        let logo_top = top + 10.0;
        p.image(Name(LOGO_NAME), LEFT, logo_top - h, w, h);
        y = logo_top - h - 16.0;
    }
    if let Some(s) = &doc.seller {
        // Left of the title: long names wrap (the title takes the right half).
        for line in p.wrap(NAME, &s.legal_name, 270.0).iter().take(3) {
            p.text(LEFT, y, NAME, line);
            y -= 14.0;
        }
        for line in address_lines(&s.address, &s.country, lang) {
            p.text(LEFT, y, BODY, &line);
            y -= 11.0;
        }
        let mut ids = Vec::new();
        if !s.siren.is_empty() {
            ids.push(format!("SIREN {}", s.siren));
        }
        if !s.vat_number.is_empty() {
            ids.push(format!("{} {}", t(lang, "VAT", "TVA"), s.vat_number));
        }
        if !ids.is_empty() {
            p.text(LEFT, y, SMALL, &ids.join(" · "));
            y -= 10.0;
        }
        if !s.email.is_empty() {
            p.text(LEFT, y, SMALL, &s.email);
            y -= 10.0;
        }
    }
    // Title, number and dates, top right.
    p.text_right(RIGHT, top, TITLE, kind_title(lang, doc.kind));
    let mut ry = top - 18.0;
    let facts = [
        (t(lang, "Number", "Numéro"), doc.number.clone()),
        (
            t(lang, "Issue date", "Date d'émission"),
            date(lang, doc.issued_on),
        ),
    ];
    for (label, value) in facts.into_iter().chain(
        doc.due_on
            .map(|d| (t(lang, "Due date", "Échéance"), date(lang, d))),
    ) {
        p.text_right(RIGHT, ry, STRONG, &value);
        let w = p.width(STRONG, &value);
        p.text_right(
            RIGHT - w - 6.0,
            ry,
            BODY,
            &format!("{label}{}", colon(lang)),
        );
        ry -= 12.0;
    }
    // Buyer, right, under the title.
    let mut by = ry.min(y) - 14.0;
    let bx = 330.0;
    if let Some(b) = &doc.buyer {
        let label = match doc.kind {
            DocumentKind::Invoice => t(lang, "BILL TO", "FACTURÉ À"),
            DocumentKind::CreditNote => t(lang, "CREDITED TO", "AVOIR EN FAVEUR DE"),
        };
        p.text(bx, by, LABEL, label);
        by -= 13.0;
        let width = RIGHT - bx;
        for line in p.wrap(STRONG, &b.name, width).iter().take(3) {
            p.text(bx, by, STRONG, line);
            by -= 11.0;
        }
        let lines: Vec<String> = address_lines(&b.address, &b.country, lang)
            .iter()
            .flat_map(|l| p.wrap(BODY, l, width))
            .collect();
        for line in lines {
            p.text(bx, by, BODY, &line);
            by -= 11.0;
        }
        if let Some(v) = &b.vat_number {
            p.text(
                bx,
                by,
                BODY,
                &format!("{} {v}", t(lang, "VAT number", "N° TVA")),
            );
            by -= 11.0;
        }
        by = buyer_reform_mentions(p, b, lang, bx, by);
    }
    p.y = by.min(y) - 12.0;
    if !doc.corrects.is_empty() {
        let corrects = if doc.corrects.len() == 1 {
            t(
                lang,
                "This credit note corrects invoice",
                "Cet avoir corrige la facture",
            )
        } else {
            t(
                lang,
                "This credit note corrects invoices",
                "Cet avoir corrige les factures",
            )
        };
        let text = format!("{corrects} {}", doc.corrects.join(", "));
        p.paragraph(LEFT, RIGHT - LEFT, STRONG, &text);
        p.y -= 4.0;
    }
    lines_table(p, doc, lang);
    totals(p, doc, lang);
    if let Some(payment) = &doc.payment {
        p.need(40.0);
        p.y -= 6.0;
        p.text(
            LEFT,
            p.y,
            STRONG,
            &format!(
                "{}{}",
                t(lang, "Payment details", "Détails du paiement"),
                colon(lang)
            ),
        );
        p.y -= 12.0;
        p.paragraph(LEFT, RIGHT - LEFT, BODY, &payment_text(payment, lang, doc));
    }
    let mentions = crate::legal::mentions(doc, lang);
    if !mentions.is_empty() {
        p.y -= 8.0;
        for m in mentions {
            p.paragraph(LEFT, RIGHT - LEFT, NOTE, &m.text);
        }
    }
}

/// Under the buyer block, the 2026 reform's buyer mentions: its SIREN and SIRET, then the
/// delivery address when it differs from the billing one. Returns the next line's height.
fn buyer_reform_mentions(
    p: &mut Pages,
    b: &prorata_core::account::BuyerSnapshot,
    lang: Lang,
    bx: f32,
    mut by: f32,
) -> f32 {
    let width = RIGHT - bx;
    if let Some(ids) = crate::legal::buyer_ids(b) {
        p.text(bx, by, BODY, &ids);
        by -= 11.0;
    }
    if let Some(d) = &b.delivery_address {
        by -= 3.0;
        p.text(
            bx,
            by,
            LABEL,
            t(lang, "DELIVERY ADDRESS", "ADRESSE DE LIVRAISON"),
        );
        by -= 12.0;
        let lines: Vec<String> = address_lines(&d.address(), &d.country, lang)
            .iter()
            .flat_map(|l| p.wrap(BODY, l, width))
            .collect();
        for line in lines {
            p.text(bx, by, BODY, &line);
            by -= 11.0;
        }
    }
    by
}

fn address_lines(a: &prorata_core::account::Address, code: &str, lang: Lang) -> Vec<String> {
    let mut out = Vec::new();
    for l in [&a.line1, &a.line2] {
        if !l.trim().is_empty() {
            out.push(l.clone());
        }
    }
    let city = [a.postcode.as_str(), a.city.as_str(), a.state.as_str()]
        .iter()
        .filter(|s| !s.trim().is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    if !city.is_empty() {
        out.push(city);
    }
    out.push(country(lang, code));
    out
}

fn lines_table(p: &mut Pages, doc: &Document, lang: Lang) {
    p.need(40.0);
    let heads = [
        (LEFT, false, t(lang, "Description", "Désignation")),
        (COL_PERIOD, false, t(lang, "Period", "Période")),
        (COL_QTY, true, t(lang, "Qty", "Qté")),
        (COL_PRICE, true, t(lang, "Unit price", "Prix unitaire")),
        (COL_VAT, true, t(lang, "VAT", "TVA")),
        (RIGHT, true, t(lang, "Amount excl. VAT", "Montant HT")),
    ];
    p.column_titles(&heads);
    p.repeat = heads.to_vec();
    let mut current = None;
    for l in &doc.lines {
        if current != Some(l.section) {
            current = Some(l.section);
            p.need(34.0);
            p.band(LEFT, p.y - 3.5, RIGHT - LEFT, 13.0, 0.93);
            p.text(LEFT + 3.0, p.y, STRONG, section_title(lang, l.section));
            p.y -= 15.0;
        }
        line_row(p, doc, lang, l);
    }
    p.repeat.clear();
    p.rule(LEFT, RIGHT, p.y + 6.0, 0.6);
    p.y -= 8.0;
}

fn line_row(p: &mut Pages, doc: &Document, lang: Lang, l: &Line) {
    // A row always fits on a page: at most a few lines of each.
    let desc: Vec<String> = p
        .wrap(BODY, &l.description, DESC_WIDTH)
        .into_iter()
        .take(4)
        .collect();
    let why: Vec<String> = p
        .wrap(NOTE, &explanation(l, lang), COL_VAT - LEFT)
        .into_iter()
        .take(6)
        .collect();
    // The period column is as wide as the quantity leaves; a longer period breaks after
    // its dash.
    let period = period(lang, l.service.start, l.service.end);
    let period: Vec<String> = if p.width(SMALL, &period) <= PERIOD_WIDTH {
        vec![period]
    } else {
        match period.split_once(" – ") {
            Some((from, to)) => vec![format!("{from} –"), to.to_string()],
            None => vec![period],
        }
    };
    let rows = desc.len().max(period.len());
    let height = 11.0 * rows as f32 + 9.5 * why.len() as f32 + 4.0;
    p.need(height);
    let y = p.y;
    for (i, d) in desc.iter().enumerate() {
        p.text(LEFT, y - 11.0 * i as f32, BODY, d);
    }
    for (i, line) in period.iter().enumerate() {
        p.text(COL_PERIOD, y - 11.0 * i as f32, SMALL, line);
    }
    // Signed as printed: a credit line on an invoice shows −4, a credit note 4.
    let sign = match doc.kind {
        DocumentKind::Invoice => 1,
        DocumentKind::CreditNote => -1,
    };
    if l.section == prorata_core::document::Section::Usage {
        // Calls are counted in seconds and priced per minute: the minutes billed (beyond
        // what bundles included, which the explanation gives), at the minute's price.
        let billable = l.quantity.saturating_sub(l.included_used.unwrap_or(0));
        p.text_right(
            COL_QTY,
            y,
            BODY,
            &minutes(lang, billable.saturating_mul(sign)),
        );
        let price = match l.unit_price {
            Some(price) => decimal(lang, &price.to_string()),
            // Tiered prices: the explanation gives each tier.
            None => t(lang, "tiered", "paliers").to_string(),
        };
        p.text_right(COL_PRICE, y, BODY, &price);
    } else {
        p.text_right(
            COL_QTY,
            y,
            BODY,
            &l.quantity.saturating_mul(sign).to_string(),
        );
        if let Some(price) = l.unit_price {
            p.text_right(COL_PRICE, y, BODY, &decimal(lang, &price.to_string()));
        }
    }
    let vat = match l.tax.category {
        prorata_core::tax::TaxCategory::Standard => crate::words::percent(lang, l.tax.rate),
        other => other.code().to_string(),
    };
    p.text_right(COL_VAT, y, SMALL, &vat);
    p.text_right(RIGHT, y, BODY, &money(lang, doc.printed(l.amount)));
    p.y = y - 11.0 * rows as f32;
    for w in why {
        p.text(LEFT + 8.0, p.y + 1.0, NOTE, &w);
        p.y -= 9.5;
    }
    p.y -= 4.0;
}

/// Seconds of calls as minutes, `90 min` or `12 min 34 s` (`12 min 34 s` in both languages).
fn minutes(lang: Lang, seconds: i64) -> String {
    let sign = if seconds < 0 { "−" } else { "" };
    let s = seconds.unsigned_abs();
    let whole = crate::words::number(lang, s / 60);
    match s % 60 {
        0 => format!("{sign}{whole}\u{a0}min"),
        rest => format!("{sign}{whole}\u{a0}min\u{a0}{rest}\u{a0}s"),
    }
}

/// A line's arithmetic, in the document's language (its amounts as the language writes them).
fn explanation(l: &Line, lang: Lang) -> String {
    let mut why = l.explanation.clone();
    if let Some(f) = l.proration {
        why.push_str(" · ");
        why.push_str(&f.describe(lang));
    }
    if l.late {
        why.push_str(t(lang, " · late usage", " · consommation tardive"));
    }
    crate::words::amounts_in(lang, &why)
}

fn totals(p: &mut Pages, doc: &Document, lang: Lang) {
    let mut rows: Vec<(String, String, bool)> = vec![(
        t(lang, "Total excl. VAT", "Total HT").into(),
        money(lang, doc.printed(doc.net_total)),
        false,
    )];
    for tax in &doc.taxes {
        let label = if tax.category == prorata_core::tax::TaxCategory::Standard {
            format!(
                "{} ({} {})",
                tax_label(lang, tax),
                t(lang, "on", "sur"),
                money(lang, doc.printed(tax.base))
            )
        } else {
            tax_label(lang, tax)
        };
        rows.push((label, money(lang, doc.printed(tax.tax)), false));
    }
    rows.push((
        t(lang, "Total incl. VAT", "Total TTC").into(),
        money(lang, doc.printed(doc.total)),
        true,
    ));
    if let Some(prev) = doc.previous_balance {
        rows.push((
            t(lang, "Previous unpaid balance", "Solde impayé précédent").into(),
            money(lang, prev),
            false,
        ));
        if let Some(prepaid) = doc.prepaid_credit {
            rows.push((
                t(lang, "Prepaid credit applied", "Crédit prépayé utilisé").into(),
                money(lang, prepaid.checked_neg().unwrap_or(prepaid)),
                false,
            ));
        }
        let (label, amount) = crate::words::amount_due(doc, lang);
        rows.push((label.into(), money(lang, amount), true));
    }
    p.need(13.0 * rows.len() as f32 + 6.0);
    let x = 290.0;
    for (label, amount, strong) in rows {
        let style = if strong { STRONG } else { BODY };
        if strong {
            p.band(x - 4.0, p.y - 3.5, RIGHT - x + 4.0, 13.0, 0.93);
        }
        p.text(x, p.y, style, &label);
        p.text_right(RIGHT - 2.0, p.y, style, &amount);
        p.y -= 13.0;
    }
    p.y -= 6.0;
}

/// PDF dates are the issue date at midnight UTC: documents carry no time of day.
fn pdf_date(d: chrono::NaiveDate) -> Date {
    use chrono::Datelike;
    Date::new(u16::try_from(d.year()).unwrap_or(0))
        .month(u8::try_from(d.month()).unwrap_or(1))
        .day(u8::try_from(d.day()).unwrap_or(1))
        .hour(0)
        .minute(0)
        .second(0)
        .utc_offset_hour(0)
        .utc_offset_minute(0)
}

/// XMP metadata: PDF/A-3 part and conformance, Factur-X's own properties with the extension
/// schema that declares them, and the same title, producer and dates as the Info dictionary.
fn xmp(doc: &Document, title: &str, lang: Lang) -> String {
    let when = format!("{}T00:00:00+00:00", doc.issued_on);
    let lang = lang.as_str();
    let title = crate::cii::escape(title);
    format!(
        r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
<pdfaid:part>3</pdfaid:part>
<pdfaid:conformance>B</pdfaid:conformance>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:format>application/pdf</dc:format>
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
<dc:language><rdf:Bag><rdf:li>{lang}</rdf:li></rdf:Bag></dc:language>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
<pdf:Producer>Prorata</pdf:Producer>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
<xmp:CreatorTool>Prorata</xmp:CreatorTool>
<xmp:CreateDate>{when}</xmp:CreateDate>
<xmp:ModifyDate>{when}</xmp:ModifyDate>
<xmp:MetadataDate>{when}</xmp:MetadataDate>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:fx="urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#">
<fx:DocumentType>INVOICE</fx:DocumentType>
<fx:DocumentFileName>{XML_NAME}</fx:DocumentFileName>
<fx:Version>1.0</fx:Version>
<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/" xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">
<pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType="Resource">
<pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>
<pdfaSchema:namespaceURI>urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#</pdfaSchema:namespaceURI>
<pdfaSchema:prefix>fx</pdfaSchema:prefix>
<pdfaSchema:property><rdf:Seq>
<rdf:li rdf:parseType="Resource"><pdfaProperty:name>DocumentFileName</pdfaProperty:name><pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external</pdfaProperty:category><pdfaProperty:description>name of the embedded XML invoice file</pdfaProperty:description></rdf:li>
<rdf:li rdf:parseType="Resource"><pdfaProperty:name>DocumentType</pdfaProperty:name><pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external</pdfaProperty:category><pdfaProperty:description>INVOICE</pdfaProperty:description></rdf:li>
<rdf:li rdf:parseType="Resource"><pdfaProperty:name>Version</pdfaProperty:name><pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external</pdfaProperty:category><pdfaProperty:description>The actual version of the Factur-X XML schema</pdfaProperty:description></rdf:li>
<rdf:li rdf:parseType="Resource"><pdfaProperty:name>ConformanceLevel</pdfaProperty:name><pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external</pdfaProperty:category><pdfaProperty:description>The conformance level of the embedded Factur-X data</pdfaProperty:description></rdf:li>
</rdf:Seq></pdfaSchema:property>
</rdf:li></rdf:Bag></pdfaExtension:schemas>
</rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"#
    )
}

fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
}

/// The sRGB profile, deflated once per process: it is the same in every document.
fn srgb() -> &'static [u8] {
    static PACKED: OnceLock<Vec<u8>> = OnceLock::new();
    PACKED.get_or_init(|| deflate(SRGB))
}

fn assemble(
    doc: &Document,
    lang: Lang,
    xml: &[u8],
    fonts: [(&fonts::Font, Cow<'_, fonts::Embedding>); 2],
    contents: Vec<Content>,
    logo: Option<&PreparedLogo>,
) -> Vec<u8> {
    let mut next = Ref::new(1);
    let catalog_id = next.bump();
    let pages_id = next.bump();
    let info_id = next.bump();
    let meta_id = next.bump();
    let icc_id = next.bump();
    let xml_id = next.bump();
    let spec_id = next.bump();
    let mut pdf = Pdf::new();
    pdf.set_version(1, 7);
    let digest = Sha256::digest(format!("{}|{}", doc.number, doc.issued_on).as_bytes());
    let file_id = digest[..16].to_vec();
    pdf.set_file_id((file_id.clone(), file_id));

    let title = format!("{} {}", kind_title(lang, doc.kind), doc.number);
    let issued = pdf_date(doc.issued_on);
    pdf.document_info(info_id)
        .title(TextStr(&title))
        .producer(TextStr("Prorata"))
        .creator(TextStr("Prorata"))
        .creation_date(issued)
        .modified_date(issued);
    pdf.metadata(meta_id, xmp(doc, &title, lang).as_bytes());
    pdf.icc_profile(icc_id, srgb())
        .n(3)
        .range([0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
        .filter(Filter::FlateDecode);
    let packed = deflate(xml);
    {
        let mut file = pdf.embedded_file(xml_id, &packed);
        file.subtype(Name(b"text/xml")).filter(Filter::FlateDecode);
        file.params()
            .size(i32::try_from(xml.len()).unwrap_or(i32::MAX))
            .modification_date(issued);
    }
    pdf.file_spec(spec_id)
        .path(Str(XML_NAME.as_bytes()))
        .unic_file(TextStr(XML_NAME))
        .description(TextStr("Factur-X invoice (EN 16931)"))
        .association_kind(AssociationKind::Data)
        .embedded_file_with_unicode(xml_id);

    // Fonts: a Type 0 font over a TrueType CID font, glyph ids as CIDs.
    let mut font_ids = Vec::new();
    for (font, embedding) in &fonts {
        let (type0, cid, descriptor, program, cmap, cid_to_gid) = (
            next.bump(),
            next.bump(),
            next.bump(),
            next.bump(),
            next.bump(),
            next.bump(),
        );
        let base_name = Name(&embedding.base_name);
        font_ids.push(type0);
        pdf.type0_font(type0)
            .base_font(base_name)
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid)
            .to_unicode(cmap);
        let mut c = pdf.cid_font(cid);
        c.subtype(CidFontType::Type2)
            .base_font(base_name)
            .system_info(SystemInfo {
                registry: Str(b"Adobe"),
                ordering: Str(b"Identity"),
                supplement: 0,
            })
            .font_descriptor(descriptor)
            .default_width(0.0)
            .cid_to_gid_map_stream(cid_to_gid);
        // Runs of consecutive CIDs share one entry (`first [w w w]`): most of a subset's
        // glyphs sit side by side in the full font.
        let mut widths = c.widths();
        let mut run: Vec<f32> = Vec::new();
        let mut first = 0;
        for &(cid, width) in &embedding.widths {
            if !run.is_empty() && usize::from(first) + run.len() != usize::from(cid) {
                widths.consecutive(first, run.drain(..));
            }
            if run.is_empty() {
                first = cid;
            }
            run.push(width);
        }
        if !run.is_empty() {
            widths.consecutive(first, run);
        }
        widths.finish();
        c.finish();
        pdf.font_descriptor(descriptor)
            .name(base_name)
            .flags(FontFlags::NON_SYMBOLIC)
            .bbox(font.bbox)
            .italic_angle(0.0)
            .ascent(font.ascent)
            .descent(font.descent)
            .cap_height(font.cap_height)
            .stem_v(80.0)
            .font_file2(program);
        pdf.stream(program, &embedding.program)
            .filter(Filter::FlateDecode);
        pdf.cmap(cmap, &embedding.to_unicode)
            .filter(Filter::FlateDecode);
        pdf.stream(cid_to_gid, &embedding.cid_to_gid)
            .filter(Filter::FlateDecode);
    }

    // The logo: an RGB image, its transparency a greyscale soft mask.
    let logo_id = logo.map(|logo| {
        let (image, mask) = (next.bump(), next.bump());
        let width = i32::try_from(logo.width).unwrap_or(i32::MAX);
        let height = i32::try_from(logo.height).unwrap_or(i32::MAX);
        {
            let mut x = pdf.image_xobject(image, &logo.rgb);
            x.filter(Filter::FlateDecode);
            x.width(width).height(height).bits_per_component(8);
            // No /Interpolate: PDF/A-2 and -3 (ISO 19005-2, 6.2.8) forbid it set to true.
            x.color_space().device_rgb();
            if logo.alpha.is_some() {
                x.s_mask(mask);
            }
        }
        if let Some(alpha) = &logo.alpha {
            let mut m = pdf.image_xobject(mask, alpha);
            m.filter(Filter::FlateDecode);
            m.width(width).height(height).bits_per_component(8);
            m.color_space().device_gray();
        }
        image
    });

    let total = contents.len();
    let mut page_ids = Vec::new();
    for (i, content) in contents.into_iter().enumerate() {
        let page_id = next.bump();
        let content_id = next.bump();
        page_ids.push(page_id);
        let stream = deflate(&content.finish());
        pdf.stream(content_id, &stream).filter(Filter::FlateDecode);
        let mut page = pdf.page(page_id);
        page.media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT))
            .parent(pages_id)
            .contents(content_id);
        let mut resources = page.resources();
        let mut fonts_dict = resources.fonts();
        fonts_dict.pair(Name(b"R"), font_ids[0]);
        fonts_dict.pair(Name(b"B"), font_ids[1]);
        fonts_dict.finish();
        // Only the first page draws the logo.
        if let (0, Some(id)) = (i, logo_id) {
            resources.x_objects().pair(Name(LOGO_NAME), id);
        }
    }
    pdf.pages(pages_id)
        .kids(page_ids.iter().copied())
        .count(i32::try_from(total).unwrap_or(i32::MAX));

    let mut catalog = pdf.catalog(catalog_id);
    catalog.pages(pages_id).metadata(meta_id);
    catalog.pair(Name(b"Lang"), TextStr(lang.as_str()));
    catalog
        .names()
        .embedded_files()
        .names()
        .insert(Str(XML_NAME.as_bytes()), spec_id);
    catalog.insert(Name(b"AF")).array().item(spec_id);
    catalog
        .output_intents()
        .push()
        .subtype(OutputIntentSubtype::PDFA)
        .output_condition_identifier(TextStr("sRGB"))
        .info(TextStr("sRGB IEC61966-2.1"))
        .dest_output_profile(icc_id);
    catalog.finish();
    pdf.finish()
}
