//! Lays a journey out as a [`Scene`]: header, personas, the day timeline for
//! day-in-the-life maps, then the grid of stages (columns) and lanes (rows).

use parcours_journey::{Channel, Journey, Kind, Kpi, Measure, Stage, Trigger};

use crate::labels::Labels;
use crate::scene::{Item, Rect, Scene};
use crate::text::{Font, measure, wrap};
use crate::timeline;

pub(crate) const MARGIN: f64 = 32.0;
pub(crate) const LABEL_W: f64 = 168.0;
pub(crate) const PAD: f64 = 12.0;
const COL_W: f64 = 236.0;
const GAP: f64 = 10.0;
const SECTION_GAP: f64 = 28.0;
const ITEM_GAP: f64 = 8.0;
const EMOTION_H: f64 = 120.0;
const CHIP_PAD: f64 = 7.0;
const BAR: f64 = 4.0;

pub(crate) const INK: &str = "#1f2933";
pub(crate) const MUTED: &str = "#52606d";
pub(crate) const PAPER: &str = "#f5f7fa";
pub(crate) const CARD: &str = "#ffffff";
pub(crate) const RULE: &str = "#dde3ea";

pub(crate) const BODY: Font = Font::regular(13.0);
pub(crate) const SMALL: Font = Font::regular(11.5);
pub(crate) const CAPTION: Font = Font::bold(10.0);
const TITLE: Font = Font::bold(26.0);
const LEAD: Font = Font::regular(15.0);
const LANE: Font = Font::bold(12.0);
const STAGE: Font = Font::bold(14.0);
const STRONG: Font = Font::bold(13.0);

/// The colour of a channel, used for chips and timeline markers.
pub(crate) fn channel_color(channel: Channel) -> &'static str {
    match channel {
        Channel::Web => "#3b5bdb",
        Channel::Email => "#e8590c",
        Channel::Ads => "#ae3ec9",
        Channel::Social => "#1098ad",
        Channel::Sales => "#2f9e44",
        Channel::Support => "#c2255c",
        Channel::InApp => "#7048e8",
        Channel::Store => "#5c940d",
        Channel::Phone => "#0b7285",
        Channel::Other => "#868e96",
    }
}

fn channel_tint(channel: Channel) -> &'static str {
    match channel {
        Channel::Web => "#edf2ff",
        Channel::Email => "#fff4e6",
        Channel::Ads => "#f8f0fc",
        Channel::Social => "#e3fafc",
        Channel::Sales => "#ebfbee",
        Channel::Support => "#fff0f6",
        Channel::InApp => "#f3f0ff",
        Channel::Store => "#f4fce3",
        Channel::Phone => "#e3fafc",
        Channel::Other => "#f1f3f5",
    }
}

/// Main colour and its lighter partner for a kind of map.
pub(crate) fn kind_colors(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Current => ("#3d4f63", "#52667c"),
        Kind::Future => ("#1864ab", "#1c7ed6"),
        Kind::DayInTheLife => ("#c05600", "#e8590c"),
    }
}

fn emotion_color(value: f64) -> &'static str {
    match value {
        v if v <= -1.5 => "#e03131",
        v if v <= -0.5 => "#f76707",
        v if v < 0.5 => "#868e96",
        v if v < 1.5 => "#66a80f",
        _ => "#2b8a3e",
    }
}

/// Draws the whole map.
pub(crate) fn scene(journey: &Journey, live: Option<&crate::Live>) -> Scene {
    let labels = Labels::of(journey.lang);
    let columns = journey.stages.len().max(1) as f64;
    let grid_w = LABEL_W + columns * COL_W + (columns - 1.0) * GAP;
    let content_w = match journey.kind {
        Kind::DayInTheLife => grid_w.max(timeline::width()),
        _ => grid_w,
    };
    let mut scene = Scene::default();
    scene.rect(Rect::new(0.0, 0.0, 0.0, 0.0), 0.0, PAPER, None);
    let mut y = header(&mut scene, journey, labels, content_w);
    if journey.kind == Kind::DayInTheLife {
        y = timeline::draw(&mut scene, journey, labels, y + SECTION_GAP);
    }
    y = grid(&mut scene, journey, labels, live, y + SECTION_GAP);
    y = footer(&mut scene, journey, labels, content_w, y + SECTION_GAP);
    scene.width = (content_w + 2.0 * MARGIN).ceil();
    scene.height = (y + MARGIN).ceil();
    scene.items[0] = Item::Box {
        rect: Rect::new(0.0, 0.0, scene.width, scene.height),
        radius: 0.0,
        fill: PAPER,
        stroke: None,
    };
    scene
}

fn header(scene: &mut Scene, journey: &Journey, labels: &Labels, content_w: f64) -> f64 {
    let x = MARGIN;
    let text_w = content_w.min(1100.0);
    let mut y = MARGIN;

    let (accent, _) = kind_colors(journey.kind);
    let badge = labels.kind(journey.kind).to_uppercase();
    let badge_w = measure(&badge, CAPTION) + 20.0;
    let badge_h = CAPTION.block_height(1) + 10.0;
    let badge_rect = Rect::new(x, y, badge_w, badge_h);
    scene.rect(badge_rect, badge_h / 2.0, accent, None);
    let badge_text = Rect::new(x + 10.0, y + 5.0, badge_w - 20.0, badge_h - 10.0);
    scene.text(badge_text, vec![badge], CAPTION, "#ffffff");
    y += badge_h + 10.0;

    y += scene.text(
        Rect::new(x, y, text_w, 0.0),
        wrap(&journey.name, text_w, TITLE),
        TITLE,
        INK,
    );
    if let Some(description) = &journey.description {
        y += 10.0;
        y += scene.text(
            Rect::new(x, y, text_w, 0.0),
            wrap(description, text_w, LEAD),
            LEAD,
            MUTED,
        );
    }
    if let Some(goal) = &journey.goal {
        y += 10.0;
        let colon = if labels.lang == parcours_journey::Lang::Fr {
            "\u{a0}:"
        } else {
            ":"
        };
        let label = format!("{}{colon}", labels.objective);
        let label_w = measure(&label, Font::bold(LEAD.size)) + 6.0;
        scene.text(
            Rect::new(x, y, label_w, 0.0),
            vec![label],
            Font::bold(LEAD.size),
            INK,
        );
        y += scene.text(
            Rect::new(x + label_w, y, text_w - label_w, 0.0),
            wrap(goal, text_w - label_w, LEAD),
            LEAD,
            INK,
        );
    }
    if !journey.personas.is_empty() {
        y += 18.0;
        y += scene.text(
            Rect::new(x, y, text_w, 0.0),
            vec![labels.personas.to_uppercase()],
            LANE,
            MUTED,
        );
        y += 8.0;
        y = persona_cards(scene, journey, x, y, content_w);
    }
    y
}

fn persona_cards(scene: &mut Scene, journey: &Journey, x0: f64, y0: f64, content_w: f64) -> f64 {
    const CARD_W: f64 = 300.0;
    let inner = CARD_W - 2.0 * PAD;
    let per_row = ((content_w + GAP) / (CARD_W + GAP)).floor().max(1.0) as usize;
    let mut y = y0;
    for row in journey.personas.chunks(per_row) {
        let contents: Vec<(Vec<String>, Vec<String>)> = row
            .iter()
            .map(|p| {
                let mut body = p.description.clone().unwrap_or_default();
                for goal in &p.goals {
                    if !body.is_empty() {
                        body.push('\n');
                    }
                    body.push_str(&format!("→ {goal}"));
                }
                (
                    wrap(&p.name, inner, STRONG),
                    if body.is_empty() {
                        Vec::new()
                    } else {
                        wrap(&body, inner, SMALL)
                    },
                )
            })
            .collect();
        let height = contents
            .iter()
            .map(|(name, body)| {
                STRONG.block_height(name.len())
                    + if body.is_empty() {
                        0.0
                    } else {
                        6.0 + SMALL.block_height(body.len())
                    }
            })
            .fold(0.0, f64::max)
            + 2.0 * PAD;
        for (i, (name, body)) in contents.into_iter().enumerate() {
            let card = Rect::new(x0 + i as f64 * (CARD_W + GAP), y, CARD_W, height);
            scene.rect(card, 8.0, CARD, Some(RULE));
            let inside = card.inset(PAD);
            let name_h = scene.text(inside, name, STRONG, INK);
            if !body.is_empty() {
                scene.text(
                    Rect::new(
                        inside.x,
                        inside.y + name_h + 6.0,
                        inside.w,
                        inside.h - name_h - 6.0,
                    ),
                    body,
                    SMALL,
                    MUTED,
                );
            }
        }
        y += height + GAP;
    }
    y - GAP
}

/// A piece of cell content, measured before it is drawn.
enum Piece {
    /// Plain wrapped text.
    Text {
        lines: Vec<String>,
        font: Font,
        fill: &'static str,
    },
    /// A bulleted item; the bullet is a dot, not a glyph.
    Bullet {
        lines: Vec<String>,
        dot: &'static str,
    },
    /// A tinted card with a colour bar, a caption and wrapped lines.
    Chip {
        caption: Option<(String, &'static str)>,
        title: Vec<String>,
        details: Vec<String>,
        bar: &'static str,
        tint: &'static str,
        tooltip: Option<String>,
    },
}

const BULLET_INDENT: f64 = 13.0;

impl Piece {
    fn height(&self) -> f64 {
        match self {
            Piece::Text { lines, font, .. } => font.block_height(lines.len()),
            Piece::Bullet { lines, .. } => BODY.block_height(lines.len()),
            Piece::Chip {
                caption,
                title,
                details,
                ..
            } => {
                let mut h = 2.0 * CHIP_PAD + STRONG.block_height(title.len());
                if caption.is_some() {
                    h += CAPTION.block_height(1) + 4.0;
                }
                if !details.is_empty() {
                    h += 4.0 + SMALL.block_height(details.len());
                }
                h
            }
        }
    }

    fn draw(self, scene: &mut Scene, x: f64, y: f64, w: f64) {
        let height = self.height();
        match self {
            Piece::Text { lines, font, fill } => {
                scene.text(Rect::new(x, y, w, height), lines, font, fill);
            }
            Piece::Bullet { lines, dot } => {
                let cy = y + BODY.size * 0.62;
                scene.items.push(Item::Circle {
                    cx: x + 3.5,
                    cy,
                    r: 2.6,
                    fill: dot,
                });
                scene.text(
                    Rect::new(x + BULLET_INDENT, y, w - BULLET_INDENT, height),
                    lines,
                    BODY,
                    INK,
                );
            }
            Piece::Chip {
                caption,
                title,
                details,
                bar,
                tint,
                tooltip,
            } => {
                let card = Rect::new(x, y, w, height);
                scene.rect(card, 6.0, tint, None);
                scene.rect(Rect::new(x, y, BAR, height), 2.0, bar, None);
                let inner_x = x + BAR + CHIP_PAD;
                let inner_w = w - BAR - 2.0 * CHIP_PAD;
                let mut cy = y + CHIP_PAD;
                if let Some((text, color)) = caption {
                    cy += scene.text(
                        Rect::new(inner_x, cy, inner_w, CAPTION.block_height(1)),
                        vec![text],
                        CAPTION,
                        color,
                    ) + 4.0;
                }
                let title_h = STRONG.block_height(title.len());
                scene.text(Rect::new(inner_x, cy, inner_w, title_h), title, STRONG, INK);
                cy += title_h;
                if !details.is_empty() {
                    let h = SMALL.block_height(details.len());
                    scene.text(
                        Rect::new(inner_x, cy + 4.0, inner_w, h),
                        details,
                        SMALL,
                        MUTED,
                    );
                }
                if let Some(text) = tooltip {
                    scene.items.push(Item::Tooltip { rect: card, text });
                }
            }
        }
    }
}

/// The rows of the grid, in drawing order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lane {
    Measured,
    Goal,
    Touchpoints,
    Actions,
    Motivations,
    Thoughts,
    Emotion,
    PainPoints,
    Opportunities,
    Kpis,
    Emails,
    Owner,
}

const LANES: [Lane; 12] = [
    Lane::Measured,
    Lane::Goal,
    Lane::Touchpoints,
    Lane::Actions,
    Lane::Motivations,
    Lane::Thoughts,
    Lane::Emotion,
    Lane::PainPoints,
    Lane::Opportunities,
    Lane::Kpis,
    Lane::Emails,
    Lane::Owner,
];

impl Lane {
    fn label(self, labels: &Labels, kind: Kind) -> &'static str {
        match self {
            Lane::Measured => labels.measured,
            Lane::Goal => labels.goal,
            Lane::Touchpoints => labels.touchpoints,
            Lane::Actions => labels.actions,
            Lane::Motivations => labels.motivations,
            Lane::Thoughts => labels.thoughts,
            Lane::Emotion => labels.emotion,
            Lane::PainPoints => labels.pain_points,
            Lane::Opportunities => labels.opportunities,
            Lane::Kpis if kind == Kind::Future => labels.targets,
            Lane::Kpis => labels.kpis,
            Lane::Emails => labels.emails,
            Lane::Owner => labels.owner,
        }
    }
}

fn bullets(items: &[String], inner: f64, dot: &'static str) -> Vec<Piece> {
    items
        .iter()
        .map(|item| Piece::Bullet {
            lines: wrap(item, inner - BULLET_INDENT, BODY),
            dot,
        })
        .collect()
}

fn quoted(labels: &Labels, text: &str) -> String {
    match labels.lang {
        parcours_journey::Lang::Fr => format!("«\u{a0}{text}\u{a0}»"),
        parcours_journey::Lang::En => format!("“{text}”"),
    }
}

fn pieces(
    lane: Lane,
    (index, stage): (usize, &Stage),
    journey: &Journey,
    labels: &Labels,
    live: Option<&crate::Live>,
) -> Vec<Piece> {
    let inner = COL_W - 2.0 * PAD;
    let chip_inner = inner - BAR - 2.0 * CHIP_PAD;
    match lane {
        Lane::Measured => live
            .and_then(|l| l.stages.get(index))
            .map(|m| {
                let (bar, tint) = if m.alert {
                    ("#e03131", "#fff5f5")
                } else {
                    ("#1971c2", "#e7f5ff")
                };
                Piece::Chip {
                    caption: None,
                    title: wrap(&m.title, chip_inner, STRONG),
                    details: m
                        .details
                        .iter()
                        .flat_map(|d| wrap(d, chip_inner, SMALL))
                        .collect(),
                    bar,
                    tint,
                    tooltip: None,
                }
            })
            .into_iter()
            .collect(),
        Lane::Goal => stage
            .goal
            .iter()
            .map(|g| Piece::Text {
                lines: wrap(g, inner, STRONG),
                font: STRONG,
                fill: INK,
            })
            .collect(),
        Lane::Touchpoints => stage
            .touchpoints
            .iter()
            .filter_map(|id| journey.touchpoint(id))
            .map(|t| Piece::Chip {
                caption: Some((t.channel.as_str().to_uppercase(), channel_color(t.channel))),
                title: wrap(&t.name, chip_inner, STRONG),
                details: Vec::new(),
                bar: channel_color(t.channel),
                tint: channel_tint(t.channel),
                tooltip: t
                    .matches
                    .as_ref()
                    .map(|m| format!("{}\nmatch: {}", t.name, m.source)),
            })
            .collect(),
        Lane::Actions => bullets(&stage.actions, inner, "#495057"),
        Lane::Motivations => bullets(&stage.motivations, inner, "#1c7ed6"),
        Lane::Thoughts => stage
            .thoughts
            .iter()
            .map(|t| {
                let text = quoted(labels, t);
                Piece::Text {
                    lines: wrap(&text, inner, BODY),
                    font: BODY,
                    fill: "#364fc7",
                }
            })
            .collect(),
        Lane::Emotion => Vec::new(),
        Lane::PainPoints => bullets(&stage.pain_points, inner, "#e03131"),
        Lane::Opportunities => bullets(&stage.opportunities, inner, "#2f9e44"),
        Lane::Kpis => journey
            .kpis_of(&stage.id)
            .map(|k| {
                let mut details = match (journey.kind, k.target) {
                    (Kind::Future, Some(target)) => wrap(
                        &labels.target(target, k.unit, k.direction),
                        chip_inner,
                        SMALL,
                    ),
                    _ => Vec::new(),
                };
                let measured = live.and_then(|l| l.kpis.iter().find(|m| m.id == k.id));
                if let Some(m) = measured {
                    details.extend(wrap(&m.text, chip_inner, SMALL));
                }
                let bar = match measured.and_then(|m| m.on_target) {
                    Some(true) => "#2f9e44",
                    Some(false) => "#e03131",
                    None => kind_colors(journey.kind).1,
                };
                Piece::Chip {
                    caption: None,
                    title: wrap(&k.name, chip_inner, STRONG),
                    details,
                    bar,
                    tint: "#f1f3f5",
                    tooltip: Some(kpi_definition(k)),
                }
            })
            .collect(),
        Lane::Emails => journey
            .plays
            .iter()
            .filter(|p| p.stage() == Some(stage.id.as_str()))
            .map(|p| {
                let mut details = labels.trigger(&p.trigger);
                if p.holdout > 0.0 {
                    details.push_str(" · ");
                    details.push_str(&labels.holdout(p.holdout));
                }
                if let Some(cap) = p.cap {
                    details.push_str(" · ");
                    details.push_str(&labels.cap(cap));
                }
                Piece::Chip {
                    caption: Some(("EMAIL".into(), channel_color(Channel::Email))),
                    title: wrap(&p.name, chip_inner, STRONG),
                    details: wrap(&details, chip_inner, SMALL),
                    bar: channel_color(Channel::Email),
                    tint: channel_tint(Channel::Email),
                    tooltip: Some(format!(
                        "{}\nsubject: {}\ntemplate: {}",
                        p.name,
                        p.subject,
                        p.template.display()
                    )),
                }
            })
            .collect(),
        Lane::Owner => stage
            .owner
            .iter()
            .map(|o| Piece::Text {
                lines: wrap(o, inner, STRONG),
                font: STRONG,
                fill: MUTED,
            })
            .collect(),
    }
}

/// How a KPI is computed, in the journey file's own terms.
fn kpi_definition(kpi: &Kpi) -> String {
    let how = match &kpi.measure {
        Measure::EventRatio {
            numerator,
            denominator,
        } => {
            format!(
                "events where {}\nover events where {}",
                numerator.source, denominator.source
            )
        }
        Measure::CustomerRatio {
            numerator,
            denominator,
        } => {
            format!(
                "customers where {}\nover customers where {}",
                numerator.source, denominator.source
            )
        }
        Measure::Count { events } => format!("count of events where {}", events.source),
        Measure::PerCustomer { events } => format!("events per customer where {}", events.source),
        Measure::Mean { events, property } => format!(
            "mean of prop.{property} over events where {}",
            events.source
        ),
        Measure::Nps { events, property } => {
            format!("NPS of prop.{property} over events where {}", events.source)
        }
        Measure::TimeSpent { events } => {
            format!("session time from events where {}", events.source)
        }
        Measure::StageConversion => {
            "customers reaching this stage over those reaching the previous one".to_string()
        }
    };
    match kpi.builtin {
        Some(builtin) => format!("{} ({})\n{how}", kpi.name, builtin.name()),
        None => format!("{}\n{how}", kpi.name),
    }
}

fn column_x(index: usize) -> f64 {
    MARGIN + LABEL_W + index as f64 * (COL_W + GAP)
}

fn grid(
    scene: &mut Scene,
    journey: &Journey,
    labels: &Labels,
    live: Option<&crate::Live>,
    top: f64,
) -> f64 {
    let mut y = stage_headers(scene, journey, top);
    for lane in LANES {
        let cells: Vec<Vec<Piece>> = journey
            .stages
            .iter()
            .enumerate()
            .map(|s| pieces(lane, s, journey, labels, live))
            .collect();
        let has_emotion = journey.stages.iter().any(|s| s.emotion.is_some());
        let empty = match lane {
            Lane::Emotion => !has_emotion,
            _ => cells.iter().all(Vec::is_empty),
        };
        if empty {
            continue;
        }
        let content_h = match lane {
            Lane::Emotion => EMOTION_H - 2.0 * PAD,
            _ => cells
                .iter()
                .map(|c| {
                    c.iter().map(Piece::height).sum::<f64>()
                        + ITEM_GAP * c.len().saturating_sub(1) as f64
                })
                .fold(0.0, f64::max),
        };
        let label = lane.label(labels, journey.kind).to_uppercase();
        let label_lines = wrap(&label, LABEL_W - 2.0 * PAD, LANE);
        let row_h = (content_h.max(LANE.block_height(label_lines.len())) + 2.0 * PAD).max(44.0);
        scene.text(
            Rect::new(
                MARGIN,
                y + PAD,
                LABEL_W - 2.0 * PAD,
                LANE.block_height(label_lines.len()),
            ),
            label_lines,
            LANE,
            MUTED,
        );
        for (index, cell) in cells.into_iter().enumerate() {
            let rect = Rect::new(column_x(index), y, COL_W, row_h);
            scene.rect(rect, 8.0, CARD, Some(RULE));
            let mut cy = y + PAD;
            for piece in cell {
                let h = piece.height();
                piece.draw(scene, rect.x + PAD, cy, COL_W - 2.0 * PAD);
                cy += h + ITEM_GAP;
            }
        }
        if lane == Lane::Emotion {
            emotion_curve(scene, journey, y, row_h);
        }
        y += row_h + GAP;
    }
    y - GAP
}

fn stage_headers(scene: &mut Scene, journey: &Journey, top: f64) -> f64 {
    const TIP: f64 = 14.0;
    let (dark, light) = kind_colors(journey.kind);
    let inner = COL_W - 2.0 * TIP - 8.0;
    let titles: Vec<Vec<String>> = journey
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| wrap(&format!("{}. {}", i + 1, s.name), inner, STAGE))
        .collect();
    let height = titles
        .iter()
        .map(|t| STAGE.block_height(t.len()))
        .fold(0.0, f64::max)
        + 2.0 * PAD;
    for (i, lines) in titles.into_iter().enumerate() {
        let x = column_x(i);
        let (left, right) = (x, x + COL_W + GAP * 0.6);
        let mut points = vec![
            (left, top),
            (right - TIP, top),
            (right, top + height / 2.0),
            (right - TIP, top + height),
            (left, top + height),
        ];
        if i > 0 {
            points.push((left + TIP, top + height / 2.0));
        }
        scene.items.push(Item::Polygon {
            points,
            fill: if i % 2 == 0 { dark } else { light },
        });
        let text_h = STAGE.block_height(lines.len());
        let text_x = x + TIP + 4.0;
        scene.text(
            Rect::new(text_x, top + (height - text_h) / 2.0, inner, text_h),
            lines,
            STAGE,
            "#ffffff",
        );
        let stage = &journey.stages[i];
        if let Some(enter) = &stage.enter {
            scene.items.push(Item::Tooltip {
                rect: Rect::new(x, top, COL_W, height),
                text: format!("{}\nenter: {}", stage.name, enter.source),
            });
        }
    }
    top + height + GAP
}

fn emotion_curve(scene: &mut Scene, journey: &Journey, top: f64, row_h: f64) {
    let mid = top + row_h / 2.0;
    let step = (row_h - 2.0 * PAD - 12.0) / 4.0;
    let y_of = |value: f64| mid - value * step;
    let left = column_x(0);
    let right = column_x(journey.stages.len() - 1) + COL_W;
    for level in [-2.0, -1.0, 0.0, 1.0, 2.0] {
        scene.items.push(Item::Polyline {
            points: vec![(left + 6.0, y_of(level)), (right - 6.0, y_of(level))],
            stroke: if level == 0.0 { "#ced4da" } else { "#edf0f3" },
            width: 1.0,
            dashed: level != 0.0,
        });
    }
    let points: Vec<(f64, f64, f64)> = journey
        .stages
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.emotion.map(|e| (column_x(i) + COL_W / 2.0, y_of(e), e)))
        .collect();
    if points.len() > 1 {
        scene.items.push(Item::Polyline {
            points: points.iter().map(|&(x, y, _)| (x, y)).collect(),
            stroke: "#868e96",
            width: 2.5,
            dashed: false,
        });
    }
    for (x, y, value) in points {
        scene.items.push(Item::Circle {
            cx: x,
            cy: y,
            r: 7.0,
            fill: emotion_color(value),
        });
        let label = if value > 0.0 {
            format!("+{value}")
        } else {
            format!("{value}")
        };
        // Above the dot for low values, below it for high ones: the label stays in the cell
        // and off the curve.
        let h = SMALL.block_height(1);
        let w = measure(&label, Font::bold(SMALL.size));
        let top = if value <= 0.0 { y - 9.0 - h } else { y + 9.0 };
        scene.text(
            Rect::new(x + 8.0, top, w + 2.0, h),
            vec![label],
            Font::bold(SMALL.size),
            emotion_color(value),
        );
    }
}

fn footer(
    scene: &mut Scene,
    journey: &Journey,
    labels: &Labels,
    content_w: f64,
    mut y: f64,
) -> f64 {
    let x = MARGIN;
    let text_w = content_w.min(1100.0);
    let event_plays: Vec<_> = journey
        .plays
        .iter()
        .filter(|p| matches!(p.trigger, Trigger::Event { .. }))
        .collect();
    if !event_plays.is_empty() {
        y += scene.text(
            Rect::new(x, y, text_w, 0.0),
            vec![labels.event_plays.to_uppercase()],
            LANE,
            MUTED,
        ) + 8.0;
        for play in event_plays {
            let text = format!("{} — {}", play.name, labels.trigger(&play.trigger));
            let piece = Piece::Bullet {
                lines: wrap(&text, text_w - BULLET_INDENT, BODY),
                dot: channel_color(Channel::Email),
            };
            let h = piece.height();
            piece.draw(scene, x, y, text_w);
            y += h + 6.0;
        }
        y += 12.0;
    }
    let note = format!(
        "{} · {} · {}",
        labels.drawn_by,
        journey.id,
        labels.kind(journey.kind)
    );
    y + scene.text(
        Rect::new(x, y, text_w, 0.0),
        wrap(&note, text_w, SMALL),
        SMALL,
        MUTED,
    )
}
