//! `parcours demo`: a realistic data set for the `digital` template, in the store or a file.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use parcours_demo::{Config, CsvSink, FRICTIONS, NdjsonSink, Sink, SinkError, generate};
use parcours_events::Event;
use parcours_store::{Import, ImportOptions, Store};

use crate::cli::OutputFormat;
use crate::output::{number, print_json};

/// Counts events and shows the rate on a terminal.
struct Counting<'a> {
    inner: &'a mut dyn Sink,
    count: u64,
    started: Instant,
    last_draw: Instant,
    draw: bool,
}

impl Sink for Counting<'_> {
    fn event(&mut self, event: &Event) -> Result<(), SinkError> {
        self.inner.event(event)?;
        self.count += 1;
        if self.draw
            && self.count.is_multiple_of(65_536)
            && self.last_draw.elapsed().as_millis() >= 250
        {
            self.last_draw = Instant::now();
            let rate = self.count as f64 / self.started.elapsed().as_secs_f64();
            eprint!(
                "\r  generated {} events ({} events/s)   ",
                number(self.count),
                number(rate as u64)
            );
            let _ = std::io::stderr().flush();
        }
        Ok(())
    }
}

struct StoreSink<'a, 's>(&'a mut Import<'s>);

impl Sink for StoreSink<'_, '_> {
    fn event(&mut self, event: &Event) -> Result<(), SinkError> {
        Ok(self.0.push(event)?)
    }
}

fn counting(inner: &mut dyn Sink, draw: bool) -> Counting<'_> {
    Counting {
        inner,
        count: 0,
        started: Instant::now(),
        last_draw: Instant::now(),
        draw: draw && std::io::stderr().is_terminal(),
    }
}

pub struct Args<'a> {
    pub customers: u64,
    pub seed: u64,
    pub data: &'a Path,
    pub export: Option<&'a Path>,
    pub report: Option<&'a Path>,
    pub format: OutputFormat,
}

pub fn run(args: Args<'_>) -> anyhow::Result<ExitCode> {
    let Args {
        customers,
        seed,
        data,
        export,
        report,
        format,
    } = args;
    let config = Config { customers, seed };
    let started = Instant::now();
    let text = format == OutputFormat::Text;
    if let Some(path) = export {
        let name = path.to_string_lossy().to_ascii_lowercase();
        let plain = name.strip_suffix(".gz").unwrap_or(&name).to_string();
        let file = BufWriter::with_capacity(
            1 << 20,
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        );
        let writer: Box<dyn Write> = if name.ends_with(".gz") {
            Box::new(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::fast(),
            ))
        } else {
            Box::new(file)
        };
        let mut sink: Box<dyn Sink> = if plain.ends_with(".ndjson") || plain.ends_with(".jsonl") {
            Box::new(NdjsonSink(writer))
        } else if plain.ends_with(".csv") {
            Box::new(CsvSink::new(writer))
        } else {
            bail!(
                "--export {}: name the file .ndjson or .csv (optionally .gz)",
                path.display()
            );
        };
        let mut counted = counting(sink.as_mut(), text);
        generate(config, &mut counted).map_err(|e| anyhow::anyhow!(e))?;
        let events = counted.count;
        drop(sink);
        if text {
            eprint!("\r{}\r", " ".repeat(60));
            println!(
                "wrote {} demo events for {} customers to {} in {:.1} s",
                number(events),
                number(customers),
                path.display(),
                started.elapsed().as_secs_f64()
            );
        } else {
            print_json(
                &serde_json::json!({"export": path.display().to_string(), "events": events, "customers": customers, "seed": seed}),
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }

    let mut store = Store::open(data)
        .with_context(|| format!("cannot open the store in {}", data.display()))?;
    let mut import = store.begin_import(ImportOptions::new(
        format!("demo seed={seed} customers={customers}"),
        "demo",
    ))?;
    let mut sink = StoreSink(&mut import);
    let mut counted = counting(&mut sink, text);
    generate(config, &mut counted).map_err(|e| anyhow::anyhow!(e))?;
    let generated = counted.count;
    let summary = import.finish(0, None)?;
    let stats = parcours_store::stats(data)?;
    let analysed = match report {
        Some(path) => Some(analyse(data, path)?),
        None => None,
    };
    if text {
        eprint!("\r{}\r", " ".repeat(60));
        println!(
            "demo: {} events for {} customers (seed {seed}) in {:.1} s: {} new, {} already in the store",
            number(generated),
            number(customers),
            started.elapsed().as_secs_f64(),
            number(summary.accepted),
            number(summary.duplicates)
        );
        println!(
            "store {}: {} events, {} customers",
            data.display(),
            number(stats.events),
            number(stats.customers)
        );
        println!("planted frictions, for the analysis to find:");
        for (name, description) in FRICTIONS {
            println!("  - {name}: {description}");
        }
        if let (Some(path), Some(report)) = (report, &analysed) {
            println!(
                "analysed with the digital template: {} opportunities, the first ones:",
                report.opportunities.len()
            );
            for o in report.opportunities.iter().take(5) {
                println!("  - {}", o.summary);
            }
            println!("report: {}", path.display());
        }
    } else {
        print_json(&serde_json::json!({
            "data": data.display().to_string(),
            "seed": seed,
            "customers": customers,
            "generated": generated,
            "import": summary,
            "stats": stats,
            "frictions": FRICTIONS.iter().map(|(n, d)| serde_json::json!({"name": n, "description": d})).collect::<Vec<_>>(),
            "report": report.map(|p| p.display().to_string()),
            "opportunities": analysed.as_ref().map(|r| &r.opportunities),
        }))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Analyses the store with the embedded `digital` template and writes the HTML report.
fn analyse(data: &Path, path: &Path) -> anyhow::Result<parcours_engine::report::Report> {
    let template =
        parcours_journey::template("digital").context("the digital template is built in")?;
    let journey = parcours_journey::load_str("digital.toml", template.journey(), None)
        .journey
        .context("the digital template loads")?;
    let model = parcours_engine::analyze::Model::new(&journey, data)
        .with_context(|| format!("cannot read the store {}", data.display()))?;
    let options = parcours_engine::analyze::Options::default();
    let report = parcours_engine::analyze::analyze(&model, data, &options)
        .with_context(|| format!("cannot analyse the store {}", data.display()))?;
    crate::output::write_atomically(path, &parcours_report::html(&journey, &report))?;
    Ok(report)
}
