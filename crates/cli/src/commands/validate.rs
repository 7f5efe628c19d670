//! `parcours validate`: every problem of a journey file, located.

use std::path::Path;
use std::process::ExitCode;

use crate::cli::OutputFormat;
use crate::output::{plural, print_json, print_report};

pub fn run(file: &Path, format: OutputFormat) -> anyhow::Result<ExitCode> {
    let loaded = super::load(file)?;
    let report = &loaded.report;
    match format {
        OutputFormat::Json => {
            print_json(&serde_json::json!({
                "file": file.display().to_string(),
                "valid": !report.has_errors(),
                "errors": report.error_count(),
                "warnings": report.warning_count(),
                "diagnostics": report.located(),
                "journey": loaded.journey.as_ref().map(super::summary),
            }))?;
        }
        OutputFormat::Text => {
            print_report(report, false);
            match &loaded.journey {
                Some(journey) => println!(
                    "{}: valid {} journey `{}` — {}, {}, {}, {}, {}, {}{}",
                    file.display(),
                    journey.kind,
                    journey.id,
                    plural(journey.stages.len(), "stage"),
                    plural(journey.touchpoints.len(), "touchpoint"),
                    plural(journey.personas.len(), "persona"),
                    plural(journey.kpis.len(), "KPI"),
                    plural(journey.segments.len(), "segment"),
                    plural(journey.plays.len(), "play"),
                    match report.warning_count() {
                        0 => String::new(),
                        n => format!(" ({})", plural(n, "warning")),
                    }
                ),
                None => println!(
                    "{}: {}, {}",
                    file.display(),
                    plural(report.error_count(), "error"),
                    plural(report.warning_count(), "warning")
                ),
            }
        }
    }
    Ok(if report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
