//! A few drawing primitives on A4 pages: text left- or right-aligned in one of the two
//! fonts, word-wrapped paragraphs, rules and shaded bands, and page breaks. Coordinates are
//! PDF points from the bottom-left corner; layout measures are floats, never amounts.

use pdf_writer::{Content, Name, Str};

use super::fonts::{Font, Fonts, Used};

pub(crate) const WIDTH: f32 = 595.0;
pub(crate) const HEIGHT: f32 = 842.0;
pub(crate) const LEFT: f32 = 40.0;
pub(crate) const RIGHT: f32 = WIDTH - 40.0;
/// Nothing but the footer goes below this.
pub(crate) const BOTTOM: f32 = 60.0;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Weight {
    Regular,
    Bold,
}

#[derive(Clone, Copy)]
pub(crate) struct Style {
    pub weight: Weight,
    pub size: f32,
    /// Grey level of the text, 0 black.
    pub grey: f32,
}

impl Style {
    pub const fn new(weight: Weight, size: f32) -> Style {
        Style {
            weight,
            size,
            grey: 0.0,
        }
    }

    pub const fn grey(mut self, grey: f32) -> Style {
        self.grey = grey;
        self
    }
}

pub(crate) struct Pages<'f> {
    fonts: &'f Fonts,
    pub done: Vec<Content>,
    pub page: Content,
    /// The baseline of the next line.
    pub y: f32,
    /// Column titles repeated at the top of each new page while a table runs: x, whether
    /// right-aligned, text.
    pub repeat: Vec<(f32, bool, &'static str)>,
    /// The glyphs used so far, regular and bold: what the document's font subsets hold.
    used: [Used; 2],
}

impl<'f> Pages<'f> {
    pub fn new(fonts: &'f Fonts) -> Pages<'f> {
        Pages {
            fonts,
            done: Vec::new(),
            page: Content::new(),
            y: HEIGHT - 50.0,
            repeat: Vec::new(),
            used: [fonts.regular.used(), fonts.bold.used()],
        }
    }

    fn font(&self, w: Weight) -> (&'f Font, Name<'static>) {
        match w {
            Weight::Regular => (&self.fonts.regular, Name(b"R")),
            Weight::Bold => (&self.fonts.bold, Name(b"B")),
        }
    }

    fn used(&mut self, w: Weight) -> &mut Used {
        match w {
            Weight::Regular => &mut self.used[0],
            Weight::Bold => &mut self.used[1],
        }
    }

    pub fn width(&self, style: Style, text: &str) -> f32 {
        self.font(style.weight).0.width(text, style.size)
    }

    pub fn text(&mut self, x: f32, y: f32, style: Style, text: &str) {
        if text.is_empty() {
            return;
        }
        let (font, name) = self.font(style.weight);
        let glyphs = font.encode(text, self.used(style.weight));
        self.page
            .set_fill_rgb(style.grey, style.grey, style.grey)
            .begin_text()
            .set_font(name, style.size)
            .next_line(x, y)
            .show(Str(&glyphs))
            .end_text();
    }

    pub fn text_right(&mut self, right: f32, y: f32, style: Style, text: &str) {
        let w = self.width(style, text);
        self.text(right - w, y, style, text);
    }

    /// Splits `text` into lines no wider than `width`, at spaces (a word longer than the
    /// width gets a line of its own).
    pub fn wrap(&self, style: Style, text: &str, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in text.split(' ') {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if !line.is_empty() && self.width(style, &candidate) > width {
                lines.push(std::mem::replace(&mut line, word.to_string()));
            } else {
                line = candidate;
            }
        }
        if !line.is_empty() {
            lines.push(line);
        }
        lines
    }

    /// Writes a wrapped paragraph from the current line down, breaking pages as needed.
    pub fn paragraph(&mut self, x: f32, width: f32, style: Style, text: &str) {
        let leading = style.size * 1.3;
        for line in self.wrap(style, text, width) {
            self.need(leading);
            self.text(x, self.y, style, &line);
            self.y -= leading;
        }
    }

    pub fn rule(&mut self, x0: f32, x1: f32, y: f32, grey: f32) {
        self.page
            .set_stroke_rgb(grey, grey, grey)
            .set_line_width(0.5)
            .move_to(x0, y)
            .line_to(x1, y)
            .stroke();
    }

    /// Draws the image XObject `name` into the box at (`x`, `y`), `w` × `h` points.
    pub fn image(&mut self, name: Name, x: f32, y: f32, w: f32, h: f32) {
        self.page
            .save_state()
            .transform([w, 0.0, 0.0, h, x, y])
            .x_object(name)
            .restore_state();
    }

    pub fn band(&mut self, x: f32, y: f32, w: f32, h: f32, grey: f32) {
        self.page
            .set_fill_rgb(grey, grey, grey)
            .rect(x, y, w, h)
            .fill_nonzero();
    }

    /// Starts a new page when fewer than `height` points are left above the footer.
    pub fn need(&mut self, height: f32) {
        if self.y - height >= BOTTOM {
            return;
        }
        let full = std::mem::replace(&mut self.page, Content::new());
        self.done.push(full);
        self.y = HEIGHT - 50.0;
        if !self.repeat.is_empty() {
            self.column_titles(&self.repeat.clone());
        }
    }

    /// A table's column titles over a rule, at the current line.
    pub fn column_titles(&mut self, titles: &[(f32, bool, &'static str)]) {
        const HEAD: Style = Style::new(Weight::Bold, 8.0).grey(0.35);
        for &(x, right, title) in titles {
            if right {
                self.text_right(x, self.y, HEAD, title);
            } else {
                self.text(x, self.y, HEAD, title);
            }
        }
        self.rule(LEFT, RIGHT, self.y - 4.0, 0.6);
        self.y -= 16.0;
    }

    /// Every page, the current one last, each with its footer (`footer(page, pages)`, from
    /// 1), and the glyphs used in the regular and bold fonts.
    pub fn finish(mut self, footer: impl Fn(usize, usize) -> String) -> (Vec<Content>, [Used; 2]) {
        self.done
            .push(std::mem::replace(&mut self.page, Content::new()));
        let mut pages = std::mem::take(&mut self.done);
        let total = pages.len();
        let style = Style::new(Weight::Regular, 7.0).grey(0.45);
        for (i, page) in pages.iter_mut().enumerate() {
            let text = footer(i + 1, total);
            let x = (WIDTH - self.width(style, &text)) / 2.0;
            let glyphs = self.fonts.regular.encode(&text, &mut self.used[0]);
            page.set_fill_rgb(style.grey, style.grey, style.grey)
                .begin_text()
                .set_font(Name(b"R"), style.size)
                .next_line(x, BOTTOM - 30.0)
                .show(Str(&glyphs))
                .end_text();
        }
        (pages, self.used)
    }
}
