//! The seller's logo on documents: a PNG checked once when the tenant sets it (at most 1 MB
//! and 2048 px a side, decoded to prove it is one) and prepared for a PDF image XObject:
//! 8-bit RGB samples and, when the picture has transparency, an 8-bit alpha channel for its
//! soft mask (PDF/A-3 allows an SMask), both deflated.
//!
//! Preparing is a pure function of the bytes, so a document re-rendered with the logo it was
//! issued with gives the same PDF.

use std::io::Cursor;

/// Larger files are refused: a logo is a few kilobytes.
pub const MAX_BYTES: usize = 1024 * 1024;
/// Larger pictures are refused before decoding (a small file can claim huge dimensions).
pub const MAX_SIDE: u32 = 2048;

/// Why a file cannot be a logo; the message is for the person who chose the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoError {
    #[error("the logo is larger than 1 MB")]
    TooLarge,
    #[error("the logo is {width}×{height} px, more than 2048 px a side")]
    TooWide { width: u32, height: u32 },
    #[error("the logo is not a PNG picture ({0})")]
    NotAPng(String),
}

/// A logo ready to draw: its size in pixels and its deflated samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedLogo {
    pub width: u32,
    pub height: u32,
    /// Deflated 8-bit RGB samples, row by row.
    pub rgb: Vec<u8>,
    /// Deflated 8-bit alpha samples, when any pixel is not opaque.
    pub alpha: Option<Vec<u8>>,
}

/// Checks `png` and prepares it; an error says what is wrong with the file.
pub fn prepare(png: &[u8]) -> Result<PreparedLogo, LogoError> {
    if png.len() > MAX_BYTES {
        return Err(LogoError::TooLarge);
    }
    let bad = |e: png::DecodingError| LogoError::NotAPng(e.to_string());
    // Enough for the largest accepted picture in RGBA, and no more.
    let limits = png::Limits {
        bytes: (MAX_SIDE as usize) * (MAX_SIDE as usize) * 8,
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(png), limits);
    // Palettes and low bit depths expanded, 16-bit samples cut to 8.
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(bad)?;
    let (width, height) = (reader.info().width, reader.info().height);
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(LogoError::TooWide { width, height });
    }
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| LogoError::NotAPng("no image data".into()))?;
    let mut buf = vec![0; size];
    let frame = reader.next_frame(&mut buf).map_err(bad)?;
    let (color, depth) = reader.output_color_type();
    if depth != png::BitDepth::Eight {
        return Err(LogoError::NotAPng(format!("unexpected {depth:?} samples")));
    }
    let pixels = (width as usize) * (height as usize);
    let mut rgb = Vec::with_capacity(pixels * 3);
    let mut alpha = Vec::with_capacity(pixels);
    // Rows may be padded: walk each row of the frame's line size.
    let line = frame.line_size;
    for row in buf.chunks(line).take(height as usize) {
        let channels = color.samples();
        for px in row.chunks(channels).take(width as usize) {
            match (color, px) {
                (png::ColorType::Grayscale, [g]) => {
                    rgb.extend([*g, *g, *g]);
                    alpha.push(255);
                }
                (png::ColorType::GrayscaleAlpha, [g, a]) => {
                    rgb.extend([*g, *g, *g]);
                    alpha.push(*a);
                }
                (png::ColorType::Rgb, [r, g, b]) => {
                    rgb.extend([*r, *g, *b]);
                    alpha.push(255);
                }
                (png::ColorType::Rgba, [r, g, b, a]) => {
                    rgb.extend([*r, *g, *b]);
                    alpha.push(*a);
                }
                _ => return Err(LogoError::NotAPng(format!("unexpected {color:?} pixels"))),
            }
        }
    }
    if rgb.len() != pixels * 3 {
        return Err(LogoError::NotAPng("truncated image data".into()));
    }
    let opaque = alpha.iter().all(|&a| a == 255);
    Ok(PreparedLogo {
        width,
        height,
        rgb: deflate(&rgb),
        alpha: (!opaque).then(|| deflate(&alpha)),
    })
}

fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
}

impl PreparedLogo {
    /// The size it is drawn at, in points: at most `max_w` × `max_h`, aspect kept, never
    /// enlarged beyond one point per pixel.
    pub fn fit(&self, max_w: f32, max_h: f32) -> (f32, f32) {
        let (w, h) = (self.width.max(1) as f32, self.height.max(1) as f32);
        let scale = (max_w / w).min(max_h / h).min(1.0);
        (w * scale, h * scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, color: png::ColorType) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(color);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().unwrap();
        let n = (width * height) as usize * color.samples();
        w.write_image_data(&vec![128; n]).unwrap();
        w.finish().unwrap();
        out
    }

    #[test]
    fn a_transparent_png_keeps_its_alpha_and_an_opaque_one_has_none() {
        let logo = prepare(&png(30, 10, png::ColorType::Rgba)).unwrap();
        assert_eq!((logo.width, logo.height), (30, 10));
        assert!(logo.alpha.is_some());
        let opaque = prepare(&png(4, 4, png::ColorType::Grayscale)).unwrap();
        assert!(opaque.alpha.is_none());
    }

    #[test]
    fn a_file_that_is_not_a_png_is_refused() {
        assert!(matches!(
            prepare(b"GIF89a not a png"),
            Err(LogoError::NotAPng(_))
        ));
        assert!(matches!(prepare(b""), Err(LogoError::NotAPng(_))));
        let mut cut = png(30, 10, png::ColorType::Rgb);
        cut.truncate(cut.len() - 20);
        assert!(prepare(&cut).is_err());
    }

    #[test]
    fn a_file_over_1_mb_or_a_picture_over_2048_px_is_refused() {
        assert_eq!(prepare(&vec![0; MAX_BYTES + 1]), Err(LogoError::TooLarge));
        assert_eq!(
            prepare(&png(2049, 1, png::ColorType::Grayscale)),
            Err(LogoError::TooWide {
                width: 2049,
                height: 1
            })
        );
    }

    #[test]
    fn a_logo_fits_its_box_with_its_aspect_kept() {
        let logo = prepare(&png(400, 100, png::ColorType::Rgb)).unwrap();
        assert_eq!(logo.fit(160.0, 40.0), (160.0, 40.0));
        let tall = prepare(&png(100, 400, png::ColorType::Rgb)).unwrap();
        assert_eq!(tall.fit(160.0, 40.0), (10.0, 40.0));
    }
}
