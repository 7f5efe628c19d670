//! The 24-hour timeline of a day-in-the-life map: one row per persona, touchpoints placed
//! at the times of day customers use them, stages as bands over the hours they cover.

use parcours_journey::{Journey, TimeOfDay, TimeRange, Touchpoint};

use crate::labels::Labels;
use crate::layout::{
    BODY, CARD, INK, LABEL_W, MARGIN, MUTED, PAD, RULE, SMALL, channel_color, kind_colors,
};
use crate::scene::{Item, Rect, Scene};
use crate::text::{Font, measure, wrap};

const HOUR_W: f64 = 60.0;
const LABEL_MAX_W: f64 = 150.0;
const LABEL_GAP: f64 = 8.0;
const ROW_GAP: f64 = 4.0;
const MARKER_ZONE: f64 = 26.0;
const BAND_LABEL: Font = Font::bold(12.0);
const AXIS: Font = Font::regular(11.0);

/// Width of the timeline, label column included.
pub(crate) fn width() -> f64 {
    LABEL_W + 24.0 * HOUR_W
}

fn axis_x0() -> f64 {
    MARGIN + LABEL_W
}

fn x_of(time: TimeOfDay) -> f64 {
    axis_x0() + f64::from(time.minutes()) / 60.0 * HOUR_W
}

/// The x ranges a time range covers (two when it runs past midnight).
fn spans(range: TimeRange) -> Vec<(f64, f64)> {
    let end_of_day = axis_x0() + 24.0 * HOUR_W;
    if range.wraps() {
        vec![
            (x_of(range.start), end_of_day),
            (axis_x0(), x_of(range.end)),
        ]
    } else {
        vec![(x_of(range.start), x_of(range.end))]
    }
}

/// A label to place without overlapping others.
struct Label {
    lines: Vec<String>,
    font: Font,
    left: f64,
    width: f64,
    anchor_x: f64,
    color: &'static str,
}

impl Label {
    fn height(&self) -> f64 {
        self.font.block_height(self.lines.len())
    }
}

/// Assigns each label (sorted by left edge) to the first sub-row where it does not touch
/// the previous label; returns the sub-row index of each label.
fn pack(labels: &[Label]) -> Vec<usize> {
    let mut row_ends: Vec<f64> = Vec::new();
    labels
        .iter()
        .map(|label| {
            match row_ends
                .iter()
                .position(|&end| end + LABEL_GAP <= label.left)
            {
                Some(row) => {
                    row_ends[row] = label.left + label.width;
                    row
                }
                None => {
                    row_ends.push(label.left + label.width);
                    row_ends.len() - 1
                }
            }
        })
        .collect()
}

fn label(text: &str, font: Font, anchor_x: f64, max_w: f64, color: &'static str) -> Label {
    let lines = wrap(text, max_w, font);
    let width = lines
        .iter()
        .map(|l| measure(l, font))
        .fold(0.0, f64::max)
        .ceil()
        + 2.0;
    let min_left = axis_x0();
    let max_right = axis_x0() + 24.0 * HOUR_W;
    let left = (anchor_x - width / 2.0).clamp(min_left, max_right - width);
    Label {
        lines,
        font,
        left,
        width,
        anchor_x,
        color,
    }
}

/// Places labels into sub-rows from `top` without overlaps: each label with its top edge,
/// and the bottom of the last sub-row.
fn place(mut labels: Vec<Label>, top: f64) -> (Vec<(Label, f64)>, f64) {
    labels.sort_by(|a, b| a.left.total_cmp(&b.left));
    let rows = pack(&labels);
    let row_count = rows.iter().max().map_or(0, |m| m + 1);
    let mut row_heights = vec![0.0f64; row_count];
    for (label, &row) in labels.iter().zip(&rows) {
        row_heights[row] = row_heights[row].max(label.height());
    }
    let mut row_tops = Vec::with_capacity(row_count);
    let mut bottom = top;
    for h in &row_heights {
        row_tops.push(bottom);
        bottom += h + ROW_GAP;
    }
    if row_count > 0 {
        bottom -= ROW_GAP;
    }
    let placed = labels
        .into_iter()
        .zip(rows)
        .map(|(l, row)| (l, row_tops[row]))
        .collect();
    (placed, bottom)
}

/// Draws placed labels; with `connect_to`, a dashed line runs from each label to that height.
fn draw_labels(scene: &mut Scene, placed: Vec<(Label, f64)>, connect_to: Option<f64>) {
    for (label, y) in placed {
        let h = label.height();
        if let Some(marker_y) = connect_to {
            scene.items.push(Item::Polyline {
                points: vec![(label.anchor_x, y + h + 2.0), (label.anchor_x, marker_y)],
                stroke: label.color,
                width: 1.0,
                dashed: true,
            });
        }
        scene.text(
            Rect::new(label.left, y, label.width, h),
            label.lines,
            label.font,
            label.color,
        );
        if let Some(Item::Text(text)) = scene.items.last_mut() {
            text.halo = Some(CARD);
        }
    }
}

/// Draws the timeline from `top`; returns its bottom.
pub(crate) fn draw(scene: &mut Scene, journey: &Journey, labels: &Labels, top: f64) -> f64 {
    let (dark, light) = kind_colors(journey.kind);
    let right = axis_x0() + 24.0 * HOUR_W;
    let mut y = top;
    y += scene.text(
        Rect::new(MARGIN, y, width(), 0.0),
        vec![labels.timeline.to_uppercase()],
        Font::bold(14.0),
        INK,
    ) + 10.0;

    // Hour axis.
    let axis_h = AXIS.block_height(1);
    for hour in (0..=24).step_by(2) {
        let text = format!("{hour:02}:00");
        let w = measure(&text, AXIS) + 2.0;
        let x = axis_x0() + f64::from(hour) * HOUR_W;
        let left = (x - w / 2.0).clamp(axis_x0(), right - w);
        scene.text(Rect::new(left, y, w, axis_h), vec![text], AXIS, MUTED);
    }
    y += axis_h + 8.0;

    // Stage bands: labels packed above, tinted bands behind the persona rows.
    let band_labels: Vec<Label> = journey
        .stages
        .iter()
        .filter_map(|stage| {
            let hours = stage.hours?;
            let (start, end) = spans(hours)[0];
            let max_w = (end - start - 4.0).clamp(110.0, 220.0);
            let mut l = label(&stage.name, BAND_LABEL, start + max_w / 2.0, max_w, dark);
            l.left = start.min(right - l.width);
            Some(l)
        })
        .collect();
    let bands_top = y;
    if !band_labels.is_empty() {
        let (placed, bottom) = place(band_labels, y);
        draw_labels(scene, placed, None);
        y = bottom + 8.0;
    }
    let rows_top = y;
    let background_at = scene.items.len();

    let personas: Vec<(Option<&str>, &str)> = if journey.personas.is_empty() {
        vec![(None, labels.everyone)]
    } else {
        journey
            .personas
            .iter()
            .map(|p| (Some(p.id.as_str()), p.name.as_str()))
            .collect()
    };
    for (persona, name) in personas {
        let row_top = y;
        let uses: Vec<(&Touchpoint, TimeOfDay)> = journey
            .touchpoints
            .iter()
            .filter(|t| match persona {
                None => true,
                Some(id) => t.personas.is_empty() || t.personas.iter().any(|p| p == id),
            })
            .flat_map(|t| t.at.iter().map(move |&time| (t, time)))
            .collect();
        let row_labels: Vec<Label> = uses
            .iter()
            .map(|&(t, time)| {
                label(
                    &format!("{time} · {}", t.name),
                    SMALL,
                    x_of(time),
                    LABEL_MAX_W,
                    channel_color(t.channel),
                )
            })
            .collect();
        let name_lines = wrap(name, LABEL_W - 2.0 * PAD, BODY);
        let name_h = BODY.block_height(name_lines.len());
        let (placed, labels_bottom) = place(row_labels, row_top + PAD);
        let marker_y = labels_bottom.max(row_top + PAD + name_h) + MARKER_ZONE / 2.0 + 4.0;
        draw_labels(scene, placed, Some(marker_y - 6.0));
        let row_bottom = marker_y + MARKER_ZONE / 2.0;
        scene.items.push(Item::Polyline {
            points: vec![(axis_x0(), marker_y), (right, marker_y)],
            stroke: "#adb5bd",
            width: 1.5,
            dashed: false,
        });
        for &(t, time) in &uses {
            scene.items.push(Item::Circle {
                cx: x_of(time),
                cy: marker_y,
                r: 5.5,
                fill: channel_color(t.channel),
            });
        }
        scene.text(
            Rect::new(MARGIN, row_top + PAD, LABEL_W - 2.0 * PAD, name_h),
            name_lines,
            Font::bold(BODY.size),
            INK,
        );
        y = row_bottom + 6.0;
    }
    let rows_bottom = y - 6.0;

    // Backgrounds go under everything drawn since the rows began.
    let mut background = vec![Item::Box {
        rect: Rect::new(axis_x0(), rows_top, 24.0 * HOUR_W, rows_bottom - rows_top),
        radius: 8.0,
        fill: CARD,
        stroke: Some(RULE),
    }];
    for (i, stage) in journey.stages.iter().enumerate() {
        let Some(hours) = stage.hours else { continue };
        for (start, end) in spans(hours) {
            background.push(Item::Box {
                rect: Rect::new(start, rows_top, end - start, rows_bottom - rows_top),
                radius: 0.0,
                fill: if i % 2 == 0 { "#fff4e6" } else { "#ffe8cc" },
                stroke: None,
            });
            background.push(Item::Box {
                rect: Rect::new(start, bands_top.max(rows_top - 6.0), end - start, 4.0),
                radius: 2.0,
                fill: if i % 2 == 0 { dark } else { light },
                stroke: None,
            });
        }
    }
    for hour in 0..=24 {
        let x = axis_x0() + f64::from(hour) * HOUR_W;
        background.push(Item::Polyline {
            points: vec![(x, rows_top), (x, rows_bottom)],
            stroke: if hour % 6 == 0 { "#ced4da" } else { "#eef1f4" },
            width: 1.0,
            dashed: false,
        });
    }
    scene.items.splice(background_at..background_at, background);
    rows_bottom
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(left: f64, width: f64) -> Label {
        Label {
            lines: vec!["x".into()],
            font: SMALL,
            left,
            width,
            anchor_x: left,
            color: MUTED,
        }
    }

    #[test]
    fn packing_never_puts_touching_labels_on_one_row() {
        let labels = vec![
            at(0.0, 100.0),
            at(50.0, 100.0),
            at(108.0, 10.0),
            at(120.0, 40.0),
            at(300.0, 5.0),
        ];
        assert_eq!(pack(&labels), vec![0, 1, 0, 2, 0]);
    }

    #[test]
    fn midnight_ranges_split_in_two() {
        let range = TimeRange {
            start: TimeOfDay(22 * 60),
            end: TimeOfDay(7 * 60),
        };
        assert_eq!(spans(range).len(), 2);
    }
}
