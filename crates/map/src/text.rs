//! Text measurement and line wrapping with the metrics of the font the map names first.
//!
//! SVG has no automatic line wrapping, so the map wraps text itself. Widths come from
//! DejaVu Sans (see `tools/font_metrics.py`); the viewer's fallback fonts (Verdana, Arial)
//! are no wider, so text measured here never overflows its box.

use crate::metrics_table::{ADVANCES, INK_BOTTOM, INK_TOP, UNITS_PER_EM};

/// Height above the baseline, in em: the highest ink of any glyph the map may draw.
/// Accented capitals (`É`) rise above the font's nominal ascent and browsers include that
/// ink in a text's box.
pub const ASCENT: f64 = INK_TOP / UNITS_PER_EM;
/// Depth below the baseline, in em: the lowest ink of any glyph the map may draw.
pub const DESCENT: f64 = INK_BOTTOM / UNITS_PER_EM;
/// Browsers snap a text box's edges to whole pixels; one pixel above and below absorbs it.
const PIXEL_SNAP: f64 = 1.0;
/// Distance between baselines, in em.
pub const LINE_SPACING: f64 = 1.3;
/// Wrapping keeps this share of the width free, for rounding in renderers.
const SAFETY: f64 = 0.98;

/// A font size and weight.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Font {
    /// Size in pixels.
    pub size: f64,
    /// Bold or regular.
    pub bold: bool,
}

impl Font {
    /// Regular weight at `size` pixels.
    pub const fn regular(size: f64) -> Font {
        Font { size, bold: false }
    }

    /// Bold weight at `size` pixels.
    pub const fn bold(size: f64) -> Font {
        Font { size, bold: true }
    }

    /// Distance between two baselines.
    pub fn line_height(self) -> f64 {
        self.size * LINE_SPACING
    }

    /// Space reserved from the top of a block to its first baseline.
    pub fn ascent(self) -> f64 {
        self.size * ASCENT + PIXEL_SNAP
    }

    /// Height of a block of `lines` lines, from the top of the first to the bottom of the last.
    pub fn block_height(self, lines: usize) -> f64 {
        match lines {
            0 => 0.0,
            n => {
                (n - 1) as f64 * self.line_height()
                    + self.ascent()
                    + self.size * DESCENT
                    + PIXEL_SNAP
            }
        }
    }
}

fn advance(c: char, bold: bool) -> f64 {
    let code = c as u32;
    match ADVANCES.binary_search_by_key(&code, |&(cp, _, _)| cp) {
        Ok(i) => f64::from(if bold { ADVANCES[i].2 } else { ADVANCES[i].1 }),
        // Outside the table: East Asian and symbol glyphs are about one em wide; assume
        // the widest so that unknown text still fits.
        Err(_) => UNITS_PER_EM,
    }
}

/// Width of `text` set in `font`, in pixels.
pub fn measure(text: &str, font: Font) -> f64 {
    let units: f64 = text.chars().map(|c| advance(c, font.bold)).sum();
    units * font.size / UNITS_PER_EM
}

/// Spaces a line may break at: every white space except the no-break ones.
fn breakable(c: char) -> bool {
    c.is_whitespace() && c != '\u{a0}' && c != '\u{202f}' && c != '\u{2007}'
}

/// The words of a paragraph, with French high punctuation (`?`, `!`, `:`, `;`, `»`) and
/// a lone dash kept on the previous word, and `«` on the next, so none starts a line alone.
fn words(paragraph: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut glue_next = false;
    for word in paragraph.split(breakable).filter(|w| !w.is_empty()) {
        let clings_left = word
            .chars()
            .all(|c| matches!(c, '?' | '!' | ':' | ';' | '»' | '–' | '—'));
        match words.last_mut() {
            Some(last) if glue_next || clings_left => {
                last.push('\u{a0}');
                last.push_str(word);
            }
            _ => words.push(word.to_string()),
        }
        glue_next = word == "«";
    }
    words
}

/// Breaks `text` into lines no wider than `width`: at spaces when possible, inside a word
/// only when the word alone is too wide. Line breaks in the text are kept.
pub fn wrap(text: &str, width: f64, font: Font) -> Vec<String> {
    let limit = width * SAFETY;
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in words(paragraph) {
            let word = word.as_str();
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if measure(&candidate, font) <= limit {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            if measure(word, font) <= limit {
                line = word.to_string();
            } else {
                let mut pieces = break_word(word, limit, font);
                line = pieces.pop().unwrap_or_default();
                lines.extend(pieces);
            }
        }
        lines.push(line);
    }
    while lines.len() > 1 && lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// Splits a word too wide for one line into pieces that fit, each but the last ending in `-`.
fn break_word(word: &str, limit: f64, font: Font) -> Vec<String> {
    let hyphen = measure("-", font);
    let mut pieces = Vec::new();
    let mut piece = String::new();
    for c in word.chars() {
        let mut wider = piece.clone();
        wider.push(c);
        if !piece.is_empty() && measure(&wider, font) + hyphen > limit {
            piece.push('-');
            pieces.push(std::mem::take(&mut piece));
        }
        piece.push(c);
    }
    pieces.push(piece);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn widths_follow_the_font() {
        let font = Font::regular(2048.0);
        assert_eq!(measure("a", font), 1255.0);
        assert_eq!(measure("é", font), 1260.0);
        assert!(measure("W", Font::bold(10.0)) > measure("W", Font::regular(10.0)));
        assert_eq!(measure("漢", Font::regular(10.0)), 10.0);
    }

    #[test]
    fn wraps_at_spaces_and_keeps_every_word() {
        let font = Font::regular(13.0);
        let text = "Frais de livraison découverts au dernier moment";
        let lines = wrap(text, 120.0, font);
        assert!(lines.len() > 1);
        assert_eq!(lines.join(" "), text);
        assert!(lines.iter().all(|l| measure(l, font) <= 120.0));
    }

    #[test]
    fn breaks_words_longer_than_a_line() {
        let font = Font::regular(13.0);
        let lines = wrap("anticonstitutionnellement", 60.0, font);
        assert!(lines.len() > 2, "{lines:?}");
        assert!(lines.iter().all(|l| measure(l, font) <= 60.0), "{lines:?}");
        assert_eq!(lines.concat().replace('-', ""), "anticonstitutionnellement");
    }

    #[test]
    fn french_punctuation_never_starts_a_line() {
        let font = Font::regular(13.0);
        for width in [60.0, 80.0, 100.0, 140.0, 200.0] {
            for line in wrap(
                "Combien coûte la livraison ? « Le paiement est-il sûr ? » Oui : vite !",
                width,
                font,
            ) {
                let first = line.chars().next().unwrap();
                assert!(
                    !matches!(first, '?' | '!' | ':' | '»'),
                    "{line:?} at {width}"
                );
                assert!(!line.ends_with('«'), "{line:?} at {width}");
            }
        }
        assert_eq!(
            wrap("a\u{a0}b", 1.0, font).len(),
            3,
            "a no-break space only breaks as a last resort"
        );
    }

    #[test]
    fn empty_text_is_one_empty_line() {
        assert_eq!(wrap("", 100.0, Font::regular(12.0)), vec![String::new()]);
    }

    proptest! {
        #[test]
        fn wrapped_lines_always_fit(text in "[a-zA-Zéèàçœ' ,.-]{0,200}", width in 40.0..400.0f64) {
            let font = Font::regular(13.0);
            for line in wrap(&text, width, font) {
                prop_assert!(measure(&line, font) <= width, "{line:?} wider than {width}");
            }
        }
    }
}
