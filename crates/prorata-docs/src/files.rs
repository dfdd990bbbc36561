//! A document's two files, made together: the EN 16931 CII XML, and the Factur-X PDF that
//! embeds it. The language is the one the document was issued in (its buyer snapshot).

use prorata_core::document::Document;
use prorata_core::Lang;

use crate::logo::PreparedLogo;

/// The files of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub xml: Vec<u8>,
    pub pdf: Vec<u8>,
}

/// The language `doc` is written in.
pub fn language(doc: &Document) -> Lang {
    doc.buyer
        .as_ref()
        .and_then(|b| b.language)
        .unwrap_or_default()
}

/// Makes both files of `doc`, with no logo; an error says what the document lacks. A
/// document whose seller names a logo is made with [`make_with_logo`] and that logo.
pub fn make(doc: &Document) -> Result<Files, String> {
    make_with_logo(doc, None)
}

/// Makes both files of `doc`, the PDF with `logo` (the one its seller snapshot names) above
/// the seller.
pub fn make_with_logo(doc: &Document, logo: Option<&PreparedLogo>) -> Result<Files, String> {
    let lang = language(doc);
    let xml = crate::cii::invoice_xml(doc, lang)
        .map_err(|e| e.to_string())?
        .into_bytes();
    let pdf = crate::pdf::render(doc, lang, &xml, logo).map_err(|e| e.to_string())?;
    Ok(Files { xml, pdf })
}
