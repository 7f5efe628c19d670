//! Writes a [`Scene`] as SVG.

use std::fmt::Write as _;

use crate::scene::{Item, Rect, Scene};

/// Font stack: the font the layout was measured with first, then no-wider fallbacks.
pub(crate) const FONT_FAMILY: &str =
    "'DejaVu Sans', Verdana, 'Bitstream Vera Sans', Arial, sans-serif";

/// Escapes text for XML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with at most two decimals and no trailing zeros.
fn n(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

fn points(list: &[(f64, f64)]) -> String {
    list.iter()
        .map(|&(x, y)| format!("{},{}", n(x), n(y)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn data_box(r: &Rect) -> String {
    format!("{} {} {} {}", n(r.x), n(r.y), n(r.w), n(r.h))
}

/// The scene as a standalone SVG document; `title` names it for screen readers.
pub(crate) fn write(scene: &Scene, title: &str) -> String {
    let mut out = String::new();
    let (w, h) = (n(scene.width), n(scene.height));
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-labelledby="map-title" font-family="{}">"#,
        escape(FONT_FAMILY)
    );
    let _ = writeln!(out, r#"<title id="map-title">{}</title>"#, escape(title));
    for item in &scene.items {
        match item {
            Item::Box {
                rect,
                radius,
                fill,
                stroke,
            } => {
                let _ = write!(
                    out,
                    r#"<rect x="{}" y="{}" width="{}" height="{}" rx="{}" fill="{fill}""#,
                    n(rect.x),
                    n(rect.y),
                    n(rect.w),
                    n(rect.h),
                    n(*radius)
                );
                if let Some(stroke) = stroke {
                    let _ = write!(out, r#" stroke="{stroke}""#);
                }
                out.push_str("/>\n");
            }
            Item::Text(t) => {
                let weight = if t.font.bold {
                    r#" font-weight="bold""#
                } else {
                    ""
                };
                let halo = t
                    .halo
                    .map(|c| format!(r#" stroke="{c}" stroke-width="3" stroke-linejoin="round" paint-order="stroke""#))
                    .unwrap_or_default();
                let _ = write!(
                    out,
                    r#"<text x="{}" y="{}" font-size="{}"{weight}{halo} fill="{}" data-box="{}">"#,
                    n(t.x),
                    n(t.top + t.font.ascent()),
                    n(t.font.size),
                    t.fill,
                    data_box(&t.within)
                );
                for (i, line) in t.lines.iter().enumerate() {
                    let y = t.top + t.font.ascent() + i as f64 * t.font.line_height();
                    let _ = write!(
                        out,
                        r#"<tspan x="{}" y="{}">{}</tspan>"#,
                        n(t.x),
                        n(y),
                        escape(line)
                    );
                }
                out.push_str("</text>\n");
            }
            Item::Polygon { points: p, fill } => {
                let _ = writeln!(out, r#"<polygon points="{}" fill="{fill}"/>"#, points(p));
            }
            Item::Polyline {
                points: p,
                stroke,
                width,
                dashed,
            } => {
                let dash = if *dashed {
                    r#" stroke-dasharray="4 4""#
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    r#"<polyline points="{}" fill="none" stroke="{stroke}" stroke-width="{}" stroke-linejoin="round"{dash}/>"#,
                    points(p),
                    n(*width)
                );
            }
            Item::Tooltip { rect, text } => {
                let _ = writeln!(
                    out,
                    r#"<rect class="tip" x="{}" y="{}" width="{}" height="{}" fill="transparent"><title>{}</title></rect>"#,
                    n(rect.x),
                    n(rect.y),
                    n(rect.w),
                    n(rect.h),
                    escape(text)
                );
            }
            Item::Circle { cx, cy, r, fill } => {
                let _ = writeln!(
                    out,
                    r##"<circle cx="{}" cy="{}" r="{}" fill="{fill}" stroke="#ffffff" stroke-width="2"/>"##,
                    n(*cx),
                    n(*cy),
                    n(*r)
                );
            }
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">l'été & co</a>"#),
            "&lt;a href=&quot;x&quot;&gt;l&#39;été &amp; co&lt;/a&gt;"
        );
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(n(12.0), "12");
        assert_eq!(n(12.345), "12.35");
        assert_eq!(n(-0.001), "0");
    }
}
