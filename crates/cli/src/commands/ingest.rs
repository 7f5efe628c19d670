//! `parcours ingest`: files into the store, one all-or-nothing import per file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use parcours_events::tabular::Role;
use parcours_ingest::{Format, IngestOptions, ingest_file};
use parcours_store::Store;

use crate::cli::OutputFormat;
use crate::output::{number, print_json};

pub struct Args {
    pub files: Vec<PathBuf>,
    pub data: PathBuf,
    pub format: Option<String>,
    pub columns: Vec<String>,
    pub delimiter: Option<String>,
    pub timezone: String,
    pub strict: bool,
    pub report: OutputFormat,
    pub segment_rows: usize,
}

fn parse_column(text: &str) -> anyhow::Result<(Role, String)> {
    let (role, column) = text.split_once('=').with_context(|| {
        format!("--column {text}: write ROLE=COLUMN, e.g. --column user=client_id")
    })?;
    let role = Role::from_name(role.trim()).with_context(|| {
        let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!(
            "--column {text}: unknown role `{role}` (roles: {})",
            roles.join(", ")
        )
    })?;
    Ok((role, column.trim().to_string()))
}

fn parse_delimiter(text: &str) -> anyhow::Result<u8> {
    match text {
        "\\t" | "tab" => Ok(b'\t'),
        t if t.len() == 1 => Ok(t.as_bytes()[0]),
        t => bail!("--delimiter {t:?}: the delimiter is one ASCII character (or \\t)"),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut options = IngestOptions::new(&args.data);
    options.format = args.format.as_deref().and_then(Format::from_name);
    options.columns = args
        .columns
        .iter()
        .map(|c| parse_column(c))
        .collect::<anyhow::Result<_>>()?;
    options.delimiter = args.delimiter.as_deref().map(parse_delimiter).transpose()?;
    options.timezone = Some(jiff::tz::TimeZone::get(&args.timezone).with_context(|| {
        format!(
            "--timezone {}: unknown time zone (use an IANA name such as Europe/Paris)",
            args.timezone
        )
    })?);
    options.strict = args.strict;
    options.progress = args.report == OutputFormat::Text;
    options.segment_rows = args.segment_rows.max(1);
    for file in &args.files {
        if !file.is_file() {
            bail!("{} is not a file", file.display());
        }
    }
    let mut store = Store::open(&args.data)
        .with_context(|| format!("cannot open the store in {}", args.data.display()))?;
    let mut reports = Vec::new();
    let mut failures = 0;
    for file in &args.files {
        match ingest_file(&mut store, file, &options) {
            Ok(report) => {
                if args.report == OutputFormat::Text {
                    let s = &report.summary;
                    println!(
                        "{}: {} records in {:.1} s ({} records/s), format {}",
                        file.display(),
                        number(report.records),
                        report.seconds,
                        number(report.rate() as u64),
                        report.format.as_str()
                    );
                    println!(
                        "  accepted {} · duplicates skipped {} · rejected {} · new customers {}{}",
                        number(s.accepted),
                        number(s.duplicates),
                        number(s.rejected),
                        number(s.new_customers),
                        if s.merges > 0 {
                            format!(" · customers merged {}", number(s.merges))
                        } else {
                            String::new()
                        }
                    );
                    if let Some(q) = &report.quarantine {
                        println!("  rejected records, with line and reason: {}", q.display());
                    }
                }
                reports.push(serde_json::to_value(&report)?);
            }
            Err(error) => {
                failures += 1;
                eprintln!("error: {error}");
                reports.push(serde_json::json!({"file": file.display().to_string(), "error": error.to_string()}));
            }
        }
    }
    if args.report == OutputFormat::Json {
        print_json(
            &serde_json::json!({"data": args.data.display().to_string(), "files": reports}),
        )?;
    }
    Ok(if failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
