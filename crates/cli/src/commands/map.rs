//! `parcours map`: draw the journey.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use parcours_map::Format;

use crate::cli::OutputFormat;
use crate::output::{plural, print_json, print_report, write_atomically};

pub fn run(
    file: &Path,
    template: Option<&str>,
    output: &Path,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let drawing = Format::from_path(output).with_context(|| {
        format!(
            "cannot tell what to draw from {}: name the output .svg or .html",
            output.display()
        )
    })?;
    let loaded = match template {
        Some(name) => super::load_template(name)?,
        None => super::load(file)?,
    };
    let Some(journey) = &loaded.journey else {
        print_report(&loaded.report, true);
        eprintln!(
            "{}: {}; nothing drawn",
            loaded.report.source.name,
            plural(loaded.report.error_count(), "error")
        );
        return Ok(ExitCode::FAILURE);
    };
    let rendered = parcours_map::render(journey, drawing);
    write_atomically(output, &rendered)?;
    let warnings = loaded.report.warning_count();
    match format {
        OutputFormat::Json => print_json(&serde_json::json!({
            "output": output.display().to_string(),
            "format": match drawing { Format::Svg => "svg", Format::Html => "html" },
            "bytes": rendered.len(),
            "warnings": warnings,
            "journey": super::summary(journey),
        }))?,
        OutputFormat::Text => {
            println!(
                "wrote {} ({} {} map, {}, {} KB)",
                output.display(),
                journey.kind,
                match drawing {
                    Format::Svg => "SVG",
                    Format::Html => "HTML",
                },
                plural(journey.stages.len(), "stage"),
                rendered.len().div_ceil(1024)
            );
            if warnings > 0 {
                eprintln!(
                    "{}: run `parcours validate {}` to see them",
                    plural(warnings, "warning"),
                    loaded.report.source.name
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
