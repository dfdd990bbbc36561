//! Company logos: a PNG or JPEG of at most 1 MB, checked by decoding it (the bytes' own
//! signature decides, never the file's name or declared type) and re-encoded as PNG, so
//! nothing but pixels is kept — no metadata, no trailing payload, no script. SVG is refused.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

pub const MAX_BYTES: usize = 1024 * 1024;
/// Larger pictures are refused before decoding (a small file can claim huge dimensions).
const MAX_SIDE: u32 = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoError {
    TooLarge,
    NotAnImage,
}

impl LogoError {
    pub fn key(self) -> &'static str {
        match self {
            LogoError::TooLarge => "company.logo_too_large",
            LogoError::NotAnImage => "company.logo_not_image",
        }
    }
}

/// The logo as a clean PNG.
pub fn clean(bytes: &[u8]) -> Result<Vec<u8>, LogoError> {
    if bytes.len() > MAX_BYTES {
        return Err(LogoError::TooLarge);
    }
    let format = match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg)) => f,
        _ => return Err(LogoError::NotAnImage),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(64 * 1024 * 1024);
    reader.limits(limits);
    let picture = reader.decode().map_err(|_| LogoError::NotAnImage)?;
    let mut out = Vec::new();
    picture
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|_| LogoError::NotAnImage)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(w, h, image::Rgba([10, 20, 30, 255]));
        let mut out = Vec::new();
        let _ = img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png);
        out
    }

    #[test]
    fn a_png_is_reencoded_without_what_follows_it() {
        let mut bytes = png(4, 3);
        bytes.extend_from_slice(b"<script>alert(1)</script>");
        let clean = clean(&bytes).unwrap_or_default();
        assert!(clean.starts_with(b"\x89PNG"));
        assert!(!clean.windows(8).any(|w| w == b"<script>"));
    }

    #[test]
    fn svg_html_and_a_renamed_file_are_refused() {
        assert_eq!(
            clean(b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            Err(LogoError::NotAnImage)
        );
        assert_eq!(
            clean(b"<html><script></script></html>"),
            Err(LogoError::NotAnImage)
        );
        // A PNG signature followed by garbage is not a picture.
        assert_eq!(
            clean(b"\x89PNG\r\n\x1a\nnot really"),
            Err(LogoError::NotAnImage)
        );
        assert_eq!(clean(&vec![0u8; MAX_BYTES + 1]), Err(LogoError::TooLarge));
    }

    #[test]
    fn an_oversized_picture_is_refused() {
        assert_eq!(clean(&png(MAX_SIDE + 1, 1)), Err(LogoError::NotAnImage));
    }
}
