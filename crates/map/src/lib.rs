//! Draws journey maps.
//!
//! This crate owns the visual map: it lays a validated [`Journey`] out — stages as columns,
//! lanes as rows (goal, touchpoints by channel, actions, motivations, thoughts, the emotion
//! curve, pain points, opportunities, KPIs and targets, planned emails, owner), plus the
//! 24-hour persona timeline of day-in-the-life maps — and writes it as SVG or as a
//! self-contained HTML page. Layout is done here, with the font's real metrics, so text
//! wraps inside its box and nothing overlaps whatever the viewer.
//!
//! ```
//! use parcours_journey::{load_str, template};
//! let journey = load_str("j.toml", template("digital").unwrap().journey(), None).journey.unwrap();
//! let svg = parcours_map::render(&journey, parcours_map::Format::Svg);
//! assert!(svg.starts_with("<svg") && svg.contains("Considération"));
//! ```

mod html;
mod labels;
mod layout;
mod metrics_table;
pub mod scene;
mod svg;
pub mod text;
mod timeline;

use std::path::Path;

use parcours_journey::Journey;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A standalone SVG image.
    Svg,
    /// A self-contained HTML page embedding the SVG.
    Html,
}

impl Format {
    /// The format a file name asks for by its extension (`.svg`, `.html`, `.htm`).
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "svg" => Some(Format::Svg),
            "html" | "htm" => Some(Format::Html),
            _ => None,
        }
    }
}

/// Lays the journey out without writing it, for callers that inspect the drawing.
pub fn layout(journey: &Journey) -> scene::Scene {
    layout::scene(journey)
}

/// Draws the journey in `format`.
pub fn render(journey: &Journey, format: Format) -> String {
    let svg = svg::write(&layout::scene(journey), &journey.name);
    match format {
        Format::Svg => svg,
        Format::Html => html::page(journey, &svg),
    }
}
