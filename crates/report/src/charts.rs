//! The report's charts as inline SVG: funnel, weekly conversion, Sankey of touchpoint paths.

use std::collections::HashMap;
use std::fmt::Write as _;

use parcours_engine::report::Report;
use parcours_journey::Journey;
use parcours_map::escape;

use crate::format::Fmt;

/// Stage colours, cycled.
const PALETTE: [&str; 8] = [
    "#1971c2", "#2f9e44", "#e8590c", "#9c36b5", "#0c8599", "#c2255c", "#5c940d", "#495057",
];

/// Horizontal bars: customers who reached each stage, with the step conversion.
pub fn funnel(journey: &Journey, report: &Report, fmt: Fmt) -> String {
    let width = 860.0;
    let label_w = 220.0;
    let bar_h = 34.0;
    let gap = 12.0;
    let height = report.stages.len() as f64 * (bar_h + gap) + gap;
    let top = report.customers.max(1) as f64;
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="funnel" xmlns="http://www.w3.org/2000/svg">"#
    );
    for (i, stage) in report.stages.iter().enumerate() {
        let y = gap + i as f64 * (bar_h + gap);
        let w = (width - label_w - 150.0) * stage.reached as f64 / top;
        let name = journey
            .stage(&stage.id)
            .map_or(stage.id.as_str(), |s| &s.name);
        let conversion = stage.conversion.map(|c| fmt.pct(c)).unwrap_or_default();
        let _ = write!(
            svg,
            r#"<g><title>{title}</title><text x="{lx}" y="{ty}" text-anchor="end" class="label">{name}</text><rect x="{label_w}" y="{y}" width="{w:.1}" height="{bar_h}" rx="4" fill="{color}"/><text x="{vx:.1}" y="{ty}" class="value">{reached} · {conversion}</text></g>"#,
            title = escape(&format!(
                "{name}: {} {}",
                fmt.int(stage.reached),
                fmt.t("customers")
            )),
            lx = label_w - 10.0,
            ty = y + bar_h / 2.0 + 5.0,
            name = escape(name),
            color = PALETTE[i % PALETTE.len()],
            vx = label_w + w + 8.0,
            reached = fmt.int(stage.reached),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Lines: each stage's weekly cohort conversion.
pub fn trend(journey: &Journey, report: &Report, fmt: Fmt) -> String {
    let (width, height) = (860.0, 300.0);
    let (left, right, top, bottom) = (48.0, 16.0, 16.0, 40.0);
    let weeks = report.weeks.len();
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="trend" xmlns="http://www.w3.org/2000/svg">"#
    );
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let x = |w: usize| left + plot_w * (w as f64 + 0.5) / weeks.max(1) as f64;
    let y = |v: f64| top + plot_h * (1.0 - v);
    for tick in 0..=4 {
        let v = tick as f64 / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{x2}" y1="{yy:.1}" y2="{yy:.1}" stroke="#dee2e6"/><text x="{tx}" y="{ty:.1}" text-anchor="end" class="axis">{label}</text>"##,
            x2 = width - right,
            yy = y(v),
            tx = left - 6.0,
            ty = y(v) + 4.0,
            label = fmt.pct(v),
        );
    }
    let every = weeks.div_ceil(13).max(1);
    for (w, week) in report.weeks.iter().enumerate() {
        if w % every == 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{}" text-anchor="middle" class="axis">{}</text>"#,
                x(w),
                height - bottom + 18.0,
                escape(week.week.get(5..).unwrap_or(&week.week)),
            );
        }
    }
    for (s, stage) in report.stages.iter().enumerate() {
        let color = PALETTE[s % PALETTE.len()];
        let name = journey
            .stage(&stage.id)
            .map_or(stage.id.as_str(), |st| &st.name);
        let points: Vec<(usize, f64, bool)> = report
            .weeks
            .iter()
            .enumerate()
            .filter_map(|(w, week)| {
                let ws = week.stages.get(s)?;
                Some((w, ws.conversion?, ws.complete))
            })
            .collect();
        let path: Vec<String> = points
            .iter()
            .map(|&(w, v, _)| format!("{:.1},{:.1}", x(w), y(v)))
            .collect();
        if path.len() > 1 {
            let _ = write!(
                svg,
                r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
                path.join(" ")
            );
        }
        for &(w, v, complete) in &points {
            let fill = if complete { color } else { "#fff" };
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{fill}" stroke="{color}" stroke-width="1.5"><title>{}</title></circle>"#,
                x(w),
                y(v),
                escape(&format!("{name}, {}: {}", report.weeks[w].week, fmt.pct(v))),
            );
        }
    }
    svg.push_str("</svg>");
    let mut legend = String::from(r#"<p class="legend">"#);
    for (s, stage) in report.stages.iter().enumerate() {
        let name = journey
            .stage(&stage.id)
            .map_or(stage.id.as_str(), |st| &st.name);
        let _ = write!(
            legend,
            r#"<span><i style="background:{}"></i>{}</span>"#,
            PALETTE[s % PALETTE.len()],
            escape(name)
        );
    }
    legend.push_str("</p>");
    svg + &legend
}

/// A Sankey diagram of the first steps of touchpoint paths.
pub fn sankey(journey: &Journey, report: &Report, fmt: Fmt) -> String {
    let flows = &report.paths.flows;
    if flows.is_empty() {
        return String::new();
    }
    let columns = flows.iter().map(|f| f.step as usize).max().unwrap_or(1) + 1;
    let (width, height) = (860.0, 420.0);
    let node_w = 14.0;
    let gap = 10.0;
    // Value of each node: the larger of what flows in and out.
    let mut out_sum: HashMap<(usize, &str), u64> = HashMap::new();
    let mut in_sum: HashMap<(usize, &str), u64> = HashMap::new();
    for f in flows {
        let c = f.step as usize - 1;
        *out_sum.entry((c, f.from.as_str())).or_default() += f.customers;
        *in_sum.entry((c + 1, f.to.as_str())).or_default() += f.customers;
    }
    let mut nodes: Vec<Vec<(&str, u64)>> = vec![Vec::new(); columns];
    for (&(c, tp), _) in out_sum.iter().chain(in_sum.iter()) {
        if nodes[c].iter().any(|(t, _)| *t == tp) {
            continue;
        }
        let value = out_sum
            .get(&(c, tp))
            .copied()
            .unwrap_or(0)
            .max(in_sum.get(&(c, tp)).copied().unwrap_or(0));
        nodes[c].push((tp, value));
    }
    for column in &mut nodes {
        column.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    }
    // The fullest column, gaps included, fills the height.
    let scale = nodes
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| {
            let room = height - 20.0 - gap * (c.len() - 1) as f64 - c.len() as f64;
            room.max(1.0) / c.iter().map(|n| n.1).sum::<u64>().max(1) as f64
        })
        .fold(f64::INFINITY, f64::min);
    let column_x =
        |c: usize| 10.0 + (width - 150.0 - node_w) * c as f64 / (columns - 1).max(1) as f64;
    let mut place: HashMap<(usize, &str), (f64, f64)> = HashMap::new();
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="sankey" xmlns="http://www.w3.org/2000/svg">"#
    );
    let color_of = |tp: &str| {
        let i = journey
            .touchpoints
            .iter()
            .position(|t| t.id == tp)
            .unwrap_or(0);
        PALETTE[i % PALETTE.len()]
    };
    let name_of = |tp: &str| {
        journey
            .touchpoint(tp)
            .map_or(tp.to_string(), |t| t.name.clone())
    };
    for (c, column) in nodes.iter().enumerate() {
        let mut y = 10.0;
        for &(tp, value) in column {
            let h = (value as f64 * scale).max(1.0);
            place.insert((c, tp), (y, h));
            y += h + gap;
        }
    }
    // Links, from each node's top down, in node order.
    let mut out_offset: HashMap<(usize, &str), f64> = HashMap::new();
    let mut in_offset: HashMap<(usize, &str), f64> = HashMap::new();
    let mut ordered: Vec<_> = flows.iter().collect();
    ordered.sort_by_key(|f| {
        let c = f.step as usize - 1;
        let rank = |col: usize, tp: &str| nodes[col].iter().position(|n| n.0 == tp).unwrap_or(0);
        (c, rank(c, &f.from), rank(c + 1, &f.to))
    });
    for f in ordered {
        let c = f.step as usize - 1;
        let (Some(&(fy, _)), Some(&(ty, _))) = (
            place.get(&(c, f.from.as_str())),
            place.get(&(c + 1, f.to.as_str())),
        ) else {
            continue;
        };
        let h = f.customers as f64 * scale;
        let oo = out_offset.entry((c, f.from.as_str())).or_insert(0.0);
        let y0 = fy + *oo + h / 2.0;
        *oo += h;
        let io = in_offset.entry((c + 1, f.to.as_str())).or_insert(0.0);
        let y1 = ty + *io + h / 2.0;
        *io += h;
        let x0 = column_x(c) + node_w;
        let x1 = column_x(c + 1);
        let mid = (x0 + x1) / 2.0;
        let _ = write!(
            svg,
            r#"<path d="M{x0:.1},{y0:.1} C{mid:.1},{y0:.1} {mid:.1},{y1:.1} {x1:.1},{y1:.1}" fill="none" stroke="{}" stroke-opacity="0.35" stroke-width="{:.1}"><title>{}</title></path>"#,
            color_of(&f.from),
            h.max(0.5),
            escape(&format!(
                "{} → {}: {} {}",
                name_of(&f.from),
                name_of(&f.to),
                fmt.int(f.customers),
                fmt.t("customers")
            )),
        );
    }
    for (c, column) in nodes.iter().enumerate() {
        for &(tp, value) in column {
            let (y, h) = place[&(c, tp)];
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{y:.1}" width="{node_w}" height="{h:.1}" fill="{}"><title>{}</title></rect>"#,
                column_x(c),
                color_of(tp),
                escape(&format!("{}: {}", name_of(tp), fmt.int(value))),
            );
            if h >= 12.0 {
                let _ = write!(
                    svg,
                    r#"<text x="{:.1}" y="{:.1}" class="node">{}</text>"#,
                    column_x(c) + node_w + 4.0,
                    y + h / 2.0 + 4.0,
                    escape(&name_of(tp)),
                );
            }
        }
    }
    svg.push_str("</svg>");
    svg
}
