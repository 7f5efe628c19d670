//! Writes journey results for people.
//!
//! This crate owns the HTML report of `parcours analyze --format html`: one self-contained
//! page (no script, no fetch) holding the opportunities, the journey map with the measured
//! numbers drawn on it, the funnel, the weekly conversion trend, a Sankey diagram of
//! touchpoint paths, the KPIs against their targets, segments, personas and the breakdown.
//! It reads a finished [`Report`] and the [`Journey`]; it computes nothing.
//!
//! ```
//! # use parcours_engine::report::Report;
//! fn page(journey: &parcours_journey::Journey, report: &Report) -> String {
//!     parcours_report::html(journey, report)
//! }
//! ```

mod charts;
mod format;

use std::fmt::Write as _;

use parcours_engine::report::{OpportunityKind, Report};
use parcours_journey::Journey;
use parcours_map::{FONT_FAMILY, Live, LiveKpi, LiveStage, escape};

pub use format::Fmt;

/// The measured numbers to draw on the map.
pub fn live(journey: &Journey, report: &Report) -> Live {
    let fmt = Fmt { lang: journey.lang };
    let stages = report
        .stages
        .iter()
        .map(|s| {
            let mut details = Vec::new();
            if let Some(c) = s.conversion {
                details.push(format!("{} {}", fmt.t("conversion"), fmt.pct(c)));
            }
            details.push(format!("{} {}", fmt.int(s.current), fmt.t("now")));
            if let Some(t) = s.median_time_s {
                details.push(format!("{} {}", fmt.t("median"), fmt.duration(t)));
            }
            LiveStage {
                title: format!(
                    "{} {} {}",
                    fmt.int(s.reached),
                    fmt.t("customers"),
                    fmt.t("reached")
                ),
                details,
                alert: report.opportunities.iter().any(|o| o.stage == s.id),
            }
        })
        .collect();
    let kpis = report
        .stages
        .iter()
        .flat_map(|s| &s.kpis)
        .map(|k| LiveKpi {
            id: k.id.clone(),
            text: match k.value {
                Some(v) => format!("{} : {}", fmt.t("measured"), fmt.value(v, k.unit)),
                None => format!("{} : —", fmt.t("measured")),
            },
            on_target: k.on_target,
        })
        .collect();
    Live { stages, kpis }
}

fn kind_label(kind: OpportunityKind, fmt: Fmt) -> &'static str {
    let fr = fmt.lang == parcours_journey::Lang::Fr;
    match kind {
        OpportunityKind::DropOff => {
            if fr {
                "Abandon"
            } else {
                "Drop-off"
            }
        }
        OpportunityKind::ConversionDrop => {
            if fr {
                "Conversion en baisse"
            } else {
                "Conversion drop"
            }
        }
        OpportunityKind::ExitTouchpoint => {
            if fr {
                "Point de sortie"
            } else {
                "Exit touchpoint"
            }
        }
        OpportunityKind::Loop => {
            if fr {
                "Boucle"
            } else {
                "Loop"
            }
        }
        OpportunityKind::ErrorSpike => {
            if fr {
                "Pic d'erreurs"
            } else {
                "Error spike"
            }
        }
        OpportunityKind::BreakdownGap => {
            if fr {
                "Groupe en retrait"
            } else {
                "Breakdown gap"
            }
        }
        OpportunityKind::KpiDrop => {
            if fr {
                "Indicateur en baisse"
            } else {
                "KPI drop"
            }
        }
    }
}

/// The whole report as one HTML page.
pub fn html(journey: &Journey, report: &Report) -> String {
    parcours_map::document(
        journey.lang,
        &journey.name,
        "",
        &style(),
        &sections(journey, report),
    )
}

/// The report's style sheet, for pages that hold [`sections`].
pub fn style() -> String {
    STYLE.replace("FONT_FAMILY", FONT_FAMILY)
}

const STYLE: &str = r#"  html, body { margin: 0; background: #f1f3f5; font-family: FONT_FAMILY; color: #1f2933; }
  header, section { max-width: 1100px; margin: 0 auto; padding: 8px 20px; }
  header h1 { margin: 20px 0 4px; font-size: 24px; }
  header p, .note { color: #5c6670; margin: 4px 0 12px; font-size: 14px; }
  h2 { font-size: 19px; margin: 28px 0 10px; }
  h3 { font-size: 15px; margin: 18px 0 8px; }
  section#map { max-width: none; }
  section#map h2 { max-width: 1060px; margin-left: auto; margin-right: auto; }
  .scroll { overflow-x: auto; }
  .scroll > svg { display: block; margin: 0 auto; border-radius: 10px; box-shadow: 0 1px 4px rgba(15, 23, 42, .12); }
  .chart { width: 100%; height: auto; background: #fff; border-radius: 10px; box-shadow: 0 1px 4px rgba(15, 23, 42, .08); }
  .chart .label { font-size: 14px; fill: #1f2933; }
  .chart .value { font-size: 13px; fill: #495057; }
  .chart .axis { font-size: 11px; fill: #868e96; }
  .chart .node { font-size: 12px; fill: #1f2933; }
  .legend { font-size: 13px; display: flex; flex-wrap: wrap; gap: 14px; }
  .legend i { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
  ol.opportunities { list-style: none; padding: 0; margin: 0; display: grid; gap: 10px; }
  ol.opportunities li { background: #fff; border-left: 5px solid #e03131; border-radius: 8px; padding: 10px 14px; box-shadow: 0 1px 3px rgba(15, 23, 42, .08); display: grid; grid-template-columns: 1fr auto; gap: 2px 12px; }
  ol.opportunities li.KpiDrop, ol.opportunities li.DropOff { border-left-color: #f08c00; }
  ol.opportunities .kind { font-weight: bold; font-size: 13px; text-transform: uppercase; letter-spacing: .03em; color: #c92a2a; }
  ol.opportunities .lost { font-size: 13px; color: #495057; text-align: right; }
  ol.opportunities p { grid-column: 1 / -1; margin: 2px 0; font-size: 15px; }
  ol.opportunities p.tags { font-size: 12px; color: #5c6670; }
  table { border-collapse: collapse; width: 100%; background: #fff; border-radius: 8px; overflow: hidden; font-size: 14px; }
  th, td { padding: 6px 10px; border-bottom: 1px solid #e9ecef; text-align: left; }
  th { background: #f8f9fa; font-weight: 600; }
  td.n, th.n { text-align: right; white-space: nowrap; }
  td.good { color: #2b8a3e; }
  td.bad { color: #c92a2a; }
  @media (max-width: 640px) { header, section { padding: 6px 10px; } table { font-size: 12px; } section > table { display: block; overflow-x: auto; } }
"#;

/// The report's sections (header, opportunities, map, charts, tables), to go in a page
/// styled by [`style`].
pub fn sections(journey: &Journey, report: &Report) -> String {
    let fmt = Fmt { lang: journey.lang };
    let stage_name = |id: &str| journey.stage(id).map_or(id.to_string(), |s| s.name.clone());
    let mut body = String::new();
    let period = match (&report.period.from, &report.period.to) {
        (Some(from), Some(to)) => format!("{from} → {to}"),
        _ => "—".to_string(),
    };
    let _ = write!(
        body,
        r#"<header><h1>{}</h1><p>{} {} · {} {} · {} {}</p></header>"#,
        escape(&journey.name),
        fmt.t("period"),
        escape(&period),
        fmt.int(report.customers),
        fmt.t("customers"),
        fmt.int(report.events),
        fmt.t("events"),
    );
    // Opportunities first: they are what to act on.
    let _ = write!(
        body,
        r#"<section id="opportunities"><h2>{}</h2>"#,
        fmt.t("opportunities")
    );
    if report.opportunities.is_empty() {
        let _ = write!(body, "<p>{}</p>", fmt.t("none_found"));
    } else {
        body.push_str("<ol class=\"opportunities\">");
        for o in &report.opportunities {
            let mut tags = vec![escape(&stage_name(&o.stage))];
            if let Some(p) = &o.period {
                tags.push(escape(&format!(
                    "{} → {}",
                    p.from.as_deref().unwrap_or(""),
                    p.to.as_deref().unwrap_or("")
                )));
            }
            if let Some(b) = &o.breakdown {
                tags.push(escape(&format!("{} = {}", b.property, b.value)));
            }
            let _ = write!(
                body,
                r#"<li class="{kind:?}"><div class="kind">{label}</div><div class="lost"><b>{lost}</b> {lost_label}</div><p>{summary}</p><p class="tags">{tags}</p></li>"#,
                kind = o.kind,
                label = kind_label(o.kind, fmt),
                lost = fmt.int(o.lost_customers),
                lost_label = fmt.t("lost"),
                summary = escape(&o.summary),
                tags = tags.join(" · "),
            );
        }
        body.push_str("</ol>");
    }
    body.push_str("</section>");
    let _ = write!(
        body,
        r#"<section id="map"><h2>{}</h2><div class="scroll">{}</div></section>"#,
        fmt.t("map"),
        parcours_map::render_live(journey, &live(journey, report)),
    );
    let _ = write!(
        body,
        r#"<section id="funnel"><h2>{}</h2>{}</section>"#,
        fmt.t("funnel"),
        charts::funnel(journey, report, fmt)
    );
    let _ = write!(
        body,
        r#"<section id="trend"><h2>{}</h2><p class="note">{}</p>{}</section>"#,
        fmt.t("trend"),
        fmt.t("trend_note"),
        charts::trend(journey, report, fmt)
    );
    let _ = write!(
        body,
        r#"<section id="paths"><h2>{}</h2><p class="note">{}</p>{}"#,
        fmt.t("paths"),
        fmt.t("paths_note"),
        charts::sankey(journey, report, fmt)
    );
    let _ = write!(body, "<h3>{}</h3><table><tbody>", fmt.t("transitions"));
    for t in report.paths.transitions.iter().take(10) {
        let name = |id: &str| {
            journey
                .touchpoint(id)
                .map_or(id.to_string(), |t| t.name.clone())
        };
        let _ = write!(
            body,
            r#"<tr><td>{} → {}</td><td class="n">{}</td></tr>"#,
            escape(&name(&t.from)),
            escape(&name(&t.to)),
            fmt.int(t.count)
        );
    }
    body.push_str("</tbody></table></section>");
    let _ = write!(
        body,
        r#"<section id="kpis"><h2>{}</h2><table><thead><tr><th>{}</th><th>{}</th><th class="n">{}</th><th class="n">{}</th><th class="n">{}</th><th>{}</th></tr></thead><tbody>"#,
        fmt.t("kpis"),
        fmt.t("kpi"),
        fmt.t("stage"),
        fmt.t("value"),
        fmt.t("target"),
        fmt.t("gap"),
        fmt.t("trend_col"),
    );
    for stage in &report.stages {
        for k in &stage.kpis {
            let show = |v: Option<f64>| v.map_or("—".to_string(), |v| fmt.value(v, k.unit));
            let gap = match k.gap {
                Some(g) if k.unit == parcours_journey::Unit::Percent => {
                    format!(
                        "{}{} pts",
                        if g >= 0.0 { "+" } else { "" },
                        fmt.num(g * 100.0, 1)
                    )
                }
                Some(g) => format!("{}{}", if g >= 0.0 { "+" } else { "" }, show(Some(g))),
                None => "—".to_string(),
            };
            let class = match k.on_target {
                Some(true) => "good",
                Some(false) => "bad",
                None => "",
            };
            let trend = match (k.previous, k.recent, k.improving) {
                (Some(p), Some(r), Some(better)) => format!(
                    "{} → {} ({})",
                    show(Some(p)),
                    show(Some(r)),
                    fmt.t(if better { "improving" } else { "worsening" })
                ),
                _ => "—".to_string(),
            };
            let _ = write!(
                body,
                r#"<tr><td>{}</td><td>{}</td><td class="n {class}">{}</td><td class="n">{}</td><td class="n {class}">{}</td><td>{}</td></tr>"#,
                escape(&k.name),
                escape(&stage.name),
                show(k.value),
                show(k.target),
                escape(&gap),
                escape(&trend),
            );
        }
    }
    body.push_str("</tbody></table></section>");
    let _ = write!(
        body,
        r#"<section id="segments"><h2>{}</h2><table><tbody>"#,
        fmt.t("segments")
    );
    let sizes = report
        .segments
        .iter()
        .map(|s| (&s.name, s.customers))
        .chain(report.personas.iter().map(|p| (&p.name, p.customers)));
    for (name, customers) in sizes {
        let _ = write!(
            body,
            r#"<tr><td>{}</td><td class="n">{}</td></tr>"#,
            escape(name),
            fmt.int(customers)
        );
    }
    body.push_str("</tbody></table></section>");
    if let Some(b) = &report.breakdown {
        let _ = write!(
            body,
            r#"<section id="breakdown"><h2>{} {}</h2><table><thead><tr><th></th><th class="n">{}</th>"#,
            fmt.t("breakdown"),
            escape(&b.by),
            fmt.t("customers"),
        );
        for s in &report.stages {
            let _ = write!(body, r#"<th class="n">{}</th>"#, escape(&s.name));
        }
        body.push_str("</tr></thead><tbody>");
        for g in &b.groups {
            let _ = write!(
                body,
                r#"<tr><td>{}</td><td class="n">{}</td>"#,
                escape(&g.value),
                fmt.int(g.customers)
            );
            for s in &g.stages {
                let _ = write!(
                    body,
                    r#"<td class="n">{} <small>{}</small></td>"#,
                    fmt.int(s.reached),
                    s.conversion.map(|c| fmt.pct(c)).unwrap_or_default()
                );
            }
            body.push_str("</tr>");
        }
        body.push_str("</tbody></table></section>");
    }
    body
}
