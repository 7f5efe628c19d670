//! `parcours analyze` and `parcours customers`: the journey measured on the store.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use parcours_engine::analyze::{CustomerPlace, Model, Options, analyze, analyze_each};
use parcours_engine::report::Report;
use parcours_journey::Journey;

use crate::cli::{ReportFormat, RowFormat};
use crate::output::{plural, print_report, write_atomically};

pub struct Args {
    pub journey: PathBuf,
    pub data: PathBuf,
    pub from: Option<String>,
    pub to: Option<String>,
    pub by: Option<String>,
    pub format: ReportFormat,
    pub output: Option<PathBuf>,
    pub threads: Option<usize>,
}

pub struct CustomersArgs {
    pub journey: PathBuf,
    pub data: PathBuf,
    pub stage: Option<String>,
    pub segment: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub format: RowFormat,
    pub output: Option<PathBuf>,
}

/// A date (midnight UTC) or an RFC 3339 time, as milliseconds.
fn parse_time(flag: &str, text: Option<&str>) -> anyhow::Result<Option<i64>> {
    let Some(text) = text else { return Ok(None) };
    parcours_events::parse_timestamp(text, None)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("--{flag} {text:?}: {e}; write a date such as 2026-03-01"))
}

/// Loads the journey, printing its problems; `None` when it does not load.
fn journey(path: &Path) -> anyhow::Result<Option<Journey>> {
    let loaded = super::load(path)?;
    if loaded.journey.is_none() {
        print_report(&loaded.report, true);
        eprintln!(
            "{}: {}; nothing analysed",
            loaded.report.source.name,
            plural(loaded.report.error_count(), "error")
        );
    }
    Ok(loaded.journey)
}

fn emit(output: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match output {
        Some(path) => write_atomically(path, text),
        None => {
            use std::io::Write as _;
            match std::io::stdout().lock().write_all(text.as_bytes()) {
                // `parcours customers | head` is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.context("cannot write to standard output"),
            }
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let Some(journey) = journey(&args.journey)? else {
        return Ok(ExitCode::FAILURE);
    };
    let by = match &args.by {
        Some(text) => Some(text.parse().map_err(|e| anyhow::anyhow!("--by: {e}"))?),
        None => None,
    };
    let options = Options {
        from: parse_time("from", args.from.as_deref())?,
        to: parse_time("to", args.to.as_deref())?,
        by,
        threads: args.threads,
    };
    let model = Model::new(&journey, &args.data)
        .with_context(|| format!("cannot read the store {}", args.data.display()))?;
    let report = analyze(&model, &args.data, &options)
        .with_context(|| format!("cannot analyse the store {}", args.data.display()))?;
    let text = match args.format {
        ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
        ReportFormat::Table => table(&journey, &report),
        ReportFormat::Html => parcours_report::html(&journey, &report),
    };
    emit(args.output.as_deref(), &text)?;
    Ok(ExitCode::SUCCESS)
}

fn percent(value: Option<f64>) -> String {
    value.map_or("—".into(), |v| format!("{:.1} %", v * 100.0))
}

fn duration(seconds: Option<f64>) -> String {
    match seconds {
        None => "—".into(),
        Some(s) if s < 120.0 => format!("{s:.0} s"),
        Some(s) if s < 7200.0 => format!("{:.0} min", s / 60.0),
        Some(s) if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        Some(s) => format!("{:.1} d", s / 86_400.0),
    }
}

/// The results as aligned columns.
fn table(journey: &Journey, report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — {} customers, {} events\n",
        journey.name, report.customers, report.events
    );
    let header = [
        "stage",
        "reached",
        "now",
        "conv.",
        "from first",
        "left",
        "median",
        "p90",
        "left after",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for stage in &report.stages {
        rows.push(vec![
            stage.id.clone(),
            stage.reached.to_string(),
            stage.current.to_string(),
            percent(stage.conversion),
            percent(stage.conversion_from_first),
            stage.drop_off.to_string(),
            duration(stage.median_time_s),
            duration(stage.p90_time_s),
            stage
                .exit_touchpoints
                .iter()
                .map(|t| format!("{} {}", t.touchpoint, t.customers))
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    write_columns(&mut out, &rows);
    let kpi_rows: Vec<Vec<String>> = report
        .stages
        .iter()
        .flat_map(|stage| {
            stage.kpis.iter().map(move |k| {
                let show = |v: Option<f64>| match (v, k.unit) {
                    (None, _) => "—".to_string(),
                    (Some(v), parcours_journey::Unit::Percent) => format!("{:.1} %", v * 100.0),
                    (Some(v), parcours_journey::Unit::Seconds) => duration(Some(v)),
                    (Some(v), parcours_journey::Unit::Count) => format!("{v:.0}"),
                    (Some(v), _) => format!("{v:.2}"),
                };
                vec![
                    k.id.clone(),
                    stage.id.clone(),
                    show(k.value),
                    show(k.target),
                    match k.on_target {
                        Some(true) => "on target".into(),
                        Some(false) => "off target".into(),
                        None => String::new(),
                    },
                    match k.improving {
                        Some(true) => "improving".into(),
                        Some(false) => "worsening".into(),
                        None => String::new(),
                    },
                ]
            })
        })
        .collect();
    if !kpi_rows.is_empty() {
        out.push('\n');
        let mut rows = vec![
            ["kpi", "stage", "value", "target", "", "last 4 weeks"]
                .map(String::from)
                .to_vec(),
        ];
        rows.extend(kpi_rows);
        write_columns(&mut out, &rows);
    }
    if !report.segments.is_empty() {
        out.push('\n');
        let mut rows = vec![vec!["segment".to_string(), "customers".to_string()]];
        for segment in &report.segments {
            rows.push(vec![segment.id.clone(), segment.customers.to_string()]);
        }
        write_columns(&mut out, &rows);
    }
    if let Some(breakdown) = &report.breakdown {
        out.push('\n');
        let mut header = vec![breakdown.by.clone(), "customers".to_string()];
        header.extend(report.stages.iter().map(|s| s.id.clone()));
        let mut rows = vec![header];
        for group in &breakdown.groups {
            let mut row = vec![group.value.clone(), group.customers.to_string()];
            row.extend(
                group
                    .stages
                    .iter()
                    .map(|s| format!("{} ({})", s.reached, percent(s.conversion))),
            );
            rows.push(row);
        }
        write_columns(&mut out, &rows);
    }
    let _ = writeln!(
        out,
        "\nopportunities ({} found, most customers at stake first)",
        report.opportunities.len()
    );
    for (i, o) in report.opportunities.iter().enumerate() {
        let _ = writeln!(out, "{:>3}. [{:?}] {}", i + 1, o.kind, o.summary);
    }
    out
}

fn write_columns(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            // Numbers right-aligned, names left-aligned.
            if c == 0 || c + 1 == row.len() {
                let _ = write!(line, "{cell}{}", " ".repeat(pad));
            } else {
                let _ = write!(line, "{}{cell}", " ".repeat(pad));
            }
            line.push_str("  ");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

pub fn customers(args: CustomersArgs) -> anyhow::Result<ExitCode> {
    let Some(journey) = journey(&args.journey)? else {
        return Ok(ExitCode::FAILURE);
    };
    if let Some(stage) = &args.stage
        && journey.stage(stage).is_none()
    {
        anyhow::bail!("--stage {stage}: the journey has no such stage");
    }
    if let Some(segment) = &args.segment
        && !journey.segments.iter().any(|s| &s.id == segment)
    {
        anyhow::bail!("--segment {segment}: the journey has no such segment");
    }
    let options = Options {
        from: parse_time("from", args.from.as_deref())?,
        to: parse_time("to", args.to.as_deref())?,
        by: None,
        threads: None,
    };
    let model = Model::new(&journey, &args.data)
        .with_context(|| format!("cannot read the store {}", args.data.display()))?;
    let mut parquet = match (args.format, &args.output) {
        (RowFormat::Parquet, Some(path)) => {
            let stages: Vec<String> = journey.stages.iter().map(|s| s.id.clone()).collect();
            Some(crate::parquet_rows::CustomerParquet::create(path, &stages)?)
        }
        (RowFormat::Parquet, None) => {
            anyhow::bail!("--format parquet writes a file: add -o customers.parquet")
        }
        _ => None,
    };
    let mut failed: Option<anyhow::Error> = None;
    let mut out = String::new();
    if args.format == RowFormat::Csv {
        let mut header = vec![
            "customer", "user_id", "email", "stage", "level", "persona", "segments",
        ];
        let reached: Vec<String> = journey
            .stages
            .iter()
            .map(|s| format!("first_met_{}", s.id))
            .collect();
        header.extend(reached.iter().map(String::as_str));
        out.push_str(&header.join(","));
        out.push('\n');
    }
    let keep = |place: &CustomerPlace| {
        args.stage
            .as_ref()
            .is_none_or(|s| place.stage.as_ref() == Some(s))
            && args
                .segment
                .as_ref()
                .is_none_or(|s| place.segments.contains(s))
    };
    let contacts = parcours_store::scan::contact_ids(&args.data)
        .with_context(|| format!("cannot read the store {}", args.data.display()))?;
    analyze_each(&model, &args.data, &options, |place| {
        if !keep(place) {
            return;
        }
        let (user_id, email) = contacts
            .get(&place.customer)
            .map_or((None, None), |c| (c.user_id.as_deref(), c.email.as_deref()));
        match args.format {
            RowFormat::Parquet => {
                if let (Some(file), None) = (parquet.as_mut(), &failed) {
                    let row = crate::parquet_rows::Row {
                        customer: place.customer,
                        user_id: user_id.map(str::to_string),
                        email: email.map(str::to_string),
                        stage: place.stage.clone(),
                        level: place.level,
                        persona: place.persona.clone(),
                        segments: place.segments.join(" "),
                        first_met: place.first_met.clone(),
                    };
                    if let Err(e) = file.push(row) {
                        failed = Some(e);
                    }
                }
            }
            RowFormat::Csv => {
                let _ = write!(
                    out,
                    "{},{},{},{},{},{},{}",
                    place.customer,
                    csv_cell(user_id.unwrap_or("")),
                    csv_cell(email.unwrap_or("")),
                    csv_cell(place.stage.as_deref().unwrap_or("")),
                    place.level,
                    csv_cell(place.persona.as_deref().unwrap_or("")),
                    csv_cell(&place.segments.join(" ")),
                );
                for met in &place.first_met {
                    out.push(',');
                    if let Some(ms) = met {
                        out.push_str(&parcours_events::format_timestamp(*ms));
                    }
                }
                out.push('\n');
            }
            RowFormat::Json => {
                let mut row = serde_json::to_value(place).expect("a place serialises");
                row["user_id"] = user_id.into();
                row["email"] = email.into();
                let _ = writeln!(out, "{row}");
            }
        }
    })
    .with_context(|| format!("cannot analyse the store {}", args.data.display()))?;
    if let Some(e) = failed {
        return Err(e);
    }
    match parquet {
        Some(file) => file.finish()?,
        None => emit(args.output.as_deref(), &out)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// A CSV cell, quoted when it must be.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}
