//! `parcours init`: a new journey from a built-in template.

use std::path::Path;
use std::process::ExitCode;

use parcours_journey::{TEMPLATES, load_str};

use crate::cli::OutputFormat;
use crate::output::print_json;

pub fn run(
    name: &str,
    dir: &Path,
    force: bool,
    list: bool,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    if list {
        return list_templates(format);
    }
    let loaded = super::load_template(name)?;
    let template = parcours_journey::template(name).expect("load_template checked the name");
    let written = template.write_to(dir, force)?;
    let journey_path = dir.join("journey.toml");
    match format {
        OutputFormat::Json => print_json(&serde_json::json!({
            "template": name,
            "written": written.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "journey": loaded.journey.as_ref().map(super::summary),
        }))?,
        OutputFormat::Text => {
            println!("wrote {} from template `{name}`", journey_path.display());
            for extra in written.iter().skip(1) {
                println!("  and {}", extra.display());
            }
            println!(
                "next: parcours validate {0}\n      parcours map {0} -o map.html",
                journey_path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list_templates(format: OutputFormat) -> anyhow::Result<ExitCode> {
    let rows: Vec<(&str, &str, String)> = TEMPLATES
        .iter()
        .map(|t| {
            let kind = load_str(t.name, t.journey(), None)
                .journey
                .map(|j| j.kind.to_string())
                .unwrap_or_default();
            (t.name, t.summary, kind)
        })
        .collect();
    match format {
        OutputFormat::Json => print_json(&serde_json::json!(
            rows.iter()
                .map(|(name, summary, kind)| serde_json::json!({"name": name, "kind": kind, "summary": summary}))
                .collect::<Vec<_>>()
        ))?,
        OutputFormat::Text => {
            let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
            for (name, summary, kind) in rows {
                println!("{name:width$}  {summary} [{kind}]");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
