//! What a map is made of before it becomes SVG: boxes, text blocks and lines in pixels.

use crate::text::Font;

/// An axis-aligned rectangle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl Rect {
    /// A rectangle from its left, top, width and height.
    pub const fn new(x: f64, y: f64, w: f64, h: f64) -> Rect {
        Rect { x, y, w, h }
    }

    /// Right edge.
    pub fn right(&self) -> f64 {
        self.x + self.w
    }

    /// Bottom edge.
    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }

    /// The rectangle shrunk by `pad` on every side.
    pub fn inset(&self, pad: f64) -> Rect {
        Rect::new(
            self.x + pad,
            self.y + pad,
            self.w - 2.0 * pad,
            self.h - 2.0 * pad,
        )
    }
}

/// Lines of text laid out from a top edge.
#[derive(Clone, Debug, PartialEq)]
pub struct TextBlock {
    /// Anchor position.
    pub x: f64,
    /// Top of the first line's box.
    pub top: f64,
    /// The lines, already wrapped.
    pub lines: Vec<String>,
    /// Font.
    pub font: Font,
    /// Colour.
    pub fill: &'static str,
    /// The box the text must stay inside (checked by the browser tests).
    pub within: Rect,
    /// A halo of this colour behind the letters, keeping text legible over lines.
    pub halo: Option<&'static str>,
}

impl TextBlock {
    /// The area the lines cover, by the font's metrics.
    pub fn extent(&self) -> Rect {
        let width = self
            .lines
            .iter()
            .map(|l| crate::text::measure(l, self.font))
            .fold(0.0, f64::max);
        Rect::new(
            self.x,
            self.top,
            width,
            self.font.block_height(self.lines.len()),
        )
    }
}

/// One drawing instruction.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A filled, optionally stroked, rounded rectangle.
    Box {
        /// Where.
        rect: Rect,
        /// Corner radius.
        radius: f64,
        /// Fill colour.
        fill: &'static str,
        /// Outline colour.
        stroke: Option<&'static str>,
    },
    /// Text.
    Text(TextBlock),
    /// A closed filled shape.
    Polygon {
        /// Corners.
        points: Vec<(f64, f64)>,
        /// Fill colour.
        fill: &'static str,
    },
    /// An open line through points.
    Polyline {
        /// Points.
        points: Vec<(f64, f64)>,
        /// Colour.
        stroke: &'static str,
        /// Width.
        width: f64,
        /// Dashed.
        dashed: bool,
    },
    /// An invisible area that shows `text` when hovered (how a stage or KPI is measured).
    Tooltip {
        /// The area.
        rect: Rect,
        /// What to show.
        text: String,
    },
    /// A dot.
    Circle {
        /// Centre x.
        cx: f64,
        /// Centre y.
        cy: f64,
        /// Radius.
        r: f64,
        /// Fill colour.
        fill: &'static str,
    },
}

/// A complete drawing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scene {
    /// Total width.
    pub width: f64,
    /// Total height.
    pub height: f64,
    /// Drawing instructions, back to front.
    pub items: Vec<Item>,
}

impl Scene {
    /// Adds a box.
    pub fn rect(
        &mut self,
        rect: Rect,
        radius: f64,
        fill: &'static str,
        stroke: Option<&'static str>,
    ) {
        self.items.push(Item::Box {
            rect,
            radius,
            fill,
            stroke,
        });
    }

    /// Adds a wrapped text block at the top-left of `within`, returning its height. A
    /// `within` lower than the text (such as height 0) grows to fit it.
    pub fn text(
        &mut self,
        mut within: Rect,
        lines: Vec<String>,
        font: Font,
        fill: &'static str,
    ) -> f64 {
        let height = font.block_height(lines.len());
        within.h = within.h.max(height);
        self.items.push(Item::Text(TextBlock {
            x: within.x,
            top: within.y,
            lines,
            font,
            fill,
            within,
            halo: None,
        }));
        height
    }

    /// Every text block, in drawing order.
    pub fn texts(&self) -> impl Iterator<Item = &TextBlock> {
        self.items.iter().filter_map(|item| match item {
            Item::Text(t) => Some(t),
            _ => None,
        })
    }
}
