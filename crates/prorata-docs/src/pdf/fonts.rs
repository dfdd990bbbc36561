//! The two embedded fonts (DejaVu Sans Condensed, regular and bold), prepared once per
//! process: glyph ids by character, advance widths, the compressed font program and the
//! ToUnicode map that lets a reader (and `pdftotext`) turn the glyphs back into text.
//!
//! The fonts are subsets made once with fontTools (see `assets/README.md`): Latin-1, the
//! French and typographic extras, € and →. PDF/A wants every font embedded; embedding a
//! 27 kB subset keeps each document small without subsetting per document. A character the
//! subset lacks prints as `?` in the PDF; the XML keeps the exact text.

use std::collections::HashMap;
use std::sync::OnceLock;

use pdf_writer::types::SystemInfo;
use pdf_writer::{Name, Rect, Str};

const REGULAR: &[u8] = include_bytes!("../../assets/DejaVuSansCondensed-subset.ttf");
const BOLD: &[u8] = include_bytes!("../../assets/DejaVuSansCondensed-Bold-subset.ttf");

pub(crate) struct Font {
    /// `/BaseFont`: a subset tag, then the font's PostScript name.
    pub base_name: &'static [u8],
    gids: HashMap<char, u16>,
    /// Advance widths in thousandths of the font size, by glyph id.
    pub widths: Vec<f32>,
    fallback: u16,
    pub bbox: Rect,
    pub ascent: f32,
    pub descent: f32,
    pub cap_height: f32,
    /// The font program, deflated.
    pub program: Vec<u8>,
    /// The ToUnicode CMap, deflated.
    pub to_unicode: Vec<u8>,
}

pub(crate) struct Fonts {
    pub regular: Font,
    pub bold: Font,
}

impl Font {
    fn load(data: &[u8], base_name: &'static [u8]) -> Result<Font, String> {
        let face = ttf_parser::Face::parse(data, 0).map_err(|e| format!("font: {e}"))?;
        let upem = f32::from(face.units_per_em());
        let scale = |v: i16| f32::from(v) * 1000.0 / upem;
        let widths = (0..face.number_of_glyphs())
            .map(|g| {
                face.glyph_hor_advance(ttf_parser::GlyphId(g))
                    .map_or(0.0, |a| f32::from(a) * 1000.0 / upem)
            })
            .collect();
        let mut gids = HashMap::new();
        let mut cmap = pdf_writer::types::UnicodeCmap::new(
            Name(b"Prorata-UCS"),
            SystemInfo {
                registry: Str(b"Adobe"),
                ordering: Str(b"UCS"),
                supplement: 0,
            },
        );
        if let Some(table) = face.tables().cmap {
            for sub in table.subtables.into_iter().filter(|s| s.is_unicode()) {
                sub.codepoints(|cp| {
                    if let (Some(c), Some(g)) = (char::from_u32(cp), sub.glyph_index(cp)) {
                        if gids.insert(c, g.0).is_none() {
                            cmap.pair(g.0, c);
                        }
                    }
                });
            }
        }
        let fallback = *gids.get(&'?').ok_or("font: no '?' glyph")?;
        let b = face.global_bounding_box();
        Ok(Font {
            base_name,
            gids,
            widths,
            fallback,
            bbox: Rect::new(
                scale(b.x_min),
                scale(b.y_min),
                scale(b.x_max),
                scale(b.y_max),
            ),
            ascent: scale(face.ascender()),
            descent: scale(face.descender()),
            cap_height: scale(face.capital_height().unwrap_or(face.ascender())),
            program: miniz_oxide::deflate::compress_to_vec_zlib(data, 6),
            to_unicode: miniz_oxide::deflate::compress_to_vec_zlib(&cmap.finish(), 6),
        })
    }

    /// The text as two-byte glyph ids (Identity-H).
    pub fn encode(&self, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() * 2);
        for c in text.chars() {
            out.extend_from_slice(&self.gid(c).to_be_bytes());
        }
        out
    }

    fn gid(&self, c: char) -> u16 {
        // A no-break space prints as a space when the subset lacks its own glyph.
        let c = if c == '\u{202F}' || c == '\u{A0}' {
            ' '
        } else {
            c
        };
        self.gids.get(&c).copied().unwrap_or(self.fallback)
    }

    /// Width of `text` at `size` points.
    pub fn width(&self, text: &str, size: f32) -> f32 {
        let units: f32 = text
            .chars()
            .map(|c| {
                self.widths
                    .get(usize::from(self.gid(c)))
                    .copied()
                    .unwrap_or(0.0)
            })
            .sum();
        units * size / 1000.0
    }
}

/// The fonts, loaded on first use. An error means the embedded assets are broken.
pub(crate) fn fonts() -> Result<&'static Fonts, String> {
    static FONTS: OnceLock<Result<Fonts, String>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            Ok(Fonts {
                regular: Font::load(REGULAR, b"PRORAA+DejaVuSansCondensed")?,
                bold: Font::load(BOLD, b"PRORAB+DejaVuSansCondensed-Bold")?,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}
