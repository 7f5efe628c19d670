//! One module per subcommand.

mod admin;
mod analyze;
mod demo;
mod ingest;
mod init;
mod keys;
mod map;
mod serve;
mod store;
mod validate;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use parcours_journey::{Journey, Loaded, load_file, load_str};

use crate::cli::{AdminAction, Cli, Command, KeysAction, StoreAction};

/// Runs the command; `Err` is reserved for failures outside the user's journey file.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate { file, format } => validate::run(&file, format),
        Command::Init {
            template,
            dir,
            force,
            list,
            format,
        } => init::run(&template, &dir, force, list, format),
        Command::Map {
            file,
            template,
            output,
            format,
        } => map::run(&file, template.as_deref(), &output, format),
        Command::Ingest {
            files,
            data,
            format,
            columns,
            delimiter,
            timezone,
            strict,
            report,
            segment_rows,
        } => ingest::run(ingest::Args {
            files,
            data: data.path,
            format,
            columns,
            delimiter,
            timezone,
            strict,
            report,
            segment_rows,
        }),
        Command::Demo {
            customers,
            seed,
            data,
            export,
            report,
            no_report,
            format,
        } => demo::run(demo::Args {
            customers,
            seed,
            data: &data.path,
            export: export.as_deref(),
            report: (!no_report).then_some(report.as_path()),
            format,
        }),
        Command::Analyze {
            journey,
            data,
            from,
            to,
            by,
            format,
            output,
            threads,
        } => analyze::run(analyze::Args {
            journey,
            data: data.path,
            threads: threads.map(usize::from),
            from,
            to,
            by,
            format,
            output,
        }),
        Command::Customers {
            journey,
            data,
            stage,
            segment,
            from,
            to,
            format,
            output,
        } => analyze::customers(analyze::CustomersArgs {
            journey,
            data: data.path,
            stage,
            segment,
            from,
            to,
            format,
            output,
        }),
        Command::Serve(args) => serve::run(args),
        Command::Keys { action } => match action {
            KeysAction::Create {
                name,
                kind,
                data,
                format,
            } => keys::create(&data.path, &name, kind, format),
            KeysAction::List { data, format } => keys::list(&data.path, format),
            KeysAction::Revoke { id, data } => keys::revoke(&data.path, id),
        },
        Command::Admin { action } => match action {
            AdminAction::Password { data } => admin::password(&data.path),
        },
        Command::Store { action } => match action {
            StoreAction::Stats { data, format } => store::stats(&data.path, format),
            StoreAction::Compact {
                data,
                segment_rows,
                format,
            } => store::compact(&data.path, segment_rows, format),
        },
    }
}

/// Loads a journey file, with a message that says what to do when it is missing.
fn load(path: &Path) -> anyhow::Result<Loaded> {
    if !path.exists() {
        anyhow::bail!(
            "{} does not exist; create one with `parcours init` (see `parcours init --list`)",
            path.display()
        );
    }
    load_file(path).with_context(|| format!("cannot load {}", path.display()))
}

/// Loads a built-in template as a journey.
fn load_template(name: &str) -> anyhow::Result<Loaded> {
    let template = parcours_journey::template(name).with_context(|| {
        let names: Vec<&str> = parcours_journey::TEMPLATES.iter().map(|t| t.name).collect();
        format!("unknown template `{name}`; templates: {}", names.join(", "))
    })?;
    Ok(load_str(
        &format!("<template {name}>"),
        template.journey(),
        None,
    ))
}

/// Counts of what a journey declares, for summaries.
fn summary(journey: &Journey) -> serde_json::Value {
    serde_json::json!({
        "id": journey.id,
        "name": journey.name,
        "kind": journey.kind,
        "stages": journey.stages.len(),
        "touchpoints": journey.touchpoints.len(),
        "personas": journey.personas.len(),
        "kpis": journey.kpis.len(),
        "segments": journey.segments.len(),
        "plays": journey.plays.len(),
    })
}
