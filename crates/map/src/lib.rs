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

pub use html::document;

/// Escapes text for HTML and XML content and attribute values.
pub fn escape(text: &str) -> String {
    svg::escape(text)
}

/// The font stack the map is measured with.
pub const FONT_FAMILY: &str = svg::FONT_FAMILY;

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

/// Measured numbers drawn on the map: a "measured" lane under the stage headers and each
/// KPI's value on its card.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Live {
    /// Per stage, in journey order.
    pub stages: Vec<LiveStage>,
    /// Per KPI id.
    pub kpis: Vec<LiveKpi>,
}

/// What was measured on one stage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveStage {
    /// The headline (customers who reached it).
    pub title: String,
    /// Further lines (conversion, customers in it now, time).
    pub details: Vec<String>,
    /// Draws the card in the alert colour (an opportunity was found there).
    pub alert: bool,
}

/// A KPI's measured value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveKpi {
    /// KPI id.
    pub id: String,
    /// The value as shown.
    pub text: String,
    /// Whether it meets its target.
    pub on_target: Option<bool>,
}

/// Lays the journey out without writing it, for callers that inspect the drawing.
pub fn layout(journey: &Journey) -> scene::Scene {
    layout::scene(journey, None)
}

/// Lays the journey out with measured numbers on it.
pub fn layout_live(journey: &Journey, live: &Live) -> scene::Scene {
    layout::scene(journey, Some(live))
}

/// Draws the journey with measured numbers as SVG.
pub fn render_live(journey: &Journey, live: &Live) -> String {
    svg::write(&layout::scene(journey, Some(live)), &journey.name)
}

/// Draws the journey in `format`.
pub fn render(journey: &Journey, format: Format) -> String {
    let svg = svg::write(&layout::scene(journey, None), &journey.name);
    match format {
        Format::Svg => svg,
        Format::Html => html::page(journey, &svg),
    }
}
